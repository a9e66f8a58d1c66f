package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/deadletters/deadletterstest"
)

// dlqTokens are the tokens of the dead-letter API tests, one per role.
var dlqTokens = AuthConfig{Tokens: []Token{
	{Name: "bootstrap", Token: secret.Inline("admin-token-0123456789"), Role: RoleAdmin},
	{Name: "wang.fang", Token: secret.Inline("supervisor-token-0123456789"), Role: RoleSupervisor},
	{Name: "agent1", Token: secret.Inline("agent-token-0123456789"), Role: RoleAgent},
	{Name: "liu.yunwei", Token: secret.Inline("ops-token-0123456789"), Role: RoleOps},
	{Name: "prometheus", Token: secret.Inline("monitor-token-0123456789"), Role: RoleMonitor},
}}

const (
	opsToken     = "ops-token-0123456789"
	adminToken   = "admin-token-0123456789"
	monitorToken = "monitor-token-0123456789"
)

// The dead letters of the tests: a web-form complaint of a version the
// normalizer does not know, garbage, and a mail the IMAP reader
// quarantined.
var testLetters = []bus.DeadLetter{
	{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 1, Offset: 77, Key: []byte("+8613912345678"), Group: "tousu-normalizer",
		Reason:   "invalid envelope: schema version 2, want 1",
		Original: []byte(`{"v":2,"id":"webform:a1","description":"11月30号交的话费没到账 电话13912345678 邮箱li.si@example.com"}`),
		Headers:  map[string]string{"reply-to": "13912345678"}, At: time.Now().Add(-2 * time.Hour).UTC()},
	{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 0, Offset: 3, Key: []byte("k"), Group: "tousu-normalizer",
		Reason: "decode complaints.raw payload: invalid character 'o'", Original: []byte("not json"), At: time.Now().Add(-time.Hour).UTC()},
	{V: bus.DeadLetterVersion, Source: "imap:support", Key: []byte("imap:support:9:12"), Reason: "邮件无正文",
		Original: []byte("Subject: =?gb2312?B?zbbL3w==?=\r\n\r\n"), At: time.Now().Add(-time.Minute).UTC()},
}

// deadLetterApp serves the API over a store that holds testLetters as
// entries 0-0, 0-1, 0-2 and records what it replays.
func deadLetterApp(tb testing.TB) (*fiber.App, *observer.ObservedLogs, func() []bus.Message) {
	tb.Helper()
	store, replayed := deadletterstest.Store(tb, testLetters...)
	core, logs := observer.New(zapcore.InfoLevel)
	app := fiber.New()
	NewDeadLetters(store, NewAuthenticator(dlqTokens), zap.New(core)).Mount(app)
	return app, logs, replayed
}

// TestDeadLetterAPIRoles admits ops and admin, and a monitoring system's
// token to read only, its entries masked.
func TestDeadLetterAPIRoles(t *testing.T) {
	app, _, replayed := deadLetterApp(t)
	for _, tt := range []struct {
		token        string
		read, replay int
		full         bool
	}{
		{"", 401, 401, false},
		{"agent-token-0123456789", 403, 403, false},
		{"supervisor-token-0123456789", 403, 403, false},
		{opsToken, 200, 200, true},
		{adminToken, 200, 200, false},
		{monitorToken, 200, 403, false},
	} {
		for _, path := range []string{PathDeadLetters, PathDeadLetters + "/0-0"} {
			code, body := send(t, app, http.MethodGet, path, tt.token, "")
			if code != tt.read {
				t.Errorf("GET %s with %q = %d %s, want %d", path, tt.token, code, body, tt.read)
			}
			// A list is masked for everyone; one entry in full for ops.
			if full := strings.Contains(body, "13912345678"); code == 200 && full != (tt.full && path != PathDeadLetters) {
				t.Errorf("GET %s with %q shows the phone number: %v, want %v (%s)", path, tt.token, full, tt.full, body)
			}
		}
		if code, _ := send(t, app, http.MethodPost, PathDeadLetters+"/replay", tt.token, `{"ids":["0-0"]}`); code != tt.replay {
			t.Errorf("POST replay with %q = %d, want %d", tt.token, code, tt.replay)
		}
	}
	if n := len(replayed()); n != 1 {
		t.Errorf("%d records replayed, want 1 (the ops token's; the admin's is a no-op)", n)
	}
}

