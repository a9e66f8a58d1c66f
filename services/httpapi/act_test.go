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
	"unicode"

	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// actServer is a console over one telecom case that keeps the actions it
// publishes.
type actServer struct {
	s         *Server
	published []router.Action
	// results are what the routers told of actions, by action id.
	results map[string]router.ActionResult
}

// newActServer serves the case as edit changes it (edit may be nil).
func newActServer(tb testing.TB, edit func(*router.Case)) *actServer {
	tb.Helper()
	return newPackActServer(tb, "builtin:telecom", "手机信号差了三天", edit)
}

// newPackActServer serves the case the pack opens for text.
func newPackActServer(tb testing.TB, pack, text string, edit func(*router.Case)) *actServer {
	tb.Helper()
	cfg := provisioned()
	packs, err := router.LoadPacks(router.PacksConfig{Packs: []router.PackRef{{Path: pack}}}, ".")
	if err != nil {
		tb.Fatal(err)
	}
	received := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := packs.Open(normalize.Complaint{V: normalize.SchemaVersion, ID: "api:1", Reference: "TS1", Channel: "api", ReceivedAt: received,
		Customer: normalize.Customer{Phone: "+8613800138000", Key: "phone:+8613800138000"}, Description: text}, received)
	if edit != nil {
		edit(&c)
	}
	as := &actServer{s: New(cfg, zap.NewNop(), nil, NewAuthenticator(tokens)), results: map[string]router.ActionResult{}}
	acts := &CaseActions{
		Publish: func(_ context.Context, a router.Action) error {
			as.published = append(as.published, a)
			return nil
		},
		Engine: packs.ByName,
		Now:    func() time.Time { return received.Add(time.Hour) },
		Result: func(id string) (router.ActionResult, bool) {
			r, ok := as.results[id]
			return r, ok
		},
	}
	NewConsole(fakeIndex{c: c}, NewAuthenticator(tokens), acts, testCustomerKey, zap.NewNop()).Mount(as.s.App())
	return as
}

// post sends an action with token and returns the status and the answer.
func (as *actServer) post(tb testing.TB, token string, body map[string]string) (int, map[string]any) {
	tb.Helper()
	return as.request(tb, http.MethodPost, "/api/v1/cases/TS1/actions", token, body)
}

// request sends body (nil: none) as JSON to path with token and returns
// the status and the answer.
func (as *actServer) request(tb testing.TB, method, path, token string, body any) (int, map[string]any) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, r)
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
			as := newActServer(t, nil)
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

