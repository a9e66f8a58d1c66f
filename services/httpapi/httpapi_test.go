package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// fakeIndex serves one case.
type fakeIndex struct {
	caseindex.Index
	c router.Case
}

// Search finds the case for every query but one for a reference the case
// does not hold.
func (f fakeIndex) Search(_ context.Context, q caseindex.Query) (caseindex.Result, error) {
	if ref, ok := q.Filters["reference"]; ok && !slices.Contains(f.c.References, ref) {
		return caseindex.Result{Hits: []router.Case{}}, nil
	}
	return caseindex.Result{Total: 1, Hits: []router.Case{f.c}}, nil
}

func (f fakeIndex) Get(_ context.Context, id string) (router.Case, error) {
	if id != f.c.ID {
		return router.Case{}, caseindex.ErrNotFound
	}
	return f.c, nil
}

var tokens = AuthConfig{Tokens: []Token{
	{Name: "boss", Token: secret.Inline("admin-token-0123456789"), Role: RoleAdmin},
	{Name: "agent1", Token: secret.Inline("agent-token-0123456789"), Role: RoleAgent},
	{Name: "agent2", Token: secret.Inline("agent2-token-0123456789"), Role: RoleAgent},
	{Name: "主管王", Token: secret.Inline("supervisor-token-0123456789"), Role: RoleSupervisor},
	{Name: "kiosk", Token: secret.Inline("intake-token-0123456789"), Role: RoleIntake},
}}

// testCustomerKey keys the opaque customer tokens of the test consoles.
var testCustomerKey = []byte("test-customer-key-0123456789abcdef")

func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	cfg := provisioned()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_test_total", Help: "A test counter."}))
	s := New(cfg, zap.NewNop(), reg, NewAuthenticator(tokens))
	idx := fakeIndex{c: router.Case{ID: "TS1", Customer: normalize.Customer{Phone: "+8613800138000"}}}
	NewConsole(idx, NewAuthenticator(tokens), nil, testCustomerKey, zap.NewNop()).Mount(s.App())
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

// TestReadiness: /readyz answers whether the process is ready; an admin
// or supervisor token also gets each check's result.
func TestReadiness(t *testing.T) {
	s := newTestServer(t)
	s.AddCheck("broker", func(context.Context) error { return nil })
	if code, body := get(t, s, "/readyz", ""); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
	s.AddCheck("index", func(context.Context) error { return errors.New("index closed") })
	code, body := get(t, s, "/readyz", "admin-token-0123456789")
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
	if code, body := get(t, s, "/metrics", "admin-token-0123456789"); code != 200 || !strings.Contains(body, "tousu_test_total 0") {
		t.Errorf("/metrics = %d", code)
	}
}

// provisioned returns the server's configuration with every default.
func provisioned() Config {
	var cfg Config
	cfg.Provision()
	return cfg
}

func TestAuthConfigValidate(t *testing.T) {
	cfg := AuthConfig{Tokens: []Token{
		{Name: "a", Token: secret.Inline("short"), Role: RoleAdmin},
		{Name: "a", Token: secret.Inline("long-enough-token-0123"), Role: "king"},
		{Name: "c", TokenFile: "/no/such/file", Role: RoleAgent},
	}}
	cfg.Provision()
	err := errors.Join(cfg.ResolveSecrets("", nil), cfg.Validate())
	for _, want := range []string{"tokens[0].token: must have at least 16", "tokens[1].name: must be set and unique", `tokens[1].role: "king"`, "tokens[2].token_file: open /no/such/file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "long-enough-token") {
		t.Errorf("a token leaked into the error: %v", err)
	}
}

func TestConfigValidateNamesTheKeyOnce(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "nohost"}, "listen: "},
		{Config{BodyLimit: -1}, "body_limit: must not be negative"},
		{Config{ReadTimeout: -1}, "read_timeout: must not be negative"},
		{Config{MaxConnections: -1}, "max_connections: must not be negative"},
		{Config{}, ""},
		{provisioned(), ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: Validate() = %v", tt.cfg, err)
			}
			continue
		}
		key, _, _ := strings.Cut(tt.want, ":")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Count(err.Error(), key) != 1 {
			t.Errorf("%+v: Validate() = %v, want %q with its key once", tt.cfg, err, tt.want)
		}
	}
}

func TestProvisionFillsDefaults(t *testing.T) {
	want := Config{Listen: DefaultListen, BodyLimit: DefaultBodyLimit, ReadTimeout: DefaultReadTimeout, MaxConnections: DefaultMaxConnections}
	if got := provisioned(); !reflect.DeepEqual(got, want) {
		t.Errorf("Provision() = %+v, want %+v", got, want)
	}
	cfg := Config{Listen: ":9"}
	cfg.Provision()
	if cfg.Listen != ":9" {
		t.Errorf("Provision() replaced listen: %+v", cfg)
	}
}

