package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// correctionsAt is when the test corrections were made.
var correctionsAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// corrected builds corrections of texts to category, one complaint each
// (ids prefix-0, prefix-1, …), a minute apart.
func corrected(prefix, category string, texts ...string) []Correction {
	var out []Correction
	for i, t := range texts {
		out = append(out, Correction{
			Complaint: prefix + "-" + strconv.Itoa(i), Case: "TS-" + prefix + "-" + strconv.Itoa(i),
			Text: t, Category: category, Agent: "1001", At: correctionsAt.Add(time.Duration(i) * time.Minute),
		})
	}
	return out
}

// withCorrections retrains e and fails the test on an error.
func withCorrections(tb testing.TB, e *Engine, cs []Correction) *Engine {
	tb.Helper()
	out, err := e.WithCorrections(cs)
	if err != nil {
		tb.Fatalf("WithCorrections: %v", err)
	}
	return out
}

// categoryOf is how the engine decides the category of text; safe to call
// from any goroutine.
func categoryOf(tb testing.TB, e *Engine, text string) Explanation {
	tb.Helper()
	v, err := e.Explain(Input{Text: text, Received: correctionsAt})
	if err != nil {
		tb.Error(err)
	}
	return categoryExplanation(v.Explanation)
}

// categoryExplanation is the explanation of the category decision.
func categoryExplanation(xs []Explanation) Explanation {
	for _, x := range xs {
		if x.Field == "category" {
			return x
		}
	}
	return Explanation{}
}

// predictions are the classifier's answers for texts.
func predictions(e *Engine, texts []string) []Prediction {
	var out []Prediction
	for _, t := range texts {
		out = append(out, e.classifier.Predict(ClassifierText("", t)))
	}
	return out
}

// Agents' corrections of the telecom pack where an operator files work
// orders its own way: the pack's examples put failed real-name checks
// (实名认证、人脸识别) under 业务使用问题 where this operator counts them
// as 业务办理问题 (实名登记 is part of opening and changing a number), and
// a stranger's number found under the customer's ID (一证通查) under
// 业务办理问题 where it files them as 信息安全问题 (someone used the ID).
var telecomCorrections = []struct {
	name        string
	category    string
	corrections []string
	probe       string // a new complaint like the corrected ones
}{
	{
		name:     "real-name check",
		category: "业务办理问题",
		corrections: []string{
			"实名认证总是失败，人脸识别通不过",
			"人脸识别认证过不了，实名补登记办不了",
			"实名认证一直提示失败，人脸比对不通过",
		},
		probe: "实名认证一直失败，人脸识别过不了",
	},
	{
		name:     "stranger's number under the ID",
		category: "信息安全问题",
		corrections: []string{
			"一证通查发现名下多了不认识的号码",
			"查询名下号码多出一张卡，不是我办的",
			"一证五号查到我名下有两个陌生号码",
		},
		// Without 名下: “名下多了两个号码” is 信息安全问题 by the pack's rule, which no correction changes.
		probe: "一证五号查询显示多了两个号码",
	},
}

func TestCorrectionsChangeTheModel(t *testing.T) {
	e := telecom(t)
	floor := e.pack.Categories.Classifier.withDefaults().MinConfidence
	for _, tt := range telecomCorrections {
		t.Run(tt.name, func(t *testing.T) {
			before := categoryOf(t, e, tt.probe)
			if before.Value == tt.category {
				t.Fatalf("the pack's examples already put %q under %s: pick a probe they get wrong", tt.probe, tt.category)
			}
			cs := corrected(tt.name, tt.category, tt.corrections...)
			retrained := withCorrections(t, e, cs)
			after := categoryOf(t, retrained, tt.probe)
			if after.Value != tt.category || after.By != "model" || after.Confidence < floor {
				t.Errorf("after %d corrections: %q is %s by %s (%.3f, %s), want %s by model with confidence >= %.2f",
					len(cs), tt.probe, after.Value, after.By, after.Confidence, after.Reason, tt.category, floor)
			}
			if again := categoryOf(t, e, tt.probe); !reflect.DeepEqual(again, before) {
				t.Errorf("the original engine changed: %+v, was %+v", again, before)
			}
			t.Logf("%q: %s (%.3f) -> %s (%.3f)", tt.probe, before.Value, before.Confidence, after.Value, after.Confidence)
		})
	}
}

