package normalize

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func entry(id, customer, text string, at time.Duration) BatchEntry {
	return BatchEntry{Complaint: id, Customer: customer, Case: "TS" + strings.ToUpper(id), ReceivedAt: t0.Add(at), Sketch: SketchOf(CleanText(text))}
}

func TestBatches(t *testing.T) {
	const outage = "我们小区从今天早上开始手机完全没有信号，打不了电话也上不了网，请尽快处理"
	cfg := DefaultDedupeConfig()
	cfg.BatchMinCustomers = 3
	type step struct {
		e      BatchEntry
		batch  bool // belongs to a batch afterwards
		formed bool
		flag   int
		save   int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"three customers, same text, form one batch", []step{
			{entry("c1", "phone:1", outage, 0), false, false, 0, 1},
			{entry("c2", "phone:2", outage, time.Minute), false, false, 0, 1},
			{entry("c3", "phone:3", outage+"！！", 2*time.Minute), true, true, 3, 3},
			{entry("c4", "phone:4", "小区手机完全没有信号，从今天早上开始打不了电话也上不了网", 3*time.Minute), true, false, 1, 1},
		}},
		{"one customer three times is no batch", []step{
			{entry("c1", "phone:1", outage, 0), false, false, 0, 1},
			{entry("c2", "phone:1", outage, time.Minute), false, false, 0, 0},
			{entry("c3", "phone:1", outage, 2*time.Minute), false, false, 0, 0},
			{entry("c4", "phone:2", outage, 3*time.Minute), false, false, 0, 1},
		}},
		{"outside the window is no batch", []step{
			{entry("c1", "phone:1", outage, 0), false, false, 0, 1},
			{entry("c2", "phone:2", outage, 3*time.Hour), false, false, 0, 1},
			{entry("c3", "phone:3", outage, 6*time.Hour), false, false, 0, 1},
		}},
		{"different texts are no batch", []step{
			{entry("c1", "phone:1", outage, 0), false, false, 0, 1},
			{entry("c2", "phone:2", "营业厅工作人员态度很差，办理销户被推诿三次", time.Minute), false, false, 0, 1},
			{entry("c3", "phone:3", "本月账单多收了30元流量费", 2*time.Minute), false, false, 0, 1},
		}},
		{"anonymous complaints do not count", []step{
			{entry("c1", "anonymous:c1", outage, 0), false, false, 0, 0},
			{entry("c2", "anonymous:c2", outage, time.Minute), false, false, 0, 0},
			{entry("c3", "phone:3", outage, 2*time.Minute), false, false, 0, 1},
		}},
		{"a complaint added twice changes nothing", []step{
			{entry("c1", "phone:1", outage, 0), false, false, 0, 1},
			{entry("c1", "phone:1", outage, 0), false, false, 0, 0},
			{entry("c2", "phone:2", outage, time.Minute), false, false, 0, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatches(cfg, nil)
			var id string
			for i, s := range tt.steps {
				out := b.Add(s.e)
				if (out.Batch != "") != s.batch || out.Formed != s.formed || len(out.Flag) != s.flag || len(out.Save) != s.save {
					t.Fatalf("step %d: %+v, want batch %v formed %v flag %d save %d", i, out, s.batch, s.formed, s.flag, s.save)
				}
				if out.Batch != "" {
					if id != "" && out.Batch != id {
						t.Errorf("step %d: batch %s, then %s", i, id, out.Batch)
					}
					id = out.Batch
					for _, f := range out.Flag {
						if f.Batch != id {
							t.Errorf("step %d: flagged entry %+v", i, f)
						}
					}
				}
				if out.Formed && (out.Customers != cfg.BatchMinCustomers || id != BatchID("c1")) {
					t.Errorf("step %d: formed with %d customers, id %s, want %d and %s", i, out.Customers, id, cfg.BatchMinCustomers, BatchID("c1"))
				}
			}
		})
	}
}

