package router

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// act builds an action on c by actor at the given time.
func act(c Case, id string, kind ActionKind, actor string, t time.Time) Action {
	return Action{V: ActionVersion, ID: id, Case: c.ID, Customer: c.Customer.Key, Kind: kind, Actor: actor, At: t}
}

// apply applies a and fails the test on an error.
func apply(tb testing.TB, e *Engine, c Case, a Action) Case {
	tb.Helper()
	out, _, _, err := e.Apply(c, a)
	if err != nil {
		tb.Fatalf("Apply(%s %s): %v", a.Kind, a.ID, err)
	}
	return out
}

func TestFirstContactOwnerStaysThroughTransfers(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("信号很差，打电话总是断", received), received)
	if c.Route.Owner != "" {
		t.Fatalf("the route names no owner, got %q", c.Route.Owner)
	}
	c = apply(t, e, c, act(c, "a1", ActionTake, "1001", received.Add(time.Minute)))
	tr := act(c, "a2", ActionTransfer, "1001", received.Add(2*time.Minute))
	tr.Assignee, tr.Department = "2002", "财务部"
	c = apply(t, e, c, tr)
	c = apply(t, e, c, act(c, "a3", ActionTake, "2002", received.Add(3*time.Minute)))
	if c.Route.Owner != "1001" || c.Assignee != "2002" || c.Route.Department != "财务部" || c.Status != StatusInProgress {
		t.Errorf("owner %q assignee %q department %q status %s, want owner 1001 kept, assignee 2002, 财务部, in_progress",
			c.Route.Owner, c.Assignee, c.Route.Department, c.Status)
	}
	if len(c.History) != 3 || !strings.Contains(c.History[1].Detail, "首问负责人仍为1001") {
		t.Errorf("history = %+v", c.History)
	}
	if !hasExplanation(c, "owner", "1001") {
		t.Errorf("the owner decision is not explained: %+v", c.Explanation)
	}
}

func hasExplanation(c Case, field, value string) bool {
	for _, x := range c.Explanation {
		if x.Field == field && x.Value == value {
			return true
		}
	}
	return false
}

func TestResolveStopsClocksAndStartsFollowUp(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("信号很差，打电话总是断", received), received)
	resolvedAt := at(t, "2025-10-10 16:00") // after ack's due, before reply's
	res := act(c, "r1", ActionResolve, "1001", resolvedAt)
	res.Note = "已更换基站设备，用户确认信号恢复"
	got, changed, notices, err := e.Apply(c, res)
	if err != nil || !changed || len(notices) != 0 {
		t.Fatalf("resolve: changed %v notices %v err %v", changed, notices, err)
	}
	if got.Status != StatusResolved || len(got.PendingClocks) != 0 {
		t.Errorf("status %s pending %+v", got.Status, got.PendingClocks)
	}
	byName := map[string]Deadline{}
	for _, d := range got.Deadlines {
		byName[d.Name] = d
	}
	if d := byName["reply"]; !d.StoppedAt.Equal(resolvedAt) || !d.Met {
		t.Errorf("reply clock = %+v, want stopped at resolution and met", d)
	}
	if d := byName["ack"]; !d.StoppedAt.Equal(resolvedAt) || d.Met {
		t.Errorf("ack clock = %+v, want stopped and missed", d)
	}
	visit := byName["visit"]
	if !visit.StartedAt.Equal(resolvedAt) || !visit.Due.Equal(at(t, "2025-10-14 00:00")) || !visit.StoppedAt.IsZero() {
		t.Errorf("visit clock = %+v, want started at resolution, due at the end of 13 Oct", visit)
	}
	if !got.Deadline.Equal(visit.Due) {
		t.Errorf("case deadline = %v, want the running visit clock's %v", got.Deadline, visit.Due)
	}
	if next, ok := got.NextAlert(); !ok || next.Clock != "visit" {
		t.Errorf("next alert = %+v %v, want the visit clock's ladder", next, ok)
	}
	if len(c.History) != 0 || c.Status != StatusOpen || len(c.PendingClocks) != 1 {
		t.Error("Apply modified the case passed in")
	}
	closed := apply(t, e, got, act(got, "c1", ActionClose, "1001", resolvedAt.Add(48*time.Hour)))
	for _, d := range closed.Deadlines {
		if d.StoppedAt.IsZero() {
			t.Errorf("clock %s still runs after close", d.Name)
		}
	}
	if _, ok := closed.NextAlert(); ok || !closed.Deadline.IsZero() {
		t.Errorf("a closed case has no next alert and no deadline, got deadline %v", closed.Deadline)
	}
	reopened := apply(t, e, closed, act(closed, "o1", ActionReopen, "1001", resolvedAt.Add(72*time.Hour)))
	if reopened.Status != StatusInProgress {
		t.Errorf("reopened status = %s", reopened.Status)
	}
}

