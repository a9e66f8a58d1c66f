package router

import (
	"strings"
	"testing"
)

func TestOccurredInText(t *testing.T) {
	tests := []struct {
		name, text, received string
		want                 string // the latest day the text can mean, "" for none
		words                string
	}{
		{"last year, month", "我去年6月份的话费多扣了三百多，当时没注意", "2026-12-04 09:40", "2025-06-30", "去年6月份"},
		{"this year, Chinese month", "今年三月被开通了彩铃", "2026-12-04 09:40", "2026-03-31", "今年三月"},
		{"year before last, month and day", "前年十二月3号多扣了一笔", "2026-12-04 09:40", "2024-12-03", "前年十二月3号"},
		{"month and day, this year", "12月3号打过10000号", "2026-12-04 09:40", "2026-12-03", "12月3号"},
		{"month and day still ahead is last year", "12月30号扣了一笔88元", "2026-12-04 09:40", "2025-12-30", "12月30号"},
		{"month and day in January", "12月3号扣的费", "2026-01-05 10:00", "2025-12-03", "12月3号"},
		{"ISO date", "2026-11-03收到的货有毛刺", "2026-12-04 09:40", "2026-11-03", "2026-11-03"},
		{"slashes", "发票日期2026/9/8", "2026-12-04 09:40", "2026-09-08", "2026/9/8"},
		{"year month day", "2025年12月3日收到的罚单", "2026-12-04 09:40", "2025-12-03", "2025年12月3日"},
		{"year and month", "2025年12月开始扣的", "2026-12-04 09:40", "2025-12-31", "2025年12月"},
		{"month alone", "7月份开始每个月多扣10块", "2026-12-04 09:40", "2026-07-31", "7月份"},
		{"last month", "上个月话费无故多扣了50元", "2026-12-04 09:40", "2026-11-30", "上个月"},
		{"last month in January", "上月的账单不对", "2026-01-10 09:40", "2025-12-31", "上月"},
		{"the latest date wins", "去年6月份办的套餐，11月2日又多扣了30", "2026-12-04 09:40", "2026-11-02", "11月2日"},
		{"background date is not read", "这个号码2015年3月份就开户了，昨天突然停机", "2026-12-04 09:40", "", ""},
		{"background date beside the matter's date", "2019年办的宽带，今年11月2日多扣了30", "2026-12-04 09:40", "2026-11-02", "今年11月2日"},
		{"day alone is not read", "说48小时内师傅上门，今天都13号了", "2026-11-13 10:00", "", ""},
		{"months as a duration are not read", "拖了3个月了，包月费照扣", "2026-12-04 09:40", "", ""},
		{"a future date is not read", "约了2026-12-20上门", "2026-12-04 09:40", "", ""},
		{"impossible date", "2月30号扣的费", "2026-12-04 09:40", "", ""},
		{"month 13 is not a month", "13月份", "2026-12-04 09:40", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := OccurredInText(tt.text, at(t, tt.received), shanghai)
			if tt.want == "" {
				if ok {
					t.Fatalf("OccurredInText(%q) = %s (%q), want none", tt.text, d.To.Format("2006-01-02"), d.Words)
				}
				return
			}
			if !ok || d.To.Format("2006-01-02") != tt.want || d.Words != tt.words {
				t.Fatalf("OccurredInText(%q) = %s %q %v, want %s %q", tt.text, d.To.Format("2006-01-02"), d.Words, ok, tt.want, tt.words)
			}
			if d.To.Location() != shanghai {
				t.Errorf("date in %v, want Asia/Shanghai", d.To.Location())
			}
		})
	}
}