// TestActRefusesWhatAgentsGotWrong: a take or transfer of a case another
// agent holds is refused with 409 naming the holder (a supervisor or an
// admin takes it over); a transfer to a department, queue or assignee
// that does not exist, and a resolve or close without its note, are
// refused with 422 naming the field; every refusal has a code and a
// Chinese message, and nothing is published for it.
func TestActRefusesWhatAgentsGotWrong(t *testing.T) {
	const admin, agent, agent2, supervisor = "admin-token-0123456789", "agent-token-0123456789", "agent2-token-0123456789", "supervisor-token-0123456789"
	heldByAgent1 := func(c *router.Case) {
		c.Status, c.Route.Owner, c.Assignee = router.StatusInProgress, "agent1", "agent1"
	}
	landline := func(c *router.Case) {
		c.Customer = normalize.Customer{Phone: "+861062345678", Key: "phone:+861062345678"}
	}
	tests := []struct {
		name     string
		edit     func(*router.Case)
		token    string
		body     map[string]string
		want     int
		code     string // the refusal's code; "" when accepted
		field    string
		message  string // a part of the Chinese message
		override bool   // of the published action
	}{
		{"a second agent takes a held case", heldByAgent1, agent2, map[string]string{"kind": "take"}, http.StatusConflict, router.CodeCaseHeld, "", "“agent1”", false},
		{"a second agent passes it to himself", heldByAgent1, agent2, map[string]string{"kind": "transfer", "assignee": "agent2"}, http.StatusConflict, router.CodeCaseHeld, "", "“agent1”", false},
		{"an admin acting for the second agent", heldByAgent1, admin, map[string]string{"kind": "take", "actor": "agent2"}, http.StatusConflict, router.CodeCaseHeld, "", "“agent1”", false},
		{"the holder takes it again", heldByAgent1, agent, map[string]string{"kind": "take"}, http.StatusAccepted, "", "", "", false},
		{"a supervisor takes it over", heldByAgent1, supervisor, map[string]string{"kind": "take", "note": "客户第三次来电，主管接手"}, http.StatusAccepted, "", "", "", true},
		{"an admin passes it on", heldByAgent1, admin, map[string]string{"kind": "transfer", "assignee": "agent2"}, http.StatusAccepted, "", "", "", true},
		{"transfer to 火星部门", nil, agent, map[string]string{"kind": "transfer", "department": "火星部门"}, http.StatusUnprocessableEntity, router.CodeUnknownRoute, "department", "火星部门", false},
		{"transfer to queue 9999", nil, agent, map[string]string{"kind": "transfer", "queue": "9999"}, http.StatusUnprocessableEntity, router.CodeUnknownRoute, "queue", "9999", false},
		{"transfer to agent 9999", nil, agent, map[string]string{"kind": "transfer", "assignee": "9999", "department": "网络运维部"}, http.StatusUnprocessableEntity, router.CodeUnknownAccount, "assignee", "9999", false},
		{"resolve without a result", heldByAgent1, agent, map[string]string{"kind": "resolve"}, http.StatusUnprocessableEntity, router.CodeNoteRequired, "note", "处理结果", false},
		{"close with only a full-width space", heldByAgent1, agent, map[string]string{"kind": "close", "note": "　"}, http.StatusUnprocessableEntity, router.CodeNoteRequired, "note", "关闭原因", false},
		{"an empty note", nil, agent, map[string]string{"kind": "note"}, http.StatusUnprocessableEntity, router.CodeNoteRequired, "note", "备注内容不能为空", false},
		{"take a resolved case", func(c *router.Case) { c.Status = router.StatusResolved }, agent, map[string]string{"kind": "take"}, http.StatusConflict, router.CodeCaseFinished, "", "已办结", false},
		{"a kind only tousu sends", nil, agent, map[string]string{"kind": "escalate"}, http.StatusUnprocessableEntity, router.CodeKind, "", "不支持的操作类型", false},
		{"resolve with the result", heldByAgent1, agent, map[string]string{"kind": "resolve", "note": "已调整基站参数，用户确认信号恢复"}, http.StatusAccepted, "", "", "", false},
		// The reply to the customer (the router writes it by e-mail or SMS).
		{"a reply by text message", nil, agent, map[string]string{"kind": "reply", "note": "您好，基站已于3月3日调整，请重启手机后再试。"}, http.StatusAccepted, "", "", "", false},
		{"a reply without text", nil, agent, map[string]string{"kind": "reply", "note": " \n"}, http.StatusUnprocessableEntity, router.CodeNoteRequired, "note", "答复内容不能为空", false},
		{"a reply to a landline only", landline, agent, map[string]string{"kind": "reply", "note": "您好"}, http.StatusUnprocessableEntity, router.CodeNoContact, "", "无法联系客户", false},
		{"an agent reports a delivery", nil, agent, map[string]string{"kind": "delivery"}, http.StatusUnprocessableEntity, router.CodeKind, "", "不支持的操作类型", false},
		{"an admin reports a delivery as the sender", nil, admin, map[string]string{"kind": "delivery", "actor": "sender"}, http.StatusUnprocessableEntity, router.CodeKind, "", "答复客户", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, tt.edit)
			code, out := as.post(t, tt.token, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d (answer %v)", code, tt.want, out)
			}
			if tt.code == "" {
				if len(as.published) != 1 || as.published[0].Override != tt.override {
					t.Fatalf("published %+v, want one action with override %v", as.published, tt.override)
				}
				return
			}
			msg, _ := out["message"].(string)
			if out["code"] != tt.code || (out["field"] != nil || tt.field != "") && out["field"] != tt.field || !strings.Contains(msg, tt.message) {
				t.Errorf("answer %v; want code %s, field %q and a message containing %q", out, tt.code, tt.field, tt.message)
			}
			if errText, _ := out["error"].(string); errText == "" {
				t.Errorf("the answer lost its error: %v", out)
			}
			if len(as.published) != 0 {
				t.Errorf("published %+v", as.published)
			}
		})
	}
}