func TestEscalateRaisesEachAlertOnce(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("我要找记者曝光，信号很差", received), received)
	first, ok := c.NextAlert()
	if !ok || first.Step != "grade 重大" {
		t.Fatalf("next alert = %+v, want the grade's immediate alert", first)
	}
	a := EscalateAction(c, first, received.Add(time.Second))
	got, changed, notices, err := e.Apply(c, a)
	if err != nil || !changed || len(notices) != 1 {
		t.Fatalf("escalate: %v %v %v", changed, notices, err)
	}
	n := notices[0]
	if n.Kind != NoticeEscalation || n.Level != 2 || n.Case != c.ID || len(n.Notify) != 1 || n.Notify[0] != "主任" || n.ID == "" {
		t.Errorf("notice = %+v", n)
	}
	if got.Escalation.Level < 2 {
		t.Errorf("level = %d, want at least 2", got.Escalation.Level)
	}
	if next, _ := got.NextAlert(); next.Step == first.Step && next.Clock == first.Clock {
		t.Error("a raised alert is still next")
	}
	// The same action again, or another action raising the same alert,
	// changes nothing.
	for _, again := range []Action{a, {V: 1, ID: "other", Case: c.ID, Kind: ActionEscalate, Actor: "escalator", At: received.Add(time.Hour), Step: first.Step, Level: first.Level}} {
		if _, changed, notices, err := e.Apply(got, again); err != nil || changed || len(notices) != 0 {
			t.Errorf("second raise: changed %v notices %d err %v", changed, len(notices), err)
		}
	}
	// An alert of a stopped clock is not raised.
	resolved := apply(t, e, got, act(got, "r", ActionResolve, "1001", received.Add(time.Hour)))
	var replyBreach Alert
	for _, al := range resolved.Escalation.Alerts {
		if al.Clock == "reply" && al.Step == "breach" {
			replyBreach = al
		}
	}
	if _, changed, _, _ := e.Apply(resolved, EscalateAction(resolved, replyBreach, received.Add(30*24*time.Hour))); changed {
		t.Error("the breach of a stopped clock was raised")
	}
}