// rulesEngine is the mini pack with its validity and grade rules replaced.
func rulesEngine(tb testing.TB, validity, grade string) *Engine {
	tb.Helper()
	y := miniYAML(tb)
	for old, new := range map[string]string{
		"    - {id: v-old, reason: 超过五个月, when: {categories: [费用], occurred_older_than: {amount: 5, unit: months}}, basis: {source: doc, clause: 第五条}}": validity,
		"    - {id: g-media, grade: 重大, when: {keywords: [记者]}, default: true}":                                                                         grade,
	} {
		if !strings.Contains(y, old) {
			tb.Fatalf("mini pack lacks %q", old)
		}
		y = strings.Replace(y, old, new, 1)
	}
	p, err := ParsePack([]byte(y))
	if err != nil {
		tb.Fatal(err)
	}
	e, err := NewEngine(p)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestEffectiveDates(t *testing.T) {
	// The old rule until the day the new text takes effect, the new one
	// from that day on (in Asia/Shanghai, whatever the received zone).
	e := rulesEngine(t,
		`    - {id: v-old, reason: 旧办法超过五个月, when: {categories: [费用], occurred_older_than: {amount: 5, unit: months, text: true}, effective_until: 2016-07-30}, basis: {source: doc, clause: 第五条}}
    - {id: v-new, reason: 新办法超过两年, when: {categories: [费用], occurred_older_than: {amount: 2, unit: years, text: true}, effective_from: 2016-07-30}, default: true}`,
		`    - {id: g-media, grade: 重大, when: {keywords: [记者]}, default: true}`)
	tests := []struct {
		name, text, received string
		valid                bool
		reason               string
	}{
		{"old rule in force", "2015年12月扣费多了三百", "2016-07-29 23:59", false, "旧办法"},
		{"new rule from its first day", "2015年12月扣费多了三百", "2016-07-30 00:00", true, ""},
		{"new rule applies", "2014年3月扣费多了三百", "2016-07-30 09:00", false, "新办法"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := at(t, tt.received)
			v := e.Decide(reachable(tt.text, received.UTC()), received)
			if v.Validity.Valid != tt.valid || !strings.Contains(v.Validity.Reason, tt.reason) {
				t.Errorf("validity = %+v, want valid %v with %q", v.Validity, tt.valid, tt.reason)
			}
		})
	}
}

func TestTextDatesOnlyWhenAsked(t *testing.T) {
	e := rulesEngine(t,
		`    - {id: v-old, reason: 超过二年, when: {occurred_older_than: {amount: 2, unit: years}}, basis: {source: doc, clause: 第五条}}`,
		`    - {id: g-media, grade: 重大, when: {keywords: [记者]}, default: true}`)
	received := at(t, "2026-12-04 09:40")
	v := e.Decide(reachable("这个号码2015年3月开的户，昨天突然停机了", received), received)
	if !v.Validity.Valid {
		t.Fatalf("validity = %+v: a background date voided the complaint", v.Validity)
	}
	if x := explained(v, "validity"); x.Value != "有效" {
		t.Errorf("validity explained %+v", x)
	}
	for _, x := range v.Explanation {
		if x.By == "note" && strings.Contains(x.Reason, "未提供事发时间") {
			return
		}
	}
	t.Errorf("no note that the time limit was not checked: %+v", v.Explanation)
}

