package router

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// shippedEngine loads a pack shipped in configs/policies.
func shippedEngine(tb testing.TB, name string) *Engine {
	tb.Helper()
	e, err := LoadEngine("../configs/policies/" + name + ".yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// clockAction is an extend, pause or resume action on c.
func clockAction(c Case, id string, kind ActionKind, clock string, amount int, note string, supervisor bool, t time.Time) Action {
	a := act(c, id, kind, "2044", t)
	a.Clock, a.Amount, a.Note, a.Override = clock, amount, note, supervisor
	return a
}

// dues maps each clock of c to its due time as "2006-01-02 15:04".
func dues(c Case) map[string]string {
	out := map[string]string{}
	for _, d := range c.Deadlines {
		out[d.Name] = d.Due.Format("2006-01-02 15:04")
	}
	return out
}

func TestExtendPauseResume(t *testing.T) {
	ins := shippedEngine(t, "insurance")
	// Friday before National Day 2025: Sun 28 Sep worked, 1-8 Oct off,
	// Sat 11 Oct worked; business hours 09:00-12:00 and 13:00-18:00.
	received := at(t, "2025-09-26 16:00")
	open := ins.Open(reachable("我爸住院花了三万多，你们公司说是既往症不给赔，买的时候体检都没问题，凭什么不赔？？材料交了一个多月了", received), received)
	if got := dues(open); got["decide_simple"] != "2025-10-17 00:00" || got["decide"] != "2025-10-27 00:00" {
		t.Fatalf("insurance case opened with %v", got)
	}
	pauseAt, resumeAt := at(t, "2025-09-29 10:00"), at(t, "2025-10-10 15:00")
	pause := clockAction(open, "pause-1", ActionPause, "", 0, "等客户补交住院病历和出院小结", false, pauseAt)
	paused := apply(t, ins, open, pause)
	tel := shippedEngine(t, "telecom")
	telOpen := tel.Open(reachable("上个月话费无故多扣了50元，打了三次客服都说在处理，到现在没有答复", received), received)

	tests := []struct {
		name    string
		e       *Engine
		c       Case
		actions []Action
		want    map[string]string // due times after the actions
		paused  []string          // clocks paused after them
		refused string            // part of the last action's refusal, in Chinese
		detail  string            // part of the last history entry
	}{
		{name: "supervisor extends the decision clock by 15 calendar days",
			e: ins, c: open, actions: []Action{clockAction(open, "ext-1", ActionExtend, "decide", 15, "需调取外院既往病历，情况复杂", true, at(t, "2025-10-20 09:30"))},
			want:   map[string]string{"decide": "2025-11-11 00:00", "decide_simple": "2025-10-17 00:00", "acknowledge": "2025-09-28 16:00"},
			detail: "“作出处理决定”时限延期15个自然日，到期时间由 2025-10-27 00:00 改为 2025-11-11 00:00"},
		{name: "two extensions within 30 days add up",
			e: ins, c: open, actions: []Action{
				clockAction(open, "ext-1", ActionExtend, "decide", 15, "需调取外院病历", true, at(t, "2025-10-20 09:30")),
				clockAction(open, "ext-2", ActionExtend, "decide", 15, "鉴定机构未出报告", true, at(t, "2025-11-05 10:00"))},
			want: map[string]string{"decide": "2025-11-26 00:00", "decide_simple": "2025-10-17 00:00", "acknowledge": "2025-09-28 16:00"}},
		{name: "beyond the 30 days the pack allows",
			e: ins, c: open, actions: []Action{
				clockAction(open, "ext-1", ActionExtend, "decide", 20, "需调取外院病历", true, at(t, "2025-10-20 09:30")),
				clockAction(open, "ext-2", ActionExtend, "decide", 11, "再延", true, at(t, "2025-11-05 10:00"))},
			refused: "至多延期30个自然日，已延期20个自然日，本次至多10个自然日"},
		{name: "an agent may not extend what needs a supervisor",
			e: ins, c: open, actions: []Action{clockAction(open, "ext-1", ActionExtend, "decide", 5, "客户同意延期", false, at(t, "2025-10-20 09:30"))},
			refused: "须由主管批准"},
		{name: "the simple-case clock is not extendable",
			e: ins, c: open, actions: []Action{clockAction(open, "ext-1", ActionExtend, "decide_simple", 5, "来不及", true, at(t, "2025-10-13 09:30"))},
			refused: "“事实清楚、争议简单的投诉作出处理决定”时限按规定不得延期"},
		{name: "telecom's 15 working days are not extendable",
			e: tel, c: telOpen, actions: []Action{clockAction(telOpen, "ext-1", ActionExtend, "reply", 5, "计费中心核查中", true, at(t, "2025-10-13 09:30"))},
			refused: "时限按规定不得延期"},
		{name: "telecom's clocks do not pause",
			e: tel, c: telOpen, actions: []Action{clockAction(telOpen, "p-1", ActionPause, "", 0, "等客户提供缴费截图", false, at(t, "2025-10-13 09:30"))},
			refused: "该工单没有可以暂停的时限"},
		{name: "pause stops the pausable clocks",
			e: ins, c: open, actions: []Action{pause},
			want:   map[string]string{"decide": "2025-10-27 00:00", "decide_simple": "2025-10-17 00:00", "acknowledge": "2025-09-28 16:00"},
			paused: []string{"decide_simple", "decide"}, detail: "暂停计时（等待客户补充材料）"},
		{name: "resume over National Day gives back 28 working hours and 11 days 5 hours, each rounded up to whole days",
			e: ins, c: open, actions: []Action{pause, clockAction(open, "resume-1", ActionResume, "", 0, "材料已收到", false, resumeAt)},
			want:   map[string]string{"decide": "2025-11-08 00:00", "decide_simple": "2025-10-23 00:00", "acknowledge": "2025-09-28 16:00"},
			detail: "“作出处理决定”时限恢复计时，到期时间由 2025-10-27 00:00 改为 2025-11-08 00:00"},
		{name: "resume one clock only",
			e: ins, c: open, actions: []Action{pause, clockAction(open, "resume-1", ActionResume, "decide_simple", 0, "", false, at(t, "2025-09-29 11:00"))},
			want:   map[string]string{"decide": "2025-10-27 00:00", "decide_simple": "2025-10-18 00:00", "acknowledge": "2025-09-28 16:00"},
			paused: []string{"decide"}},
		{name: "pause twice",
			e: ins, c: open, actions: []Action{pause, clockAction(open, "pause-2", ActionPause, "decide", 0, "还差发票", false, at(t, "2025-09-30 10:00"))},
			refused: "已在暂停中"},
		{name: "resume what runs",
			e: ins, c: open, actions: []Action{clockAction(open, "resume-1", ActionResume, "", 0, "", false, resumeAt)},
			refused: "没有暂停中的时限"},
		{name: "the acknowledgement clock does not pause",
			e: ins, c: open, actions: []Action{clockAction(open, "p-1", ActionPause, "acknowledge", 0, "等材料", false, at(t, "2025-09-26 17:00"))},
			refused: "“联系投诉人，登记并核对投诉材料”时限按规定不得暂停"},
		{name: "extension without a reason",
			e: ins, c: open, actions: []Action{clockAction(open, "ext-1", ActionExtend, "decide", 5, " ", true, at(t, "2025-10-20 09:30"))},
			refused: "延期须填写延期理由"},
		{name: "resolved while paused: the pause ends with it",
			e: ins, c: open, actions: []Action{pause, {V: ActionVersion, ID: "res-1", Case: open.ID, Customer: open.Customer.Key, Kind: ActionResolve, Actor: "2044", At: resumeAt, Note: "已赔付"}},
			want: map[string]string{"decide": "2025-11-08 00:00", "decide_simple": "2025-10-23 00:00", "acknowledge": "2025-09-28 16:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			var err error
			for i, a := range tt.actions {
				c, _, _, err = tt.e.Apply(c, a)
				if err != nil && i < len(tt.actions)-1 {
					t.Fatalf("action %s: %v", a.ID, err)
				}
			}
			if tt.refused != "" {
				if err == nil || !strings.Contains(ReasonOf(err).Message, tt.refused) {
					t.Fatalf("last action: error %v (%q), want a refusal saying %q", err, ReasonOf(err).Message, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := dues(c)
			for name, due := range tt.want {
				if got[name] != due {
					t.Errorf("clock %s due %s, want %s", name, got[name], due)
				}
			}
			var p []string
			for _, d := range c.Deadlines {
				if d.Paused() {
					p = append(p, d.Name)
				}
			}
			if strings.Join(p, ",") != strings.Join(tt.paused, ",") {
				t.Errorf("paused clocks %v, want %v", p, tt.paused)
			}
			last := c.History[len(c.History)-1]
			if last.Actor != "2044" || last.Note != tt.actions[len(tt.actions)-1].Note || !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("history entry %+v, want actor 2044, the note and detail %q", last, tt.detail)
			}
		})
	}

	t.Run("escalation follows the new due time", func(t *testing.T) {
		ext := apply(t, ins, open, clockAction(open, "ext-1", ActionExtend, "decide", 15, "情况复杂", true, at(t, "2025-10-20 09:30")))
		for _, al := range ext.Escalation.Alerts {
			if al.Clock == "decide" && al.Step == "breach" && !al.At.Equal(at(t, "2025-11-11 00:00")) {
				t.Errorf("decide breach alert at %s, want the extended due", al.At)
			}
		}
		if d, _ := ins.CustomerDeadline(ext); !d.Due.Equal(at(t, "2025-11-11 00:00")) {
			t.Errorf("customer told %s, want the extended due", d.Due)
		}
	})
	t.Run("a paused clock is not the case's next deadline", func(t *testing.T) {
		acked := open.clone()
		acked.Deadlines = slices.Clone(open.Deadlines)
		for i := range acked.Deadlines {
			if acked.Deadlines[i].Name == "acknowledge" {
				acked.Deadlines[i].StoppedAt, acked.Deadlines[i].Met = at(t, "2025-09-26 17:00"), true
			}
		}
		p := apply(t, ins, acked, pause)
		if !p.Deadline.IsZero() {
			t.Errorf("case deadline %s while every running clock is paused, want none", p.Deadline)
		}
		r := apply(t, ins, p, clockAction(p, "resume-1", ActionResume, "", 0, "材料已补齐", false, resumeAt))
		if !r.Deadline.Equal(at(t, "2025-10-23 00:00")) {
			t.Errorf("case deadline %s after resume, want decide_simple's 2025-10-23 00:00", r.Deadline)
		}
	})
	t.Run("no alert while paused, the rungs move on resume", func(t *testing.T) {
		for _, al := range paused.Escalation.Alerts {
			if (al.Clock == "decide" || al.Clock == "decide_simple") && paused.AlertActive(al) {
				t.Errorf("alert %s of a paused clock is active", al.key())
			}
		}
		if next, ok := paused.NextAlert(); ok && next.Clock != "acknowledge" {
			t.Errorf("next alert while paused is %s", next.key())
		}
		resumed := apply(t, ins, paused, clockAction(paused, "resume-1", ActionResume, "", 0, "材料已补齐", false, resumeAt))
		for _, al := range resumed.Escalation.Alerts {
			if al.Clock == "decide_simple" && al.Step == "breach" && !al.At.Equal(at(t, "2025-10-23 00:00")) {
				t.Errorf("decide_simple breach alert at %s, want 2025-10-23 00:00", al.At)
			}
		}
		if st := paused.Deadlines[1].StatusAt(pauseAt.Add(time.Hour), ins.Calendar()); paused.Deadlines[1].Paused() && st.State != ClockPaused {
			t.Errorf("paused clock state %s", st.State)
		}
	})
}