func TestCorrectionsDeterministic(t *testing.T) {
	e := telecom(t)
	var cs []Correction
	var probes []string
	for _, tt := range telecomCorrections {
		cs = append(cs, corrected(tt.name, tt.category, tt.corrections...)...)
		probes = append(probes, tt.probe)
	}
	// Corrections across the taxonomy; complaint more-0 is corrected
	// twice, the second time an hour later.
	cs = append(cs, corrected("more", "费用问题", "流量超了以后自动给我订了加油包，扣了三十", "给别人充话费充到了空号上")...)
	again := corrected("more", "网络问题", "宽带拨号提示691错误，上不了网")[0]
	again.At = again.At.Add(time.Hour)
	cs = append(cs, again)
	for _, set := range e.pack.Categories.Examples {
		probes = append(probes, set.Texts[0], set.Texts[len(set.Texts)-1])
	}
	want := predictions(withCorrections(t, e, cs), probes)
	wantReport := withCorrections(t, e, cs).ModelReport()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		shuffled := slices.Clone(cs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		r := withCorrections(t, e, shuffled)
		if got := predictions(r, probes); !slices.Equal(got, want) {
			t.Errorf("shuffle %d: predictions differ:\n got  %+v\n want %+v", i, got, want)
		}
		if got := r.ModelReport(); !reflect.DeepEqual(got, wantReport) {
			t.Errorf("shuffle %d: report %+v, want %+v", i, got, wantReport)
		}
	}
}

func TestCorrectionsRejected(t *testing.T) {
	e := telecom(t)
	good := corrected("ok", "网络问题", "家里信号很差")[0]
	with := func(f func(c *Correction)) Correction {
		c := good
		f(&c)
		return c
	}
	many := make([]Correction, 25)
	for i := range many {
		many[i] = with(func(c *Correction) { c.Category = "天气" })
	}
	p := *e.Pack()
	p.Categories.Examples = nil
	noModel, err := NewEngine(&p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    *Engine
		cs   []Correction
		want []string // every one must occur in the error
	}{
		{"unknown category", e, []Correction{good, with(func(c *Correction) { c.Complaint, c.Category = "c9", "天气" })},
			[]string{"1 correction", "corrections[1] (complaint c9)", `no category "天气"`}},
		{"text without letters", e, []Correction{with(func(c *Correction) { c.Text = "？！ …" })}, []string{"no letters or digits"}},
		{"neither complaint nor case", e, []Correction{with(func(c *Correction) { c.Complaint, c.Case = "", " " })}, []string{"neither a complaint nor a case"}},
		{"every bad one listed", e, []Correction{
			with(func(c *Correction) { c.Complaint, c.Category = "a", "天气" }), good,
			with(func(c *Correction) { c.Complaint, c.Category = "", "服务" }),
		}, []string{"2 corrections", `corrections[0] (complaint a): pack telecom@2026.1 has no category "天气"`, `corrections[2] (case TS-ok-0)`, `"服务"`}},
		{"a long list is cut short", e, many, []string{"25 corrections", "corrections[19]", "… and 5 more"}},
		{"pack without a classifier", noModel, []Correction{good}, []string{"no classifier"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.e.WithCorrections(tt.cs)
			if err == nil || got != nil {
				t.Fatalf("WithCorrections = %v, %v; want an error", got, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "corrections[20]") {
				t.Errorf("error lists more than %d corrections: %v", maxErrorsListed, err)
			}
		})
	}
	if err := e.CheckCorrection(good); err != nil {
		t.Errorf("CheckCorrection(good) = %v", err)
	}
	if _, err := noModel.WithCorrections(nil); err != nil {
		t.Errorf("no corrections for a pack without a classifier: %v", err)
	}
}

func TestLatestCorrectionWins(t *testing.T) {
	e := telecom(t)
	const text = "宽带账号被锁了登录不上"
	probes := []string{"宽带账号又被锁了，登录不上去", text}
	security := Correction{Complaint: "c1", Case: "TS1", Text: text, Category: "信息安全问题", At: correctionsAt}
	usage := security
	usage.Category, usage.At = "业务使用问题", correctionsAt.Add(time.Hour)
	sameTime := usage
	sameTime.At = security.At
	byCase := func(c Correction) Correction { c.Complaint = ""; return c }
	other := usage
	other.Complaint, other.Case = "c2", "TS2"

	wantSecurity := predictions(withCorrections(t, e, []Correction{security}), probes)
	wantUsage := predictions(withCorrections(t, e, []Correction{usage}), probes)
	if slices.Equal(wantSecurity, wantUsage) {
		t.Fatal("the two corrections train the same model: the test cannot tell which won")
	}
	tests := []struct {
		name       string
		cs         []Correction
		want       []Prediction
		superseded int
	}{
		{"later wins", []Correction{security, usage}, wantUsage, 1},
		{"later wins, given first", []Correction{usage, security}, wantUsage, 1},
		{"same time: the last given wins", []Correction{security, sameTime}, wantUsage, 1},
		{"same time, other order", []Correction{sameTime, security}, wantSecurity, 1},
		{"by case when no complaint is named", []Correction{byCase(usage), byCase(security)}, wantUsage, 1},
		{"the same text and category from two complaints counts once", []Correction{usage, other}, wantUsage, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := withCorrections(t, e, tt.cs)
			if got := predictions(r, probes); !slices.Equal(got, tt.want) {
				t.Errorf("predictions %+v, want %+v", got, tt.want)
			}
			if rep := r.ModelReport(); rep.Corrections != len(tt.cs)-tt.superseded || rep.Superseded != tt.superseded {
				t.Errorf("report: %d corrections, %d superseded; want %d, %d", rep.Corrections, rep.Superseded, len(tt.cs)-tt.superseded, tt.superseded)
			}
		})
	}
}