// TestErrorsHaveChineseMessages: every error of the console API and of
// the auth middleware keeps its English error and has a stable code and
// a message in Chinese.
func TestErrorsHaveChineseMessages(t *testing.T) {
	const agent, intake = "agent-token-0123456789", "intake-token-0123456789"
	tests := []struct {
		name, method, path, token, body string
		header                          map[string]string
		want                            int
		code                            string
	}{
		{"no token", http.MethodGet, "/api/v1/cases", "", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"a wrong token", http.MethodPost, "/api/v1/cases/TS1/actions", "agent-token-０１２３", `{"kind":"take"}`, nil, http.StatusUnauthorized, "unauthorized"},
		{"an intake token searches", http.MethodGet, "/api/v1/cases?q=信号差", intake, "", nil, http.StatusForbidden, "forbidden"},
		{"an intake token acts", http.MethodPost, "/api/v1/cases/TS1/actions", intake, `{"kind":"note","note":"已回电"}`, nil, http.StatusForbidden, "forbidden"},
		{"an unknown case", http.MethodGet, "/api/v1/cases/TS404", agent, "", nil, http.StatusNotFound, "case_not_found"},
		{"an action on an unknown case", http.MethodPost, "/api/v1/cases/TS404/actions", agent, `{"kind":"take"}`, nil, http.StatusNotFound, "case_not_found"},
		{"a bad query", http.MethodGet, "/api/v1/cases?limit=-1", agent, "", nil, http.StatusBadRequest, "bad_query"},
		{"an action that is no JSON", http.MethodPost, "/api/v1/cases/TS1/actions", agent, `kind=take`, nil, http.StatusBadRequest, "bad_request"},
		{"a bad Idempotency-Key", http.MethodPost, "/api/v1/cases/TS1/actions", agent, `{"kind":"take"}`, map[string]string{"Idempotency-Key": "重试"}, http.StatusBadRequest, "bad_idempotency_key"},
	}
	as := newActServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := as.s.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			msg, _ := out["message"].(string)
			errText, _ := out["error"].(string)
			if resp.StatusCode != tt.want || out["code"] != tt.code || !hasHan(msg) || errText == "" {
				t.Errorf("%s %s = %d %v; want %d with code %s, an error and a Chinese message", tt.method, tt.path, resp.StatusCode, out, tt.want, tt.code)
			}
		})
	}
}

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// TestActionResult: GET /api/v1/cases/{id}/actions/{action} tells the
// agent what became of an action: pending until a router decided it,
// applied with the case's revision (from the router or from the case's
// history), or refused with the router's code and Chinese reason; the
// 202 of an action names where to ask.
func TestActionResult(t *testing.T) {
	const agent = "agent-token-0123456789"
	held := router.Reason{Code: router.CodeCaseHeld, Message: "该工单正由坐席“agent2”处理，您不能接手；请联系该坐席转派给您，或请主管处理", Conflict: true}
	withHistory := func(c *router.Case) {
		c.Revision = 3
		c.History = append(c.History, router.Event{Action: "api:noted", Kind: router.ActionNote, Actor: "agent1", Note: "已电话联系客户，约明早上门"})
	}
	tests := []struct {
		name     string
		edit     func(*router.Case)
		told     *router.ActionResult
		path     string
		token    string
		want     int
		state    router.ActionState
		revision int64
		code     string
		message  string
	}{
		{"nothing told yet", nil, nil, "/api/v1/cases/TS1/actions/api:waiting", agent, 200, router.ActionPending, 0, "", "正在处理"},
		{"in the case's history", withHistory, nil, "/api/v1/cases/TS1/actions/api:noted", agent, 200, router.ActionApplied, 3, "", "已生效"},
		{"applied, told by the router", nil, &router.ActionResult{V: 1, Action: "api:taken", Case: "TS1", Kind: router.ActionTake, State: router.ActionApplied, Revision: 2},
			"/api/v1/cases/TS1/actions/api:taken", agent, 200, router.ActionApplied, 2, "", "第 2 版"},
		{"refused, told by the router", nil, &router.ActionResult{V: 1, Action: "api:late", Case: "TS1", Kind: router.ActionTake, State: router.ActionRefused, Reason: &held},
			"/api/v1/cases/TS1/actions/api:late", agent, 200, router.ActionRefused, 0, router.CodeCaseHeld, "“agent2”"},
		{"told of another case", nil, &router.ActionResult{V: 1, Action: "api:other", Case: "TS9", State: router.ActionRefused, Reason: &held},
			"/api/v1/cases/TS1/actions/api:other", agent, 200, router.ActionPending, 0, "", "正在处理"},
		{"an unknown case", nil, nil, "/api/v1/cases/TS404/actions/api:x", agent, 404, "", 0, "case_not_found", "没有该工单"},
		{"an intake token", nil, nil, "/api/v1/cases/TS1/actions/api:x", "intake-token-0123456789", 403, "", 0, "forbidden", "无权"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, tt.edit)
			if tt.told != nil {
				as.results[tt.told.Action] = *tt.told
			}
			code, out := as.request(t, http.MethodGet, tt.path, tt.token, nil)
			msg, _ := out["message"].(string)
			rev, _ := out["revision"].(float64)
			state, _ := out["state"].(string)
			if code != tt.want || state != string(tt.state) || int64(rev) != tt.revision || !strings.Contains(msg, tt.message) ||
				(tt.code != "" || out["code"] != nil) && out["code"] != tt.code {
				t.Errorf("GET %s = %d %v; want %d, state %q, revision %d, code %q, a message with %q", tt.path, code, out, tt.want, tt.state, tt.revision, tt.code, tt.message)
			}
		})
	}

	as := newActServer(t, nil)
	code, out := as.post(t, agent, map[string]string{"kind": "note", "note": "客户情绪激动，已安抚"})
	where, _ := out["result"].(string)
	if code != http.StatusAccepted || where != "/api/v1/cases/TS1/actions/"+as.published[0].ID {
		t.Fatalf("202 %v, want the path of the action's result", out)
	}
	if code, out := as.request(t, http.MethodGet, where, agent, nil); code != 200 || out["state"] != string(router.ActionPending) {
		t.Errorf("GET %s = %d %v, want pending", where, code, out)
	}
}