func TestActionsTheCaseDoesNotAllow(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("信号很差", received), received)
	resolved := apply(t, e, open, act(open, "r", ActionResolve, "1001", received.Add(time.Hour)))
	later := received.Add(2 * time.Hour)
	with := func(c Case, kind ActionKind, f func(*Action)) (Case, Action) {
		a := act(c, "x", kind, "1001", later)
		if f != nil {
			f(&a)
		}
		return c, a
	}
	tests := []struct {
		name string
		c    Case
		a    Action
		want string
	}{
		{"take a resolved case", resolved, act(resolved, "x", ActionTake, "1001", later), "reopen"},
		{"resolve twice", resolved, act(resolved, "x", ActionResolve, "1001", later), "already resolved"},
		{"reopen an open case", open, act(open, "x", ActionReopen, "1001", later), "not resolved"},
		{"transfer to nowhere", open, act(open, "x", ActionTransfer, "1001", later), "names an assignee"},
		{"empty note", open, act(open, "x", ActionNote, "1001", later), "has text"},
		{"no actor", open, act(open, "x", ActionTake, " ", later), "no actor"},
		{"no id", open, act(open, "", ActionTake, "1001", later), "no id"},
		{"unknown kind", open, act(open, "x", "delete", "1001", later), "unknown kind"},
		{"other case", open, Action{V: 1, ID: "x", Case: "TS9", Kind: ActionTake, Actor: "1001", At: later}, "applied to case"},
	}
	c, a := with(open, ActionEvent, func(a *Action) { a.Event = "inspected" })
	tests = append(tests, struct {
		name string
		c    Case
		a    Action
		want string
	}{"unknown event", c, a, "no event"})
	c, a = with(open, ActionEvent, func(a *Action) { a.Event = EventResolved })
	tests = append(tests, struct {
		name string
		c    Case
		a    Action
		want string
	}{"built-in event as event", c, a, "its own action"})
	c, a = with(open, ActionRecategorize, func(a *Action) { a.Category = "天气" })
	tests = append(tests, struct {
		name string
		c    Case
		a    Action
		want string
	}{"unknown category", c, a, "no category"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, changed, _, err := e.Apply(tc.c, tc.a)
			if !errors.Is(err, ErrInvalidAction) || !strings.Contains(err.Error(), tc.want) || changed {
				t.Errorf("Apply = changed %v, %v; want ErrInvalidAction containing %q", changed, err, tc.want)
			}
		})
	}
}

func TestActionAppliedOnceAndRecategorize(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	c := e.Open(reachable("信号很差", received), received)
	rc := act(c, "fix-1", ActionRecategorize, "1001", received.Add(time.Minute))
	rc.Category = "费用"
	got := apply(t, e, c, rc)
	if got.Category != "费用" || got.Decision.Confidence != 1 || !hasExplanation(got, "category", "费用") {
		t.Errorf("after correction: category %s decision %+v", got.Category, got.Decision)
	}
	if again, changed, _, err := e.Apply(got, rc); err != nil || changed || len(again.History) != 1 {
		t.Errorf("the same action twice: changed %v err %v history %d", changed, err, len(again.History))
	}
	ev := act(got, "ev-1", ActionEvent, "1001", received.Add(2*time.Minute))
	ev.Event = "verified"
	if got = apply(t, e, got, ev); len(got.History) != 2 || got.History[1].Detail != "记录事件：verified" {
		t.Errorf("history = %+v", got.History)
	}
	if !got.UpdatedAt.Equal(received.Add(2 * time.Minute)) {
		t.Errorf("updated_at = %v", got.UpdatedAt)
	}
}

