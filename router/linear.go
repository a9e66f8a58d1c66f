package router

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// Model kinds: the two linear models `tousu policy train` compares by
// cross-validation.
const (
	// KindLogistic is multinomial logistic regression (L2-regularised,
	// trained by stochastic gradient descent in a seeded order) over
	// L2-normalised binary n-gram features.
	KindLogistic = "logistic"
	// KindNaiveBayes is multinomial naive Bayes with uniform priors over
	// binary n-gram features, the baseline.
	KindNaiveBayes = "naive_bayes"
)

// ModelFeatures are a trained model's features: the character n-grams of
// the text (as the pack classifier reads them) hashed into 2^HashBits
// buckets, so that memory is bounded whatever the vocabulary.
type ModelFeatures struct {
	NgramMin int `json:"ngram_min" yaml:"ngram_min"`
	NgramMax int `json:"ngram_max" yaml:"ngram_max"`
	HashBits int `json:"hash_bits" yaml:"hash_bits"`
}

// buckets is the number of hash buckets.
func (f ModelFeatures) buckets() int { return 1 << f.HashBits }

// hashed returns the distinct buckets of text's n-grams, sorted, and
// calls gram (when not nil) with each n-gram that claimed a bucket first.
func (f ModelFeatures) hashed(text string, gram func(bucket uint32, g []byte)) []uint32 {
	mask := uint32(f.buckets() - 1)
	var out []uint32
	var seen map[uint32]bool
	if gram != nil {
		seen = map[uint32]bool{}
	}
	eachGram(text, f.NgramMin, f.NgramMax, func(g []byte) {
		b := hashGram(g) & mask
		out = append(out, b)
		if gram != nil && !seen[b] {
			seen[b] = true
			gram(b, g)
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// hashGram is FNV-1a (32 bit) of the n-gram's UTF-8 bytes.
func hashGram(g []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range g {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// linear is a linear model over hashed features: the score of class k is
// bias[k] + value·Σ w[b·K+k] over the text's buckets b, where value is
// 1/√n for n buckets (logistic) or 1 (naive Bayes). It is immutable once
// trained.
type linear struct {
	kind    string
	classes int
	w       []float32 // bucket-major: w[b*classes+k]
	bias    []float32
}

// value is the feature value of each of n buckets.
func (m *linear) value(n int) float64 {
	if m.kind == KindLogistic && n > 0 {
		return 1 / math.Sqrt(float64(n))
	}
	return 1
}

// scores returns the raw scores of the classes for the buckets, and how
// many buckets the model knows (has a weight for).
func (m *linear) scores(buckets []uint32, out []float64) ([]float64, int) {
	out = out[:0]
	for _, b := range m.bias {
		out = append(out, float64(b))
	}
	v := m.value(len(buckets))
	known := 0
	for _, b := range buckets {
		row := m.w[int(b)*m.classes : int(b+1)*m.classes]
		nonzero := false
		for k, x := range row {
			out[k] += v * float64(x)
			nonzero = nonzero || x != 0
		}
		if nonzero {
			known++
		}
	}
	return out, known
}

// sample is one training text: its class, buckets and weight.
type sample struct {
	class   int
	buckets []uint32
	weight  float64
}

// trainParams are the settings of one training run.
type trainParams struct {
	classes, buckets int
	epochs           int
	rate, l2, alpha  float64
	seed             uint64
}

// trainLinear trains a model of kind on the samples; deterministic for
// the same samples in the same order and the same parameters.
func trainLinear(kind string, samples []*sample, p trainParams) *linear {
	if kind == KindNaiveBayes {
		return trainNaiveBayes(samples, p)
	}
	return trainLogistic(samples, p)
}

// trainNaiveBayes counts the weighted texts of each class that hold each
// bucket; a bucket no text holds gets no weight, so that it says nothing.
func trainNaiveBayes(samples []*sample, p trainParams) *linear {
	k := p.classes
	counts := make([]float64, p.buckets*k)
	totals := make([]float64, k)
	for _, s := range samples {
		for _, b := range s.buckets {
			counts[int(b)*k+s.class] += s.weight
			totals[s.class] += s.weight
		}
	}
	used := 0
	for b := range p.buckets {
		if slices.ContainsFunc(counts[b*k:(b+1)*k], func(c float64) bool { return c > 0 }) {
			used++
		}
	}
	m := &linear{kind: KindNaiveBayes, classes: k, w: make([]float32, p.buckets*k), bias: make([]float32, k)}
	for b := range p.buckets {
		row := counts[b*k : (b+1)*k]
		if !slices.ContainsFunc(row, func(c float64) bool { return c > 0 }) {
			continue
		}
		for c := range k {
			m.w[b*k+c] = float32(math.Log(row[c]+p.alpha) - math.Log(totals[c]+p.alpha*float64(used)))
		}
	}
	return m
}

// trainLogistic minimises the weighted cross-entropy plus L2 by
// stochastic gradient descent: each epoch visits the samples in an order
// drawn from a generator seeded with p.seed, the step shrinks as 1/(1+epoch),
// and the L2 decay applies to the weights a sample touches.
func trainLogistic(samples []*sample, p trainParams) *linear {
	k := p.classes
	w := make([]float64, p.buckets*k)
	bias := make([]float64, k)
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(p.seed, 0x746f757375)) // "tousu"
	scores := make([]float64, k)
	grad := make([]float64, k)
	for epoch := range p.epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		rate := p.rate / (1 + float64(epoch))
		for _, i := range order {
			s := samples[i]
			if len(s.buckets) == 0 {
				continue
			}
			v := 1 / math.Sqrt(float64(len(s.buckets)))
			copy(scores, bias)
			for _, b := range s.buckets {
				for c, x := range w[int(b)*k : int(b+1)*k] {
					scores[c] += v * x
				}
			}
			softmax(scores, 1)
			for c := range grad {
				grad[c] = scores[c] * s.weight
			}
			grad[s.class] -= s.weight
			for c := range bias {
				bias[c] -= rate * grad[c]
			}
			decay := 1 - rate*p.l2
			for _, b := range s.buckets {
				row := w[int(b)*k : int(b+1)*k]
				for c := range row {
					row[c] = row[c]*decay - rate*grad[c]*v
				}
			}
		}
	}
	m := &linear{kind: KindLogistic, classes: k, w: make([]float32, len(w)), bias: make([]float32, k)}
	for i, x := range w {
		m.w[i] = float32(x)
	}
	for i, x := range bias {
		m.bias[i] = float32(x)
	}
	return m
}

// softmax turns scores into probabilities in place, dividing them by the
// temperature t first.
func softmax(scores []float64, t float64) {
	top := slices.Max(scores)
	var sum float64
	for i, s := range scores {
		scores[i] = math.Exp((s - top) / t)
		sum += scores[i]
	}
	for i := range scores {
		scores[i] /= sum
	}
}

// ranked returns the indices of the two highest probabilities; second is
// -1 with a single class. Ties go to the lower index.
func ranked(ps []float64) (best, second int) {
	best, second = 0, -1
	for c := 1; c < len(ps); c++ {
		switch {
		case ps[c] > ps[best]:
			best, second = c, best
		case second < 0 || ps[c] > ps[second]:
			second = c
		}
	}
	return best, second
}

// fitTemperature returns the temperature T that minimises the negative
// log-likelihood of the true classes under softmax(scores/T): a golden-
// section search over log T in [−4, 6], deterministic.
func fitTemperature(scores [][]float64, classes []int) float64 {
	nll := func(logT float64) float64 {
		t := math.Exp(logT)
		var sum float64
		ps := make([]float64, 0, 16)
		for i, s := range scores {
			ps = append(ps[:0], s...)
			softmax(ps, t)
			sum -= math.Log(max(ps[classes[i]], 1e-300))
		}
		return sum
	}
	lo, hi := -4.0, 6.0
	phi := (math.Sqrt(5) - 1) / 2
	a, b := hi-phi*(hi-lo), lo+phi*(hi-lo)
	fa, fb := nll(a), nll(b)
	for range 60 {
		if fa <= fb {
			hi, b, fb = b, a, fa
			a = hi - phi*(hi-lo)
			fa = nll(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + phi*(hi-lo)
			fb = nll(b)
		}
	}
	return math.Exp((lo + hi) / 2)
}

// contribution is how much one n-gram of a text pushed the chosen class
// over the runner-up.
type contribution struct {
	gram string
	by   float64
}

// strongest returns up to n n-grams of two characters or more that pushed
// class best over second most, strongest first (ties by n-gram, for
// stable explanations); an n-gram inside one already named is skipped.
func (m *linear) strongest(f ModelFeatures, text string, best, second, n int) []string {
	if second < 0 {
		return nil
	}
	var cs []contribution
	buckets := f.hashed(text, func(b uint32, g []byte) {
		row := m.w[int(b)*m.classes : int(b+1)*m.classes]
		// single characters and numbers say little to a reader
		if d := float64(row[best] - row[second]); d > 0 && utf8.RuneCount(g) > 1 && bytes.IndexByte(g, '0') < 0 {
			cs = append(cs, contribution{gram: string(g), by: d})
		}
	})
	v := m.value(len(buckets))
	slices.SortFunc(cs, func(a, b contribution) int {
		return cmp.Or(cmp.Compare(b.by*v, a.by*v), cmp.Compare(a.gram, b.gram))
	})
	var out []string
	for _, c := range cs {
		// a shorter n-gram inside one already named adds nothing
		if slices.ContainsFunc(out, func(s string) bool { return strings.Contains(s, c.gram) || strings.Contains(c.gram, s) }) {
			continue
		}
		out = append(out, c.gram)
		if len(out) == n {
			break
		}
	}
	return out
}
