package router

import (
	"errors"
	"slices"
	"strconv"
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

// fieldCorrections are corrections of field to value of texts, one
// complaint each.
func fieldCorrections(field, value, reason string, texts ...string) []Correction {
	var out []Correction
	for i, t := range texts {
		out = append(out, Correction{Complaint: "api:" + field + strconv.Itoa(i), Case: "TS-" + field + strconv.Itoa(i), Text: ClassifierText("", t),
			Field: field, Value: value, Reason: reason, Agent: "1001", At: correctionsAt.Add(time.Duration(i) * time.Minute)})
	}
	return out
}

// TestGradeAndValidityLearnt: texts agents corrected teach the engine
// their grade and validity; a rule still decides where one holds, and
// unlike texts keep the pack's default.
func TestGradeAndValidityLearnt(t *testing.T) {
	base := telecom(t)
	corrected := "小区宽带又断了，第三次了，你们到底管不管，这次必须给个说法"
	wrongNumber := "喂喂，我找物业的，你们不是物业吗？我家楼上漏水"
	cs := slices.Concat(
		fieldCorrections(FieldGrade, "重大", "", corrected, "小区宽带又断了，第三次了，你们到底管不管，这次必须给个说法！！"),
		fieldCorrections(FieldValidity, ValidityInvalid, "客户打错电话（139****0001），非我司业务", wrongNumber),
	)
	e := withCorrections(t, base, cs)
	tests := []struct {
		name, text     string
		grade, gradeBy string
		valid          bool
		validityBy     string
		reason         string // a part of the validity reason
	}{
		{"the corrected text with a typo", "小区宽带又断了，第三次了，你们到底管不管，这次必需给个说法", "重大", "model", true, "default", ""},
		{"a rule holds: the rule decides", corrected + "，不行我就打12300", "升级", "rule", true, "default", ""},
		{"an unlike text keeps the default", "这个月话费多扣了20块，麻烦查一下", "一般", "default", true, "default", ""},
		{"a wrong number again", "喂，我找物业的，你们不是物业吗？我家楼上漏水了", "一般", "default", false, "model", "与坐席判为无效的投诉相似：客户打错电话（139****0001），非我司业务"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.Explain(Input{Text: tt.text, Received: correctionsAt, Channel: "hotline", Customer: &InputCustomer{Phone: "13912340001"}})
			if err != nil {
				t.Fatal(err)
			}
			g := explained(v, "grade")
			if v.Grade != tt.grade || g.By != tt.gradeBy {
				t.Errorf("grade %s by %s (%s), want %s by %s", v.Grade, g.By, g.Reason, tt.grade, tt.gradeBy)
			}
			if g.By == "model" && (g.Confidence < 0.5 || !strings.Contains(g.Reason, "坐席更正为“重大”的投诉相似")) {
				t.Errorf("the model's grade: %+v", g)
			}
			if tt.grade == "重大" && !slices.ContainsFunc(v.Deadlines, func(d Deadline) bool { return d.Name == "major_report" }) {
				t.Errorf("a 重大 grade by the model starts no major_report clock: %v", v.Deadlines)
			}
			x := explained(v, "validity")
			if v.Validity.Valid != tt.valid || x.By != tt.validityBy || !strings.Contains(v.Validity.Reason, tt.reason) {
				t.Errorf("validity %+v by %s, want valid %v by %s with %q", v.Validity, x.By, tt.valid, tt.validityBy, tt.reason)
			}
			if before, _ := base.Explain(Input{Text: tt.text, Received: correctionsAt, Channel: "hotline", Customer: &InputCustomer{Phone: "13912340001"}}); tt.gradeBy == "model" && before.Grade == tt.grade {
				t.Errorf("the pack alone grades %q %s: the test proves nothing", tt.text, before.Grade)
			}
		})
	}
	if again := withCorrections(t, e, nil); again.recalls != nil {
		t.Errorf("no corrections keep what was learnt: %v", again.recalls)
	}
}

// TestFieldCorrectionFrom: regrade and revalidate actions make
// corrections naming their field, the reason masked.
func TestFieldCorrectionFrom(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	c := e.Open(reachable("宽带三天两头断网", received), received)
	no, yes := false, true
	tests := []struct {
		name string
		a    func(*Action)
		want Correction
	}{
		{"regrade", func(a *Action) { a.Kind, a.Grade, a.Note = ActionRegrade, "重大", "记者" }, Correction{Field: FieldGrade, Value: "重大"}},
		{"invalid", func(a *Action) {
			a.Kind, a.Valid, a.Note = ActionRevalidate, &no, "打错了，客户电话13912340001"
		},
			Correction{Field: FieldValidity, Value: ValidityInvalid, Reason: "打错了，客户电话139****0001"}},
		{"valid", func(a *Action) { a.Kind, a.Valid, a.Note = ActionRevalidate, &yes, "核实是我司用户" }, Correction{Field: FieldValidity, Value: ValidityValid}},
		{"recategorize", func(a *Action) { a.Kind, a.Category = ActionRecategorize, "网络问题" }, Correction{Category: "网络问题"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := act(c, "x", "", "1001", received.Add(time.Hour))
			tt.a(&a)
			got := CorrectionFrom(c, a)
			want := tt.want
			want.Complaint, want.Case, want.Text, want.Agent, want.At = "api:1", c.ID, ClassifierText("", "宽带三天两头断网"), "1001", a.At
			if got != want {
				t.Errorf("CorrectionFrom = %+v, want %+v", got, want)
			}
			if err := e.CheckCorrection(got); err != nil {
				t.Errorf("CheckCorrection = %v", err)
			}
		})
	}
	for _, bad := range []Correction{{Case: "TS1", Text: "断网", Field: FieldGrade, Value: "特急"}, {Case: "TS1", Text: "断网", Field: FieldValidity, Value: "有效"},
		{Case: "TS1", Text: "断网", Field: "route", Value: "x"}} {
		if err := e.CheckCorrection(bad); err == nil {
			t.Errorf("CheckCorrection(%+v) accepts it", bad)
		}
	}
}
