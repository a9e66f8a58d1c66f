package router

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// steps renders a view's steps as "已受理 10-09 14:05" lines, "—" for an
// undated step and nothing for one not reached.
func steps(v CustomerView) string {
	var out []string
	for _, s := range v.Steps {
		switch {
		case !s.Reached:
		case s.At.IsZero():
			out = append(out, s.Label+" —")
		default:
			out = append(out, s.Label+" "+s.At.In(shanghai).Format("01-02 15:04"))
		}
	}
	return strings.Join(out, "；")
}

func TestCustomerView(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-10-09 14:05")
	open := e.Open(reachable("宽带从10月8号晚上开始断断续续，师傅说来修一直没来！！", received), received)
	resolve := func(c Case, id string, when time.Time, note string, visible bool) Action {
		a := act(c, id, ActionResolve, "1001", when)
		a.Note, a.CustomerVisible = note, visible
		return a
	}
	reply := func(c Case, id string, when time.Time) Action {
		a := act(c, id, ActionReply, "1001", when)
		a.Note = "您好，已安排装维师傅10月11日上午上门，请保持电话畅通。"
		return a
	}
	type step func(Case) Action
	tests := []struct {
		name    string
		actions []step
		status  string
		steps   string
		result  string
		answer  bool
	}{
		{"received", nil, "已受理", "已受理 10-09 14:05", "", false},
		{"taken", []step{
			func(c Case) Action { return act(c, "t1", ActionTake, "1001", at(t, "2025-10-09 15:30")) },
		}, "处理中", "已受理 10-09 14:05；处理中 10-09 15:30", "", false},
		{"answered", []step{
			func(c Case) Action { return act(c, "t1", ActionTake, "1001", at(t, "2025-10-09 15:30")) },
			func(c Case) Action { return reply(c, "p1", at(t, "2025-10-10 09:12")) },
		}, "已答复", "已受理 10-09 14:05；处理中 10-09 15:30；已答复 10-10 09:12", "", false},
		{"resolved, result internal", []step{
			func(c Case) Action { return act(c, "t1", ActionTake, "1001", at(t, "2025-10-09 15:30")) },
			func(c Case) Action {
				return resolve(c, "r1", at(t, "2025-10-11 11:40"), "装维换了光猫，客户嫌慢，态度差，已安抚", false)
			},
		}, "已办结", "已受理 10-09 14:05；处理中 10-09 15:30；已答复 —；已办结 10-11 11:40", "", true},
		{"resolved without being taken, result visible", []step{
			func(c Case) Action {
				return resolve(c, "r1", at(t, "2025-10-11 11:40"), "已更换光猫，线路测试正常，减免10月宽带月租30元。", true)
			},
		}, "已办结", "已受理 10-09 14:05；处理中 —；已答复 —；已办结 10-11 11:40", "已更换光猫，线路测试正常，减免10月宽带月租30元。", true},
		{"not satisfied: reopened", []step{
			func(c Case) Action { return act(c, "t1", ActionTake, "1001", at(t, "2025-10-09 15:30")) },
			func(c Case) Action { return reply(c, "p1", at(t, "2025-10-10 09:12")) },
			func(c Case) Action { return resolve(c, "r1", at(t, "2025-10-11 11:40"), "已更换光猫。", true) },
			func(c Case) Action {
				s := Survey{Case: c.ID, Revision: c.Revision}
				return SurveyAnswer(s, c.Customer.Key, false, "晚上还是掉线", at(t, "2025-10-12 20:03"))
			},
		}, "处理中", "已受理 10-09 14:05；处理中 10-12 20:03", "", false},
		{"satisfied: closed", []step{
			func(c Case) Action { return resolve(c, "r1", at(t, "2025-10-11 11:40"), "已更换光猫。", true) },
			func(c Case) Action {
				return SurveyAnswer(Survey{Case: c.ID}, c.Customer.Key, true, "", at(t, "2025-10-12 08:00"))
			},
		}, "已关闭", "已受理 10-09 14:05；处理中 —；已答复 —；已办结 10-11 11:40；已关闭 10-12 08:00", "已更换光猫。", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open
			for _, a := range tt.actions {
				c = apply(t, e, c, a(c))
			}
			v := e.CustomerView(c)
			if v.Status != tt.status || steps(v) != tt.steps || v.Result != tt.result || v.Answerable != tt.answer {
				t.Errorf("view = %s [%s] result %q answerable %v\nwant %s [%s] result %q answerable %v",
					v.Status, steps(v), v.Result, v.Answerable, tt.status, tt.steps, tt.result, tt.answer)
			}
			if v.Appeal == "" || v.AppealBasis != "《测试办法》第八条" {
				t.Errorf("appeal = %q %q", v.Appeal, v.AppealBasis)
			}
		})
	}
}