func TestBatchesRestart(t *testing.T) {
	const text = "物业擅自提高停车费，从每月200元涨到350元，没有经过业主大会表决"
	cfg := DefaultDedupeConfig()
	cfg.BatchMinCustomers = 3
	b := NewBatches(cfg, nil)
	var saved []BatchEntry
	for i := range 3 {
		out := b.Add(entry(fmt.Sprint("c", i), fmt.Sprint("phone:", i), text, time.Duration(i)*time.Minute))
		saved = append(saved, out.Save...)
	}
	// Started again from what was saved (updated entries saved again
	// later), old entries included: the batch goes on, it is not formed
	// again.
	saved = append(saved, entry("old", "phone:old", text, -24*time.Hour))
	b = NewBatches(cfg, saved)
	if b.Len() != 3 {
		t.Errorf("restarted with %d entries, want 3", b.Len())
	}
	out := b.Add(entry("c9", "phone:9", text, 5*time.Minute))
	if out.Batch != BatchID("c0") || out.Formed {
		t.Errorf("after restart: %+v, want to join %s", out, BatchID("c0"))
	}
	if again := b.Add(entry("c0", "phone:0", text, 0)); again.Batch != BatchID("c0") || len(again.Save) != 0 {
		t.Errorf("re-adding c0: %+v", again)
	}
}

func TestBatchesPrune(t *testing.T) {
	cfg := DefaultDedupeConfig()
	b := NewBatches(cfg, nil)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		b.Add(BatchEntry{Complaint: fmt.Sprint(i), Customer: fmt.Sprint("phone:", i), Case: fmt.Sprint(i),
			ReceivedAt: t0.Add(time.Duration(i) * time.Minute), Sketch: SketchOf(randomComplaint(r))})
	}
	// 1000 minutes of complaints, a 2h window pruned every half hour.
	if n := b.Len(); n < 120 || n > 160 {
		t.Errorf("%d entries remembered, want the last 2h to 2.5h (120..150)", n)
	}
}

// TestBatchesRememberAtMost: a flood within the window is remembered up to
// BatchMaxRemembered (plus the quarter gathered before a cut), the earliest
// forgotten first, and a batch among the latest complaints still forms.
func TestBatchesRememberAtMost(t *testing.T) {
	const outage = "我们小区从今天早上开始手机完全没有信号，打不了电话也上不了网，请尽快处理"
	cfg := DefaultDedupeConfig()
	cfg.BatchMaxRemembered, cfg.BatchMinCustomers = 400, 3
	b := NewBatches(cfg, nil)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 { // 2000 complaints in 2000 s, all within the 2h window
		b.Add(BatchEntry{Complaint: fmt.Sprint(i), Customer: fmt.Sprint("phone:", i), Case: fmt.Sprint(i),
			ReceivedAt: t0.Add(time.Duration(i) * time.Second), Sketch: SketchOf(randomComplaint(r))})
		if n := b.Len(); n > 500 {
			t.Fatalf("after %d complaints %d remembered, want at most 400 + 100", i+1, n)
		}
	}
	if n := b.Len(); n < 400 {
		t.Errorf("%d remembered, want at least the limit, 400", n)
	}
	if got, want := b.Cut(), 2000-b.Len(); got != want {
		t.Errorf("Cut() = %d, want %d (every complaint not remembered)", got, want)
	}
	var formed bool
	for i := range 3 {
		out := b.Add(entry(fmt.Sprint("o", i), fmt.Sprint("phone:o", i), outage, 2000*time.Second+time.Duration(i)*time.Second))
		formed = formed || out.Formed
	}
	if !formed {
		t.Error("three customers with the same outage after the flood formed no batch")
	}
	// The earliest are forgotten: a resend of complaint 0 is new again,
	// one of the latest is still known.
	if _, ok := b.byID["0"]; ok {
		t.Error("complaint 0, the earliest, is still remembered")
	}
	if _, ok := b.byID["1999"]; !ok {
		t.Error("complaint 1999, the latest of the flood, was forgotten")
	}
}

// Phrases realistic complaints are made of.
var (
	subjects = []string{"手机", "宽带", "固话", "流量", "话费", "套餐", "营业厅", "客服热线", "光猫", "机顶盒", "5G信号", "国际漫游", "积分", "携号转网", "副卡"}
	problems = []string{"信号差", "断网", "多扣费", "无法办理", "态度很差", "一直打不通", "被莫名开通业务", "网速很慢", "掉线", "收到垃圾短信",
		"安装一直拖延", "维修没人上门", "承诺的优惠没兑现", "销户被推诿", "账单看不懂"}
	details = []string{"已经好几天了", "打了好多次电话都没解决", "严重影响工作和生活", "要求退还多收的费用", "希望尽快给个说法",
		"工作人员一直推脱", "上个月就出现过", "家里老人也受影响", "我要投诉到工信部", "请尽快派人处理", "你们的客服根本不管", "再不解决就去12315"}
)

func randomComplaint(r *rand.Rand) string {
	var b strings.Builder
	for range 2 + r.IntN(3) {
		fmt.Fprintf(&b, "%s%s，%s，", subjects[r.IntN(len(subjects))], problems[r.IntN(len(problems))], details[r.IntN(len(details))])
	}
	fmt.Fprintf(&b, "订单号%d。", r.IntN(1000000))
	return b.String()
}

