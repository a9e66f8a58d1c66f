package normalize

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/imap"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// complaint builds a normalized complaint of a customer received at t0+at.
func complaint(id, key, text string, at time.Duration) Complaint {
	return Complaint{V: SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: t0.Add(at), Customer: Customer{Key: key}, Description: CleanText(text)}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		min, max float64
	}{
		{"identical", "手机信号差了三天，打电话总是断线", "手机信号差了三天，打电话总是断线", 1, 1},
		{"punctuation, spaces and case ignored", "手机信号差了三天，打电话总是断线！WiFi", "手机信号差了三天 打电话总是断线 wifi", 1, 1},
		{"one word added", "手机信号差了三天，打电话总是断线", "手机信号差了三天了，打电话总是断线", 0.8, 0.99},
		{"same matter, reworded", "宽带从昨天晚上开始断网，到现在还没有恢复", "宽带从昨天晚上开始一直断网，现在还没恢复", 0.55, 0.8},
		{"different matters", "手机信号差了三天，打电话总是断线", "营业厅工作人员态度很差，办理销户被推诿三次", 0, 0.1},
		{"empty", "", "手机信号差", 0, 0},
		{"only punctuation", "！！！", "！！！", 0, 0},
		{"single character", "差", "差", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := SketchOf(CleanText(tt.a)), SketchOf(CleanText(tt.b))
			got := Similarity(a, b)
			if got < tt.min || got > tt.max {
				t.Errorf("Similarity = %.3f, want in [%.2f, %.2f]", got, tt.min, tt.max)
			}
			if back := Similarity(b, a); back != got {
				t.Errorf("not symmetric: %.3f and %.3f", got, back)
			}
		})
	}
}

func TestSketchOfLongText(t *testing.T) {
	long := strings.Repeat("小区电梯又坏了，物业一直不修。", 40) + "编号" + fmt.Sprint(rand.N(1000))
	s := SketchOf(long)
	if len(s) == 0 || len(s) > SketchSize || !slices.IsSorted(s) {
		t.Fatalf("sketch of %d hashes, sorted %v", len(s), slices.IsSorted(s))
	}
	var many strings.Builder
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		many.WriteRune(rune(0x4e00 + r.IntN(3000)))
	}
	a := many.String()
	b := a[:len(a)-30] + "另外还有三个问题"
	if s := SketchOf(a); len(s) != SketchSize {
		t.Errorf("a long text keeps %d hashes, want %d", len(s), SketchSize)
	}
	if sim := Similarity(SketchOf(a), SketchOf(b)); sim < 0.95 {
		t.Errorf("long texts differing at the end: similarity %.3f, want ≥ 0.95", sim)
	}
}