// TestActionFieldsBounded: every field of an action is bounded and free
// of control characters (a note may span lines); a transfer names only
// departments and queues its pack routes to. Each refusal wraps
// ErrInvalidAction and says which field.
func TestActionFieldsBounded(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("信号很差", received), received)
	huge := strings.Repeat("部", 200000)
	tests := []struct {
		name  string
		edit  func(*Action)
		field string // of the FieldError or UnknownRouteError; "" when valid
	}{
		{"200000-rune department", func(a *Action) { a.Kind, a.Department = ActionTransfer, huge }, "department"},
		{"long assignee", func(a *Action) { a.Kind, a.Assignee = ActionTransfer, strings.Repeat("张", MaxActionName+1) }, "assignee"},
		{"long queue", func(a *Action) { a.Kind, a.Queue = ActionTransfer, huge }, "queue"},
		{"long event", func(a *Action) { a.Kind, a.Event = ActionEvent, huge }, "event"},
		{"long category", func(a *Action) { a.Kind, a.Category = ActionRecategorize, huge }, "category"},
		{"long actor", func(a *Action) { a.Actor = huge }, "actor"},
		{"actor with a newline", func(a *Action) { a.Actor = "张三\n李四" }, "actor"},
		{"long note", func(a *Action) { a.Kind, a.Note = ActionNote, strings.Repeat("备", MaxActionNote+1) }, "note"},
		{"note with a NUL", func(a *Action) { a.Kind, a.Note = ActionNote, "备注\x00" }, "note"},
		{"long id", func(a *Action) { a.ID = strings.Repeat("x", MaxActionID+1) }, "id"},
		{"long reason", func(a *Action) { a.Kind, a.Batch, a.Reason = ActionFlagBatch, "b1", huge }, "reason"},
		{"unknown department", func(a *Action) { a.Kind, a.Department = ActionTransfer, "总经理办公室" }, "department"},
		{"unknown queue", func(a *Action) { a.Kind, a.Queue = ActionTransfer, "加急" }, "queue"},
		{"longest name", func(a *Action) { a.Kind, a.Assignee = ActionTransfer, strings.Repeat("张", MaxActionName) }, ""},
		{"multiline note", func(a *Action) { a.Kind, a.Note = ActionNote, "第一行\n第二行\t完" }, ""},
		{"known department and queue", func(a *Action) { a.Kind, a.Department, a.Queue = ActionTransfer, "财务部", "重大" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := act(open, "x", ActionTake, "1001", received.Add(time.Minute))
			tt.edit(&a)
			_, _, _, err := e.Apply(open, a)
			var fe *FieldError
			var re *UnknownRouteError
			field := ""
			switch {
			case errors.As(err, &fe):
				field = fe.Field
			case errors.As(err, &re):
				field = re.Field
			}
			if field != tt.field || (tt.field != "" && !errors.Is(err, ErrInvalidAction)) || (tt.field == "" && err != nil) {
				t.Errorf("Apply = %v; want an error on field %q", err, tt.field)
			}
			if err != nil && len(err.Error()) > 1000 {
				t.Errorf("the error repeats the field: %d bytes", len(err.Error()))
			}
		})
	}
}

// TestHeldCase: a case an agent holds is taken or passed on only by that
// agent, or by an action that overrides it (a supervisor's or an
// admin's); the refusal names the holder in Chinese and is a conflict.
func TestHeldCase(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("宽带断网两天了，报修单号 ＢＸ２０２５０９３０ 一直没人上门", received), received)
	later := received.Add(time.Hour)
	held := apply(t, e, open, act(open, "t1", ActionTake, "1001", received.Add(time.Minute)))
	transfer := func(actor, assignee, department string, override bool) Action {
		a := act(held, "x", ActionTransfer, actor, later)
		a.Assignee, a.Department, a.Override, a.Note = assignee, department, override, "转网络部处理"
		return a
	}
	take := func(actor string, override bool) Action {
		a := act(held, "x", ActionTake, actor, later)
		a.Override = override
		return a
	}
	tests := []struct {
		name     string
		c        Case
		a        Action
		assignee string // after the action; "" when refused
		detail   string // a part of the history event's detail
	}{
		{"another agent takes it", held, take("2002", false), "", ""},
		{"another agent passes it to himself", held, transfer("2002", "2002", "", false), "", ""},
		{"another agent moves it to a department", held, transfer("2002", "", "财务部", false), "", ""},
		{"the holder takes it again", held, take("1001", false), "1001", "首问负责人：1001；当前处理人：1001"},
		{"the holder passes it on", held, transfer("1001", "2002", "财务部", false), "2002", "处理人改为2002；部门改为财务部；首问负责人仍为1001"},
		{"a supervisor takes it over", held, take("主管王", true), "主管王", "从1001处接手；首问负责人：1001；当前处理人：主管王"},
		{"a supervisor passes it on", held, transfer("主管王", "2002", "", true), "2002", "处理人改为2002；首问负责人仍为1001"},
		{"an agent takes a case nobody holds", open, take("2002", false), "2002", "首问负责人：2002；当前处理人：2002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, _, err := e.Apply(tt.c, tt.a)
			if tt.assignee == "" {
				r := ReasonOf(err)
				if !errors.Is(err, ErrInvalidAction) || changed || r.Code != CodeCaseHeld || !r.Conflict || !strings.Contains(r.Message, "“1001”") {
					t.Fatalf("Apply = changed %v, %v (reason %+v); want refused: held by 1001", changed, err, r)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("Apply = changed %v, %v", changed, err)
			}
			last := got.History[len(got.History)-1]
			if got.Assignee != tt.assignee || !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("assignee %q, detail %q; want %q and a detail with %q", got.Assignee, last.Detail, tt.assignee, tt.detail)
			}
		})
	}
}