func TestNoCorrectionsDecideAsTheOriginal(t *testing.T) {
	e := telecom(t)
	retrained := withCorrections(t, e, corrected("x", "业务使用问题", telecomCorrections[0].corrections...))
	var texts []string
	for _, tt := range telecomCorrections {
		texts = append(texts, tt.probe)
	}
	for _, set := range e.pack.Categories.Examples {
		texts = append(texts, set.Texts[1])
	}
	tests := []struct {
		name string
		from *Engine
		cs   []Correction
	}{
		{"nil", e, nil},
		{"empty", e, []Correction{}},
		{"corrections dropped again", retrained, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withCorrections(t, tt.from, tt.cs)
			if got == e {
				t.Error("WithCorrections returned the engine it was called on, not a new one")
			}
			for _, text := range texts {
				c := normalize.Complaint{ID: "api:1", Reference: "TS1", Channel: "api", Description: text, ReceivedAt: correctionsAt,
					Customer: normalize.Customer{Phone: "+8613800138000"}}
				if a, b := got.Open(c, correctionsAt), e.Open(c, correctionsAt); !reflect.DeepEqual(a, b) {
					t.Errorf("%q: case differs from the original's:\n got  %+v\n want %+v", text, a, b)
				}
			}
			if got, want := got.ModelReport(), e.ModelReport(); !reflect.DeepEqual(got, want) {
				t.Errorf("report %+v, want the original's %+v", got, want)
			}
		})
	}
}

// TestCorrectionsConcurrent retrains while both engines decide; run with
// -race.
func TestCorrectionsConcurrent(t *testing.T) {
	e := telecom(t)
	tt := telecomCorrections[0]
	before := categoryOf(t, e, tt.probe)
	cs := corrected("c", tt.category, tt.corrections...)
	var wg sync.WaitGroup
	results := make([]Explanation, 8)
	for i := range results {
		wg.Go(func() {
			if i%2 == 0 {
				results[i] = categoryOf(t, e, tt.probe)
				return
			}
			r, err := e.WithCorrections(cs)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = categoryOf(t, r, tt.probe)
		})
	}
	wg.Wait()
	for i, x := range results {
		want := tt.category
		if i%2 == 0 {
			want = before.Value
		}
		if x.Value != want {
			t.Errorf("goroutine %d: %s, want %s", i, x.Value, want)
		}
	}
}