func TestSketchJSON(t *testing.T) {
	s := SketchOf("本月账单多收了30元流量费")
	b, err := json.Marshal(ComplaintRecord{ID: "x", Sketch: s})
	if err != nil {
		t.Fatal(err)
	}
	var back ComplaintRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Sketch, s) {
		t.Errorf("round trip: %v, want %v", back.Sketch, s)
	}
	for _, bad := range []string{`"!!"`, `"AAAB"`, `"AAAAAgAAAAE"`} {
		var x Sketch
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzSketch(f *testing.F) {
	for _, seed := range [][2]string{
		{"手机信号差了三天", "手机信号差了三天了"},
		{"", "x"},
		{"订单号ORD12345，金额100元", "订单号ORD12346，金额100元"},
		{"\xff\xfe", "a"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := SketchOf(a), SketchOf(b)
		sim := Similarity(sa, sb)
		if sim < 0 || sim > 1 || sim != Similarity(sb, sa) {
			t.Fatalf("Similarity(%q, %q) = %v", a, b, sim)
		}
		if len(sa) > 0 && Similarity(sa, sa) != 1 {
			t.Fatalf("Similarity(%q, itself) = %v", a, Similarity(sa, sa))
		}
		text, err := sa.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Sketch
		if err := back.UnmarshalText(text); err != nil || !slices.Equal(back, sa) {
			t.Fatalf("round trip of %q: %v %v", a, back, err)
		}
		_ = (&back).UnmarshalText([]byte(b)) // must not panic
	})
}

func TestNumbersAgree(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"多收了30元", "多收了50元", false},
		{"多收了30元", "多收了30元，第2次了", true},
		{"宽带断网", "宽带断网3天了", true},
		{"订单123456没发货", "订单123457没发货", false},
		{"没有数字", "也没有", true},
	}
	for _, tt := range tests {
		if got := numbersAgree(numbersOf(tt.a), numbersOf(tt.b)); got != tt.want {
			t.Errorf("numbersAgree(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// historyOf records complaints as the cases they opened or joined.
func historyOf(key string, recs ...struct {
	caseID string
	c      Complaint
}) CustomerHistory {
	h := CustomerHistory{Key: key}
	for _, r := range recs {
		h.Record(r.caseID, r.c, FingerprintOf(r.c))
	}
	return h
}

type rec = struct {
	caseID string
	c      Complaint
}

func TestDecide(t *testing.T) {
	const alice, bob = "phone:+8613912345678", "phone:+8613800138000"
	signal := "手机信号差了三天，打电话总是断线，严重影响工作"
	first := complaint("api:1", alice, signal, 0)
	caseA := first.Reference
	open := historyOf(alice, rec{caseA, first})
	resolved := historyOf(alice, rec{caseA, first})
	resolved.SetState(caseA, CaseResolved, t0.Add(48*time.Hour))
	cfg := DefaultDedupeConfig()

	tests := []struct {
		name string
		cfg  DedupeConfig
		h    CustomerHistory
		c    Complaint
		kind Kind
		cs   string
	}{
		{"same customer, identical, 10ms later", cfg, open, complaint("api:2", alice, signal, 10*time.Millisecond), KindDuplicate, caseA},
		{"same customer, identical, received 10ms before", cfg, open, complaint("api:2", alice, signal, -10*time.Millisecond), KindDuplicate, caseA},
		{"same customer, a word added", cfg, open, complaint("api:2", alice, "手机信号差了三天了，打电话总是断线，严重影响工作！", time.Hour), KindDuplicate, caseA},
		{"different customer, same text", cfg, open, complaint("api:2", bob, signal, time.Second), KindNew, ""},
		{"identical, after the duplicate window, case open", cfg, open, complaint("api:2", alice, signal, 3*24*time.Hour), KindRepeat, caseA},
		{"reworded, same matter, case open", cfg, open, complaint("api:2", alice, "信号差了三天了，打电话总断线，严重影响我工作", 2*time.Hour), KindRepeat, caseA},
		{"quotes the reference", cfg, open, complaint("api:2", alice, "我上次投诉的"+caseA+"到现在都没人处理！", 5*24*time.Hour), KindRepeat, caseA},
		{"quotes the reference in lower case", cfg, open, complaint("api:2", alice, "编号"+strings.ToLower(caseA)+"还没处理", 5*24*time.Hour), KindRepeat, caseA},
		{"same matter, case resolved", cfg, resolved, complaint("api:2", alice, signal, 5*24*time.Hour), KindRepeatFinished, caseA},
		{"another matter", cfg, open, complaint("api:2", alice, "营业厅工作人员态度很差，办理销户被推诿三次", time.Minute), KindNew, ""},
		{"anonymous customer", cfg, CustomerHistory{}, complaint("api:2", "anonymous:api:2", signal, 0), KindNew, ""},
		{"detection disabled", DedupeConfig{Disabled: true, DuplicateWindow: time.Hour, DuplicateSimilarity: 0.8, RepeatSimilarity: 0.6}, open, complaint("api:2", alice, signal, 0), KindNew, ""},
		{"empty history", cfg, CustomerHistory{}, complaint("api:2", alice, signal, 0), KindNew, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Decide(tt.cfg, tt.h, tt.c)
			if out.Kind != tt.kind || out.Case != tt.cs {
				t.Errorf("Decide = %s %q (%s), want %s %q", out.Kind, out.Case, out.Reason, tt.kind, tt.cs)
			}
			if out.Reason == "" || len(out.Fingerprint.Sketch) == 0 {
				t.Errorf("outcome without reason or fingerprint: %+v", out)
			}
		})
	}
}

func TestDecideNumbers(t *testing.T) {
	const key = "phone:+8613912345678"
	cfg := DefaultDedupeConfig()
	h := CustomerHistory{Key: key}
	var cases []string
	for i := range 5 {
		c := complaint(fmt.Sprint("api:", i), key, fmt.Sprintf("重启测试 第%d条 网速慢", i), time.Duration(i)*time.Second)
		out := Decide(cfg, h, c)
		if out.Kind != KindNew {
			t.Fatalf("complaint %d: %s (%s), want new: only the number differs", i, out.Kind, out.Reason)
		}
		h.Record(c.Reference, c, out.Fingerprint)
		cases = append(cases, c.Reference)
	}
	c := complaint("api:again", key, "重启测试 第3条 网速慢!", 10*time.Second)
	if out := Decide(cfg, h, c); out.Kind != KindDuplicate || out.Case != cases[3] {
		t.Errorf("resubmitted 第3条: %s %s, want duplicate of %s", out.Kind, out.Case, cases[3])
	}
}

func TestDecidePrefersOpenCase(t *testing.T) {
	const key = "phone:+8613912345678"
	text := "小区电梯坏了一个星期，物业一直说在修，老人上下楼很困难"
	old := complaint("api:old", key, text, 0)
	again := complaint("api:again", key, text, 10*24*time.Hour)
	h := historyOf(key, rec{old.Reference, old})
	h.SetState(old.Reference, CaseResolved, t0.Add(5*24*time.Hour))
	h.Record(again.Reference, again, FingerprintOf(again)) // the linked new case
	third := complaint("api:third", key, text, 20*24*time.Hour)
	if out := Decide(DefaultDedupeConfig(), h, third); out.Kind != KindRepeat || out.Case != again.Reference {
		t.Errorf("Decide = %s %s, want repeat of the open case %s", out.Kind, out.Case, again.Reference)
	}
}

func TestCustomerHistory(t *testing.T) {
	const key = "phone:+8613912345678"
	cfg := DefaultDedupeConfig()
	cfg.MaxCasesPerCustomer = 3
	h := CustomerHistory{Key: key}
	first := complaint("api:first", key, "第一次投诉", 0)
	h.Record("TSCASE", first, FingerprintOf(first))
	for i := range ComplaintsPerCase + 5 {
		c := complaint(fmt.Sprint("api:", i), key, fmt.Sprint("催办", i), time.Duration(i+1)*time.Minute)
		h.Record("TSCASE", c, FingerprintOf(c))
		h.Record("TSCASE", c, FingerprintOf(c)) // twice: recorded once
	}
	cs := h.Case("TSCASE")
	if cs == nil || len(cs.Complaints) != ComplaintsPerCase || cs.Complaints[0].ID != "api:first" || cs.Complaints[ComplaintsPerCase-1].ID != fmt.Sprint("api:", ComplaintsPerCase+4) {
		t.Fatalf("case record keeps %d complaints: %+v", len(cs.Complaints), cs)
	}
	if len(cs.References) != ComplaintsPerCase+6 || !h.Handled(first) {
		t.Errorf("references: %d, handled(first) %v", len(cs.References), h.Handled(first))
	}
	if !h.SetState("TSCASE", CaseResolved, t0.Add(time.Hour)) || h.Case("TSCASE").State != CaseResolved || h.SetState("TSNONE", CaseClosed, t0) {
		t.Errorf("SetState: %+v", h.Case("TSCASE"))
	}

	// Pruning: by the repeat window, then by the number of cases.
	for i := range 4 {
		c := complaint(fmt.Sprint("api:case", i), key, "另一件事", time.Duration(i+2)*time.Hour)
		h.Record(fmt.Sprint("TS", i), c, FingerprintOf(c))
	}
	dropped := h.Prune(cfg, t0.Add(24*time.Hour))
	if len(h.Cases) != 3 || !slices.Equal(dropped, []string{"TS0", "TSCASE"}) || h.Cases[0].ID != "TS3" {
		t.Errorf("after pruning to 3 cases: %v, dropped %v", caseIDs(h), dropped)
	}
	dropped = h.Prune(cfg, t0.Add(time.Duration(cfg.RepeatWindowDays)*24*time.Hour+4*time.Hour+time.Minute))
	if !slices.Equal(caseIDs(h), []string{"TS3"}) || len(dropped) != 2 {
		t.Errorf("after the window: %v, dropped %v", caseIDs(h), dropped)
	}
	if h.LastActivity() != t0.Add(5*time.Hour) {
		t.Errorf("last activity %v", h.LastActivity())
	}
}

func caseIDs(h CustomerHistory) []string {
	var out []string
	for _, c := range h.Cases {
		out = append(out, c.ID)
	}
	return out
}

func TestDedupeConfigValidate(t *testing.T) {
	var c DedupeConfig
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Provision()
	if c.DuplicateWindow != DefaultDuplicateWindow || c.BatchMinCustomers != DefaultBatchMinCustomers || c.RepeatWindow() != 90*24*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	bad := []struct {
		cfg  DedupeConfig
		want string
	}{
		{DedupeConfig{DuplicateWindow: -time.Second}, "duplicate_window: must not be negative, got -1s"},
		{DedupeConfig{DuplicateSimilarity: 1.5}, "duplicate_similarity: must be between 0 and 1, got 1.5"},
		{DedupeConfig{RepeatSimilarity: -0.1}, "repeat_similarity: must be between 0 and 1, got -0.1"},
		{DedupeConfig{BatchMinCustomers: 1}, "batch_min_customers: a batch needs at least 2 customers"},
		{DedupeConfig{MaxCasesPerCustomer: -1}, "max_cases_per_customer: must not be negative, got -1"},
		{DedupeConfig{DuplicateSimilarity: 0.5, RepeatSimilarity: 0.7}, "repeat_similarity: 0.7 exceeds duplicate_similarity 0.5: a near-identical complaint must also be the same matter"},
		{DedupeConfig{RepeatSimilarity: 0.9}, "repeat_similarity: 0.9 exceeds duplicate_similarity 0.8: a near-identical complaint must also be the same matter"},
	}
	for _, b := range bad {
		before := b.cfg
		if err := b.cfg.Validate(); err == nil || err.Error() != b.want {
			t.Errorf("%+v: Validate() = %v, want %q", b.cfg, err, b.want)
		}
		if b.cfg != before {
			t.Errorf("Validate changed %+v", before)
		}
	}
	cfg := Config{SeenRetentionDays: -1, Dedupe: DedupeConfig{BatchSimilarity: 2, BatchWindow: -1}}
	want := "seen_retention_days: must not be negative, got -1\ndedupe.batch_window: must not be negative, got -1ns\ndedupe.batch_similarity: must be between 0 and 1, got 2"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("Config.Validate: %v, want %q", err, want)
	}
}

func TestDedupeConfigYAML(t *testing.T) {
	var cfg Config
	doc := "dedupe:\n  duplicate_window: 30m\n  repeat_window_days: 30\n  batch_window: 1h\n  batch_min_customers: 10\n  batch_similarity: 0.7\n"
	if err := configs.DecodeStrict([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.Dedupe
	if d.DuplicateWindow != 30*time.Minute || d.RepeatWindowDays != 30 || d.BatchWindow != time.Hour || d.BatchMinCustomers != 10 || d.BatchSimilarity != 0.7 || d.DuplicateSimilarity != DefaultDuplicateSimilarity {
		t.Errorf("decoded %+v", d)
	}
	if err := configs.DecodeStrict([]byte("dedupe:\n  batch_windw: 1h\n"), &cfg); err == nil || !strings.Contains(err.Error(), "dedupe.batch_windw") {
		t.Errorf("unknown key: %v", err)
	}
}

// email builds a normalized e-mail complaint with its Message-ID and the
// ids its In-Reply-To and References headers name (space-separated, as the
// e-mail channel puts them in Extra).
func email(id, key, text string, at time.Duration, messageID, inReplyTo, references string) Complaint {
	c := complaint(id, key, text, at)
	c.Channel = ingest.ChannelEmail
	c.Extra = map[string]string{}
	for k, v := range map[string]string{ingest.ExtraMessageID: messageID, ExtraInReplyTo: inReplyTo, ExtraReferences: references} {
		if v != "" {
			c.Extra[k] = v
		}
	}
	return c
}

func TestDecideReplies(t *testing.T) {
	const alice, bob = "email:alice@example.com", "email:bob@example.com"
	signal := "手机信号差了三天，打电话总是断线，严重影响工作"
	fee := "本月账单多收了30元流量费，要求退还"
	answer := "好的，我家地址是幸福路8号，白天都有人在家。" // a reply that shares no text with the complaint
	first := email("email:1", alice, signal, 0, "m1@alice.example", "", "")
	other := email("email:2", alice, fee, time.Hour, "m2@alice.example", "", "")
	caseA, caseB := first.Reference, other.Reference
	// A reply already attached to case A, with its own Message-ID.
	replied := email("email:3", alice, "还是没有信号", 2*time.Hour, "m3@alice.example", "m1@alice.example", "m1@alice.example")
	open := historyOf(alice, rec{caseA, first}, rec{caseB, other}, rec{caseA, replied})
	resolved := historyOf(alice, rec{caseA, first}, rec{caseB, other})
	resolved.SetState(caseA, CaseResolved, t0.Add(48*time.Hour))
	apiReply := complaint("api:9", alice, answer, 5*24*time.Hour)
	apiReply.Extra = map[string]string{ExtraInReplyTo: "m1@alice.example"}
	cfg := DefaultDedupeConfig()

	later := 5 * 24 * time.Hour
	tests := []struct {
		name   string
		h      CustomerHistory
		c      Complaint
		kind   Kind
		cs     string
		match  string
		reason string // a substring of the reason
	}{
		{"In-Reply-To names the complaint", open, email("email:9", alice, answer, later, "m9@alice.example", "m1@alice.example", "m1@alice.example"),
			KindRepeat, caseA, first.Reference, "In-Reply-To header names the Message-ID of complaint " + first.Reference},
		{"References only", open, email("email:9", alice, answer, later, "m9@alice.example", "", "m0@elsewhere.example m1@alice.example"),
			KindRepeat, caseA, first.Reference, "References header names the Message-ID of complaint " + first.Reference},
		{"In-Reply-To unknown, References known", open, email("email:9", alice, answer, later, "", "ours-1@tousu.example", "m1@alice.example ours-1@tousu.example"),
			KindRepeat, caseA, first.Reference, "References header"},
		{"References: the nearest ancestor", open, email("email:9", alice, answer, later, "", "", "m1@alice.example m3@alice.example ours-2@tousu.example"),
			KindRepeat, caseA, replied.Reference, "References header names the Message-ID of complaint " + replied.Reference},
		{"a reply to an attached reply", open, email("email:9", alice, answer, later, "", "m3@alice.example", ""),
			KindRepeat, caseA, replied.Reference, "In-Reply-To header"},
		{"In-Reply-To wins over References naming another case", open, email("email:9", alice, answer, later, "", "m2@alice.example", "m1@alice.example m2@alice.example"),
			KindRepeat, caseB, other.Reference, "In-Reply-To header names the Message-ID of complaint " + other.Reference},
		{"reply to a resolved case", resolved, email("email:9", alice, answer, later, "", "m1@alice.example", "m1@alice.example"),
			KindRepeatFinished, caseA, first.Reference, "In-Reply-To header"},
		{"reply that is also near-identical", open, email("email:9", alice, signal, 10*time.Minute, "", "m1@alice.example", ""),
			KindDuplicate, caseA, first.Reference, "In-Reply-To header"},
		{"reply quoting the reference too", open, email("email:9", alice, "关于"+caseA+"："+answer, later, "", "m1@alice.example", ""),
			KindRepeat, caseA, first.Reference, "In-Reply-To header names the Message-ID of complaint " + first.Reference + "; the text quotes reference " + caseA},
		{"the header names unknown mail", open, email("email:9", alice, answer, later, "", "nobody@else.example", "x@y.example"),
			KindNew, "", "", "no earlier case"},
		{"another customer naming alice's mail", CustomerHistory{Key: bob}, email("email:9", bob, answer, later, "", "m1@alice.example", ""),
			KindNew, "", "", "no earlier case"},
		{"another customer's complaint against alice's history", open, email("email:9", bob, answer, later, "", "m1@alice.example", ""),
			KindNew, "", "", "no earlier case"},
		{"not e-mail: headers in Extra ignored", open, apiReply, KindNew, "", "", "no earlier case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Decide(cfg, tt.h, tt.c)
			if out.Kind != tt.kind || out.Case != tt.cs || out.Match != tt.match {
				t.Errorf("Decide = %s %q match %q (%s), want %s %q match %q", out.Kind, out.Case, out.Match, out.Reason, tt.kind, tt.cs, tt.match)
			}
			if !strings.Contains(out.Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", out.Reason, tt.reason)
			}
			if again := Decide(cfg, tt.h, tt.c); again.Kind != out.Kind || again.Case != out.Case || again.Reason != out.Reason {
				t.Errorf("not deterministic: %+v then %+v", out, again)
			}
		})
	}
}

// TestRecordMessageID: the history keeps the Message-ID of e-mail
// complaints only, and old records without it still decode.
func TestRecordMessageID(t *testing.T) {
	const key = "email:alice@example.com"
	mail := email("email:1", key, "断网", 0, "m1@alice.example", "", "")
	api := complaint("api:1", key, "断网", 0)
	api.Extra = map[string]string{ingest.ExtraMessageID: "not-a-mail@example"}
	h := historyOf(key, rec{"TSA", mail}, rec{"TSB", api})
	if got := h.Case("TSA").Complaints[0].MessageID; got != "m1@alice.example" {
		t.Errorf("e-mail complaint recorded with Message-ID %q", got)
	}
	if got := h.Case("TSB").Complaints[0].MessageID; got != "" {
		t.Errorf("API complaint recorded with Message-ID %q", got)
	}

	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back CustomerHistory
	if err := json.Unmarshal(b, &back); err != nil || back.Case("TSA").Complaints[0].MessageID != "m1@alice.example" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if strings.Count(string(b), `"message_id"`) != 1 {
		t.Errorf("an empty message_id is written: %s", b)
	}

	old := `{"key":"email:alice@example.com","cases":[{"id":"TSA","state":"open","references":["TSREF"],
		"complaints":[{"id":"email:1","reference":"TSREF","received_at":"2026-03-02T09:00:00Z","sketch":""}],
		"last_activity":"2026-03-02T09:00:00Z"}]}`
	var oldH CustomerHistory
	if err := json.Unmarshal([]byte(old), &oldH); err != nil {
		t.Fatalf("a record written before message_id existed: %v", err)
	}
	if cs := oldH.Case("TSA"); cs == nil || cs.Complaints[0].MessageID != "" || cs.Complaints[0].Reference != "TSREF" {
		t.Errorf("old record decoded as %+v", oldH)
	}
	// A reply to old records simply finds no Message-ID.
	reply := email("email:2", key, "好的", time.Hour, "", "m1@alice.example", "")
	if out := Decide(DefaultDedupeConfig(), oldH, reply); out.Kind != KindNew {
		t.Errorf("reply against an old record: %s (%s)", out.Kind, out.Reason)
	}
}

// FuzzDecideReplies: whatever the headers name, Decide neither panics nor
// changes its mind, and a reply naming a recorded Message-ID attaches to
// that Message-ID's case.
func FuzzDecideReplies(f *testing.F) {
	f.Add("好的，我家地址是幸福路8号", "m1@alice.example", "m0@x m1@alice.example")
	f.Add("", "", "")
	f.Add("手机信号差了三天", "  m2@alice.example\tm1@alice.example ", "\xff")
	f.Add("x", strings.Repeat("m1@alice.example ", 100), strings.Repeat("a@b ", 500))
	const key = "email:alice@example.com"
	first := email("email:1", key, "手机信号差了三天，打电话总是断线", 0, "m1@alice.example", "", "")
	other := email("email:2", key, "本月账单多收了30元流量费", time.Hour, "m2@alice.example", "", "")
	h := historyOf(key, rec{first.Reference, first}, rec{other.Reference, other})
	h.SetState(other.Reference, CaseResolved, t0.Add(2*time.Hour))
	cfg := DefaultDedupeConfig()
	f.Fuzz(func(t *testing.T, text, inReplyTo, references string) {
		c := email("email:9", key, CleanText(text), 24*time.Hour, "m9@alice.example", inReplyTo, references)
		out := Decide(cfg, h, c)
		if again := Decide(cfg, h, c); again.Kind != out.Kind || again.Case != out.Case || again.Reason != out.Reason {
			t.Fatalf("not deterministic: %+v then %+v", out, again)
		}
		if out.Reason == "" || (out.Kind == KindNew) != (out.Case == "") {
			t.Fatalf("outcome %+v", out)
		}
		names := func(id string) bool {
			return slices.Contains(strings.Fields(inReplyTo), id) || slices.Contains(strings.Fields(references), id)
		}
		switch {
		case names("m1@alice.example"):
			// The open case wins over the resolved one.
			if out.Case != first.Reference || out.Kind == KindNew || out.Kind == KindRepeatFinished {
				t.Fatalf("reply naming the open case's mail: %s %s (%s)", out.Kind, out.Case, out.Reason)
			}
		case names("m2@alice.example"):
			if out.Kind == KindNew {
				t.Fatalf("reply naming the resolved case's mail: new (%s)", out.Reason)
			}
		}
	})
}

// TestReplyKeysMatchTheEmailChannel: Decide reads the keys the e-mail
// channel writes.
func TestReplyKeysMatchTheEmailChannel(t *testing.T) {
	if ExtraInReplyTo != imap.ExtraInReplyTo || ExtraReferences != imap.ExtraReferences || ingest.ExtraMessageID != imap.ExtraMessageID {
		t.Errorf("normalize reads %q, %q; the e-mail channel writes %q, %q", ExtraInReplyTo, ExtraReferences, imap.ExtraInReplyTo, imap.ExtraReferences)
	}
}
