package router

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func telecom(tb testing.TB) *Engine {
	tb.Helper()
	e, err := LoadEngine("../configs/policies/telecom.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestExplain(t *testing.T) {
	e := telecom(t)
	received := at(t, "2025-09-26 16:00")
	v, err := Explain(e, "这个月话费多扣了58块钱，要求退钱！", received, "hotline")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"contact_type":"投诉"`, `"category":"费用问题"`, `"validity":{"valid":true}`, `"grade":"一般"`,
		`"name":"reply","due":"2025-10-24T00:00:00+08:00"`, `第八条`, `"route":{"department":"计费账务中心"`, `"explanation":[`,
		`未提供客户信息，未核查联系方式`, `"reason":"自受理起15个工作日"`, `"reason":"未命中任何无效情形规则，按有效受理"`, `"value":"未开始"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("verdict lacks %s:\n%s", want, data)
		}
	}
	for _, in := range []Input{{Text: "  ", Received: received}, {Text: "信号差"}} {
		if _, err := e.Explain(in); err == nil {
			t.Errorf("Explain(%+v) must fail", in)
		}
	}
}

func TestExplainJSONL(t *testing.T) {
	e := telecom(t)
	input := strings.Join([]string{
		`{"text":"宽带断网修了三次了还是老样子","received":"2026-02-24T09:00:00+08:00","channel":"hotline"}`,
		``,
		`{"text":"你们营业厅态度太差了","received":"2025-09-26T16:00:00+08:00","channel":"webform","customer":{}}`,
		`not json`,
		`{"text":"缺时间"}`,
		`{"text":"x","received":"2025-09-26T16:00:00+08:00","colour":"red"}`,
		`{"text":"请问怎么查话费","received":"2025-09-26T16:00:00+08:00","customer":{"phone":"+8613800138000"},"extra":{"k":"v"}}`,
	}, "\n")
	var out bytes.Buffer
	if err := ExplainJSONL(e, strings.NewReader(input), &out); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Line        int      `json:"line"`
		Error       string   `json:"error"`
		ContactType string   `json:"contact_type"`
		Validity    Validity `json:"validity"`
		Deadlines   []Deadline
	}
	var got []line
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		got = append(got, l)
	}
	if len(got) != 6 {
		t.Fatalf("got %d output lines, want 6 (blank line skipped): %+v", len(got), got)
	}
	tests := []struct {
		line        int
		err         string
		contactType string
		valid       bool
	}{
		{1, "", "投诉", true},
		{3, "", "投诉", false}, // an empty customer is anonymous
		{4, "bad input", "", false},
		{5, "received", "", false},
		{6, "unknown field", "", false},
		{7, "", "查询", true},
	}
	for i, tt := range tests {
		g := got[i]
		if g.Line != tt.line || !strings.Contains(g.Error, tt.err) || (tt.err == "") != (g.Error == "") || g.ContactType != tt.contactType || g.Validity.Valid != tt.valid {
			t.Errorf("line %d: %+v, want %+v", tt.line, g, tt)
		}
	}
	if len(got[0].Deadlines) != 1 || !got[0].Deadlines[0].Due.Equal(at(t, "2026-03-17 00:00")) {
		t.Errorf("line 1 deadlines: %+v", got[0].Deadlines)
	}
}

func FuzzExplainJSONL(f *testing.F) {
	e := telecom(f)
	f.Add(`{"text":"话费多扣了","received":"2025-09-26T16:00:00+08:00"}`)
	f.Add(`{"text":"","received":"0001-01-01T00:00:00Z"}`)
	f.Add(`{"text":"宽带断网","received":"2099-01-01T00:00:00Z","occurred":"1900-01-01T00:00:00Z","extra":{"transferred_from":"x"}}`)
	f.Add("{\"text\":\"\\u0000\",\"received\":\"2025-01-01T00:00:00Z\"}\n\n{")
	f.Fuzz(func(t *testing.T, input string) {
		var out bytes.Buffer
		if err := ExplainJSONL(e, strings.NewReader(input), &out); err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
			if len(l) > 0 && !json.Valid(l) {
				t.Fatalf("invalid output line %q", l)
			}
		}
	})
}

// BenchmarkExplainJSONL measures a batch of mixed complaints; ns/op is per
// batch of 1,000 lines.
func BenchmarkExplainJSONL(b *testing.B) {
	e := telecom(b)
	texts := []string{
		"这个月话费怎么多扣了58块钱？套餐是59的，账单出来117，要求退钱！",
		"家里宽带从下午开始上不了网，光猫红灯在闪，麻烦派人来看看",
		"我从来没订过这个视频会员，每个月扣15块",
		"营业厅的工作人员态度很差，问个问题爱答不理，我要去工信部投诉",
		"请问现在有没有适合老人用的便宜套餐？",
	}
	var in bytes.Buffer
	for i := range 1000 {
		received := time.Date(2025, time.Month(1+i%12), 1+i%28, 9+i%9, 0, 0, 0, shanghai)
		fmt.Fprintf(&in, `{"text":%q,"received":%q,"channel":"webform","customer":{"phone":"+8613800138000"}}`+"\n", texts[i%len(texts)], received.Format(time.RFC3339))
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if err := ExplainJSONL(e, bytes.NewReader(data), &bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	e := telecom(b)
	c := reachable("家里宽带断网修了三次了还是老样子，再不解决我就去工信部投诉", time.Date(2025, 9, 26, 16, 0, 0, 0, shanghai))
	for b.Loop() {
		e.Open(c, c.ReceivedAt)
	}
}
