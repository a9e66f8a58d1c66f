package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// recall is what an engine learnt from the agents' corrections of one
// field (grade or validity): the corrected texts with their values. The
// pack has no labelled examples of grades or validity, so no statistical
// model of them can be trained honestly; instead a text is given the
// value agents gave the texts most like it, when they are alike enough.
// A recall is immutable and safe for concurrent use.
type recall struct {
	texts []recalled
	// floor is the pack's confidence floor (the classifier's
	// min_confidence): less alike texts say nothing.
	floor    float64
	min, max int
}

// recalled is one corrected text: its n-grams, value and reason.
type recalled struct {
	grams         map[string]bool
	value, reason string
}

// recallMinGram is the shortest n-gram recall compares: single characters
// (的, 了, 我) are shared by nearly any two complaints.
const recallMinGram = 2

// newRecall learns the corrections cs, all of one field.
func newRecall(cs []Correction, cfg ClassifierConfig) *recall {
	cfg = cfg.withDefaults()
	r := &recall{floor: cfg.MinConfidence, min: recallMinGram, max: max(recallMinGram, cfg.NgramMax)}
	for _, c := range cs {
		r.texts = append(r.texts, recalled{grams: gramSet(c.Text, r.min, r.max), value: c.Value, reason: c.Reason})
	}
	return r
}

// gramSet is the set of the n-grams of text.
func gramSet(text string, min, max int) map[string]bool {
	out := map[string]bool{}
	for _, f := range features(text, min, max) {
		out[f] = true
	}
	return out
}

// recollection is what recall says of a text.
type recollection struct {
	Value, Reason string
	// Confidence is the similarity of the most alike corrected text with
	// Value times the share Value has of the alike texts' similarity.
	Confidence float64
	// Alike counts the corrected texts with Value alike enough.
	Alike int
}

// recall returns the value agents gave the corrected texts alike (Jaccard
// similarity of their n-grams at least the floor) to text, and false when
// none is, or when the confidence is below the floor.
func (r *recall) recall(text string) (recollection, bool) {
	if r == nil {
		return recollection{}, false
	}
	grams := gramSet(text, r.min, r.max)
	if len(grams) == 0 {
		return recollection{}, false
	}
	sum, best := map[string]float64{}, map[string]float64{}
	reason, alike := map[string]string{}, map[string]int{}
	total := 0.0
	for _, t := range r.texts {
		sim := jaccard(grams, t.grams)
		if sim < r.floor {
			continue
		}
		total += sim
		sum[t.value] += sim
		alike[t.value]++
		if sim > best[t.value] || sim == best[t.value] && t.reason < reason[t.value] {
			best[t.value], reason[t.value] = sim, t.reason
		}
	}
	var out recollection
	for _, v := range slices.Sorted(maps.Keys(sum)) {
		if c := best[v] * sum[v] / total; c > out.Confidence {
			out = recollection{Value: v, Reason: reason[v], Confidence: c, Alike: alike[v]}
		}
	}
	return out, out.Value != "" && out.Confidence >= r.floor
}

// explain says why a recollection decided field in Chinese.
func (x recollection) explain(what string) string {
	return fmt.Sprintf("与 %d 条坐席更正为“%s”的投诉相似（把握 %.0f%%），按坐席的更正判定", x.Alike, what, x.Confidence*100)
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	both := 0
	for g := range a {
		if b[g] {
			both++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}

// recallInvalid is the Validity of a text agents judged invalid.
func recallInvalid(x recollection) Validity {
	reason := "与坐席判为无效的投诉相似"
	if x.Reason != "" {
		reason += "：" + x.Reason
	}
	return Validity{Valid: false, Reason: strings.TrimSpace(reason)}
}