// TestModelReport checks the report against what `tousu policy test`
// prints for the pack's examples.
func TestModelReport(t *testing.T) {
	e := telecom(t)
	var out bytes.Buffer
	if _, _, err := TestPack("../configs/policies/telecom.yaml", &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`held-out accuracy (\d\.\d+) \((\d+)/(\d+), every (\d+)-th`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no held-out accuracy in:\n%s", out.String())
	}
	orig := e.ModelReport()
	h := orig.HeldOut
	if got := []string{fmt.Sprintf("%.3f", h.Accuracy), strconv.Itoa(h.Correct), strconv.Itoa(h.Total), strconv.Itoa(h.Every)}; !slices.Equal(got, m[1:]) {
		t.Errorf("report's held-out %v, policy test printed %v", got, m[1:])
	}
	if orig.Pack != "telecom@2026.1" || orig.Examples != countExamples(e.Pack()) || orig.Corrections != 0 || orig.Superseded != 0 {
		t.Errorf("original report %+v", orig)
	}

	var cs []Correction
	for _, tt := range telecomCorrections {
		cs = append(cs, corrected(tt.name, tt.category, tt.corrections...)...)
	}
	cs = append(cs, cs[0]) // the same correction again
	r := withCorrections(t, e, cs).ModelReport()
	if r.Examples != orig.Examples || r.Corrections != len(cs)-1 || r.Superseded != 1 {
		t.Errorf("retrained report %+v: want %d examples, %d corrections, 1 superseded", r, orig.Examples, len(cs)-1)
	}
	if h := r.HeldOut; h.Every != holdOutEvery || h.Total <= orig.HeldOut.Total || h.Total > orig.HeldOut.Total+len(cs) ||
		h.Accuracy != float64(h.Correct)/float64(h.Total) {
		t.Errorf("retrained held-out %+v: want corrections held out besides the %d examples", h, orig.HeldOut.Total)
	}
	t.Logf("original %+v\nretrained %+v", orig, r)
}

func TestPacksWithCorrections(t *testing.T) {
	cfg := PacksConfig{Packs: []PackRef{
		{Path: "builtin:telecom"},
		{Path: "testdata/mini.yaml", Sources: []string{"estate-crm"}, Channels: []string{"email"}},
	}}
	p, err := LoadPacks(cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	tt := telecomCorrections[1]
	byPack := map[string][]Correction{"telecom@2026.1": corrected("t", tt.category, tt.corrections...)}
	np, err := p.WithCorrections(byPack)
	if err != nil {
		t.Fatal(err)
	}
	complaint := func(channel, source, text string) normalize.Complaint {
		return normalize.Complaint{ID: "x:1", Reference: "TS1", Channel: ingest.Channel(channel), Source: source, Description: text, ReceivedAt: correctionsAt,
			Customer: normalize.Customer{Phone: "+8613800138000"}}
	}
	routing := []struct {
		channel, source, pack string
		retrained             bool
	}{
		{"api", "", "telecom@2026.1", true},
		{"webhook", "estate-crm", "mini@1", false},
		{"email", "", "mini@1", false},
		{"webhook", "other", "telecom@2026.1", true},
	}
	for _, r := range routing {
		c := complaint(r.channel, r.source, tt.probe)
		oldCase, newCase := p.Open(c, correctionsAt), np.Open(c, correctionsAt)
		if newCase.Pack != r.pack || oldCase.Pack != r.pack {
			t.Errorf("%s/%s: pack %s (was %s), want %s", r.channel, r.source, newCase.Pack, oldCase.Pack, r.pack)
		}
		if changed := newCase.Category != oldCase.Category; changed != r.retrained {
			t.Errorf("%s/%s: category %s, was %s; want a change: %v", r.channel, r.source, newCase.Category, oldCase.Category, r.retrained)
		}
		if r.retrained && newCase.Category != tt.category {
			t.Errorf("%s/%s: category %s, want %s", r.channel, r.source, newCase.Category, tt.category)
		}
	}
	if len(np.Engines()) != 2 || np.ByName("mini@1") == nil || np.ByName("telecom@2026.1") == p.ByName("telecom@2026.1") {
		t.Errorf("engines of the new packs: %v", np.Engines())
	}
	if got := np.ByName("telecom@2026.1").ModelReport().Corrections; got != len(tt.corrections) {
		t.Errorf("telecom learnt %d corrections, want %d", got, len(tt.corrections))
	}

	bad := []struct {
		name   string
		byPack map[string][]Correction
		want   string
	}{
		{"unknown pack", map[string][]Correction{"telecom@2025.9": byPack["telecom@2026.1"]}, "corrections for pack telecom@2025.9: no such pack is loaded (loaded: telecom@2026.1, mini@1)"},
		{"bad correction", map[string][]Correction{"mini@1": corrected("m", "天气", "信号很差")}, `pack mini@1 has no category "天气"`},
	}
	for _, b := range bad {
		if got, err := p.WithCorrections(b.byPack); err == nil || got != nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v, %v; want an error containing %q", b.name, got, err, b.want)
		}
	}
}