// detectionSetup is a realistic state: a customer with 8 cases of 3
// complaints each, and a batch window holding 5000 complaints of other
// customers (2h at about 0.7 complaints/s).
func detectionSetup(tb testing.TB) (DedupeConfig, CustomerHistory, *Batches, *rand.Rand) {
	tb.Helper()
	cfg := DefaultDedupeConfig()
	r := rand.New(rand.NewPCG(5, 6))
	const key = "phone:+8613912345678"
	h := CustomerHistory{Key: key}
	for i := range 8 {
		for j := range 3 {
			c := complaint(fmt.Sprint("api:h", i, "-", j), key, randomComplaint(r), -time.Duration(10*i+j)*time.Hour)
			h.Record(fmt.Sprint("TSCASE", i), c, FingerprintOf(c))
		}
	}
	var entries []BatchEntry
	for i := range 5000 {
		entries = append(entries, BatchEntry{Complaint: fmt.Sprint("w", i), Customer: fmt.Sprint("phone:w", i), Case: fmt.Sprint("TSW", i),
			ReceivedAt: t0.Add(-2*time.Hour + time.Duration(i)*1440*time.Millisecond), Sketch: SketchOf(randomComplaint(r))})
		// 5000 complaints in the 2h before t0, one every 1.44s
	}
	return cfg, h, NewBatches(cfg, entries), r
}

// BenchmarkDetect is the detection cost per complaint: fingerprint, the
// customer's duplicate and repeat decision, and batch detection over the
// window.
func BenchmarkDetect(b *testing.B) {
	cfg, h, batches, r := detectionSetup(b)
	texts := make([]string, 1024)
	for i := range texts {
		texts[i] = randomComplaint(r)
	}
	b.ResetTimer()
	for i := range b.N {
		c := complaint(fmt.Sprint("api:n", i), h.Key, texts[i%len(texts)], time.Duration(i)*1440*time.Millisecond)
		out := Decide(cfg, h, c)
		batches.Add(BatchEntry{Complaint: c.ID, Customer: fmt.Sprint("phone:n", i), Case: c.Reference, ReceivedAt: c.ReceivedAt, Sketch: out.Fingerprint.Sketch})
	}
}

// BenchmarkDecide is the per-customer part alone.
func BenchmarkDecide(b *testing.B) {
	cfg, h, _, r := detectionSetup(b)
	c := complaint("api:new", h.Key, randomComplaint(r), time.Minute)
	b.ResetTimer()
	for range b.N {
		Decide(cfg, h, c)
	}
}

// BenchmarkBatchesAdd is the batch part alone, the sketch given.
func BenchmarkBatchesAdd(b *testing.B) {
	_, _, batches, r := detectionSetup(b)
	sketches := make([]Sketch, 1024)
	for i := range sketches {
		sketches[i] = SketchOf(randomComplaint(r))
	}
	b.ResetTimer()
	for i := range b.N {
		batches.Add(BatchEntry{Complaint: fmt.Sprint("n", i), Customer: fmt.Sprint("phone:n", i), Case: "TS", ReceivedAt: t0.Add(time.Duration(i) * 1440 * time.Millisecond), Sketch: sketches[i%len(sketches)]})
	}
}

// BenchmarkDecideReply is the per-customer part for an e-mail reply whose
// References name a long thread (the history's complaints all have a
// Message-ID, the one replied to is the oldest case's first).
func BenchmarkDecideReply(b *testing.B) {
	cfg, h, _, r := detectionSetup(b)
	for i := range h.Cases {
		for j := range h.Cases[i].Complaints {
			h.Cases[i].Complaints[j].MessageID = fmt.Sprintf("h%d-%d@customer.example", i, j)
		}
	}
	var refs []string
	for i := range 20 {
		refs = append(refs, fmt.Sprintf("thread-%d@elsewhere.example", i))
	}
	refs = append(refs, "h7-0@customer.example")
	c := email("email:new", h.Key, randomComplaint(r), time.Minute, "new@customer.example", "ours@tousu.example", strings.Join(refs, " "))
	if out := Decide(cfg, h, c); out.Case != "TSCASE7" {
		b.Fatalf("Decide = %s %s (%s)", out.Kind, out.Case, out.Reason)
	}
	b.ResetTimer()
	for range b.N {
		Decide(cfg, h, c)
	}
}
