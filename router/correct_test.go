package router

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// clockNames are the names of the running clocks of c.
func clockNames(c Case) []string {
	var out []string
	for _, d := range c.Deadlines {
		if d.StoppedAt.IsZero() {
			out = append(out, d.Name)
		}
	}
	return out
}

// TestRegradeRevalidate: an agent corrects the grade or the validity with
// a reason; the clocks and the grade's alert follow the corrected value.
func TestRegradeRevalidate(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	c := e.Open(reachable("宽带三天两头断网，修了两次还是不行，你们看着办", received), received)
	if c.Grade != "一般" || !c.Validity.Valid || !slices.Contains(clockNames(c), "reply") {
		t.Fatalf("opened as %s, valid %v, clocks %v: pick another text", c.Grade, c.Validity.Valid, clockNames(c))
	}
	later := received.Add(2 * time.Hour)
	yes, no := true, false
	correction := func(kind ActionKind, edit func(*Action)) Action {
		a := act(c, "fix-"+string(kind), kind, "1001", later)
		edit(&a)
		return a
	}
	tests := []struct {
		name      string
		a         Action
		check     func(Case) bool
		detail    string
		alertStep string // a grade alert the case must have, raised at the correction
	}{
		{"regrade to 重大", correction(ActionRegrade, func(a *Action) { a.Grade, a.Note = "重大", "客户称已联系电视台记者" }),
			func(g Case) bool { return g.Grade == "重大" && slices.Contains(clockNames(g), "major_report") },
			"等级：一般 → 重大", "grade 重大"},
		{"regrade to 升级", correction(ActionRegrade, func(a *Action) { a.Grade, a.Note = "升级", "客户说已打12300" }),
			func(g Case) bool {
				return g.Grade == "升级" && slices.Contains(clockNames(g), "escalated_dispatch") && !slices.Contains(clockNames(g), "major_report")
			},
			"等级：一般 → 升级", "grade 升级"},
		{"revalidate to invalid", correction(ActionRevalidate, func(a *Action) { a.Valid, a.Note = &no, "客户来电说是打错了，非本公司用户" }),
			func(g Case) bool {
				return !g.Validity.Valid && g.Validity.Reason == "客户来电说是打错了，非本公司用户" &&
					!slices.ContainsFunc(g.PendingClocks, func(d Deadline) bool { return d.Name == "follow_up" })
			},
			"有效性：有效 → 无效：客户来电说是打错了，非本公司用户", ""},
		{"revalidate to valid", correction(ActionRevalidate, func(a *Action) { a.Valid, a.Note = &yes, "核实过，是我司宽带用户" }),
			func(g Case) bool { return g.Validity.Valid }, "有效性：有效 → 有效", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckAgentAction(tt.a); err != nil {
				t.Fatalf("CheckAgentAction = %v", err)
			}
			got, changed, _, err := e.Apply(c, tt.a)
			if err != nil || !changed {
				t.Fatalf("Apply = %v, changed %v", err, changed)
			}
			if !tt.check(got) {
				t.Errorf("grade %s validity %+v clocks %v pending %v", got.Grade, got.Validity, clockNames(got), got.PendingClocks)
			}
			last := got.History[len(got.History)-1]
			if last.Kind != tt.a.Kind || last.Actor != "1001" || last.Detail != tt.detail || last.Note != tt.a.Note {
				t.Errorf("history %+v, want %s by 1001: %q with the note", last, tt.a.Kind, tt.detail)
			}
			x := got.Explanation[slices.IndexFunc(got.Explanation, func(x Explanation) bool { return x.By == "agent" })]
			if x.Rule != "correction" || !strings.HasPrefix(x.Reason, "坐席 1001 更正（原为") {
				t.Errorf("explanation %+v, want the agent's correction", x)
			}
			if tt.alertStep != "" && !slices.ContainsFunc(got.Escalation.Alerts, func(al Alert) bool {
				return al.Step == tt.alertStep && al.At.Equal(later) && al.Clock == ""
			}) {
				t.Errorf("alerts %+v lack %s at the correction", got.Escalation.Alerts, tt.alertStep)
			}
			if again, changed, _, err := e.Apply(got, tt.a); err != nil || changed || len(again.History) != len(got.History) {
				t.Errorf("the same action again: changed %v, %v; want nothing changed", changed, err)
			}
		})
	}
	t.Run("back to 一般 drops the 重大 clock and its alert", func(t *testing.T) {
		up := apply(t, e, c, correction(ActionRegrade, func(a *Action) { a.Grade, a.Note = "重大", "记者" }))
		down := act(up, "fix-down", ActionRegrade, "2002", later.Add(time.Minute))
		down.Grade, down.Note = "一般", "误判，客户只是说说"
		got := apply(t, e, up, down)
		if slices.Contains(clockNames(got), "major_report") || slices.ContainsFunc(got.Escalation.Alerts, func(al Alert) bool {
			return al.Clock == "major_report" || al.Step == "grade 重大"
		}) {
			t.Errorf("clocks %v alerts %+v keep the 重大 clock or alert", clockNames(got), got.Escalation.Alerts)
		}
	})
}

// TestRegradeRevalidateRefused: an unknown grade, a missing value or a
// missing reason is refused with a Chinese message naming the field.
func TestRegradeRevalidateRefused(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	c := e.Open(reachable("宽带三天两头断网，修了两次还是不行", received), received)
	no := false
	tests := []struct {
		name    string
		edit    func(*Action)
		kind    ActionKind
		code    string
		field   string
		message string
	}{
		{"unknown grade", func(a *Action) { a.Grade, a.Note = "特急", "客户很急" }, ActionRegrade, CodeUnknownGrade, "grade", "没有等级“特急”，可选：一般、升级、重大"},
		{"no grade", func(a *Action) { a.Note = "客户很急" }, ActionRegrade, CodeFieldRequired, "grade", "请选择更正后的等级"},
		{"regrade without a reason", func(a *Action) { a.Grade, a.Note = "重大", "  " }, ActionRegrade, CodeNoteRequired, "note", "更正须填写理由"},
		{"no validity", func(a *Action) { a.Note = "打错了" }, ActionRevalidate, CodeFieldRequired, "valid", "请选择投诉有效或无效"},
		{"invalid without a reason", func(a *Action) { a.Valid = &no }, ActionRevalidate, CodeNoteRequired, "note", "判为无效须填写无效的理由"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := act(c, "x", tt.kind, "1001", received.Add(time.Hour))
			tt.edit(&a)
			_, changed, _, err := e.Apply(c, a)
			r := ReasonOf(err)
			if changed || !errors.Is(err, ErrInvalidAction) || r.Code != tt.code || r.Field != tt.field || !strings.Contains(r.Message, tt.message) {
				t.Errorf("Apply = changed %v, %v (%+v); want %s on %s: %q", changed, err, r, tt.code, tt.field, tt.message)
			}
		})
	}
}
