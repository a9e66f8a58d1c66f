package router

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// latinWord is an English word in a reason: three Latin letters in a row
// outside the 「」 quotes that cite the complaint's own text.
var latinWord = regexp.MustCompile(`[A-Za-z]{3,}`)

// unquoted is s without the parts in 「」.
func unquoted(s string) string {
	return regexp.MustCompile(`「[^」]*」`).ReplaceAllString(s, "")
}

// TestReasonsInChinese: every reason and value the policy writes on a
// case reads in Chinese, as an agent reads it on the case page.
func TestReasonsInChinese(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	tests := []struct {
		name string
		in   Input
		want map[string]string // field -> a part of its reason
	}{
		{"a billing complaint decided by the model", Input{Text: "这个月话费多扣了58块钱，套餐是59的，要求退钱！", Received: received, Channel: "hotline",
			Customer: &InputCustomer{Name: "王女士", Phone: "13912340001"}},
			map[string]string{"contact_type": "含关键词「多扣」", "category": "分类模型（按字词特征统计）判定，把握", "validity": "未命中任何无效情形规则，按有效受理",
				"grade": "未命中任何等级规则，按默认等级", "clock:reply": "自受理起15个工作日", "clock:follow_up": "自办结起2个工作日"}},
		{"a media threat, no customer given", Input{Text: "宽带断了三天没人修，再不处理我就找记者曝光，发到抖音上！", Received: received, Channel: "webform"},
			map[string]string{"grade": "含关键词「记者」", "validity": "未提供客户信息，未核查联系方式", "clock:major_report": "自受理起1小时",
				"clock:acknowledge": "自受理起4个工作小时"}},
		{"too short to be specific", Input{Text: "投诉！！差", Received: received, Channel: "hotline", Customer: &InputCustomer{Phone: "13912340001"}},
			map[string]string{"route": "满足规则条件"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.Explain(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for field, want := range tt.want {
				found := false
				for _, x := range v.Explanation {
					found = found || x.Field == field && strings.Contains(x.Reason, want)
				}
				if !found {
					t.Errorf("no explanation of %s says %q: %+v", field, want, v.Explanation)
				}
			}
			for _, x := range v.Explanation {
				for _, s := range []string{x.Reason, x.Value} {
					if w := latinWord.FindString(unquoted(s)); w != "" {
						t.Errorf("%s (by %s) reads %q: English %q", x.Field, x.By, s, w)
					}
				}
			}
		})
	}
}

// TestActionTextsInChinese: what actions write on the history, and the
// reason of an escalation's notice, read in Chinese.
func TestActionTextsInChinese(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	c := e.Open(reachable("这个月话费多扣了58块钱，要求退钱！", received), received)
	al, ok := c.NextAlert()
	if !ok {
		t.Fatal("the case has no alert")
	}
	took := apply(t, e, c, act(c, "t1", ActionTake, "1001", received.Add(time.Minute)))
	tests := []struct {
		name   string
		c      Case
		a      func(Action) Action
		kind   ActionKind
		detail string
	}{
		{"take", c, nil, ActionTake, "首问负责人：1001；当前处理人：1001"},
		{"resolve", took, func(a Action) Action { a.Note = "已退58元"; return a }, ActionResolve, "已办结"},
		{"close", took, func(a Action) Action { a.Note = "客户撤诉"; return a }, ActionClose, "已关闭，所有时限停止计时"},
		{"flag batch", c, func(a Action) Action { a.Batch, a.Reason = "B20250926-1", "相似"; return a }, ActionFlagBatch, "标记为批量投诉 B20250926-1"},
		{"escalate", c, func(a Action) Action { a.Clock, a.Step, a.Level = al.Clock, al.Step, al.Level; return a }, ActionEscalate,
			"第 1 级预警：“核对客户资料并联系客户”时限已过 50%（预警），到期时间 2025-09-28 11:00，通知值班长"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := act(tt.c, "x-"+tt.name, tt.kind, "1001", al.At)
			if tt.a != nil {
				a = tt.a(a)
			}
			got, _, notices, err := e.Apply(tt.c, a)
			if err != nil {
				t.Fatal(err)
			}
			if last := got.History[len(got.History)-1]; last.Detail != tt.detail {
				t.Errorf("detail %q, want %q", last.Detail, tt.detail)
			}
			for _, n := range notices {
				if want := "“核对客户资料并联系客户”时限已过 50%（预警），到期时间 2025-09-28 11:00"; n.Reason != want {
					t.Errorf("notice reason %q, want %q", n.Reason, want)
				}
			}
		})
	}
}
