package router

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func miniYAML(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile("testdata/mini.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

func miniEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := LoadEngine("testdata/mini.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestPackValidation(t *testing.T) {
	base := miniYAML(t)
	tests := []struct {
		name      string
		old, new  string // replace old by new in the mini pack
		wantError string
	}{
		{"unknown key", "version: \"1\"", "version: \"1\"\nverison: 2", `unknown key "verison"`},
		{"unknown nested key", "{name: reply, amount: 15,", "{name: reply, amout: 15,", `unknown key "clocks[0].amout"`},
		{"unknown category in routing", "when: {categories: [费用]}, route:", "when: {categories: [收费]}, route:", `routing.rules[1].when.categories: unknown category "收费"`},
		{"unknown grade in clock", "when: {grades: [重大]}, default: true}", "when: {grades: [特大]}, default: true}", `clocks[2].when.grades: unknown grade "特大"`},
		{"clock without unit", "amount: 15, unit: working_days,", "amount: 15,", `clocks[0].unit: clock "reply" has no unit`},
		{"clock with unknown unit", "unit: working_days", "unit: workdays", `unknown unit "workdays"`},
		{"clock without amount", "amount: 2, unit: working_hours", "unit: working_hours", "clocks[1].amount: must be positive"},
		{"negative days", "amount: 3, unit: calendar_days", "amount: -3, unit: calendar_days", "clocks[3].amount: must be positive"},
		{"empty not_extra", "when: {keywords: [请问]}", "when: {not_extra: {mode: []}}", "not_extra"},
		{"clock with unknown event", "start: resolved", "start: inspected", `unknown event "inspected"`},
		{"built-in event declared", "events: [verified]", "events: [verified, taken]", `"taken" is built in`},
		{"clock stops as it starts", "start: resolved", "start: resolved, stop: resolved", `starts and stops with the same event`},
		{"clock with unknown ladder", "escalation: std, basis", "escalation: fast, basis", `unknown ladder "fast"`},
		{"ladder cycle", "steps:\n        - {at: breach+1d, level: 3, notify: [总经理], default: true}", "then: std\n      steps:\n        - {at: breach+1d, level: 3, notify: [总经理], default: true}", "cycle: std -> late -> std"},
		{"ladder self cycle", "    - name: late\n", "    - name: late\n      then: late\n", "cycle: late -> late"},
		{"bad step", "at: 50%", "at: 150%", "percentage"},
		{"step without notify", "notify: [组长]", "notify: []", "must name who is alerted"},
		{"calendar year not covered", "require_years: [2025, 2026]", "require_years: [2025, 2040]", "2040 is not covered"},
		{"bad zone", "time_zone: Asia/Shanghai", "time_zone: Asia/Nowhere", "calendar"},
		{"extension without ground", "escalation: std, basis: {source: doc, clause: 第八条}}", "escalation: std, basis: {source: doc, clause: 第八条}, extendable: {max: {amount: 15, unit: working_days}}}", "clocks[0].extendable: needs a basis"},
		{"extension unit", "escalation: std, basis: {source: doc, clause: 第八条}}", "escalation: std, basis: {source: doc, clause: 第八条}, extendable: {max: {amount: 15, unit: workdays}, default: true}}", `clocks[0].extendable.max.unit: unknown unit "workdays"`},
		{"extension amount", "escalation: std, basis: {source: doc, clause: 第八条}}", "escalation: std, basis: {source: doc, clause: 第八条}, extendable: {max: {amount: 0, unit: working_days}, default: true}}", "clocks[0].extendable.max.amount: must be positive"},
		{"extension role", "escalation: std, basis: {source: doc, clause: 第八条}}", "escalation: std, basis: {source: doc, clause: 第八条}, extendable: {max: {amount: 5, unit: working_days}, needs: manager, default: true}}", `clocks[0].extendable.needs: unknown role "manager"`},
		{"pause without ground", "escalation: std, basis: {source: doc, clause: 第八条}}", "escalation: std, basis: {source: doc, clause: 第八条}, pausable: {note: 等材料}}", "clocks[0].pausable: needs a basis"},
		{"missing ground", "{name: ack, amount: 2, unit: working_hours, when: {contact_types: [投诉]}, default: true}", "{name: ack, amount: 2, unit: working_hours, when: {contact_types: [投诉]}}", "clocks[1]: needs a basis"},
		{"unknown source", "basis: {source: doc, clause: 第三条}", "basis: {source: law, clause: 第三条}", `unknown source "law"`},
		{"empty clause", "basis: {source: doc, clause: 第三条}", "basis: {source: doc}", "basis.clause: must not be empty"},
		{"category too early", "when: {keywords: [请问]}", "when: {keywords: [请问], categories: [费用]}", "contact_types.rules[0].when.categories: is not decided yet"},
		{"valid in validity", "when: {no_contact: true}", "when: {no_contact: true, valid: false}", "validity.rules[0].when.valid: is not decided yet"},
		{"bad regexp", "when: {keywords: [请问]}", "when: {regexps: ['(请问']}", "regexps"},
		{"unknown channel", "when: {keywords: [请问]}", "when: {channels: [fax]}", `unknown channel "fax"`},
		{"bad period", "unit: months}}", "unit: fortnights}}", "occurred_older_than"},
		{"negative calendar months", "amount: 5, unit: months}}", "amount: -1, unit: calendar_months}}", "occurred_older_than"},
		{"zero months", "amount: 5, unit: months}}", "amount: 0, unit: months}}", "occurred_older_than"},
		{"unknown validity scope", "reason: 匿名, when", "reason: 匿名, scope: request, when", `validity.rules[0].scope: want complaint or claim`},
		{"bad effective date", "when: {keywords: [记者]}", "when: {keywords: [记者], effective_from: 2016-7-30}", "effective_from: want a date"},
		{"effective period ends before it starts", "when: {keywords: [记者]}", "when: {keywords: [记者], effective_from: 2016-07-30, effective_until: 2001-01-05}", "effective_until: 2001-01-05 is not after"},
		{"unless without regexps", "when: {keywords: [记者]}", "when: {keywords: [记者], unless: [{before: 4}]}", "unless[0]: want before or after"},
		{"unless without a window", "when: {keywords: [记者]}", "when: {keywords: [记者], unless: [{regexps: [不]}]}", "unless[0]: want before or after"},
		{"unless with a bad regexp", "when: {keywords: [记者]}", "when: {keywords: [记者], unless: [{after: 2, regexps: ['(不']}]}", "unless[0].regexps"},
		{"unless with nothing to discount", "when: {keywords: [记者]}", "when: {no_contact: true, unless: [{after: 2, regexps: [不]}]}", "unless: needs keywords or regexps"},
		{"unknown default category", "default: 其他", "default: 杂项", `categories.default: "杂项" is not a defined category`},
		{"duplicate category", "- {name: 其他, default: true}", "- {name: 其他, default: true}\n    - {name: 费用, default: true}", `"费用" defined twice`},
		{"duplicate rule id", "id: c-hint", "id: c-fee", `"c-fee" already used`},
		{"examples of unknown category", "- category: 网络\n", "- category: 网路\n", `unknown category "网路"`},
		{"route without fields", "route: {queue: 重大}", "route: {}", "must set a department"},
		{"unknown contact type", "type: 咨询, when", "type: 查询, when", `unknown contact type "查询"`},
		{"bad business hours", `["09:00-12:00", "13:00-18:00"]`, `["09:00-12:00", "11:00-18:00"]`, "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("mini pack lacks %q", tt.old)
			}
			_, err := ParsePack([]byte(strings.Replace(base, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("ParsePack() = %v, want an error containing %q", err, tt.wantError)
			}
		})
	}
	if _, err := ParsePack([]byte(base)); err != nil {
		t.Errorf("mini pack: %v", err)
	}
}

func shippedPacks(tb testing.TB) []string {
	tb.Helper()
	all, err := filepath.Glob("../configs/policies/*.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var packs []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".golden.yaml") {
			packs = append(packs, p)
		}
	}
	if len(packs) == 0 {
		tb.Fatal("no packs in configs/policies")
	}
	return packs
}

// TestShippedPacksValid loads every pack in configs/policies.
func TestShippedPacksValid(t *testing.T) {
	for _, path := range shippedPacks(t) {
		if _, err := LoadEngine(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func FuzzParsePack(f *testing.F) {
	f.Add([]byte(miniYAML(f)))
	f.Add([]byte("name: x\nclocks: [{name: a}]\n"))
	f.Add([]byte("escalation: {ladders: [{name: a, then: a, steps: [{at: breach}]}]}"))
	f.Add([]byte("calendar: {business_hours: ['25:00-26:00']}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePack(data)
		if err != nil {
			return
		}
		if _, err := NewEngine(p); err != nil {
			t.Fatalf("a pack that validates must build: %v", err)
		}
	})
}