// recordingIndex answers every search with no case and keeps the queries.
type recordingIndex struct {
	caseindex.Index
	queries *[]caseindex.Query
}

func (r recordingIndex) Search(_ context.Context, q caseindex.Query) (caseindex.Result, error) {
	*r.queries = append(*r.queries, q)
	return caseindex.Result{Hits: []router.Case{}}, nil
}

func TestConsoleSearchFilters(t *testing.T) {
	var queries []caseindex.Query
	s := New(provisioned(), zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	NewConsole(recordingIndex{queries: &queries}, NewAuthenticator(tokens), nil, testCustomerKey, zap.NewNop()).Mount(s.App())
	tests := []struct {
		name, query string
		code        int
		want        map[string]string // the filters the index receives
		contains    string
	}{
		{"old filters", "channel=email&category=billing&status=open&reference=TS1", 200,
			map[string]string{"channel": "email", "category": "billing", "status": "open", "reference": "TS1"}, ""},
		{"policy filters", "contact_type=%E6%8A%95%E8%AF%89&grade=%E9%87%8D%E5%A4%A7&validity=invalid&department=%E7%BD%91%E7%BB%9C%E9%83%A8&queue=q1&source=acme&pack=telecom%401", 200,
			map[string]string{"contact_type": "投诉", "grade": "重大", "validity": "invalid", "department": "网络部", "queue": "q1", "source": "acme", "pack": "telecom@1"}, ""},
		{"my cases", "assignee=me&owner=me", 200, map[string]string{"assignee": "agent1", "owner": "agent1"}, ""},
		{"another agent's cases", "assignee=1001", 200, map[string]string{"assignee": "1001"}, ""},
		{"unknown parameter named", "phone_number=13912340001&grade=", 400, nil, `"param":"phone_number"`},
		{"bad validity", "validity=maybe", 400, nil, `"param":"validity"`},
		{"bad status names the values", "status=done", 400, nil, "未知的状态，可选值：open、in_progress、resolved、closed"},
		{"repeated filter", "queue=a&queue=b", 400, nil, `"param":"queue"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			queries = nil
			code, body := get(t, s, "/api/v1/cases?"+tc.query, "agent-token-0123456789")
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Fatalf("GET ?%s = %d %s; want %d containing %s", tc.query, code, body, tc.code, tc.contains)
			}
			if tc.want == nil {
				if len(queries) != 0 {
					t.Errorf("a bad query reached the index: %+v", queries)
				}
				return
			}
			if len(queries) != 1 || !maps.Equal(queries[0].Filters, tc.want) {
				t.Errorf("index got %+v, want filters %v", queries, tc.want)
			}
		})
	}
}

func TestStatusLookup(t *testing.T) {
	var queries []caseindex.Query
	lookup := StatusLookup{Index: recordingIndex{queries: &queries}}
	for _, ref := range []string{"", "  "} {
		if _, err := lookup.LookupStatus(context.Background(), ref); !errors.Is(err, webform.ErrUnknownReference) {
			t.Errorf("LookupStatus(%q) error = %v, want ErrUnknownReference", ref, err)
		}
	}
	if len(queries) != 0 {
		t.Errorf("an empty reference was searched: %+v", queries)
	}
	if _, err := lookup.LookupStatus(context.Background(), "TS0123456789"); !errors.Is(err, webform.ErrUnknownReference) {
		t.Errorf("LookupStatus of an unknown reference: %v", err)
	}
	if len(queries) != 1 || queries[0].Filters["reference"] != "TS0123456789" {
		t.Errorf("searched %+v, want the reference filter", queries)
	}
}

// TestCaseByJoinedReference: the reference of a complaint that joined a
// case (a duplicate, a repeat, a reply) names that case in the API.
func TestCaseByJoinedReference(t *testing.T) {
	s := New(provisioned(), zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	idx := fakeIndex{c: router.Case{ID: "TS1", References: []string{"TS1", "TS9"}}}
	NewConsole(idx, NewAuthenticator(tokens), nil, testCustomerKey, zap.NewNop()).Mount(s.App())
	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/cases/TS9", 200, `"id":"TS1"`},
		{"/api/v1/cases/TS1", 200, `"id":"TS1"`},
		{"/api/v1/cases/TS8", 404, "case_not_found"},
	} {
		if code, body := get(t, s, tt.path, "agent-token-0123456789"); code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %d %s, want %d with %s", tt.path, code, body, tt.code, tt.want)
		}
	}
}
