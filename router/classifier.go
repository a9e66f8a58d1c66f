package router

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tousu/tousu/normalize"
)

// Classifier is a multinomial naive Bayes classifier over character
// n-grams with additive smoothing and uniform class priors (how many
// examples a pack happens to hold per category says nothing about how
// often it occurs). Training is deterministic: classes and vocabulary are
// sorted, so the same examples always give the same model and the same
// scores. A Classifier is immutable and safe for concurrent use.
type Classifier struct {
	classes  []string
	min, max int
	vocab    map[string]int // n-gram -> feature index
	// logLik[c][f] is log P(f | class c).
	logLik [][]float64
	// trained records the examples and corrections of a classifier that
	// Engine.WithCorrections trained; nil for one trained on a pack's
	// examples alone.
	trained *training
}

// Prediction is a classifier's answer.
type Prediction struct {
	Category   string
	Confidence float64 // tempered posterior probability of Category
	RunnerUp   string
	// Features is how many of the text's n-grams the model knew.
	Features int
}

// TrainClassifier trains a classifier from labelled examples.
func TrainClassifier(examples []ExampleSet, cfg ClassifierConfig) *Classifier {
	cfg = cfg.withDefaults()
	counts := map[string]map[string]int{} // class -> n-gram -> count
	for _, set := range examples {
		if counts[set.Category] == nil {
			counts[set.Category] = map[string]int{}
		}
		for _, t := range set.Texts {
			for _, f := range unique(features(t, cfg.NgramMin, cfg.NgramMax)) {
				counts[set.Category][f]++
			}
		}
	}
	m := &Classifier{min: cfg.NgramMin, max: cfg.NgramMax, vocab: map[string]int{}}
	var vocab []string
	for class, fs := range counts {
		m.classes = append(m.classes, class)
		for f := range fs {
			if _, ok := m.vocab[f]; !ok {
				m.vocab[f] = 0
				vocab = append(vocab, f)
			}
		}
	}
	slices.Sort(m.classes)
	slices.Sort(vocab)
	for i, f := range vocab {
		m.vocab[f] = i
	}
	v := float64(len(vocab))
	for _, class := range m.classes {
		total := 0
		for _, f := range vocab {
			total += counts[class][f]
		}
		row := make([]float64, len(vocab))
		denom := math.Log(float64(total) + cfg.Alpha*v)
		for i, f := range vocab {
			row[i] = math.Log(float64(counts[class][f])+cfg.Alpha) - denom
		}
		m.logLik = append(m.logLik, row)
	}
	return m
}

// Predict classifies text. With no known n-gram, every class is equally
// likely and Confidence is 1/len(classes).
func (m *Classifier) Predict(text string) Prediction {
	if len(m.classes) == 0 {
		return Prediction{}
	}
	scores := make([]float64, len(m.classes))
	known := m.known(text)
	for _, i := range known {
		for c := range scores {
			scores[c] += m.logLik[c][i]
		}
	}
	best, second := 0, -1
	for c := 1; c < len(scores); c++ {
		switch {
		case scores[c] > scores[best]:
			best, second = c, best
		case second < 0 || scores[c] > scores[second]:
			second = c
		}
	}
	// Tempered posterior by log-sum-exp. Overlapping n-grams are far from
	// independent, which makes the raw naive Bayes posterior close to 1 for
	// almost any text; dividing the log scores by sqrt(known)/2 (at least 1)
	// gives confidences that separate right from wrong answers on held-out
	// examples.
	temp := max(1, math.Sqrt(float64(len(known)))/2)
	var sum float64
	for _, s := range scores {
		sum += math.Exp((s - scores[best]) / temp)
	}
	p := Prediction{Category: m.classes[best], Confidence: 1 / sum, Features: len(known)}
	if second >= 0 {
		p.RunnerUp = m.classes[second]
	}
	return p
}

// known are the vocabulary indices of the n-grams of text, each once, in
// the order of first occurrence (that of unique(features(text))), looked
// up without building a string per n-gram.
func (m *Classifier) known(text string) []int {
	var out []int
	seen := make([]uint64, (len(m.vocab)+63)/64) // vocabulary indices are 0 to len-1
	eachGram(text, m.min, m.max, func(g []byte) {
		if i, ok := m.vocab[string(g)]; ok && seen[i/64]&(1<<(i%64)) == 0 {
			seen[i/64] |= 1 << (i % 64)
			out = append(out, i)
		}
	})
	return out
}

// features returns the character n-grams of text: lower-cased, digits
// folded to 0, n-grams never spanning punctuation or spaces.
func features(text string, min, max int) []string {
	var out []string
	eachGram(text, min, max, func(g []byte) { out = append(out, string(g)) })
	return out
}

// eachGram calls fn with the UTF-8 bytes of each character n-gram of
// text, as features returns them, without building strings; g is valid
// only during the call.
func eachGram(text string, min, max int, fn func(g []byte)) {
	text = strings.ToLower(normalize.CleanText(text))
	var run []byte
	var starts []int // byte offset of each character of run
	flush := func() {
		starts = append(starts, len(run))
		chars := len(starts) - 1
		for n := min; n <= max; n++ {
			for i := 0; i+n <= chars; i++ {
				fn(run[starts[i]:starts[i+n]])
			}
		}
		run, starts = run[:0], starts[:0]
	}
	for _, r := range text {
		switch {
		case unicode.IsDigit(r):
			starts = append(starts, len(run))
			run = append(run, '0')
		case unicode.IsLetter(r):
			starts = append(starts, len(run))
			run = utf8.AppendRune(run, r)
		default:
			flush()
		}
	}
	flush()
}

// HoldOut measures the classifier on its own examples: every every-th
// example of each category (the 1st, every+1-th, …) is held out, the model
// is trained on the rest and asked to classify the held-out ones. It
// returns how many it got right out of how many; deterministic.
func HoldOut(examples []ExampleSet, cfg ClassifierConfig, every int) (correct, total int) {
	if every < 2 {
		every = 2
	}
	var train, test []ExampleSet
	for _, set := range examples {
		tr := ExampleSet{Category: set.Category}
		te := ExampleSet{Category: set.Category}
		for i, t := range set.Texts {
			if i%every == 0 {
				te.Texts = append(te.Texts, t)
			} else {
				tr.Texts = append(tr.Texts, t)
			}
		}
		train, test = append(train, tr), append(test, te)
	}
	m := TrainClassifier(train, cfg)
	for _, set := range test {
		for _, t := range set.Texts {
			total++
			if m.Predict(t).Category == set.Category {
				correct++
			}
		}
	}
	return correct, total
}

// unique keeps the first occurrence of each feature, in order: a text
// counts each n-gram once (binarized multinomial naive Bayes), which suits
// short texts where a repeated word says little more.
func unique(fs []string) []string {
	seen := make(map[string]bool, len(fs))
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