// TestCheckAgentAction: what people send needs a kind they may send, and
// a resolve or close needs its result or reason; the router itself still
// applies a resolve without one.
func TestCheckAgentAction(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("话费多扣了３０元，要求退还", received), received)
	later := received.Add(time.Hour)
	withNote := func(kind ActionKind, note string) Action {
		a := act(open, "x", kind, "1001", later)
		a.Note = note
		return a
	}
	tests := []struct {
		name    string
		a       Action
		code    string // "" when accepted
		message string
	}{
		{"resolve without a result", withNote(ActionResolve, ""), CodeNoteRequired, "处理结果"},
		{"resolve with a full-width space", withNote(ActionResolve, "　"), CodeNoteRequired, "处理结果"},
		{"close without a reason", withNote(ActionClose, "\n\t"), CodeNoteRequired, "关闭原因"},
		{"escalate is tousu's", act(open, "x", ActionEscalate, "1001", later), CodeKind, "不支持的操作类型"},
		{"an empty note", withNote(ActionNote, ""), CodeNoteRequired, "备注内容不能为空"},
		{"no actor", act(open, "x", ActionTake, "", later), CodeInvalid, "操作人"},
		{"resolve with the result", withNote(ActionResolve, "已退还多扣话费30元，客户认可"), "", ""},
		{"close with a terse reason", withNote(ActionClose, "客户撤诉"), "", ""},
		{"take needs nothing", act(open, "x", ActionTake, "1001", later), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAgentAction(tt.a)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("CheckAgentAction = %v", err)
				}
				return
			}
			r := ReasonOf(err)
			if !errors.Is(err, ErrInvalidAction) || r.Code != tt.code || !strings.Contains(r.Message, tt.message) || r.Conflict {
				t.Errorf("CheckAgentAction = %v (reason %+v); want code %s with %q", err, r, tt.code, tt.message)
			}
		})
	}
	if _, _, _, err := e.Apply(open, withNote(ActionResolve, "")); err != nil {
		t.Errorf("the router refuses a resolve without a result: %v", err)
	}
}

// TestReasonOf: every refusal of an action has a Chinese message, a
// stable code, the field at fault, and whether the case's state (409) or
// the action (422) is to blame.
func TestReasonOf(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("信号很差", received), received)
	resolved := apply(t, e, open, act(open, "r", ActionResolve, "1001", received.Add(time.Hour)))
	later := received.Add(2 * time.Hour)
	edit := func(c Case, kind ActionKind, f func(*Action)) Action {
		a := act(c, "x", kind, "1001", later)
		f(&a)
		return a
	}
	tests := []struct {
		name     string
		c        Case
		a        Action
		want     Reason // Message: a part of it
		conflict bool
	}{
		{"take a resolved case", resolved, act(resolved, "x", ActionTake, "1001", later), Reason{Code: CodeCaseFinished, Message: "工单已办结，不能接手"}, true},
		{"reopen an open case", open, act(open, "x", ActionReopen, "1001", later), Reason{Code: CodeCaseNotFinished, Message: "（已受理）不允许重新打开"}, true},
		{"unknown department", open, edit(open, ActionTransfer, func(a *Action) { a.Department = "火星部门" }), Reason{Code: CodeUnknownRoute, Field: "department", Message: "没有部门“火星部门”"}, false},
		{"unknown queue", open, edit(open, ActionTransfer, func(a *Action) { a.Queue = "9999" }), Reason{Code: CodeUnknownRoute, Field: "queue", Message: "没有队列“9999”"}, false},
		{"unknown category", open, edit(open, ActionRecategorize, func(a *Action) { a.Category = "天气" }), Reason{Code: CodeUnknownCategory, Field: "category", Message: "没有分类“天气”"}, false},
		{"unknown event", open, edit(open, ActionEvent, func(a *Action) { a.Event = "上门核实" }), Reason{Code: CodeUnknownEvent, Field: "event", Message: "没有事件“上门核实”"}, false},
		{"long note", open, edit(open, ActionNote, func(a *Action) { a.Note = strings.Repeat("备", MaxActionNote+1) }), Reason{Code: CodeFieldInvalid, Field: "note", Message: "备注过长"}, false},
		{"transfer to nowhere", open, act(open, "x", ActionTransfer, "1001", later), Reason{Code: CodeFieldRequired, Field: "assignee", Message: "转派须指定"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := e.Apply(tt.c, tt.a)
			r := ReasonOf(err)
			if r.Code != tt.want.Code || r.Field != tt.want.Field || !strings.Contains(r.Message, tt.want.Message) || r.Conflict != tt.conflict {
				t.Errorf("ReasonOf(%v) = %+v; want %+v (conflict %v)", err, r, tt.want, tt.conflict)
			}
		})
	}
}

