package router

import (
	"errors"
	"fmt"
)

// Reason is why an action is refused, as the person who sent it reads it.
type Reason struct {
	// Code names the refusal for clients, stable across releases (e.g.
	// "case_held", "note_required", "unknown_route").
	Code string `json:"code"`
	// Field is the action's field at fault (its JSON name), when one is.
	Field string `json:"field,omitempty"`
	// Message says it in Simplified Chinese.
	Message string `json:"message"`
	// Conflict says the case's current state refuses the action (another
	// agent holds the case, it is finished…), so the same action may
	// apply later; otherwise the action itself is wrong.
	Conflict bool `json:"conflict,omitempty"`
}

// The codes of the refusals that are not about one field's bound.
const (
	CodeInvalid         = "invalid"          // a field every action needs is missing or wrong
	CodeKind            = "unknown_kind"     // a kind tousu does not know, or one people may not send
	CodeFieldRequired   = "field_required"   // the kind needs a field the action lacks
	CodeFieldInvalid    = "field_invalid"    // a field over its bound or with control characters
	CodeNoteRequired    = "note_required"    // a note, resolve or close without its text
	CodeUnknownRoute    = "unknown_route"    // a department or queue the pack does not route to
	CodeUnknownAccount  = "unknown_account"  // an actor or assignee that is no account
	CodeUnknownEvent    = "unknown_event"    // an event the pack does not declare
	CodeUnknownCategory = "unknown_category" // a category the pack does not declare
	CodeUnknownGrade    = "unknown_grade"    // a grade the pack's scale does not have
	CodeCaseHeld        = "case_held"        // another agent holds the case
	CodeCaseFinished    = "case_finished"    // the case is resolved or closed
	CodeCaseNotFinished = "case_not_finished"
	CodeCaseUnknown     = "case_unknown" // the router does not hold the case
	CodePackNotLoaded   = "pack_not_loaded"
	CodeNoContact       = "no_contact" // a reply to a customer without an address or mobile number
	// CodeClockRefused: the pack does not let the clock be extended or
	// paused that way, or the case runs no such clock.
	CodeClockRefused = "clock_refused"
)

// Refusal is the error of an action that is refused: its Reason for the
// person who sent it, and what happened in English for the logs and the
// dead-letter topic. Every refusal of Validate, CheckAgentAction and Apply
// wraps ErrInvalidAction; ReasonOf explains any of them.
type Refusal struct {
	Reason
	// Detail says what happened, in English.
	Detail string
	// invalid makes the refusal wrap ErrInvalidAction: the action can
	// never apply as it is.
	invalid bool
}

func (e *Refusal) Error() string {
	if e.invalid {
		return fmt.Sprintf("%s: %s", ErrInvalidAction, e.Detail)
	}
	return e.Detail
}

// Unwrap returns ErrInvalidAction for the refusal of an invalid action,
// and nil for one refused because of where the case is (see ApplyAction).
func (e *Refusal) Unwrap() error {
	if e.invalid {
		return ErrInvalidAction
	}
	return nil
}

// invalid returns the refusal of an action that can never apply: r says
// why in Chinese, format and args in English.
func invalid(r Reason, format string, args ...any) error {
	return &Refusal{Reason: r, Detail: fmt.Sprintf(format, args...), invalid: true}
}

// fieldLabels name an action's fields in the messages to people, and the
// fields of a case that explanations explain.
var fieldLabels = map[string]string{
	"id": "操作编号", "case": "工单编号", "customer": "客户", "batch": "批量事件", "actor": "操作人",
	"assignee": "指派坐席", "department": "部门", "queue": "队列", "event": "事件", "category": "分类",
	"clock": "时限", "step": "预警环节", "note": "备注", "reason": "原因", "grade": "等级", "valid": "有效性", "validity": "有效性",
	"contact_type": "诉求类型", "route": "分派", "escalation": "升级预警", "owner": "首问负责人", "urgency": "催办",
	ContactDuplicate: "重复提交", ContactRepeat: "重复投诉", ContactReply: "回复", "linked_case": "关联工单",
}

// FieldLabel is the Chinese name of an action's field (by its JSON name)
// or of a field an explanation explains, or the name itself for a field
// without one.
func FieldLabel(field string) string {
	if l, ok := fieldLabels[field]; ok {
		return l
	}
	return field
}

// ReasonOf explains an action's refusal: an error of Validate,
// CheckAgentAction, Apply or ApplyAction's Refused. An error that is none
// of theirs gets CodeInvalid and a general message.
func ReasonOf(err error) Reason {
	var r *Refusal
	var fe *FieldError
	var re *UnknownRouteError
	switch {
	case errors.As(err, &r):
		return r.Reason
	case errors.As(err, &fe):
		return Reason{Code: CodeFieldInvalid, Field: fe.Field,
			Message: fmt.Sprintf("%s过长（最多 %d 个字）或包含控制字符", FieldLabel(fe.Field), fe.Max)}
	case errors.As(err, &re):
		return Reason{Code: CodeUnknownRoute, Field: re.Field,
			Message: fmt.Sprintf("该工单的处理规则中没有%s“%s”，请从规则列出的%s中选择", FieldLabel(re.Field), re.Name, FieldLabel(re.Field))}
	}
	return Reason{Code: CodeInvalid, Message: "操作内容无效"}
}

// Label is the status's Chinese name, as agents and customers read it.
func (s Status) Label() string {
	switch s {
	case StatusOpen:
		return "已受理"
	case StatusInProgress:
		return "处理中"
	case StatusResolved:
		return "已办结"
	case StatusClosed:
		return "已关闭"
	}
	return string(s)
}