// TestDeadLetterList lists newest first with counts, payloads masked,
// filtered and limited.
func TestDeadLetterList(t *testing.T) {
	app, _, _ := deadLetterApp(t)
	tests := []struct {
		name, query string
		code        int
		ids         []string
		hidden      []string
	}{
		{"all", "", 200, []string{"0-2", "0-1", "0-0"}, []string{"13912345678", "li.si@"}},
		{"by source", "?source=complaints.raw", 200, []string{"0-1", "0-0"}, nil},
		{"by reason class", "?reason=invalid+envelope", 200, []string{"0-0"}, nil},
		{"limited", "?limit=1", 200, []string{"0-2"}, nil},
		{"bad limit", "?limit=0", 400, nil, nil},
		{"limit too large", "?limit=501", 400, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := send(t, app, http.MethodGet, PathDeadLetters+tt.query, opsToken, "")
			if code != tt.code {
				t.Fatalf("GET %s = %d %s, want %d", tt.query, code, body, tt.code)
			}
			if code != 200 {
				return
			}
			var got struct {
				Total    int            `json:"total"`
				BySource map[string]int `json:"by_source"`
				Entries  []struct {
					ID, Excerpt, Key string
				}
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got.Entries {
				ids = append(ids, e.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") || got.Total != 3 || got.BySource["complaints.raw"] != 2 {
				t.Errorf("entries %v, total %d, by source %v; want %v of 3", ids, got.Total, got.BySource, tt.ids)
			}
			for _, h := range tt.hidden {
				if strings.Contains(body, h) {
					t.Errorf("list shows %q: %s", h, body)
				}
			}
		})
	}
}

// TestDeadLetterShow shows an entry in full to ops, audited, and masked
// to an admin, unaudited.
func TestDeadLetterShow(t *testing.T) {
	app, logs, _ := deadLetterApp(t)
	code, body := send(t, app, http.MethodGet, PathDeadLetters+"/0-0", opsToken, "")
	if code != 200 || !strings.Contains(body, "13912345678") || !strings.Contains(body, `"full":true`) {
		t.Errorf("ops view %d %s, want the payload in full", code, body)
	}
	audit := logs.FilterMessage("dead letter shown in full").All()
	if len(audit) != 1 || audit[0].ContextMap()["by"] != "liu.yunwei" || audit[0].ContextMap()["entry"] != "0-0" {
		t.Errorf("audit %+v, want one entry by liu.yunwei of 0-0", audit)
	}
	code, body = send(t, app, http.MethodGet, PathDeadLetters+"/0-0", adminToken, "")
	if code != 200 || strings.Contains(body, "13912345678") || strings.Contains(body, "li.si@") || !strings.Contains(body, `"full":false`) {
		t.Errorf("admin view %d %s, want the payload, key and headers masked", code, body)
	}
	if n := logs.FilterMessage("dead letter shown in full").Len(); n != 1 {
		t.Errorf("%d full views logged, want the ops one only", n)
	}
	if code, body := send(t, app, http.MethodGet, PathDeadLetters+"/9-9", opsToken, ""); code != 404 || !strings.Contains(body, "没有这条死信") {
		t.Errorf("unknown entry %d %s", code, body)
	}
}

// TestDeadLetterReplay replays by ids and by filter, once, and refuses a
// body that names nothing.
func TestDeadLetterReplay(t *testing.T) {
	app, logs, written := deadLetterApp(t)
	tests := []struct {
		name, body string
		code       int
		want       []string // contained in the answer
		sent       int      // records written so far
	}{
		{"not JSON", `ids=0-0`, 400, []string{"不是有效的 JSON"}, 0},
		{"nothing named", `{}`, 400, []string{"请指定"}, 0},
		{"by id", `{"ids":["0-0","0-2"]}`, 200, []string{`"replayed":1`, `"status":"replayed"`, `"status":"refused"`}, 1},
		{"again", `{"ids":["0-0"]}`, 200, []string{`"replayed":0`, `"status":"already"`}, 1},
		{"by filter", `{"source":"complaints.raw"}`, 200, []string{`"replayed":1`, `"id":"0-1"`}, 2},
		{"by filter again", `{"source":"complaints.raw"}`, 200, []string{`"replayed":0`}, 2},
	}
	for _, tt := range tests {
		code, body := send(t, app, http.MethodPost, PathDeadLetters+"/replay", opsToken, tt.body)
		if code != tt.code {
			t.Fatalf("%s: %d %s, want %d", tt.name, code, body, tt.code)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %s lacks %s", tt.name, body, w)
			}
		}
		if n := len(written()); n != tt.sent {
			t.Errorf("%s: %d records sent, want %d", tt.name, n, tt.sent)
		}
	}
	if got := written(); len(got) == 2 && (got[0].Topic != bus.TopicRaw || got[0].Headers[deadletters.HeaderReplayOf] != "0-0") {
		t.Errorf("replayed %+v", got[0])
	}
	if n := logs.FilterMessage("dead letters replayed").FilterField(zap.String("by", "liu.yunwei")).Len(); n != 4 {
		t.Errorf("%d replays logged, want 4", n)
	}
}
