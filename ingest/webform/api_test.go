package webform

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

const validJSON = `{"name":"李四","phone":"+86 139 0000 1111","email":"li@example.com","subject":"账单","description":"多扣了话费 30 元"}`

func apiRequestWith(body, token, key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/complaints", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return req
}

type apiAnswer struct {
	Reference string              `json:"reference"`
	Error     string              `json:"error"`
	Field     string              `json:"field"`
	Errors    []ingest.FieldError `json:"errors"`
	Retryable bool                `json:"retryable"`
}

func decodeAnswer(tb testing.TB, body string) apiAnswer {
	tb.Helper()
	var a apiAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		tb.Fatalf("answer %q is not JSON: %v", body, err)
	}
	return a
}

func TestAPI(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		token  string
		key    string
		status int
		field  string
	}{
		{"accepted", validJSON, apiToken, "", http.StatusAccepted, ""},
		{"no token", validJSON, "", "", http.StatusUnauthorized, ""},
		{"wrong token", validJSON, "wrong", "", http.StatusUnauthorized, ""},
		{"token that may not submit", validJSON, monitorToken, "", http.StatusForbidden, ""},
		{"missing description", `{"phone":"13800138000"}`, apiToken, "", http.StatusUnprocessableEntity, "description"},
		{"bad phone", `{"phone":"abc","description":"x"}`, apiToken, "", http.StatusUnprocessableEntity, "phone"},
		{"ten-digit mobile", `{"phone":"1380013800","description":"宽带断网三天"}`, apiToken, "", http.StatusUnprocessableEntity, "phone"},
		{"landline without area code", `{"phone":"62345678","description":"宽带断网三天"}`, apiToken, "", http.StatusUnprocessableEntity, "phone"},
		{"landline with area code", `{"phone":"(010)6234 5678","description":"多扣了话费 30 元"}`, apiToken, "", http.StatusAccepted, ""},
		{"bad email", `{"email":"nobody","description":"x"}`, apiToken, "", http.StatusUnprocessableEntity, "email"},
		{"no contact", `{"description":"x"}`, apiToken, "", http.StatusUnprocessableEntity, "phone"},
		{"too large", `{"description":"` + strings.Repeat("x", 2048) + `"}`, apiToken, "", http.StatusRequestEntityTooLarge, ""},
		{"invalid JSON", `{"description":`, apiToken, "", http.StatusBadRequest, ""},
		{"empty body", ``, apiToken, "", http.StatusBadRequest, ""},
		{"not an object", `["x"]`, apiToken, "", http.StatusBadRequest, ""},
		{"number field", `{"phone":13800138000,"description":"x"}`, apiToken, "", http.StatusBadRequest, ""},
		{"unknown field", `{"phone":"13800138000","descripton":"x"}`, apiToken, "", http.StatusBadRequest, ""},
		{"two objects", validJSON + validJSON, apiToken, "", http.StatusBadRequest, ""},
		{"non-UTF-8", `{"phone":"13800138000","description":"\xff\xfe"}`, apiToken, "", http.StatusBadRequest, ""},
		{"bad idempotency key", validJSON, apiToken, "key with spaces", http.StatusBadRequest, ""},
		{"subject over 100 characters", `{"phone":"13800138000","subject":"` + strings.Repeat("差", 101) + `","description":"x"}`, apiToken, "", http.StatusUnprocessableEntity, "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{MaxJSONBytes: 1024})
			resp, body := e.do(t, apiRequestWith(tt.body, tt.token, tt.key))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			a := decodeAnswer(t, body)
			published := e.pub.Published()
			if tt.status == http.StatusAccepted {
				if len(published) != 1 || a.Reference != published[0].Reference {
					t.Fatalf("reference %q, published %+v", a.Reference, published)
				}
				env := published[0]
				if env.Channel != ingest.ChannelAPI || env.V != ingest.SchemaVersion || env.Description != "多扣了话费 30 元" {
					t.Fatalf("bad envelope %+v", env)
				}
				return
			}
			if a.Error == "" || a.Reference != "" {
				t.Fatalf("error answer %+v", a)
			}
			if a.Field != tt.field {
				t.Fatalf("field %q, want %q", a.Field, tt.field)
			}
			if len(published) != 0 {
				t.Fatalf("published %d envelopes", len(published))
			}
		})
	}
}

func TestAPIIdempotency(t *testing.T) {
	e := newTestEnv(t, Config{})
	ref := func(key string) string {
		t.Helper()
		resp, body := e.do(t, apiRequestWith(validJSON, apiToken, key))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return decodeAnswer(t, body).Reference
	}
	a, b := ref("order-42"), ref("order-42")
	if a != b {
		t.Fatalf("same key gave %s and %s", a, b)
	}
	if want := ingesttest.References().For(ingest.NewID(ingest.ChannelAPI, "partner-a", "order-42")); a != want {
		t.Fatalf("reference %s, want %s", a, want)
	}
	if c, d := ref(""), ref(""); c == d || c == a {
		t.Fatalf("requests without a key share a reference: %s %s", c, d)
	}
}

func TestAPIPublishFailure(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.pub.Fail(errors.New("not enough replicas"))
	resp, body := e.do(t, apiRequestWith(validJSON, apiToken, "k1"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	a := decodeAnswer(t, body)
	if a.Reference != "" || !a.Retryable || !strings.Contains(a.Error, "系统繁忙") {
		t.Fatalf("answer %+v", a)
	}
}

func TestBearerAuthSchemes(t *testing.T) {
	e := newTestEnv(t, Config{})
	for _, h := range []string{"bearer " + apiToken, "Bearer   " + apiToken} {
		req := apiRequestWith(validJSON, "", "")
		req.Header.Set("Authorization", h)
		if resp, body := e.do(t, req); resp.StatusCode != http.StatusAccepted {
			t.Errorf("Authorization %q: status %d %s", h, resp.StatusCode, body)
		}
	}
	for _, h := range []string{"Basic " + apiToken, apiToken, "Bearer"} {
		req := apiRequestWith(validJSON, "", "")
		req.Header.Set("Authorization", h)
		resp, _ := e.do(t, req)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: status %d", h, resp.StatusCode)
		}
	}
}

// submitAPI posts body with token and key to e and returns the status and
// the answer.
func submitAPI(tb testing.TB, e *testEnv, token, key, body string) (int, apiAnswer) {
	tb.Helper()
	resp, text := e.do(tb, apiRequestWith(body, token, key))
	return resp.StatusCode, decodeAnswer(tb, text)
}

const otherJSON = `{"phone":"13900001111","description":"宽带断网三天"}`

func TestAPIIdempotencyKeyScope(t *testing.T) {
	tests := []struct {
		name         string
		second       string // token of the second request
		secondBody   string
		sameReplica  bool
		wantStatus   int
		wantSameRef  bool
		wantEnvelope int // envelopes published in all
	}{
		{"same account, same body", apiToken, validJSON, true, http.StatusAccepted, true, 2},
		{"same account, same body, other replica", apiToken, validJSON, false, http.StatusAccepted, true, 2},
		{"same account, other body", apiToken, otherJSON, true, http.StatusConflict, false, 1},
		{"same account, other body, other replica", apiToken, otherJSON, false, http.StatusConflict, false, 1},
		{"other account, same body", otherAPIToken, validJSON, true, http.StatusAccepted, false, 2},
		{"other account, other body", otherAPIToken, otherJSON, false, http.StatusAccepted, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := &memLedger{}
			a := newTestEnvSharing(t, Config{}, ledger)
			b := a
			if !tt.sameReplica {
				b = newTestEnvSharing(t, Config{}, ledger)
			}
			status, first := submitAPI(t, a, apiToken, "order-42", validJSON)
			if status != http.StatusAccepted {
				t.Fatalf("first request: status %d %+v", status, first)
			}
			status, second := submitAPI(t, b, tt.second, "order-42", tt.secondBody)
			if status != tt.wantStatus {
				t.Fatalf("second request: status %d %+v, want %d", status, second, tt.wantStatus)
			}
			if status == http.StatusConflict && (second.Reference != "" || !strings.Contains(second.Error, "Idempotency-Key 已用于内容不同的投诉")) {
				t.Fatalf("conflict answer %+v", second)
			}
			if status == http.StatusAccepted && (second.Reference == first.Reference) != tt.wantSameRef {
				t.Fatalf("references %s and %s, want same: %v", first.Reference, second.Reference, tt.wantSameRef)
			}
			published := append(a.pub.Published(), b.pub.Published()...)
			if b == a {
				published = a.pub.Published()
			}
			if len(published) != tt.wantEnvelope {
				t.Fatalf("published %d envelopes, want %d", len(published), tt.wantEnvelope)
			}
			if tt.wantEnvelope == 2 && (published[0].ID == published[1].ID) != tt.wantSameRef {
				t.Fatalf("envelope ids %s and %s: a separate complaint must have an id of its own", published[0].ID, published[1].ID)
			}
		})
	}
}