// TestRevealChangesOnlyTheHistory: a reveal names a contact the case's
// customer has, and it is recorded on the timeline (who, when, which
// contact, never the value) in every status, changing nothing else.
func TestRevealChangesOnlyTheHistory(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("宽带断网三天，客服电话一直打不通", received), received)
	resolve := act(open, "r1", ActionResolve, "1001", received.Add(time.Hour))
	resolve.Note = "已上门修复线路"
	resolved := apply(t, e, open, resolve)
	reveal := func(c Case, id, field string) Action {
		a := act(c, id, ActionReveal, "1001", received.Add(2*time.Hour))
		a.Field = field
		return a
	}
	tests := []struct {
		name   string
		c      Case
		a      Action
		detail string // "" when refused
	}{
		{"phone of an open case", open, reveal(open, "v1", RevealPhone), "查看了客户的完整电话号码"},
		{"e-mail of a resolved case, for the follow-up visit", resolved, reveal(resolved, "v2", RevealEmail), "查看了客户的完整电子邮箱"},
		{"no field", open, reveal(open, "v3", ""), ""},
		{"an ID-card number is no contact", open, reveal(open, "v4", "id_card"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, _, err := e.Apply(tt.c, tt.a)
			if tt.detail == "" {
				if r := ReasonOf(err); !errors.Is(err, ErrInvalidAction) || r.Field != "field" || !strings.Contains(r.Message, "电话号码") {
					t.Errorf("Apply = %v (reason %+v), want a refusal naming the field", err, r)
				}
				if err := CheckAgentAction(tt.a); err == nil {
					t.Errorf("CheckAgentAction accepts a reveal of %q", tt.a.Field)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("Apply = changed %v, %v", changed, err)
			}
			if err := CheckAgentAction(tt.a); err != nil {
				t.Errorf("CheckAgentAction = %v, want an agent's reveal accepted", err)
			}
			last := got.History[len(got.History)-1]
			if len(got.History) != len(tt.c.History)+1 || last.Kind != ActionReveal || last.Actor != "1001" || last.Detail != tt.detail {
				t.Errorf("history = %+v, want one more entry %q by 1001", got.History, tt.detail)
			}
			if again, changed, _, _ := e.Apply(got, tt.a); changed || len(again.History) != len(got.History) {
				t.Errorf("the same reveal twice is recorded twice")
			}
			got.History, got.UpdatedAt = tt.c.History, tt.c.UpdatedAt
			if !reflect.DeepEqual(got, tt.c) {
				t.Errorf("a reveal changed more than the history:\n got %+v\nwant %+v", got, tt.c)
			}
		})
	}
}
