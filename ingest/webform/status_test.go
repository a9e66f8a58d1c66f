package webform

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const knownRef = "TS3K9QW2M7PX"

func statusEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newTestEnv(tb, Config{})
	e.lookup.cases[knownRef] = CaseStatus{
		Reference:  knownRef,
		Status:     "处理中",
		Category:   "网络质量",
		ReceivedAt: time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC),
		Deadline:   time.Date(2026, 12, 17, 10, 0, 0, 0, time.UTC),
		Phone:      "+8613800138000",
	}
	e.lookup.cases["TS0000000001"] = CaseStatus{Reference: "TS0000000001", Status: "已受理"} // e-mail only
	return e
}

func TestStatusLookup(t *testing.T) {
	tests := []struct {
		name   string
		ref    string
		digits string
		status int
		want   []string
	}{
		{"found", knownRef, "8000", http.StatusOK, []string{"处理中", "网络质量", "2026年12月17日 18:00", "2026年12月1日 09:30"}},
		{"found with typing slips", "ts3k-9qw2-m7px", "８０００", http.StatusOK, []string{"处理中"}},
		{"wrong digits", knownRef, "8001", http.StatusNotFound, []string{msgNotFound}},
		{"unknown reference", "TS3K9QW2M7PY", "8000", http.StatusNotFound, []string{msgNotFound}},
		{"e-mail only case", "TS0000000001", "0000", http.StatusNotFound, []string{msgNotFound}},
		{"malformed reference", "12345", "8000", http.StatusUnprocessableEntity, []string{msgBadRef}},
		{"three digits", knownRef, "800", http.StatusUnprocessableEntity, []string{msgBadLast4}},
		{"letters", knownRef, "80a0", http.StatusUnprocessableEntity, []string{msgBadLast4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := statusEnv(t)
			s, _ := e.open(t, "/status")
			resp, body := e.post(t, "/status", s, map[string]string{"reference": tt.ref, "digits": tt.digits}, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if tt.status != http.StatusOK && strings.Contains(body, `id="status"`) {
				t.Error("status shown without a match")
			}
		})
	}
}

func TestStatusLookupFailure(t *testing.T) {
	e := statusEnv(t)
	e.lookup.err = errors.New("index down")
	s, _ := e.open(t, "/status")
	resp, body := e.post(t, "/status", s, map[string]string{"reference": knownRef, "digits": "8000"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "系统繁忙") {
		t.Fatalf("status %d, want 503 with a message", resp.StatusCode)
	}
}

func TestStatusCSRF(t *testing.T) {
	e := statusEnv(t)
	resp, _ := e.post(t, "/status", session{}, map[string]string{"reference": knownRef, "digits": "8000"}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestStatusPrefill(t *testing.T) {
	e := statusEnv(t)
	_, body := e.open(t, "/status?reference="+knownRef)
	if !strings.Contains(body, `value="`+knownRef+`"`) {
		t.Fatal("reference not pre-filled")
	}
	_, body = e.open(t, "/status?reference=%3Cscript%3E")
	if strings.Contains(body, "script") {
		t.Fatal("malformed reference pre-filled")
	}
}

func TestNormalizeReference(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"TS3K9QW2M7PX", "TS3K9QW2M7PX", true},
		{" ts3k9qw2m7px ", "TS3K9QW2M7PX", true},
		{"ＴＳ３Ｋ９ＱＷ２Ｍ７ＰＸ", "TS3K9QW2M7PX", true},
		{"TSOOIL000000", "TS0011000000", true},
		{"TS3K9QW2M7P", "", false},
		{"TS3K9QW2M7PU", "", false},
		{"XX3K9QW2M7PX", "", false},
		{"TS3K9QW2M7P\xff", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeReference(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeReference(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
