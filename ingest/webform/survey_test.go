package webform

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeSurveys is a SurveyBook over a map of tokens; an answer closes the
// survey, as the router's follow-up does.
type fakeSurveys struct {
	mu      sync.Mutex
	cases   map[string]SurveyCase
	answers []surveyAnswer
	err     error
}

type surveyAnswer struct {
	token     string
	satisfied bool
	comment   string
}

func (f *fakeSurveys) LookupSurvey(ctx context.Context, token string) (SurveyCase, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return SurveyCase{}, f.err
	}
	sc, ok := f.cases[token]
	if !ok {
		return SurveyCase{}, ErrSurveyUnknown
	}
	return sc, nil
}

func (f *fakeSurveys) AnswerSurvey(ctx context.Context, token string, satisfied bool, comment string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, ok := f.cases[token]
	switch {
	case !ok:
		return ErrSurveyUnknown
	case !sc.Open:
		return ErrSurveyClosed
	}
	f.answers = append(f.answers, surveyAnswer{token, satisfied, comment})
	sc.Open, sc.Status = false, "已关闭"
	f.cases[token] = sc
	return nil
}

const surveyToken = "eyJjIjoiQzdRMk05WEsifQ.c2lnbmF0dXJl"

func surveyEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newTestEnv(tb, Config{})
	e.surveys.cases[surveyToken] = SurveyCase{Reference: knownRef, Status: "已办结", Category: "网络问题", Open: true}
	e.surveys.cases["answered"] = SurveyCase{Reference: "TS0000000001", Status: "已关闭", Category: "费用问题"}
	return e
}

func TestSurveyPage(t *testing.T) {
	e := surveyEnv(t)
	_, body := e.open(t, "/survey?t="+url.QueryEscape(surveyToken))
	for _, want := range []string{knownRef, "网络问题", "已办结", `name="satisfied" value="yes"`, `value="` + surveyToken + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the survey page lacks %q", want)
		}
	}
	_, body = e.do(t, httptestGet("/survey?t=answered"))
	if strings.Contains(body, `name="satisfied"`) || !strings.Contains(body, "无需再次评价") {
		t.Error("an answered survey offers the question again")
	}
	for _, bad := range []string{"", "forged.token", strings.Repeat("x", MaxSurveyTokenBytes+1)} {
		resp, body := e.do(t, httptestGet("/survey?t="+url.QueryEscape(bad)))
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, msgSurveyUnknown) {
			t.Errorf("token %.20q: status %d, want 404 with the unknown-link message", bad, resp.StatusCode)
		}
	}
}

func TestSurveyAnswer(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		fields    map[string]string
		status    int
		want      string
		answers   int
		satisfied bool
	}{
		{"satisfied", surveyToken, map[string]string{"satisfied": "yes"}, http.StatusOK, msgSurveyThanks, 1, true},
		{"unsatisfied with a comment", surveyToken, map[string]string{"satisfied": "no", "comment": "师傅说明天来，结果一直没人来，宽带还是断"}, http.StatusOK, msgSurveyThanks, 1, false},
		{"no choice keeps the comment", surveyToken, map[string]string{"comment": "还行吧<script>window.__xss=1</script>"}, http.StatusUnprocessableEntity, msgSurveyChoose, 0, false},
		{"a made-up choice", surveyToken, map[string]string{"satisfied": "maybe"}, http.StatusUnprocessableEntity, msgSurveyChoose, 0, false},
		{"answered already", "answered", map[string]string{"satisfied": "no"}, http.StatusConflict, msgSurveyClosed, 0, false},
		{"forged token", "forged.token", map[string]string{"satisfied": "yes"}, http.StatusNotFound, msgSurveyUnknown, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := surveyEnv(t)
			s, _ := e.open(t, "/survey?t="+surveyToken)
			fields := map[string]string{"t": tt.token}
			for k, v := range tt.fields {
				fields[k] = v
			}
			resp, body := e.post(t, "/survey", s, fields, nil)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("status %d, want %d with %q; page:\n%s", resp.StatusCode, tt.status, tt.want, body)
			}
			if strings.Contains(body, "<script>window") {
				t.Fatal("the comment is echoed unescaped")
			}
			if len(e.surveys.answers) != tt.answers {
				t.Fatalf("%d answers recorded, want %d", len(e.surveys.answers), tt.answers)
			}
			if tt.answers == 1 {
				a := e.surveys.answers[0]
				if a.satisfied != tt.satisfied || a.comment != tt.fields["comment"] || a.token != tt.token {
					t.Fatalf("recorded %+v", a)
				}
			}
		})
	}
}

func TestSurveyAnsweredTwice(t *testing.T) {
	e := surveyEnv(t)
	s, _ := e.open(t, "/survey?t="+surveyToken)
	e.post(t, "/survey", s, map[string]string{"t": surveyToken, "satisfied": "yes"}, nil)
	resp, body := e.post(t, "/survey", s, map[string]string{"t": surveyToken, "satisfied": "no"}, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, msgSurveyClosed) || len(e.surveys.answers) != 1 {
		t.Fatalf("second answer: status %d, %d answers; want 409 and the first answer only", resp.StatusCode, len(e.surveys.answers))
	}
}

func TestSurveyNeedsCSRFAndBook(t *testing.T) {
	e := surveyEnv(t)
	resp, _ := e.post(t, "/survey", session{}, map[string]string{"t": surveyToken, "satisfied": "yes"}, nil)
	if resp.StatusCode != http.StatusForbidden || len(e.surveys.answers) != 0 {
		t.Fatalf("a post without the CSRF token: status %d, %d answers", resp.StatusCode, len(e.surveys.answers))
	}
	e.surveys.err = errors.New("index down")
	resp, body := e.do(t, httptestGet("/survey?t="+surveyToken))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "系统繁忙") {
		t.Fatalf("book down: status %d, want 503", resp.StatusCode)
	}
}

func httptestGet(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }
