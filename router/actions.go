package router

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ActionVersion is the payload version of an Action.
const ActionVersion = 1

// ActionKind names what an action does to a case.
type ActionKind string

// The kinds of Action. Agents send take, transfer, note, event, resolve,
// close, reopen, recategorize, regrade, revalidate and reveal through the
// console API; the escalator
// sends escalate, the batch detector flag_batch.
const (
	// ActionTake: an agent takes the case (处理中). The first agent who
	// takes it becomes its owner and stays responsible (首问责任制).
	ActionTake ActionKind = "take"
	// ActionTransfer passes the case to another agent, department or
	// queue; the owner stays.
	ActionTransfer ActionKind = "transfer"
	// ActionNote adds an internal note.
	ActionNote ActionKind = "note"
	// ActionEvent records one of the pack's case events (a verification,
	// an approval…), starting the clocks that wait for it.
	ActionEvent ActionKind = "event"
	// ActionResolve resolves the case (已办结): the clocks running since
	// it was received stop, and the clocks that start when a case is
	// resolved (回访…) start.
	ActionResolve ActionKind = "resolve"
	// ActionClose closes the case: every clock stops.
	ActionClose ActionKind = "close"
	// ActionReopen takes a resolved or closed case back into work.
	ActionReopen ActionKind = "reopen"
	// ActionRecategorize corrects the category; corrections train the
	// pack's classifier.
	ActionRecategorize ActionKind = "recategorize"
	// ActionEscalate raises a due alert of the case's escalation ladder.
	ActionEscalate ActionKind = "escalate"
	// ActionFlagBatch flags the case as part of a batch incident (批量投诉).
	ActionFlagBatch ActionKind = "flag_batch"
	// ActionReveal records that an agent who may not see contacts was
	// shown one of the case's customer contacts (Field) unmasked, to call
	// or write back: it changes nothing but the case's history, the audit
	// of every reveal.
	ActionReveal ActionKind = "reveal"
	// ActionDelivery records what became of a message to the customer
	// (Outgoing): sent or failed, written by the sender.
	ActionDelivery ActionKind = "delivery"

	// ActionRegrade corrects the grade to Grade, one of the pack's, with
	// the reason in Note; ActionRevalidate corrects the validity to Valid,
	// with the reason in Note (the invalidity reason when not valid). Like
	// a recategorize action, each is a correction the pack learns from,
	// and the clocks the pack derives from the corrected field follow it.
	ActionRegrade    ActionKind = "regrade"
	ActionRevalidate ActionKind = "revalidate"
	// ActionReply is an agent's reply to the customer: its text in Note.
	// The router writes it to the customer (MessageReply), by e-mail when
	// the case has an address, else by text message; a case with neither
	// refuses it. It records EventReplied, which stops the clocks that
	// wait for the reply.
	ActionReply ActionKind = "reply"
	// ActionErase erases the case's personal information (Erase) for
	// Reason, ErasureRequest or ErasureRetention: an admin's request, or
	// the retention job's. An open case is closed, since nobody can be
	// answered any more. Only the admin API and the retention job send it.
	ActionErase ActionKind = "erase"
	// ActionExtend extends (延期) the running clock Clock by Amount units
	// of the pack's bound for it (Clock.Extendable), with the reason in
	// Note; a clock the pack does not let extend refuses it. Its
	// escalation follows the new due time.
	ActionExtend ActionKind = "extend"
	// ActionPause pauses the running clock Clock, or every clock the pack
	// lets pause when Clock is empty, while the case waits for the
	// customer (等待客户补充材料), with the reason in Note: a paused clock
	// raises no alerts. ActionResume runs it again, its due time later by
	// the working time it was paused.
	ActionPause  ActionKind = "pause"
	ActionResume ActionKind = "resume"
)

// DeliveryActor is the actor of every delivery action: the sender.
const DeliveryActor = "sender"

// The contacts of a case's customer a reveal action may show.
const (
	RevealPhone = "phone"
	RevealEmail = "email"
)

// RevealFields are the contacts a reveal action may show, with their
// names in Chinese.
var RevealFields = map[string]string{RevealPhone: "电话号码", RevealEmail: "电子邮箱"}

// Action is something done to a case: the payload of the case.actions
// topic. It is keyed by the case's customer key (Customer), the key of
// complaints.normalized, so the router instance that owns the customer's
// cases applies it and stays the only writer of each case. ID makes it
// idempotent: an action whose ID is in the case's History changes nothing.
type Action struct {
	V        int        `json:"v"`
	ID       string     `json:"id"`
	Case     string     `json:"case"`
	Customer string     `json:"customer"`
	Kind     ActionKind `json:"kind"`
	// Actor is who acts: an agent's id, "escalator" or "batch".
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`

	// Assignee, Department and Queue are where a transfer sends the case
	// (any may be empty: unchanged).
	Assignee   string `json:"assignee,omitempty"`
	Department string `json:"department,omitempty"`
	Queue      string `json:"queue,omitempty"`
	// Event is the pack event of an event action.
	Event string `json:"event,omitempty"`
	// Category is the corrected category of a recategorize action.
	Category string `json:"category,omitempty"`
	// Note is the text of a note, or the comment of any other action.
	Note string `json:"note,omitempty"`
	// Clock, Step and Level name the alert an escalate action raises;
	// Clock also names the clock an extend, pause or resume action
	// changes, and Amount how far an extend action moves it.
	Clock  string `json:"clock,omitempty"`
	Amount int    `json:"amount,omitempty"`
	Step   string `json:"step,omitempty"`
	Level  int    `json:"level,omitempty"`
	// Batch and Reason are set on flag_batch.
	Batch  string `json:"batch,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Message is the Outgoing.ID a delivery action reports on, and
	// Delivery what became of it (DeliverySent or DeliveryFailed, with
	// the reason in Reason).
	Message  string        `json:"message,omitempty"`
	Delivery DeliveryState `json:"delivery,omitempty"`
	// Field is the contact a reveal action showed (RevealFields).
	Field string `json:"field,omitempty"`
	// Grade is the corrected grade of a regrade action; Valid the
	// corrected validity of a revalidate action.
	Grade string `json:"grade,omitempty"`
	Valid *bool  `json:"valid,omitempty"`
	// CustomerVisible marks a resolve action's Note, the result, as one
	// the customer may read on the status page; a result is internal
	// otherwise. Only resolve actions carry it.
	CustomerVisible bool `json:"customer_visible,omitempty"`
	// Snapshot is the case an erase action erases, as the sender found
	// it in the index and already erased, for a router that no longer
	// holds the case (it forgets finished cases after the repeat window);
	// a router that holds the case erases its own copy and ignores it.
	Snapshot *Case `json:"snapshot,omitempty"`
	// Override says the actor may take over or pass on a case another
	// agent holds (a supervisor or an admin; see HeldBy), and grant an
	// extension the pack reserves to a supervisor. The console sets it
	// from the role of the account that acts.
	Override bool `json:"override,omitempty"`
}

// Event is an entry of a case's History.
type Event struct {
	Action string     `json:"action"` // the Action's ID
	Kind   ActionKind `json:"kind"`
	Actor  string     `json:"actor"`
	At     time.Time  `json:"at"`
	// Detail says what changed, in Chinese, e.g. "首问负责人：1001；当前处理人：1001".
	Detail string `json:"detail,omitempty"`
	Note   string `json:"note,omitempty"`
	// CustomerVisible marks the Note of a resolve as the result the
	// customer is shown (Action.CustomerVisible).
	CustomerVisible bool `json:"customer_visible,omitempty"`
}

// ErrInvalidAction is wrapped by the errors of an action that can never be
// applied: a missing field, a transition the case's status does not allow,
// an unknown event or category. The router dead-letters such an action.
var ErrInvalidAction = errors.New("invalid case action")

// Bounds on the fields of an Action, so that what an action adds to a
// case (its history, route and assignee) stays small.
const (
	// MaxActionName bounds, in characters, the names an action carries:
	// actor, assignee, department, queue, event, category, clock, step.
	MaxActionName = 64
	// MaxActionNote bounds a note or comment, in characters.
	MaxActionNote = 4000
	// MaxActionReason bounds a flag_batch action's reason, in characters.
	MaxActionReason = 1000
	// MaxActionID bounds the ids an action carries (its own, the case's,
	// the customer key, the batch), in bytes.
	MaxActionID = 256
)

// FieldError is the error of an action field over its bound or holding a
// control character. It wraps ErrInvalidAction.
type FieldError struct {
	// Field is the field's JSON name.
	Field string
	// Max is its bound in characters (bytes for ids).
	Max int
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: at most %d characters, without control characters", ErrInvalidAction, e.Field, e.Max)
}

// Unwrap returns ErrInvalidAction.
func (e *FieldError) Unwrap() error { return ErrInvalidAction }

// checkFields checks every field of a against its bound.
func (a Action) checkFields() error {
	fields := []struct {
		name, value string
		max         int
		unit        func(string) int
	}{
		{"id", a.ID, MaxActionID, byteLen}, {"case", a.Case, MaxActionID, byteLen},
		{"customer", a.Customer, MaxActionID, byteLen}, {"batch", a.Batch, MaxActionID, byteLen},
		{"actor", a.Actor, MaxActionName, utf8.RuneCountInString}, {"assignee", a.Assignee, MaxActionName, utf8.RuneCountInString},
		{"department", a.Department, MaxActionName, utf8.RuneCountInString}, {"queue", a.Queue, MaxActionName, utf8.RuneCountInString},
		{"event", a.Event, MaxActionName, utf8.RuneCountInString}, {"category", a.Category, MaxActionName, utf8.RuneCountInString},
		{"clock", a.Clock, MaxActionName, utf8.RuneCountInString}, {"step", a.Step, MaxActionName, utf8.RuneCountInString},
		{"field", a.Field, MaxActionName, utf8.RuneCountInString}, {"grade", a.Grade, MaxActionName, utf8.RuneCountInString},
		{"note", a.Note, MaxActionNote, utf8.RuneCountInString}, {"reason", a.Reason, MaxActionReason, utf8.RuneCountInString},
	}
	for _, f := range fields {
		multiline := f.name == "note" || f.name == "reason"
		if f.unit(f.value) > f.max || strings.ContainsFunc(f.value, func(r rune) bool {
			return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
		}) || !utf8.ValidString(f.value) {
			return &FieldError{Field: f.name, Max: f.max}
		}
	}
	return nil
}

func byteLen(s string) int { return len(s) }

// Validate checks the fields every action needs, the bounds of all its
// fields, and those of its kind that do not depend on the case.
func (a Action) Validate() error {
	if err := a.checkFields(); err != nil {
		return err
	}
	switch {
	case a.V != ActionVersion:
		return invalid(Reason{Code: CodeInvalid, Message: "操作的数据版本不受支持"}, "schema version %d, want %d", a.V, ActionVersion)
	case strings.TrimSpace(a.ID) == "":
		return invalid(Reason{Code: CodeInvalid, Field: "id", Message: "操作缺少编号"}, "no id")
	case a.Case == "":
		return invalid(Reason{Code: CodeInvalid, Field: "case", Message: "操作未指明工单"}, "no case")
	case strings.TrimSpace(a.Actor) == "":
		return invalid(Reason{Code: CodeInvalid, Field: "actor", Message: "操作缺少操作人"}, "no actor")
	case a.At.IsZero():
		return invalid(Reason{Code: CodeInvalid, Message: "操作缺少时间"}, "no time")
	}
	if a.CustomerVisible && a.Kind != ActionResolve {
		return invalid(Reason{Code: CodeInvalid, Field: "customer_visible", Message: "只有办结时填写的处理结果可以告知客户"}, "customer_visible is for resolve actions")
	}
	switch a.Kind {
	case ActionTake, ActionResolve, ActionClose, ActionReopen:
	case ActionTransfer:
		if a.Assignee == "" && a.Department == "" && a.Queue == "" {
			return invalid(Reason{Code: CodeFieldRequired, Field: "assignee", Message: "转派须指定坐席、部门或队列"}, "a transfer names an assignee, a department or a queue")
		}
	case ActionNote:
		if strings.TrimSpace(a.Note) == "" {
			return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "备注内容不能为空"}, "a note has text")
		}
	case ActionEvent:
		if a.Event == "" {
			return invalid(Reason{Code: CodeFieldRequired, Field: "event", Message: "请指明要记录的事件"}, "an event action names the event")
		}
		if slices.Contains(builtinEvents, a.Event) {
			return invalid(Reason{Code: CodeUnknownEvent, Field: "event", Message: fmt.Sprintf("事件“%s”由对应的操作（接手、办结、关闭、答复客户）自动记录，不能单独记录", a.Event)},
				"event %q is recorded by its own action (take, resolve, close)", a.Event)
		}
	case ActionRecategorize:
		if a.Category == "" {
			return invalid(Reason{Code: CodeFieldRequired, Field: "category", Message: "请指明更正后的分类"}, "a recategorize action names the category")
		}
	case ActionRegrade, ActionRevalidate:
		if err := a.checkCorrection(); err != nil {
			return err
		}
	case ActionEscalate:
		if a.Step == "" || a.Level < 1 {
			return invalid(Reason{Code: CodeFieldRequired, Field: "step", Message: "升级操作须指明预警环节和级别"}, "an escalate action names the alert's step and level")
		}
	case ActionFlagBatch:
		if a.Batch == "" {
			return invalid(Reason{Code: CodeFieldRequired, Field: "batch", Message: "批量标记须指明批量事件"}, "a flag_batch action names the batch")
		}
	case ActionReply:
		if strings.TrimSpace(a.Note) == "" {
			return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "答复内容不能为空"}, "a reply has text")
		}
	case ActionExtend:
		switch {
		case a.Clock == "" || a.Amount < 1:
			return invalid(Reason{Code: CodeFieldRequired, Field: "amount", Message: "延期须指明时限和延长的天数"}, "an extend action names the clock and a positive amount")
		case strings.TrimSpace(a.Note) == "":
			return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "延期须填写延期理由"}, "an extend action says why in its note")
		}
	case ActionPause:
		if strings.TrimSpace(a.Note) == "" {
			return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "暂停计时须填写原因（如等待客户补充的材料）"}, "a pause action says why in its note")
		}
	case ActionResume:
	case ActionDelivery:
		switch {
		case a.Actor != DeliveryActor:
			return invalid(Reason{Code: CodeKind, Field: "actor", Message: "发送结果只能由发送程序记录"}, "a delivery action comes from actor %q, not %q", DeliveryActor, a.Actor)
		case a.Message == "" || (a.Delivery != DeliverySent && a.Delivery != DeliveryFailed):
			return invalid(Reason{Code: CodeFieldRequired, Field: "message", Message: "发送结果须指明消息及其状态"}, "a delivery action names the message and its state, sent or failed")
		}
	case ActionErase:
		if _, ok := ErasureReasons[a.Reason]; !ok {
			return invalid(Reason{Code: CodeFieldRequired, Field: "reason", Message: "删除个人信息须指明原因：请求删除（request）或保存期限届满（retention）"},
				"an erase action names its reason, request or retention, not %q", a.Reason)
		}
		if a.Snapshot != nil && (a.Snapshot.ID != a.Case || a.Snapshot.Erased == nil) {
			return invalid(Reason{Code: CodeInvalid, Field: "snapshot", Message: "删除操作附带的工单与操作不符"}, "the snapshot of an erase action is the erased case it names")
		}
	case ActionReveal:
		if _, ok := RevealFields[a.Field]; !ok {
			return invalid(Reason{Code: CodeFieldRequired, Field: "field", Message: "请指明要查看的联系方式：电话号码（phone）或电子邮箱（email）"},
				"a reveal action names the contact, phone or email, not %q", a.Field)
		}
	default:
		return invalid(Reason{Code: CodeKind, Message: "不支持的操作类型"}, "unknown kind %q", a.Kind)
	}
	return nil
}

// Applied reports whether the action is already in the case's history.
func (c Case) Applied(actionID string) bool {
	return slices.ContainsFunc(c.History, func(e Event) bool { return e.Action == actionID })
}

// Finished reports whether the case is resolved or closed.
func (c Case) Finished() bool { return c.Status == StatusResolved || c.Status == StatusClosed }

// Apply applies an action to a case the engine decided and returns the
// changed case, whether it changed, and the notices to raise (the alert of
// an escalate action). It is pure: the case passed in is not modified, and
// the same case and action always give the same result. An action already
// applied changes nothing; so does an escalation of an alert already
// raised or of a stopped clock. An action that can never apply returns an
// error wrapping ErrInvalidAction. Revision is left to the router.
func (e *Engine) Apply(c Case, a Action) (Case, bool, []Notice, error) {
	if err := a.Validate(); err != nil {
		return c, false, nil, err
	}
	if a.Case != c.ID {
		return c, false, nil, invalid(Reason{Code: CodeInvalid, Field: "case", Message: "操作与工单不符"}, "action for case %s applied to case %s", a.Case, c.ID)
	}
	if c.Applied(a.ID) {
		return c, false, nil, nil
	}
	c = c.clone()
	ev := Event{Action: a.ID, Kind: a.Kind, Actor: a.Actor, At: a.At, Note: a.Note, CustomerVisible: a.CustomerVisible}
	if a.Actor == SurveyActor && c.Status != StatusResolved {
		// Every survey link and status page of a resolution may answer
		// it; the first answer moves the case on and ends the survey.
		return c, false, nil, invalid(Reason{Code: CodeCaseFinished, Message: "该工单已有回访结果，无需再次评价", Conflict: true},
			"case %s is %s: a customer's survey answer follows a resolution", c.ID, c.Status)
	}
	var notices []Notice
	var err error
	switch a.Kind {
	case ActionTake:
		if c.Finished() {
			return c, false, nil, finished(c, "工单%s，不能接手；请先重新打开工单", "case %s is %s; reopen it before taking it", c.ID, c.Status)
		}
		if err := heldBy(c, a); err != nil {
			return c, false, nil, err
		}
		if c.Route.Owner == "" {
			c.Route.Owner = a.Actor
			c.Explanation = append(c.Explanation, Explanation{Field: "owner", Value: a.Actor, By: "agent", Rule: "first_contact",
				Reason: "首位接手的坐席为首问负责人，负责到底", Basis: BasisFirstContact})
		}
		if c.Assignee != "" && c.Assignee != a.Actor {
			ev.Detail = "从" + c.Assignee + "处接手；"
		}
		c.Assignee = a.Actor
		c.Status = StatusInProgress
		ev.Detail += "首问负责人：" + c.Route.Owner + "；当前处理人：" + c.Assignee
		c, err = e.event(c, EventTaken, a.At)
	case ActionTransfer:
		if c.Finished() {
			return c, false, nil, finished(c, "工单%s，不能转派；请先重新打开工单", "case %s is %s; reopen it before passing it on", c.ID, c.Status)
		}
		if err := heldBy(c, a); err != nil {
			return c, false, nil, err
		}
		if err := e.checkRoute(a.Department, a.Queue); err != nil {
			return c, false, nil, err
		}
		var parts []string
		if a.Assignee != "" {
			c.Assignee = a.Assignee
			parts = append(parts, "处理人改为"+a.Assignee)
		}
		if a.Department != "" {
			c.Route.Department = a.Department
			parts = append(parts, "部门改为"+a.Department)
		}
		if a.Queue != "" {
			c.Route.Queue = a.Queue
			parts = append(parts, "队列改为"+a.Queue)
		}
		if c.Route.Owner != "" {
			parts = append(parts, "首问负责人仍为"+c.Route.Owner)
		}
		ev.Detail = strings.Join(parts, "；")
	case ActionNote:
	case ActionEvent:
		if !e.events[a.Event] {
			return c, false, nil, invalid(Reason{Code: CodeUnknownEvent, Field: "event", Message: fmt.Sprintf("该工单的处理规则中没有事件“%s”", a.Event)},
				"pack %s has no event %q", e.id, a.Event)
		}
		ev.Detail = "记录事件：" + EventLabel(a.Event)
		c, err = e.event(c, a.Event, a.At)
	case ActionResolve:
		if c.Finished() {
			return c, false, nil, finished(c, "工单%s，不能再次办结", "case %s is already %s", c.ID, c.Status)
		}
		c.Status = StatusResolved
		ev.Detail = "已办结"
		if a.CustomerVisible {
			ev.Detail += "；处理结果已在进度查询页告知客户"
		}
		c, err = e.event(c, EventResolved, a.At)
	case ActionClose:
		if c.Status == StatusClosed {
			return c, false, nil, finished(c, "工单%s，不能再次关闭", "case %s is already closed", c.ID)
		}
		c.Status = StatusClosed
		ev.Detail = "已关闭，所有时限停止计时"
		c, err = e.event(c, EventClosed, a.At)
	case ActionReopen:
		if !c.Finished() {
			return c, false, nil, invalid(Reason{Code: CodeCaseNotFinished, Message: fmt.Sprintf("工单当前状态（%s）不允许重新打开：只有已办结或已关闭的工单可以重新打开", c.Status.Label()), Conflict: true},
				"case %s is %s, not resolved or closed", c.ID, c.Status)
		}
		c.Status = StatusInProgress
		ev.Detail = "已重新打开，已停止的时限不再恢复"
	case ActionRecategorize, ActionRegrade, ActionRevalidate:
		c, ev.Detail, err = e.correct(c, a)
	case ActionEscalate:
		var n *Notice
		c, n = raise(c, a)
		if n == nil {
			return c, false, nil, nil
		}
		notices = append(notices, *n)
		ev.Detail = fmt.Sprintf("第 %d 级预警：%s，通知%s", a.Level, n.Reason, strings.Join(n.Notify, "、"))
	case ActionFlagBatch:
		var changed bool
		if c, changed = FlagBatch(c, a.Batch, a.Reason); !changed {
			return c, false, nil, nil
		}
		ev.Detail = "标记为批量投诉 " + a.Batch
	case ActionReveal:
		// Allowed in every status: a resolved case's customer is called
		// back for the follow-up visit (回访).
		ev.Detail = "查看了客户的完整" + RevealFields[a.Field]
	case ActionReply:
		// Allowed in every status: a resolved case's customer may be
		// answered again.
		m, ok := ReplyMedium(c)
		if !ok {
			return c, false, nil, invalid(Reason{Code: CodeNoContact, Message: "无法联系客户：该工单没有有效的电子邮箱或手机号码，不能发送答复；请电话联系客户后记录备注"},
				"case %s has neither an e-mail address nor a mobile number to reply to", c.ID)
		}
		ev.Detail = "以" + mediumLabels[m] + "答复客户"
		c, err = e.event(c, EventReplied, a.At)
	case ActionExtend, ActionPause, ActionResume:
		if c.Finished() {
			return c, false, nil, finished(c, "工单%s，时限已停止，不能延期、暂停或恢复", "case %s is %s: its clocks stopped", c.ID, c.Status)
		}
		change := map[ActionKind]func(Case, Action) (Case, string, error){ActionExtend: e.extend, ActionPause: e.pause, ActionResume: e.resume}[a.Kind]
		c, ev.Detail, err = change(c, a)
	case ActionDelivery:
		ev.Note = deliveryNote(a)
	case ActionErase:
		if slices.ContainsFunc(c.History, func(e Event) bool { return e.Kind == ActionErase }) {
			return c, false, nil, nil
		}
		// The note says why (the request's date, the ticket); what
		// personal it holds goes with the rest.
		ev.Detail, ev.Note = "已删除客户个人信息（"+ErasureReasons[a.Reason]+"）", EraseText(a.Note, c.Customer.Name)
		if !c.Finished() {
			c.Status = StatusClosed
			ev.Detail += "，工单关闭，所有时限停止计时"
			c, err = e.event(c, EventClosed, a.At)
		}
		c = Erase(c, Erasure{At: a.At, Reason: a.Reason, By: a.Actor})
	}
	if err != nil {
		return c, false, nil, err
	}
	c.History = keepEnds(append(c.History, ev), 0, MaxHistory, &c.Omitted.History)
	if a.At.After(c.UpdatedAt) {
		c.UpdatedAt = a.At
	}
	return c, true, notices, nil
}

// HeldBy returns the agent who holds the case, its assignee, when that is
// someone other than actor; "" when nobody else holds it.
func (c Case) HeldBy(actor string) string {
	if c.Assignee != "" && c.Assignee != actor {
		return c.Assignee
	}
	return ""
}

// heldBy refuses a take or transfer of a case another agent holds, unless
// the action overrides it: only the holder passes the case on, and only a
// supervisor or an admin takes it over (首问责任制 keeps the owner; the
// holder is whoever works it now).
func heldBy(c Case, a Action) error {
	holder := c.HeldBy(a.Actor)
	if holder == "" || a.Override {
		return nil
	}
	verb := map[ActionKind]string{ActionTake: "接手", ActionTransfer: "转派"}[a.Kind]
	return invalid(Reason{Code: CodeCaseHeld, Conflict: true,
		Message: fmt.Sprintf("该工单正由坐席“%s”处理，您不能%s；请联系该坐席转派给您，或请主管处理", holder, verb)},
		"case %s is held by %s; %s may not %s it", c.ID, holder, a.Actor, a.Kind)
}

// finished refuses an action on a finished case: message in Chinese, with
// a %s for the status; format and args in English.
func finished(c Case, message, format string, args ...any) error {
	return invalid(Reason{Code: CodeCaseFinished, Message: fmt.Sprintf(message, c.Status.Label()), Conflict: true}, format, args...)
}

// AgentKinds are the kinds of action people send; escalate and flag_batch
// come from tousu itself.
var AgentKinds = []ActionKind{ActionTake, ActionTransfer, ActionNote, ActionEvent,
	ActionResolve, ActionClose, ActionReopen, ActionRecategorize, ActionRegrade, ActionRevalidate, ActionReveal, ActionReply,
	ActionExtend, ActionPause, ActionResume}

// CheckAgentAction checks what an action a person sends needs besides
// Validate: a kind people may send, and the result of a resolve or the
// reason of a close in Note. The router applies resolve and close actions
// without one (those sent before this rule), so it is for the console.
func CheckAgentAction(a Action) error {
	if !slices.Contains(AgentKinds, a.Kind) {
		return invalid(Reason{Code: CodeKind, Message: "不支持的操作类型，可用：接手、转派、备注、事件、办结、关闭、重新打开、更正分类、更正等级、更正有效性、查看联系方式、答复客户、延期、暂停计时、恢复计时"},
			"kind must be one of %v", AgentKinds)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if strings.TrimSpace(a.Note) != "" {
		return nil
	}
	switch a.Kind {
	case ActionResolve:
		return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "办结须在备注中填写处理结果"}, "a resolve action says the result in its note")
	case ActionClose:
		return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "关闭须在备注中填写关闭原因"}, "a close action says the reason in its note")
	}
	return nil
}

// UnknownRouteError is the error of a transfer to a department or queue
// the case's pack never routes to. It wraps ErrInvalidAction.
type UnknownRouteError struct {
	// Field is "department" or "queue"; Name is what the transfer named.
	Field, Name string
	// Pack is the pack's name@version.
	Pack string
}

func (e *UnknownRouteError) Error() string {
	return fmt.Sprintf("%s: pack %s routes to no %s %q", ErrInvalidAction, e.Pack, e.Field, e.Name)
}

// Unwrap returns ErrInvalidAction.
func (e *UnknownRouteError) Unwrap() error { return ErrInvalidAction }

// checkRoute checks that the pack routes to the department and queue (an
// empty one is not checked): its routing default or one of its rules names
// them.
func (e *Engine) checkRoute(department, queue string) error {
	if department != "" && !e.departments[department] {
		return &UnknownRouteError{Field: "department", Name: department, Pack: e.id}
	}
	if queue != "" && !e.queues[queue] {
		return &UnknownRouteError{Field: "queue", Name: queue, Pack: e.id}
	}
	return nil
}

// BasisFirstContact is where first-contact responsibility comes from.
const BasisFirstContact = "《分公司投诉处理管理办法（试行）》一、㈠1 首问责任制原则：各级投诉受理部门和投诉处理部门必须严格执行首问责任制的原则，严禁出现推诿扯皮现象"

// event records a case event at: the clocks it stops stop (every clock
// when the case closes) and the pending clocks it starts start.
func (e *Engine) event(c Case, event string, at time.Time) (Case, error) {
	for i, d := range c.Deadlines {
		if d.Paused() && (d.Stop == event || event == EventClosed || event == EventResolved && d.Stop == EventReplied) {
			// Stopped while paused: the pause ends with it.
			if r, err := e.resumed(d, at); err == nil {
				c.Deadlines[i], d = r, r
			}
		}
		if d.StoppedAt.IsZero() && (d.Stop == event || event == EventClosed || event == EventResolved && d.Stop == EventReplied) {
			c.Deadlines[i].StoppedAt = at
			c.Deadlines[i].Met = d.Due.IsZero() || !at.After(d.Due)
		}
	}
	if event == EventClosed {
		c.PendingClocks = nil
	}
	c, err := e.Start(c, event, at)
	if err != nil {
		return c, err
	}
	c.Deadline = earliest(c.Deadlines)
	return c, nil
}

// raise marks the alert an escalate action names as raised and returns its
// notice; nil when there is nothing to raise (raised before, a stopped
// clock, a closed case, an unknown alert).
func raise(c Case, a Action) (Case, *Notice) {
	if c.Status == StatusClosed {
		return c, nil
	}
	i := slices.IndexFunc(c.Escalation.Alerts, func(al Alert) bool {
		return al.Clock == a.Clock && al.Step == a.Step && al.Level == a.Level
	})
	if i < 0 || !c.Escalation.Alerts[i].RaisedAt.IsZero() || !c.AlertActive(c.Escalation.Alerts[i]) {
		return c, nil
	}
	al := &c.Escalation.Alerts[i]
	al.RaisedAt = a.At
	c.Escalation.Level = max(c.Escalation.Level, al.Level)
	n := Notice{
		V: NoticeVersion, ID: "escalation:" + c.ID + ":" + al.key(),
		Kind: NoticeEscalation, At: a.At, Case: c.ID, Reference: c.ID, Urgency: c.Urgency, Route: c.Route,
		Level: al.Level, Clock: al.Clock, Step: al.Step, Notify: al.Notify,
		Category: c.Category, Excerpt: excerpt(c.Description), Basis: al.Basis,
	}
	if d := c.deadline(al.Clock); d != nil {
		n.Due = d.Due
		n.Reason = fmt.Sprintf("“%s”%s，到期时间 %s", cmp.Or(d.Title, d.Name), StepLabel(al.Step), timeLabel(d.Due))
	} else {
		n.Reason = StepLabel(al.Step)
	}
	return c, &n
}

// deadline returns the running or stopped clock named name, or nil.
func (c Case) deadline(name string) *Deadline {
	for i := range c.Deadlines {
		if c.Deadlines[i].Name == name {
			return &c.Deadlines[i]
		}
	}
	return nil
}

// AlertActive reports whether an alert can still be raised: the case is
// not closed, and the alert is a grade's immediate one or its clock runs
// (started, not stopped, not paused).
func (c Case) AlertActive(al Alert) bool {
	if c.Status == StatusClosed {
		return false
	}
	if al.Clock == "" {
		return true
	}
	d := c.deadline(al.Clock)
	return d != nil && d.StoppedAt.IsZero() && !d.Paused()
}

// NextAlert returns the earliest alert of the case not yet raised that can
// still be raised; false when there is none. The escalator raises it when
// its time comes by sending an escalate action.
func (c Case) NextAlert() (Alert, bool) {
	var next Alert
	found := false
	for _, al := range c.Escalation.Alerts {
		if al.RaisedAt.IsZero() && c.AlertActive(al) && (!found || al.At.Before(next.At)) {
			next, found = al, true
		}
	}
	return next, found
}

// EscalateAction is the escalate action that raises al on c, with an id
// that makes raising it twice harmless.
func EscalateAction(c Case, al Alert, at time.Time) Action {
	return Action{
		V: ActionVersion, ID: "escalate:" + c.ID + ":" + al.key(),
		Case: c.ID, Customer: c.Customer.Key, Kind: ActionEscalate, Actor: "escalator", At: at,
		Clock: al.Clock, Step: al.Step, Level: al.Level,
	}
}

// key names an alert within its case: clock, step and level.
func (al Alert) key() string { return al.Clock + ":" + al.Step + ":" + strconv.Itoa(al.Level) }

// clone copies the slices Apply changes in place.
func (c Case) clone() Case {
	c.Deadlines = slices.Clone(c.Deadlines)
	c.PendingClocks = slices.Clone(c.PendingClocks)
	c.Escalation.Alerts = slices.Clone(c.Escalation.Alerts)
	c.Explanation = slices.Clip(c.Explanation)
	c.History = slices.Clip(c.History)
	return c
}