// TestCorrectGradeAndValidity: an agent corrects a case's grade or
// validity through the API with a reason; an unknown grade, a missing
// value or reason is refused with 422 and a Chinese message naming the
// field, and nothing is published.
func TestCorrectGradeAndValidity(t *testing.T) {
	const agent = "agent-token-0123456789"
	tests := []struct {
		name, body string
		want       int
		field      string
		message    string
	}{
		{"regrade", `{"kind":"regrade","grade":"重大","note":"客户说已联系电视台"}`, http.StatusAccepted, "", ""},
		{"revalidate to invalid", `{"kind":"revalidate","valid":false,"note":"非本公司用户，打错电话"}`, http.StatusAccepted, "", ""},
		{"revalidate to valid", `{"kind":"revalidate","valid":true,"note":"核实为我司宽带用户"}`, http.StatusAccepted, "", ""},
		{"unknown grade", `{"kind":"regrade","grade":"特急","note":"很急"}`, http.StatusUnprocessableEntity, "grade", "没有等级“特急”，可选：一般、升级、重大"},
		{"regrade without a reason", `{"kind":"regrade","grade":"重大"}`, http.StatusUnprocessableEntity, "note", "更正须填写理由"},
		{"revalidate without a value", `{"kind":"revalidate","note":"打错了"}`, http.StatusUnprocessableEntity, "valid", "请选择投诉有效或无效"},
		{"invalid without a reason", `{"kind":"revalidate","valid":false,"note":" "}`, http.StatusUnprocessableEntity, "note", "判为无效须填写无效的理由"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, nil)
			code, out := as.request(t, http.MethodPost, "/api/v1/cases/TS1/actions", agent, json.RawMessage(tt.body))
			msg, _ := out["message"].(string)
			field, _ := out["field"].(string)
			if code != tt.want || field != tt.field || !strings.Contains(msg, tt.message) {
				t.Fatalf("status %d, field %q, message %q; want %d on %q with %q", code, field, msg, tt.want, tt.field, tt.message)
			}
			if tt.want != http.StatusAccepted {
				if len(as.published) != 0 {
					t.Errorf("published %+v", as.published)
				}
				return
			}
			if len(as.published) != 1 {
				t.Fatalf("published %d actions", len(as.published))
			}
			var sent map[string]any
			json.Unmarshal([]byte(tt.body), &sent)
			a := as.published[0]
			if string(a.Kind) != sent["kind"] || a.Note != sent["note"] || a.Grade != asString(sent["grade"]) ||
				(sent["valid"] != nil) != (a.Valid != nil) || a.Valid != nil && *a.Valid != sent["valid"] {
				t.Errorf("published %+v for %s", a, tt.body)
			}
		})
	}
}

