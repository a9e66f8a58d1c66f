package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// fakeIndex serves one case.
type fakeIndex struct {
	caseindex.Index
	c router.Case
}

func (f fakeIndex) Search(context.Context, caseindex.Query) (caseindex.Result, error) {
	return caseindex.Result{Total: 1, Hits: []router.Case{f.c}}, nil
}

func (f fakeIndex) Get(_ context.Context, id string) (router.Case, error) {
	if id != f.c.ID {
		return router.Case{}, caseindex.ErrNotFound
	}
	return f.c, nil
}

var tokens = AuthConfig{Tokens: []Token{
	{Name: "boss", Token: "admin-token-0123456789", Role: RoleAdmin},
	{Name: "agent1", Token: "agent-token-0123456789", Role: RoleAgent},
	{Name: "kiosk", Token: "intake-token-0123456789", Role: RoleIntake},
}}

func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	cfg := Config{}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_test_total", Help: "A test counter."}))
	s := New(cfg, zap.NewNop(), reg)
	idx := fakeIndex{c: router.Case{ID: "TS1", Customer: normalize.Customer{Phone: "+8613800138000"}}}
	NewConsole(idx, NewAuthenticator(tokens), zap.NewNop()).Mount(s.App())
	return s
}

func get(tb testing.TB, s *Server, path, token string) (int, string) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.App().Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConsoleRolesAndMasking(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, path, token string
		code              int
		contains          string
	}{
		{"no token", "/api/v1/cases", "", 401, "bearer token"},
		{"wrong token", "/api/v1/cases", "nope-nope-nope-nope", 401, "bearer token"},
		{"intake may not search", "/api/v1/cases", "intake-token-0123456789", 403, "may not"},
		{"admin sees the phone", "/api/v1/cases", "admin-token-0123456789", 200, `"phone":"+8613800138000"`},
		{"agent sees it masked", "/api/v1/cases", "agent-token-0123456789", 200, `"phone":"138****8000"`},
		{"agent get masked", "/api/v1/cases/TS1", "agent-token-0123456789", 200, `"phone":"138****8000"`},
		{"unknown case", "/api/v1/cases/TS2", "agent-token-0123456789", 404, "no case"},
		{"bad query", "/api/v1/cases?limit=-1", "agent-token-0123456789", 400, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, s, tt.path, tt.token)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s = %d %s; want %d containing %s", tt.path, code, body, tt.code, tt.contains)
			}
			if tt.code == 200 && tt.token == "agent-token-0123456789" && strings.Contains(body, "13800138000") {
				t.Errorf("agent sees the full phone: %s", body)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	s := newTestServer(t)
	s.AddCheck("broker", func(context.Context) error { return nil })
	if code, body := get(t, s, "/readyz", ""); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
	s.AddCheck("index", func(context.Context) error { return errors.New("index closed") })
	code, body := get(t, s, "/readyz", "")
	var out struct {
		Ready  bool
		Checks map[string]string
	}
	json.Unmarshal([]byte(body), &out)
	if code != 503 || out.Ready || out.Checks["index"] != "index closed" || out.Checks["broker"] != "ok" {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, _ := get(t, s, "/healthz", ""); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, s, "/metrics", ""); code != 200 || !strings.Contains(body, "tousu_test_total 0") {
		t.Errorf("/metrics = %d", code)
	}
}

func TestAuthConfigValidate(t *testing.T) {
	cfg := AuthConfig{Tokens: []Token{
		{Name: "a", Token: "short", Role: RoleAdmin},
		{Name: "a", Token: "long-enough-token-0123", Role: "king"},
		{Name: "c", TokenFile: "/no/such/file", Role: RoleAgent},
	}}
	err := cfg.Validate()
	for _, want := range []string{"at least 16", "unique", `"king"`, "token_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "long-enough-token") {
		t.Errorf("a token leaked into the error: %v", err)
	}
}
