package router

import (
	"slices"
	"testing"
)

func TestFeatures(t *testing.T) {
	tests := []struct {
		text     string
		min, max int
		want     []string
	}{
		{"扣费50元", 1, 2, []string{"扣", "费", "0", "0", "元", "扣费", "费0", "00", "0元"}},
		{"信号，差", 2, 2, []string{"信号"}}, // n-grams never span punctuation
		{"ＡＰＰ 闪退", 1, 1, []string{"a", "p", "p", "闪", "退"}},
		{"！！！", 1, 2, nil},
	}
	for _, tt := range tests {
		if got := features(tt.text, tt.min, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("features(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestClassifierDeterministic(t *testing.T) {
	p, err := LoadPack("../configs/policies/telecom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	examples := p.Categories.Examples
	reversed := slices.Clone(examples)
	slices.Reverse(reversed)
	a := TrainClassifier(examples, p.Categories.Classifier)
	b := TrainClassifier(reversed, p.Categories.Classifier)
	if !slices.Equal(a.classes, b.classes) || len(a.vocab) != len(b.vocab) {
		t.Fatal("training depends on the order of the example sets")
	}
	for i := range a.logLik {
		if !slices.Equal(a.logLik[i], b.logLik[i]) {
			t.Fatalf("class %s: different likelihoods", a.classes[i])
		}
	}
	for _, text := range []string{"话费多扣了", "信号差", "营业员态度不好", "", "没订过彩铃"} {
		if pa, pb := a.Predict(text), b.Predict(text); pa != pb {
			t.Errorf("%q: %+v vs %+v", text, pa, pb)
		}
	}
	if p := a.Predict("？？"); p.Features != 0 || p.Confidence > 1.0/float64(len(a.classes))+1e-9 {
		t.Errorf("text without n-grams: %+v", p)
	}
}

// TestClassifierHoldOut reports the classifier's accuracy on held-out
// parts of every shipped pack's own examples and asserts a floor.
func TestClassifierHoldOut(t *testing.T) {
	const floor = 0.7
	for _, path := range shippedPacks(t) {
		p, err := LoadPack(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Categories.Examples) == 0 {
			continue
		}
		var correct, total int
		for _, every := range []int{3, 4, 5} {
			c, n := HoldOut(p.Categories.Examples, p.Categories.Classifier, every)
			t.Logf("%s: every %d-th example held out: %d/%d = %.3f", p.Name, every, c, n, float64(c)/float64(n))
			correct, total = correct+c, total+n
		}
		acc := float64(correct) / float64(total)
		t.Logf("%s: held-out accuracy %.3f over %d predictions (%d categories, %d examples)", p.Name, acc, total, len(p.Categories.Examples), countExamples(p))
		if acc < floor {
			t.Errorf("%s: held-out accuracy %.3f below %.2f", p.Name, acc, floor)
		}
	}
}

func countExamples(p *Pack) int {
	n := 0
	for _, s := range p.Categories.Examples {
		n += len(s.Texts)
	}
	return n
}

func BenchmarkTrainTelecom(b *testing.B) {
	p, err := LoadPack("../configs/policies/telecom.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		TrainClassifier(p.Categories.Examples, p.Categories.Classifier)
	}
}