// asString is v as a string, "" for nil.
func asString(v any) string {
	s, _ := v.(string)
	return s
}

// TestActClockChanges: the API accepts extend, pause and resume actions
// the case's pack allows, with the clock and amount; an extension the pack
// reserves to a supervisor is refused to an agent (422, a Chinese reason),
// as is one beyond the pack's bound, a clock the pack does not let extend,
// and an extension or pause without its reason.
func TestActClockChanges(t *testing.T) {
	const agent, supervisor = "agent-token-0123456789", "supervisor-token-0123456789"
	const claim = "我爸住院花了三万多，你们公司说是既往症不给赔，买的时候体检都没问题，凭什么不赔"
	tests := []struct {
		name    string
		pack    string
		token   string
		body    map[string]any
		want    int
		message string // a part of the Chinese message; "" when accepted
	}{
		{"a supervisor extends the decision clock", "builtin:insurance", supervisor, map[string]any{"kind": "extend", "clock": "decide", "amount": 15, "note": "需委托公估机构重新核定损失"}, http.StatusAccepted, ""},
		{"an agent may not", "builtin:insurance", agent, map[string]any{"kind": "extend", "clock": "decide", "amount": 15, "note": "需委托公估机构重新核定损失"}, http.StatusUnprocessableEntity, "须由主管批准"},
		{"beyond 30 days", "builtin:insurance", supervisor, map[string]any{"kind": "extend", "clock": "decide", "amount": 31, "note": "情况复杂"}, http.StatusUnprocessableEntity, "至多延期30个自然日"},
		{"without a reason", "builtin:insurance", supervisor, map[string]any{"kind": "extend", "clock": "decide", "amount": 5}, http.StatusUnprocessableEntity, "延期理由"},
		{"the simple-case clock", "builtin:insurance", supervisor, map[string]any{"kind": "extend", "clock": "decide_simple", "amount": 5, "note": "情况复杂"}, http.StatusUnprocessableEntity, "不得延期"},
		{"an agent pauses while documents are awaited", "builtin:insurance", agent, map[string]any{"kind": "pause", "note": "等客户补交出院小结"}, http.StatusAccepted, ""},
		{"a pause without a reason", "builtin:insurance", agent, map[string]any{"kind": "pause"}, http.StatusUnprocessableEntity, "暂停计时须填写原因"},
		{"resume what runs", "builtin:insurance", agent, map[string]any{"kind": "resume"}, http.StatusConflict, "没有暂停中的时限"},
		{"telecom's reply clock", "builtin:telecom", supervisor, map[string]any{"kind": "extend", "clock": "reply", "amount": 5, "note": "计费核查"}, http.StatusUnprocessableEntity, "不得延期"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newPackActServer(t, tt.pack, claim, nil)
			code, out := as.request(t, http.MethodPost, "/api/v1/cases/TS1/actions", tt.token, tt.body)
			msg, _ := out["message"].(string)
			if code != tt.want || !strings.Contains(msg, tt.message) {
				t.Fatalf("status %d, message %q; want %d with %q (answer %v)", code, msg, tt.want, tt.message, out)
			}
			if tt.message != "" {
				if len(as.published) != 0 {
					t.Errorf("published %+v for a refused action", as.published)
				}
				return
			}
			if len(as.published) != 1 {
				t.Fatalf("published %d actions", len(as.published))
			}
			a := as.published[0]
			if a.Kind != router.ActionKind(tt.body["kind"].(string)) || a.Clock != stringOf(tt.body["clock"]) || a.Amount != intOf(tt.body["amount"]) {
				t.Errorf("published %+v, want the request's kind, clock and amount", a)
			}
		})
	}
}

func stringOf(v any) string { s, _ := v.(string); return s }
func intOf(v any) int       { n, _ := v.(int); return n }