func TestAPIIdempotencyLedgerDown(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.ledger.fail(errors.New("broker down"))
	status, a := submitAPI(t, e, apiToken, "order-42", validJSON)
	if status != http.StatusServiceUnavailable || !a.Retryable || a.Reference != "" {
		t.Fatalf("status %d %+v, want 503", status, a)
	}
	if n := len(e.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes with an unrecorded key", n)
	}
	// Without a key nothing needs recording.
	if status, _ := submitAPI(t, e, apiToken, "", validJSON); status != http.StatusAccepted {
		t.Fatalf("without a key: status %d", status)
	}
}

func TestAPIRetryAfterFailedPublish(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.pub.Fail(errors.New("not enough replicas"))
	if status, _ := submitAPI(t, e, apiToken, "order-42", validJSON); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", status)
	}
	e.pub.Fail(nil)
	status, a := submitAPI(t, e, apiToken, "order-42", validJSON)
	if status != http.StatusAccepted || len(e.pub.Published()) != 1 || e.pub.Published()[0].Reference != a.Reference {
		t.Fatalf("retry: status %d %+v, published %+v", status, a, e.pub.Published())
	}
}

// TestAPIContentType: the API takes JSON only, in the charset it is
// declared in.
func TestAPIContentType(t *testing.T) {
	gb := func(s string) string {
		b, err := simplifiedchinese.GB18030.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const desc = "宽带12月1日起断网，客服电话打不通，要求退费𠀋"
	body := `{"phone":"13800138000","description":"` + desc + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		message     string
	}{
		{"json", "application/json", body, http.StatusAccepted, ""},
		{"json, utf-8 declared", "application/json; charset=UTF-8", body, http.StatusAccepted, ""},
		{"a JSON-based type", "application/merge-patch+json", body, http.StatusAccepted, ""},
		{"gb18030", "application/json; charset=gb18030", gb(body), http.StatusAccepted, ""},
		{"gbk label with a four-byte character", "application/json;charset=GBK", gb(body), http.StatusAccepted, ""},
		{"gb2312 label", `application/json; charset="gb2312"`, gb(body), http.StatusAccepted, ""},
		{"form-encoded", "application/x-www-form-urlencoded", "phone=13800138000&description=x", http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"no content type", "", body, http.StatusUnsupportedMediaType, "须为 JSON"},
		{"text", "text/plain; charset=utf-8", body, http.StatusUnsupportedMediaType, "须为 JSON"},
		{"unknown charset", "application/json; charset=klingon", body, http.StatusUnsupportedMediaType, "不支持字符集"},
		{"replacement charset", "application/json; charset=iso-2022-kr", body, http.StatusUnsupportedMediaType, "不支持字符集"},
		{"lying charset: UTF-8 declared as gbk", "application/json; charset=gbk", `{"phone":"13800138000","description":"断网"}` + "\n", http.StatusBadRequest, "与声明的字符集不符"},
		{"lying charset: GB18030 undeclared", "application/json", gb(body), http.StatusBadRequest, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			req := apiRequestWith(tt.body, apiToken, "")
			req.Header.Set("Content-Type", tt.contentType)
			if tt.contentType == "" {
				req.Header.Del("Content-Type")
			}
			resp, raw := e.do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			a := decodeAnswer(t, raw)
			if tt.status != http.StatusAccepted {
				if !strings.Contains(a.Error, tt.message) || len(e.pub.Published()) != 0 {
					t.Fatalf("answer %+v, want a message with %q and nothing published", a, tt.message)
				}
				return
			}
			if p := e.pub.Published(); len(p) != 1 || p[0].Description != desc {
				t.Fatalf("published %+v, want the description decoded", p)
			}
		})
	}
}
