package router

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/normalize"
)

// Agents' corrections of what the pack decided (category, grade,
// validity): one path that applies them to a case and re-derives what the
// pack derives from the corrected field.

// The fields an agent corrects, as Correction.Field and explanations name
// them.
const (
	FieldCategory = "category"
	FieldGrade    = "grade"
	FieldValidity = "validity"
)

// The values of a validity correction (Correction.Value).
const (
	ValidityValid   = "valid"
	ValidityInvalid = "invalid"
)

// Corrects reports whether actions of the kind correct a decision of the
// pack: recategorize, regrade and revalidate, each a correction the pack
// learns from.
func (k ActionKind) Corrects() bool {
	return k == ActionRecategorize || k == ActionRegrade || k == ActionRevalidate
}

// Grades are the pack's grades, lowest first: what a regrade action may
// name.
func (e *Engine) Grades() []string {
	out := make([]string, len(e.pack.Grades.Scale))
	for i, g := range e.pack.Grades.Scale {
		out[i] = g.Name
	}
	return out
}

// checkCorrection checks a regrade or revalidate action's fields: the
// corrected value, and the reason in Note.
func (a Action) checkCorrection() error {
	switch {
	case a.Kind == ActionRegrade && a.Grade == "":
		return invalid(Reason{Code: CodeFieldRequired, Field: "grade", Message: "请选择更正后的等级"}, "a regrade action names the grade")
	case a.Kind == ActionRevalidate && a.Valid == nil:
		return invalid(Reason{Code: CodeFieldRequired, Field: "valid", Message: "请选择投诉有效或无效"}, "a revalidate action says valid true or false")
	case strings.TrimSpace(a.Note) != "":
		return nil
	case a.Kind == ActionRevalidate && !*a.Valid:
		return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "判为无效须填写无效的理由"}, "a revalidate action to invalid says why in its note")
	}
	return invalid(Reason{Code: CodeNoteRequired, Field: "note", Message: "更正须填写理由"}, "a %s action says why in its note", a.Kind)
}

// validityValue says a validity as explanations do: "有效", "无效：理由".
func validityValue(v Validity) string {
	if v.Valid {
		return "有效"
	}
	return strings.TrimSuffix("无效："+v.Reason, "：")
}

// correct applies a recategorize, regrade or revalidate action to c (a
// clone): the field, its explanation by the agent, and the clocks and the
// grade's alert re-derived. It returns the history's detail.
func (e *Engine) correct(c Case, a Action) (Case, string, error) {
	var field, was, value string
	switch a.Kind {
	case ActionRecategorize:
		if !e.catNames[a.Category] {
			return c, "", invalid(Reason{Code: CodeUnknownCategory, Field: "category", Message: fmt.Sprintf("该工单的处理规则中没有分类“%s”", a.Category)},
				"pack %s has no category %q", e.id, a.Category)
		}
		field, was, value = FieldCategory, c.Category, a.Category
		c.Category = a.Category
		c.CategoryUncertain, c.CategorySuggestions = false, nil
		c.Decision = Decision{Category: a.Category, Reason: "坐席 " + a.Actor + " 更正", Confidence: 1}
	case ActionRegrade:
		if _, ok := e.grades[a.Grade]; !ok {
			return c, "", invalid(Reason{Code: CodeUnknownGrade, Field: "grade",
				Message: fmt.Sprintf("该工单的处理规则中没有等级“%s”，可选：%s", a.Grade, strings.Join(e.Grades(), "、"))},
				"pack %s has no grade %q", e.id, a.Grade)
		}
		field, was, value = FieldGrade, c.Grade, a.Grade
		c.Grade = a.Grade
	case ActionRevalidate:
		field, was = FieldValidity, validityValue(c.Validity)
		c.Validity = Validity{Valid: true}
		if !*a.Valid {
			c.Validity = Validity{Valid: false, Reason: strings.TrimSpace(a.Note)}
		}
		value = validityValue(c.Validity)
	}
	reason := fmt.Sprintf("坐席 %s 更正（原为%s）", a.Actor, was)
	if note := strings.TrimSpace(a.Note); note != "" && a.Kind != ActionRevalidate {
		reason += "：" + note
	}
	c.Explanation = append(c.Explanation, Explanation{Field: field, Value: value, By: "agent", Rule: "correction", Reason: reason})
	return e.rederive(c, a.At), FieldLabel(field) + "：" + was + " → " + value, nil
}

