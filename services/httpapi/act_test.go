package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// actServer is a console over one telecom case that keeps the actions it
// publishes.
type actServer struct {
	s         *Server
	published []router.Action
}

func newActServer(tb testing.TB) *actServer {
	tb.Helper()
	cfg := provisioned()
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, ".")
	if err != nil {
		tb.Fatal(err)
	}
	received := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := packs.Open(normalize.Complaint{V: normalize.SchemaVersion, ID: "api:1", Reference: "TS1", Channel: "api", ReceivedAt: received,
		Customer: normalize.Customer{Phone: "+8613800138000", Key: "phone:+8613800138000"}, Description: "手机信号差了三天"}, received)
	as := &actServer{s: New(cfg, zap.NewNop(), nil, NewAuthenticator(tokens))}
	acts := &CaseActions{
		Publish: func(_ context.Context, a router.Action) error {
			as.published = append(as.published, a)
			return nil
		},
		Engine: packs.ByName,
		Now:    func() time.Time { return received.Add(time.Hour) },
	}
	NewConsole(fakeIndex{c: c}, NewAuthenticator(tokens), acts, testCustomerKey, zap.NewNop()).Mount(as.s.App())
	return as
}

// post sends an action with token and returns the status and the answer.
func (as *actServer) post(tb testing.TB, token string, body map[string]string) (int, map[string]any) {
	tb.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/cases/TS1/actions", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := as.s.App().Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestActBoundsEveryField: the console refuses with 422 and a Chinese
// message an action with a field over its bound, an actor or assignee that
// is not an account, or a department or queue the case's pack does not
// route to, and publishes nothing for it.
func TestActBoundsEveryField(t *testing.T) {
	const admin, agent = "admin-token-0123456789", "agent-token-0123456789"
	huge := strings.Repeat("部", 200000)                 // past the console's body limit
	long := strings.Repeat("部", router.MaxActionName+1) // within it, past a name's bound
	tests := []struct {
		name    string
		token   string
		body    map[string]string
		want    int
		message string // a part of the Chinese message
	}{
		{"200000-rune department", agent, map[string]string{"kind": "transfer", "department": huge}, http.StatusRequestEntityTooLarge, "请求内容过大"},
		{"long department", agent, map[string]string{"kind": "transfer", "department": long}, http.StatusUnprocessableEntity, "部门过长"},
		{"long queue", agent, map[string]string{"kind": "transfer", "queue": long}, http.StatusUnprocessableEntity, "队列过长"},
		{"long assignee", agent, map[string]string{"kind": "transfer", "assignee": long}, http.StatusUnprocessableEntity, "指派坐席过长"},
		{"long event", agent, map[string]string{"kind": "event", "event": long}, http.StatusUnprocessableEntity, "事件过长"},
		{"long category", agent, map[string]string{"kind": "recategorize", "category": long}, http.StatusUnprocessableEntity, "分类过长"},
		{"long note", agent, map[string]string{"kind": "note", "note": strings.Repeat("备", router.MaxActionNote+1)}, http.StatusUnprocessableEntity, "备注过长"},
		{"long actor", admin, map[string]string{"kind": "take", "actor": long}, http.StatusUnprocessableEntity, "操作人过长"},
		{"actor not an account", admin, map[string]string{"kind": "take", "actor": "总经理<script>"}, http.StatusUnprocessableEntity, "操作人不是"},
		{"actor an intake token", admin, map[string]string{"kind": "take", "actor": "kiosk"}, http.StatusUnprocessableEntity, "操作人不是"},
		{"assignee not an account", agent, map[string]string{"kind": "transfer", "assignee": "2002"}, http.StatusUnprocessableEntity, "指派坐席不是"},
		{"department not in the pack", agent, map[string]string{"kind": "transfer", "department": "总经理办公室"}, http.StatusUnprocessableEntity, "没有部门"},
		{"queue not in the pack", agent, map[string]string{"kind": "transfer", "queue": "加急"}, http.StatusUnprocessableEntity, "没有队列"},
		{"not allowed now", agent, map[string]string{"kind": "reopen"}, http.StatusConflict, "不允许"},
		{"transfer within the pack", agent, map[string]string{"kind": "transfer", "assignee": "agent1", "department": "网络运维部", "queue": "网络质量投诉"}, http.StatusAccepted, ""},
		{"admin acting for an agent", admin, map[string]string{"kind": "take", "actor": "agent1"}, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t)
			code, out := as.post(t, tt.token, tt.body)
			msg, _ := out["message"].(string)
			if msg == "" { // a body over the limit is refused before it is read
				msg, _ = out["error"].(string)
			}
			if code != tt.want || !strings.Contains(msg, tt.message) {
				t.Fatalf("status %d, message %q; want %d with a message containing %q (answer %.300v)", code, msg, tt.want, tt.message, out)
			}
			if published := len(as.published) == 1; published != (tt.want == http.StatusAccepted) {
				t.Errorf("published %d actions", len(as.published))
			}
			if errText, _ := out["error"].(string); len(errText) > 1000 {
				t.Errorf("the answer repeats the field: %d bytes", len(errText))
			}
		})
	}
}
