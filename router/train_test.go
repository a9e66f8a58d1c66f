package router

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// hotlineOrder is a hotline work order with this text received at.
func hotlineOrder(text string, at time.Time) normalize.Complaint {
	id := "hotline:GD" + at.Format("20060102150405")
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelHotline,
		ReceivedAt: at, Customer: normalize.Customer{Phone: "+8613912345678", Key: "phone:+8613912345678"}, Description: text}
}

// loadTelecom loads the shipped telecom pack.
func loadTelecom(tb testing.TB) *Pack {
	tb.Helper()
	p, err := LoadPack("../configs/policies/telecom.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// trainTelecom trains a model for the telecom pack on n generated work
// orders.
func trainTelecom(tb testing.TB, n int, cfg TrainConfig) *Model {
	tb.Helper()
	if cfg.Features.HashBits == 0 {
		cfg.Features.HashBits = 16 // enough for these texts, and quicker
	}
	m, err := Train(loadTelecom(tb), generateWorkOrders(tb, n, 1), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestTrainIsDeterministic(t *testing.T) {
	var saved [][]byte
	for i := range 2 {
		dir := t.TempDir()
		if err := trainTelecom(t, 1200, TrainConfig{}).Save(dir); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{manifestFile, weightsFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 && !bytes.Equal(b, saved[len(saved)-2]) {
				t.Errorf("%s differs between two trainings on the same rows", f)
			}
			saved = append(saved, b)
		}
	}
	other := trainTelecom(t, 1200, TrainConfig{Kind: KindLogistic, Seed: 2})
	if other.Manifest.WeightsSHA256 == trainTelecom(t, 1200, TrainConfig{Kind: KindLogistic}).Manifest.WeightsSHA256 {
		t.Error("another seed gave the same weights: the seed is not used")
	}
}

func TestSavedModelDecidesAsTrained(t *testing.T) {
	m := trainTelecom(t, 1200, TrainConfig{})
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range generateWorkOrders(t, 80, 5) {
		if a, b := m.Predict(r.Text), back.Predict(r.Text); a.Category != b.Category || a.Confidence != b.Confidence {
			t.Fatalf("%s: trained %+v, loaded %+v", r.Text, a, b)
		}
	}
	// a changed weights file is refused
	w := filepath.Join(dir, weightsFile)
	data, _ := os.ReadFile(w)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(w, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModel(dir); err == nil || !strings.Contains(err.Error(), "weights_sha256") {
		t.Errorf("tampered weights: %v", err)
	}
}

// ece is the expected calibration error of decisions: the count-weighted
// mean gap between confidence and accuracy over ten bins.
func ece(bins []ReliabilityBin) float64 {
	var gap, n float64
	for _, b := range bins {
		gap += float64(b.Count) * math.Abs(b.MeanConfidence-b.Accuracy)
		n += float64(b.Count)
	}
	return gap / n
}

func TestConfidenceIsCalibratedOnHeldOut(t *testing.T) {
	m := trainTelecom(t, 3000, TrainConfig{})
	held := generateWorkOrders(t, 1600, 99) // another seed: texts the model never saw
	var conf, raw []float64
	var right []bool
	bare := *m // the same weights without temperature and calibration curve
	bare.Manifest.Temperature, bare.Manifest.Calibration = 1, nil
	for _, r := range held {
		p := m.Predict(r.Text)
		conf = append(conf, p.Confidence)
		raw = append(raw, bare.Predict(r.Text).Confidence)
		right = append(right, p.Category == r.Category)
	}
	bins := reliability(conf, right, 10)
	for _, b := range bins {
		t.Logf("%.1f–%.1f: %4d decisions, confidence %.3f, accuracy %.3f", b.Lo, b.Hi, b.Count, b.MeanConfidence, b.Accuracy)
		if b.Count >= 40 && math.Abs(b.MeanConfidence-b.Accuracy) > 0.1 {
			t.Errorf("bin %.1f–%.1f: confidence %.3f, accuracy %.3f", b.Lo, b.Hi, b.MeanConfidence, b.Accuracy)
		}
	}
	calibrated, uncalibrated := ece(bins), ece(reliability(raw, right, 10))
	t.Logf("expected calibration error %.4f, without calibration %.4f", calibrated, uncalibrated)
	if calibrated > 0.03 || calibrated >= uncalibrated {
		t.Errorf("expected calibration error %.4f (without calibration %.4f)", calibrated, uncalibrated)
	}
	// the abstain threshold keeps its promise on held-out texts too
	kept, ok := 0, 0
	for i, c := range conf {
		if c >= m.Manifest.Abstain.Threshold {
			kept++
			if right[i] {
				ok++
			}
		}
	}
	if acc := float64(ok) / float64(kept); acc < m.Manifest.Abstain.Target-0.02 || kept == len(conf) {
		t.Errorf("above the threshold %.3f: %d of %d kept, accuracy %.3f", m.Manifest.Abstain.Threshold, kept, len(conf), acc)
	}
}

func TestAbstainAt(t *testing.T) {
	tests := []struct {
		name      string
		conf      []float64
		right     []bool
		target    float64
		threshold float64
		coverage  float64
	}{
		{"all right", []float64{0.9, 0.8, 0.7}, []bool{true, true, true}, 0.95, 0.7, 1},
		{"the unsure one wrong", []float64{0.9, 0.8, 0.6, 0.5}, []bool{true, true, true, false}, 0.95, 0.6, 0.75},
		{"ties are not split", []float64{0.9, 0.8, 0.8}, []bool{true, true, false}, 0.95, 0.9, 1.0 / 3},
		{"never good enough", []float64{0.9, 0.8}, []bool{false, true}, 0.95, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := abstainAt(tc.conf, tc.right, tc.target)
			if a.Threshold != tc.threshold || math.Abs(a.Coverage-tc.coverage) > 1e-6 {
				t.Errorf("threshold %v coverage %v, want %v %v", a.Threshold, a.Coverage, tc.threshold, tc.coverage)
			}
		})
	}
}

func TestMismatchedModelIsRefused(t *testing.T) {
	m := trainTelecom(t, 400, TrainConfig{})
	tests := []struct {
		name   string
		change func(p *Pack)
		model  func(m *Model)
		want   []string
	}{
		{"another version", func(p *Pack) { p.Version = "2027.1" }, nil, []string{"trained for pack telecom@2026.1", "this is pack telecom@2027.1"}},
		{"another pack", func(p *Pack) { p.Name = "telecom-sh" }, nil, []string{"telecom@2026.1", "telecom-sh@2026.1"}},
		{"a category more", func(p *Pack) {
			p.Categories.List = append(p.Categories.List, Definition{Name: "携号转网问题", Definition: "携号转网受阻"})
		}, nil, []string{"the model lacks [携号转网问题]"}},
		{"a category renamed", func(*Pack) {}, func(m *Model) {
			m.Manifest.Categories = slices.Clone(m.Manifest.Categories)
			m.Manifest.Categories[slices.Index(m.Manifest.Categories, "业务使用问题")] = "业务使用类"
		}, []string{"the model lacks [业务使用问题]", "has [业务使用类] the pack does not"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := loadTelecom(t)
			tc.change(p)
			model := *m
			if tc.model != nil {
				tc.model(&model)
			}
			e, err := NewEngine(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.WithModel(&model)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(tc.want, m.Manifest.ID, "refused") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	e, err := NewEngine(loadTelecom(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WithModel(m); err != nil {
		t.Errorf("the model's own pack: %v", err)
	}
}

func TestModelExplainsItsDecision(t *testing.T) {
	m := trainTelecom(t, 3000, TrainConfig{})
	e, err := NewEngine(loadTelecom(t))
	if err != nil {
		t.Fatal(err)
	}
	if e, err = e.WithModel(m); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	category := func(c Case) Explanation {
		for _, x := range c.Explanation {
			if x.Field == "category" {
				return x
			}
		}
		t.Fatal("no category explanation")
		return Explanation{}
	}

	sure := e.Open(hotlineOrder("上个月话费无故多扣了50元，打了三次客服都说在处理，到现在没有答复，要求退费", at), at)
	x := category(sure)
	for _, want := range []string{"分类模型（", m.Manifest.ID, "置信度", "其次为“", "推动判定的字词：“"} {
		if !strings.Contains(x.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, x.Reason)
		}
	}
	if sure.Category != "费用问题" || x.By != "model" || x.Rule != m.Manifest.Kind || sure.CategoryUncertain || sure.CategorySuggestions != nil {
		t.Errorf("sure case: %s by %s/%s, uncertain %v %v", sure.Category, x.By, x.Rule, sure.CategoryUncertain, sure.CategorySuggestions)
	}

	unsure := e.Open(hotlineOrder("手机有问题，麻烦看下", at), at)
	x = category(unsure)
	if !unsure.CategoryUncertain || len(unsure.CategorySuggestions) != 2 || unsure.CategorySuggestions[0] != unsure.Category || !strings.Contains(x.Reason, "待人工确认分类") {
		t.Fatalf("unsure case: %s uncertain %v %v: %s", unsure.Category, unsure.CategoryUncertain, unsure.CategorySuggestions, x.Reason)
	}
	fixed, _, _, err := e.Apply(unsure, Action{V: ActionVersion, ID: "a-1", Case: unsure.ID, Customer: unsure.Customer.Key, Kind: ActionRecategorize, Category: unsure.CategorySuggestions[1], Actor: "zhang.wei", At: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.CategoryUncertain || fixed.CategorySuggestions != nil || fixed.Category != unsure.CategorySuggestions[1] {
		t.Errorf("after recategorize: %s uncertain %v %v", fixed.Category, fixed.CategoryUncertain, fixed.CategorySuggestions)
	}

	// an agent's correction decides texts alike at once
	text := "宽带账单里多了一笔调测费68元"
	c := Correction{Complaint: "c-1", Case: "TS-1", Text: text, Category: "服务问题", Agent: "li.na", At: at}
	learnt, err := e.WithCorrections([]Correction{c})
	if err != nil {
		t.Fatal(err)
	}
	got := learnt.Open(hotlineOrder(text+"。", at), at)
	if x := category(got); got.Category != "服务问题" || x.Rule != "agent_corrections" {
		t.Errorf("after a correction: %s by %s: %s", got.Category, x.Rule, x.Reason)
	}
	if learnt.Model() != m {
		t.Error("corrections dropped the model")
	}
}

func TestPacksLoadTheConfiguredModel(t *testing.T) {
	m := trainTelecom(t, 400, TrainConfig{})
	dir := t.TempDir()
	if err := m.Save(filepath.Join(dir, "models", "telecom")); err != nil {
		t.Fatal(err)
	}
	packDir := filepath.Join("..", "configs", "policies")
	abs, err := filepath.Abs(filepath.Join(packDir, "telecom.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	packs, err := LoadPacks(PacksConfig{Packs: []PackRef{{Path: abs, Model: "models/telecom"}}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := packs.Engines()[0].Model(); got == nil || got.Manifest.ID != m.Manifest.ID {
		t.Errorf("model not loaded: %v", got)
	}
	// the pack's own categories.model, relative to the pack file
	data, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(dir, "telecom.yaml")
	withModel := strings.Replace(string(data), "\ncategories:\n", "\ncategories:\n  model: models/telecom\n", 1)
	if err := os.WriteFile(pack, []byte(withModel), 0o644); err != nil {
		t.Fatal(err)
	}
	examples, err := os.ReadFile(filepath.Join(packDir, "examples", "telecom.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "examples", "telecom.csv"), examples, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := LoadEngine(pack)
	if err != nil || e.Model() == nil {
		t.Fatalf("categories.model: %v", err)
	}
	// a model for another version stops the start
	bumped := strings.Replace(withModel, "\nversion: \"2026.1\"", "\nversion: \"2026.2\"", 1)
	if bumped == withModel {
		t.Fatal("telecom.yaml has no version line to bump")
	}
	if err := os.WriteFile(pack, []byte(bumped), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEngine(pack); err == nil || !strings.Contains(err.Error(), "this is pack telecom@2026.2") {
		t.Errorf("mismatched model: %v", err)
	}
}

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{{0.001, "不足 1%"}, {0.012, "1%"}, {0.5, "50%"}, {0.99, "99%"}, {0.999, "99% 以上"}} {
		if got := percent(tc.f); got != tc.want {
			t.Errorf("percent(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