// TestCorrectionFromCase checks that a correction records the text the
// engine classified when it opened the case.
func TestCorrectionFromCase(t *testing.T) {
	e := telecom(t)
	tests := []struct {
		name, subject, description string
	}{
		{"description only", "", "家里手机信号特别差，打电话断断续续"},
		{"subject and description", "ＡＰＰ投诉", "营业厅ＡＰＰ登录不上，验证码一直不来"},
		{"spaces and line breaks", "  话费  ", "这个月账单\r\n\r\n  多了一百多  "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.Open(normalize.Complaint{ID: "api:7", Reference: "TS7", Channel: "api", Subject: tt.subject, Description: tt.description,
				ReceivedAt: correctionsAt, Customer: normalize.Customer{Phone: "+8613800138000"}}, correctionsAt)
			x := categoryExplanation(c.Explanation)
			if x.By != "model" {
				t.Fatalf("category decided by %s (%s): pick a text the model decides", x.By, x.Reason)
			}
			a := Action{V: ActionVersion, ID: "fix", Case: c.ID, Kind: ActionRecategorize, Category: "服务问题", Actor: "1001", At: correctionsAt.Add(time.Hour)}
			got := CorrectionFrom(c, a)
			want := Correction{Complaint: "api:7", Case: "TS7", Text: got.Text, Category: "服务问题", Agent: "1001", At: a.At}
			if got != want {
				t.Errorf("CorrectionFrom = %+v, want %+v", got, want)
			}
			p := e.classifier.Predict(got.Text)
			if p.Category != c.Category || round3(p.Confidence) != c.Decision.Confidence {
				t.Errorf("the correction's text %q classifies as %s (%.3f); the case was %s (%.3f)", got.Text, p.Category, p.Confidence, c.Category, c.Decision.Confidence)
			}
			if strings.ContainsAny(got.Text, "<>ＡＰ") {
				t.Errorf("text %q is not cleaned and lower-cased", got.Text)
			}
		})
	}
}

func TestCorrectionJSON(t *testing.T) {
	data, err := json.Marshal(corrected("c", "费用问题", "话费多扣了")[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"agent", "at", "case", "category", "complaint", "text"}; !slices.Equal(keys, want) {
		t.Errorf("JSON keys %v, want %v", keys, want)
	}
}

// BenchmarkWithCorrections retrains the telecom pack with 1000
// corrections: pairs of the pack's example texts, each under a category
// chosen at random.
func BenchmarkWithCorrections(b *testing.B) {
	e := telecom(b)
	var texts, cats []string
	for _, set := range e.pack.Categories.Examples {
		texts = append(texts, set.Texts...)
		cats = append(cats, set.Category)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	cs := make([]Correction, 1000)
	for i := range cs {
		cs[i] = Correction{
			Complaint: fmt.Sprintf("api:%d", i), Case: fmt.Sprintf("TS%d", i),
			Text:     texts[rng.IntN(len(texts))] + "，" + texts[rng.IntN(len(texts))],
			Category: cats[rng.IntN(len(cats))], Agent: "1001", At: correctionsAt.Add(time.Duration(i) * time.Second),
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.WithCorrections(cs); err != nil {
			b.Fatal(err)
		}
	}
}
