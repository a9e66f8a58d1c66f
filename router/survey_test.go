package router

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSurveyToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 3, 11, 9, 30, 0, 0, time.UTC)
	s := Survey{Case: "C7Q2M9XK", Reference: "TS3K9QW2M7PX", Revision: 7, Expires: now.Add(14 * 24 * time.Hour)}
	token := SignSurvey(key, s)
	if strings.ContainsAny(token, "+/= ") {
		t.Fatalf("token %q is not URL-safe", token)
	}
	got, err := OpenSurvey(key, token, now)
	if err != nil || got.Case != s.Case || got.Reference != s.Reference || got.Revision != 7 || !got.Expires.Equal(s.Expires) {
		t.Fatalf("OpenSurvey = %+v, %v; want %+v", got, err, s)
	}
	payload, mac, _ := strings.Cut(token, ".")
	forged := SignSurvey([]byte("another key of the same length!!"), s)
	other := SignSurvey(key, Survey{Case: "C0THER", Reference: "TS0000000000", Revision: 7, Expires: s.Expires})
	otherPayload, _, _ := strings.Cut(other, ".")
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"no dot", payload},
		{"not base64", payload + ".!!!"},
		{"other key", forged},
		{"payload swapped", otherPayload + "." + mac},
		{"mac cut", payload + "." + mac[:10]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenSurvey(key, tc.token, now); !errors.Is(err, ErrSurveyToken) {
				t.Fatalf("OpenSurvey(%q) = %v, want ErrSurveyToken", tc.token, err)
			}
		})
	}
	if _, err := OpenSurvey(key, token, s.Expires); !errors.Is(err, ErrSurveyToken) {
		t.Fatalf("an expired token opened: %v", err)
	}
}

func TestSurveyAnswer(t *testing.T) {
	s := Survey{Case: "C7Q2M9XK", Reference: "TS3K9QW2M7PX", Revision: 7}
	at := time.Date(2026, 3, 12, 20, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		satisfied bool
		comment   string
		kind      ActionKind
		note      string
	}{
		{"satisfied without a word", true, "  ", ActionClose, "在线评价 · 回访：客户满意"},
		{"unsatisfied with a comment", false, "宽带还是断断续续的，晚上8点以后基本上不了网", ActionReopen,
			"在线评价 · 回访：客户不满意。客户留言：宽带还是断断续续的，晚上8点以后基本上不了网"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := SurveyAnswer(s, "phone:+8613912340001", tc.satisfied, tc.comment, at)
			if a.Kind != tc.kind || a.Note != tc.note || a.Actor != SurveyActor || a.Case != s.Case || a.Customer != "phone:+8613912340001" {
				t.Fatalf("SurveyAnswer = %+v", a)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("the answer does not validate: %v", err)
			}
		})
	}
	a1 := SurveyAnswer(s, "k", true, "", at)
	a2 := SurveyAnswer(s, "k", false, "改主意了", at.Add(time.Hour))
	if a1.ID != a2.ID {
		t.Fatalf("two answers to one survey have ids %q and %q: the case would apply both", a1.ID, a2.ID)
	}
	long := SurveyAnswer(s, "k", false, strings.Repeat("差", MaxSurveyComment+50), at)
	if n := strings.Count(long.Note, "差"); n != MaxSurveyComment {
		t.Fatalf("the comment kept %d characters, want %d", n, MaxSurveyComment)
	}
}