// rederive re-derives, after an agent corrected the case's category,
// grade or validity, what the pack derives from them: the clocks whose
// rules now hold start (a clock that starts at receipt runs from the
// case's receipt, as the rules say), the clocks whose rules no longer
// hold and that did not stop are dropped with their alerts not yet
// raised, and the corrected grade's immediate alert replaces the old
// one's if that was not raised. A clock rule that looks at what a case
// does not keep (the source's extra fields, when the matter occurred)
// is left as it was decided.
func (e *Engine) rederive(c Case, at time.Time) Case {
	s := newSubject(normalize.Complaint{Channel: c.Channel, Source: c.Source, Subject: c.Subject, Description: c.Description,
		Customer: c.Customer, ReceivedAt: c.ReceivedAt}, c.ReceivedAt, e.cal.Location(), true)
	s.contactType, s.category, s.grade, s.valid = c.ContactType, c.Category, c.Grade, c.Validity.Valid
	named := func(name string) func(Deadline) bool { return func(d Deadline) bool { return d.Name == name } }
	for _, r := range e.clocks {
		name := r.def.Name
		present := slices.ContainsFunc(c.Deadlines, named(name)) || slices.ContainsFunc(c.PendingClocks, named(name))
		holds := present
		if r.cond.reproducible() {
			holds, _ = r.cond.match(s)
		}
		switch {
		case holds && !present:
			d := e.deadline(r.def)
			if d.Start != EventReceived {
				c.PendingClocks = append(c.PendingClocks, d)
				c.Explanation = append(c.Explanation, Explanation{Field: "clock:" + name, Value: ClockPendingValue, By: "rule", Rule: name,
					Reason: ClockLength(d.Amount, Unit(d.Unit), d.Start), Basis: d.Basis})
				continue
			}
			d = e.run(d, c.ReceivedAt)
			c.Deadlines = append(c.Deadlines, d)
			c.Escalation.Alerts = append(c.Escalation.Alerts, e.ladder(d)...)
			c.Explanation = append(c.Explanation, d.explain())
		case !holds && present:
			running := func(d Deadline) bool { return d.Name == name && d.StoppedAt.IsZero() }
			if !slices.ContainsFunc(c.Deadlines, running) && !slices.ContainsFunc(c.PendingClocks, named(name)) {
				continue // it stopped: what it measured stays
			}
			c.Deadlines = slices.DeleteFunc(c.Deadlines, running)
			c.PendingClocks = slices.DeleteFunc(c.PendingClocks, named(name))
			c.Escalation.Alerts = slices.DeleteFunc(c.Escalation.Alerts, func(al Alert) bool { return al.Clock == name && al.RaisedAt.IsZero() })
			c.Explanation = append(c.Explanation, Explanation{Field: "clock:" + name, Value: ClockDroppedValue, By: "rule", Rule: name,
				Reason: "更正后不再符合该时限的适用条件", Basis: e.basis(r.def.Ground)})
		}
	}
	step := "grade " + c.Grade
	c.Escalation.Alerts = slices.DeleteFunc(c.Escalation.Alerts, func(al Alert) bool {
		return al.Clock == "" && strings.HasPrefix(al.Step, "grade ") && al.Step != step && al.RaisedAt.IsZero()
	})
	if g := e.grades[c.Grade]; len(g.Alert) > 0 && !slices.ContainsFunc(c.Escalation.Alerts, func(al Alert) bool { return al.Clock == "" && al.Step == step }) {
		c.Escalation.Alerts = append(c.Escalation.Alerts, Alert{At: at, Level: max(g.AlertLevel, 1), Step: step, Notify: g.Alert, Basis: e.basis(g.Ground)})
		c.Explanation = append(c.Explanation, Explanation{Field: "escalation", Value: "受理即通报：" + strings.Join(g.Alert, "、"), By: "rule", Rule: step, Basis: e.basis(g.Ground)})
	}
	c.Deadline = earliest(c.Deadlines)
	c.Escalation = settle(c.Escalation, at)
	return c
}

// ClockDroppedValue is the Value explaining a clock an agent's correction
// made inapplicable.
const ClockDroppedValue = "不再适用"

// reproducible reports whether the condition can be checked again on a
// case: it looks at nothing a case does not keep (extra fields, when the
// matter occurred).
func (cc *compiledCondition) reproducible() bool {
	c := cc.Condition
	return len(c.Extra) == 0 && len(c.NotExtra) == 0 && c.OccurredOlderThan == nil
}