func TestRuleContext(t *testing.T) {
	e := rulesEngine(t,
		`    - {id: v-old, reason: 超过五个月, when: {categories: [费用], occurred_older_than: {amount: 5, unit: months, text: true}, not_keywords: [还在扣]}, basis: {source: doc, clause: 第五条}}
    - {id: v-late, reason: 罚款过月无效, scope: claim, when: {keywords: [罚款], occurred_older_than: {amount: 0, unit: calendar_months, text: true}}, default: true}`,
		`    - {id: g-media, grade: 重大, when: {keywords: [记者], regexps: ['电视台?'], unless: [{before: 16, regexps: ['(再不|否则|不然)[^。！？]*(找|叫|上)$']}, {after: 1, regexps: ['^证']}]}, default: true}`)
	tests := []struct {
		name, text, received string
		valid                bool
		reason, barred       string // parts of the validity reason and the barred claims
		grade                string
		why                  string // part of the validity explanation
	}{
		{"date in the text, too old", "去年6月份扣费多了三百多，要求退还", "2026-12-04 09:40", false, "超过五个月", "", "一般", "去年6月份"},
		{"date in the text, recent", "上个月扣费多了五十", "2026-12-04 09:40", true, "", "", "一般", ""},
		{"ongoing charge is not old", "去年8月份拆机了，每个月扣费还在扣", "2026-12-04 09:40", true, "", "", "一般", ""},
		{"no date, no check", "扣费多了五十", "2026-12-04 09:40", true, "", "", "一般", "未提供事发时间"},
		{"fine of last calendar month is barred, complaint valid", "10月28号的罚款今天才报", "2026-11-03 10:00", true, "", "罚款过月无效", "一般", "罚款过月无效"},
		{"fine of this month is not barred", "11月2号的罚款", "2026-11-27 10:00", true, "", "", "一般", ""},
		{"barred claim of an invalid complaint is not listed", "去年6月份扣费多了，还有罚款", "2026-12-04 09:40", false, "超过五个月", "", "一般", ""},
		{"threat is discounted", "再不处理我就找记者", "2026-12-04 09:40", true, "", "", "一般", ""},
		{"threat before a regexp hit", "不然我就找电视台", "2026-12-04 09:40", true, "", "", "一般", ""},
		{"after context discounts", "我有记者证，你们别糊弄", "2026-12-04 09:40", true, "", "", "一般", ""},
		{"real media involvement", "记者已经来过了", "2026-12-04 09:40", true, "", "", "重大", ""},
		{"second hit counts when the first is discounted", "再不处理我就找记者，昨天已经有记者来问了", "2026-12-04 09:40", true, "", "", "重大", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := e.Decide(reachable(tt.text, at(t, tt.received)), at(t, tt.received))
			if v.Validity.Valid != tt.valid || !strings.Contains(v.Validity.Reason, tt.reason) {
				t.Errorf("validity = %+v, want valid %v with %q", v.Validity, tt.valid, tt.reason)
			}
			if got := strings.Join(v.Validity.Barred, "；"); (tt.barred == "") != (got == "") || !strings.Contains(got, tt.barred) {
				t.Errorf("barred = %q, want %q", got, tt.barred)
			}
			if v.Grade != tt.grade {
				t.Errorf("grade = %q, want %q", v.Grade, tt.grade)
			}
			if tt.why != "" {
				var all []string
				for _, x := range v.Explanation {
					if x.Field == "validity" {
						all = append(all, x.Value+" "+x.Reason)
					}
				}
				if !strings.Contains(strings.Join(all, "|"), tt.why) {
					t.Errorf("validity explained as %q, want it to name %q", all, tt.why)
				}
			}
		})
	}
}

func TestEventDateInText(t *testing.T) {
	acceptance := []string{"竣工验收", "验收合格"}
	tests := []struct {
		name, text, received string
		want                 string // the latest day the acceptance date can mean, "" for none
		words                string
	}{
		{"year and month", "我们楼是2023年6月竣工验收的，去年才交房", "2026-03-10 10:00", "2023-06-30", "2023年6月"},
		{"year alone is its last day", "小区2019年竣工验收，2021年才交房", "2026-03-10 10:00", "2019-12-31", "2019年"},
		{"year end, 通过", "2020年底通过竣工验收，验收合格后交房", "2026-03-10 10:00", "2020-12-31", "2020年底"},
		{"full date with 的", "2024年5月20日的竣工验收合格证明上写着", "2026-03-10 10:00", "2024-05-20", "2024年5月20日"},
		{"move-in date is not the acceptance", "2021年交房入住，住了四年多", "2026-03-10 10:00", "", ""},
		{"handover date beside the acceptance date", "2022年3月交房，2021年12月验收合格", "2026-03-10 10:00", "2021-12-31", "2021年12月"},
		{"no date", "竣工验收都三年多了", "2026-03-10 10:00", "", ""},
		{"a year ahead is not read", "计划2027年竣工验收", "2026-03-10 10:00", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := EventDateInText(tt.text, acceptance, at(t, tt.received), shanghai)
			got := ""
			if ok {
				got = d.To.Format("2006-01-02")
			}
			if got != tt.want || (ok && d.Words != tt.words) {
				t.Errorf("EventDateInText(%q) = %s %q, want %s %q", tt.text, got, d.Words, tt.want, tt.words)
			}
		})
	}
}