func TestCustomerDeadline(t *testing.T) {
	received := at(t, "2025-10-09 14:05")
	for _, tt := range []struct {
		name  string
		clock string // the pack's customer clock
		want  string // the clock the customer is told
	}{
		// ack (2 working hours) ends first, but it is internal.
		{"the pack's customer clock", "reply", "reply"},
		{"no customer clock: the main deadline", "", "reply"},
		{"a customer clock the case does not run", "report", "reply"},
		{"another clock named", "ack", "ack"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := miniEngine(t)
			e.pack.Customer.Clock = tt.clock
			c := e.Open(reachable("信号很差，打电话总是断", received), received)
			d, ok := e.CustomerDeadline(c)
			if !ok || d.Name != tt.want {
				t.Fatalf("CustomerDeadline = %s %v, want %s", d.Name, ok, tt.want)
			}
		})
	}
	// Once resolved, the customer is still told the reply clock, stopped
	// and met; MainDeadline no longer names it.
	e := miniEngine(t)
	c := e.Open(reachable("信号很差，打电话总是断", received), received)
	r := act(c, "r1", ActionResolve, "1001", at(t, "2025-10-10 09:12"))
	r.Note = "已派单维修，信号恢复。"
	c = apply(t, e, c, r)
	d, ok := e.CustomerDeadline(c)
	if !ok || d.Name != "reply" || d.StoppedAt.IsZero() || !d.Met {
		t.Errorf("after the resolution: %+v %v, want the stopped, met reply clock", d, ok)
	}
}

func TestCustomerPackRules(t *testing.T) {
	base := miniYAML(t)
	for _, tt := range []struct{ name, old, new, want string }{
		{"unknown customer clock", "clock: reply", "clock: answer", `customer.clock: unknown clock "answer"`},
		{"appeal without basis", "申诉。, basis: {source: doc, clause: 第八条}}", "申诉。, default: true}", "customer.appeal.basis: an appeal cites"},
		{"appeal without text", "text: 对处理结果不满意的，可以向申诉受理机构提出申诉。", "text: ' '", "customer.appeal.text: must not be empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("mini pack lacks %q", tt.old)
			}
			_, err := ParsePack([]byte(strings.Replace(base, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePack() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestShippedCustomerClocks checks that every shipped pack's customer
// clock is one of its clocks that starts when the complaint is received
// and waits for the reply or the resolution.
func TestShippedCustomerClocks(t *testing.T) {
	named := 0
	for _, path := range shippedPacks(t) {
		e, err := LoadEngine(path)
		if err != nil {
			t.Fatal(err)
		}
		name := e.Pack().Customer.Clock
		if name == "" {
			continue
		}
		named++
		i := slices.IndexFunc(e.Pack().Clocks, func(c Clock) bool { return c.Name == name })
		if i < 0 {
			t.Errorf("%s: customer clock %q is not a clock of the pack", path, name)
			continue
		}
		if c := e.Pack().Clocks[i]; c.start() != EventReceived || (c.stop() != EventReplied && c.stop() != EventResolved) {
			t.Errorf("%s: customer clock %q runs from %s to %s, not from receipt to the answer", path, name, c.start(), c.stop())
		}
	}
	if named == 0 {
		t.Error("no shipped pack names its customer clock")
	}
}

func TestCustomerVisibleOnlyOnResolve(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-10-09 14:05")
	c := e.Open(reachable("信号很差，打电话总是断", received), received)
	n := act(c, "n1", ActionNote, "1001", received.Add(time.Hour))
	n.Note, n.CustomerVisible = "客户脾气大，别提赔偿", true
	if _, _, _, err := e.Apply(c, n); !errors.Is(err, ErrInvalidAction) {
		t.Errorf("a customer-visible note: %v, want refused", err)
	}
	// The timeline tells agents which results the customer reads.
	for _, visible := range []bool{false, true} {
		r := act(c, "r1", ActionResolve, "1001", received.Add(2*time.Hour))
		r.Note, r.CustomerVisible = "已更换基站设备，信号恢复。", visible
		ev := apply(t, e, c, r).History[0]
		if ev.CustomerVisible != visible || strings.Contains(ev.Detail, "告知客户") != visible {
			t.Errorf("resolve (visible %v): event %+v", visible, ev)
		}
	}
}

func TestSurveyAnswerOncePerResolution(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-10-09 14:05")
	c := e.Open(reachable("信号很差，打电话总是断", received), received)
	r := act(c, "r1", ActionResolve, "1001", at(t, "2025-10-11 11:40"))
	r.Note = "已更换基站设备"
	c = apply(t, e, c, r)
	// The e-mailed link and the status page sign the same resolution at
	// different revisions: the first answer counts, the second is refused.
	c = apply(t, e, c, SurveyAnswer(Survey{Case: c.ID, Revision: 3}, c.Customer.Key, true, "", at(t, "2025-10-12 08:00")))
	second := SurveyAnswer(Survey{Case: c.ID, Revision: 5}, c.Customer.Key, false, "其实没修好", at(t, "2025-10-12 08:01"))
	if got, changed, _, err := e.Apply(c, second); !errors.Is(err, ErrInvalidAction) || changed || got.Status != StatusClosed {
		t.Errorf("second answer: status %s changed %v err %v, want refused", got.Status, changed, err)
	}
}
