package router

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// TrainConfig tunes `tousu policy train`. The zero value, provisioned,
// is what the README documents.
type TrainConfig struct {
	// Features are the n-gram lengths (default 1–3) and hash buckets
	// (default 2^18).
	Features ModelFeatures `yaml:"features"`
	// Folds is the number of stratified cross-validation folds (default 5).
	Folds int `yaml:"folds"`
	// Epochs, LearningRate and L2 tune logistic regression (default 8,
	// 0.5 and 1e-5).
	Epochs       int     `yaml:"epochs"`
	LearningRate float64 `yaml:"learning_rate"`
	L2           float64 `yaml:"l2"`
	// Alpha is naive Bayes' additive smoothing (default 0.5).
	Alpha float64 `yaml:"alpha"`
	// Target is the accuracy the confident share must reach: the abstain
	// threshold is the lowest confidence at which the cross-validated
	// decisions at or above it are right at least this often (default
	// 0.95).
	Target float64 `yaml:"target"`
	// Seed fixes the fold assignment and the training order (default 1).
	Seed uint64 `yaml:"seed"`
	// Kind forces a model kind (logistic or naive_bayes); empty chooses
	// the one with the higher cross-validated macro-F1.
	Kind string `yaml:"kind"`
}

// Provision fills in the defaults.
func (c *TrainConfig) Provision() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Features.NgramMin, 1)
	def(&c.Features.NgramMax, 3)
	def(&c.Features.HashBits, 18)
	def(&c.Folds, 5)
	def(&c.Epochs, 8)
	deff(&c.LearningRate, 0.5)
	deff(&c.L2, 1e-5)
	deff(&c.Alpha, 0.5)
	deff(&c.Target, 0.95)
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// Validate checks a provisioned configuration.
func (c TrainConfig) Validate() error {
	var errs []error
	if c.Features.NgramMin < 1 || c.Features.NgramMax < c.Features.NgramMin || c.Features.NgramMax > 5 {
		errs = append(errs, fmt.Errorf("features.ngram_min, features.ngram_max: need 1 ≤ min ≤ max ≤ 5, got %d and %d", c.Features.NgramMin, c.Features.NgramMax))
	}
	if c.Features.HashBits < 10 || c.Features.HashBits > 22 {
		errs = append(errs, fmt.Errorf("features.hash_bits: must be 10–22, got %d", c.Features.HashBits))
	}
	if c.Folds < 2 || c.Folds > 20 {
		errs = append(errs, fmt.Errorf("folds: must be 2–20, got %d", c.Folds))
	}
	if c.Epochs < 1 || c.Epochs > 100 {
		errs = append(errs, fmt.Errorf("epochs: must be 1–100, got %d", c.Epochs))
	}
	if c.LearningRate <= 0 || c.L2 < 0 || c.Alpha <= 0 {
		errs = append(errs, errors.New("learning_rate, alpha: must be positive; l2: must not be negative"))
	}
	if c.Target <= 0 || c.Target > 1 {
		errs = append(errs, fmt.Errorf("target: must be in (0, 1], got %g", c.Target))
	}
	if c.Kind != "" && c.Kind != KindLogistic && c.Kind != KindNaiveBayes {
		errs = append(errs, fmt.Errorf("kind: must be %s or %s, got %q", KindLogistic, KindNaiveBayes, c.Kind))
	}
	return errors.Join(errs...)
}

// Labelled is one training text with its category (one of the pack's)
// and weight (1 for a work order, the correction weight for an agent's
// correction).
type Labelled struct {
	Text     string
	Category string
	Weight   float64
}

// CVResult is how a model kind did in stratified k-fold cross-validation:
// every text decided by a model trained on the other folds.
type CVResult struct {
	Kind        string            `json:"kind"`
	Accuracy    float64           `json:"accuracy"`
	MacroF1     float64           `json:"macro_f1"`
	PerCategory []CategoryMetrics `json:"per_category"`
	// Confusion[i][j] counts texts of category i decided as category j,
	// in the order of the manifest's categories.
	Confusion [][]int `json:"confusion"`
}

// CategoryMetrics are one category's precision, recall, F1 and support
// (how many texts of it were decided).
type CategoryMetrics struct {
	Category  string  `json:"category"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// ReliabilityBin is one row of a reliability table: the decisions whose
// calibrated confidence lies in [Lo, Hi), their mean confidence and how
// often they were right.
type ReliabilityBin struct {
	Lo             float64 `json:"lo"`
	Hi             float64 `json:"hi"`
	Count          int     `json:"count"`
	MeanConfidence float64 `json:"mean_confidence"`
	Accuracy       float64 `json:"accuracy"`
}

// Abstain is the abstain threshold chosen from cross-validation: below
// Threshold a decision is marked uncertain; Coverage is the share of the
// cross-validated texts at or above it and Accuracy their accuracy.
type Abstain struct {
	Target    float64 `json:"target"`
	Threshold float64 `json:"threshold"`
	Coverage  float64 `json:"coverage"`
	Accuracy  float64 `json:"accuracy"`
}

// TrainingData describes what a model learnt from.
type TrainingData struct {
	Rows        int            `json:"rows"`
	Corrections int            `json:"corrections"`
	ByCategory  map[string]int `json:"by_category"`
	// SHA256 is the hash of the training rows as learnt (category, text
	// and weight of each, in order): the same file gives the same hash.
	SHA256 string `json:"sha256"`
}

// ModelManifest describes a trained model: what it is for, what it
// learnt from and how good it is. It is manifest.json of the model's
// directory.
type ModelManifest struct {
	Format int `json:"format"`
	// ID names the model: pack@version/kind-hash, the hash of its weights
	// and training data.
	ID          string        `json:"id"`
	Kind        string        `json:"kind"`
	Pack        string        `json:"pack"`
	PackVersion string        `json:"pack_version"`
	Categories  []string      `json:"categories"`
	Features    ModelFeatures `json:"features"`
	Settings    TrainConfig   `json:"settings"`
	Data        TrainingData  `json:"data"`
	// Temperature divides the raw scores before the softmax: fitted on
	// the out-of-fold scores, it calibrates the confidence.
	Temperature float64 `json:"temperature"`
	// Calibration maps the temperature-scaled confidence to the accuracy
	// decisions that sure had in cross-validation (isotonic regression);
	// the model's Confidence is the mapped value.
	Calibration []CalibrationPoint `json:"calibration"`
	Abstain     Abstain            `json:"abstain"`
	Chosen      string             `json:"chosen"`
	// HeldOut is how the model did on a held-out file (Evaluate), when
	// one was given.
	HeldOut     *Evaluation      `json:"held_out,omitempty"`
	CV          []CVResult       `json:"cv"`
	Reliability []ReliabilityBin `json:"reliability"`
	// Weights is the weights file in the directory, WeightsSHA256 its hash.
	Weights       string `json:"weights"`
	WeightsSHA256 string `json:"weights_sha256"`
}

// modelFormat is the version of the model directory's layout.
const modelFormat = 1

// Model is a trained category model for one version of one pack. It is
// immutable and safe for concurrent use.
type Model struct {
	Manifest ModelManifest
	lin      *linear
}

// ModelPrediction is a trained model's answer: the category and the
// runner-up with their calibrated confidences, how many of the text's
// n-grams the model knew, and the n-grams that pushed the category over
// the runner-up most.
type ModelPrediction struct {
	Category, RunnerUp             string
	Confidence, RunnerUpConfidence float64
	Known                          int
	Pushed                         []string
}

// Uncertain reports whether the prediction is below the model's abstain
// threshold.
func (m *Model) Uncertain(p ModelPrediction) bool {
	return p.Known == 0 || p.Confidence < m.Manifest.Abstain.Threshold
}

// Predict decides text's category.
func (m *Model) Predict(text string) ModelPrediction {
	ps, known := m.lin.scores(m.Manifest.Features.hashed(text, nil), make([]float64, 0, m.lin.classes))
	softmax(ps, m.Manifest.Temperature)
	best, second := ranked(ps)
	// the calibrated confidence, the other classes sharing the rest as
	// they did
	top := max(calibrate(m.Manifest.Calibration, ps[best]), 1/float64(len(ps)))
	for c := range ps {
		if c != best && ps[best] < 1 {
			ps[c] = min(ps[c]*(1-top)/(1-ps[best]), top)
		}
	}
	ps[best] = top
	p := ModelPrediction{Category: m.Manifest.Categories[best], Confidence: ps[best], Known: known}
	if second >= 0 {
		p.RunnerUp, p.RunnerUpConfidence = m.Manifest.Categories[second], ps[second]
	}
	return p
}

// Explain is Predict with the n-grams that pushed the decision: slower,
// for the case's explanation.
func (m *Model) Explain(text string) ModelPrediction {
	p := m.Predict(text)
	if p.RunnerUp != "" {
		best, _ := slices.BinarySearch(m.Manifest.Categories, p.Category)
		second, _ := slices.BinarySearch(m.Manifest.Categories, p.RunnerUp)
		p.Pushed = m.lin.strongest(m.Manifest.Features, text, best, second, 3)
	}
	return p
}

// Train trains a category model for the pack from labelled texts: it
// cross-validates both kinds, chooses one (cfg.Kind, or the higher
// macro-F1), fits the temperature and the abstain threshold on the chosen
// kind's out-of-fold scores, and trains it on every text. The same rows
// and configuration give the same model, bit for bit. Every row's
// category must be one of the pack's (see MapLabels).
func Train(p *Pack, rows []Labelled, cfg TrainConfig) (*Model, error) {
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	classes := packCategories(p)
	data := TrainingData{ByCategory: map[string]int{}}
	h := sha256.New()
	var samples []*sample
	for i, r := range rows {
		c, ok := slices.BinarySearch(classes, r.Category)
		if !ok {
			return nil, fmt.Errorf("row %d: category %q is not one of pack %s's", i+1, r.Category, p.Name)
		}
		w := r.Weight
		if w <= 0 {
			w = 1
		}
		bs := cfg.Features.hashed(r.Text, nil)
		if len(bs) == 0 {
			continue
		}
		fmt.Fprintf(h, "%s\t%g\t%s\n", r.Category, w, r.Text)
		samples = append(samples, &sample{class: c, buckets: bs, weight: w})
		data.Rows++
		data.ByCategory[r.Category]++
		if w != 1 {
			data.Corrections++
		}
	}
	data.SHA256 = hex.EncodeToString(h.Sum(nil))
	if len(data.ByCategory) < 2 {
		return nil, fmt.Errorf("pack %s: need texts of at least two categories to train, got %d", p.Name, len(data.ByCategory))
	}
	for _, c := range slices.Sorted(maps.Keys(data.ByCategory)) {
		if data.ByCategory[c] < cfg.Folds {
			return nil, fmt.Errorf("pack %s: category %s has %d texts, fewer than the %d folds of cross-validation", p.Name, c, data.ByCategory[c], cfg.Folds)
		}
	}
	params := trainParams{classes: len(classes), buckets: cfg.Features.buckets(), epochs: cfg.Epochs, rate: cfg.LearningRate, l2: cfg.L2, alpha: cfg.Alpha, seed: cfg.Seed}
	folds := stratifiedFolds(samples, cfg.Folds, cfg.Seed)
	kinds := []string{KindNaiveBayes, KindLogistic}
	oof := map[string][][]float64{}
	var results []CVResult
	for _, kind := range kinds {
		oof[kind] = crossValidate(kind, samples, folds, cfg.Folds, params)
		results = append(results, cvResult(kind, oof[kind], samples, classes))
	}
	chosen := cfg.Kind
	if chosen == "" {
		chosen = KindNaiveBayes
		if results[1].MacroF1 > results[0].MacroF1 {
			chosen = KindLogistic
		}
	}
	truth := make([]int, len(samples))
	for i, s := range samples {
		truth[i] = s.class
	}
	temp := round6(fitTemperature(oof[chosen], truth))
	conf, right := calibrated(oof[chosen], truth, temp)
	curve := isotonic(conf, right)
	lin := trainLinear(chosen, samples, params)
	m := &Model{lin: lin, Manifest: ModelManifest{
		Format: modelFormat, Kind: chosen, Pack: p.Name, PackVersion: p.Version, Categories: classes,
		Features: cfg.Features, Settings: cfg, Data: data, Temperature: temp, Calibration: curve,
		Abstain: abstainAt(mapConfidence(curve, conf), right, cfg.Target), Chosen: chosen, CV: results,
		Reliability: reliability(crossFitted(conf, right), right, 10), Weights: weightsFile,
	}}
	m.seal()
	return m, nil
}

// Evaluation is how a trained model did on labelled texts it did not
// learn from: the metrics of cross-validation, the reliability of its
// calibrated confidence, and the share it kept at its abstain threshold
// with their accuracy.
type Evaluation struct {
	Rows        int              `json:"rows"`
	Result      CVResult         `json:"result"`
	Reliability []ReliabilityBin `json:"reliability"`
	Kept        float64          `json:"kept"`
	KeptRight   float64          `json:"kept_right"`
}

// Evaluate decides each row (categories as MapLabels gives them; rows of
// a category the model lacks or without n-grams are left out) and
// records the result in the manifest's HeldOut.
func (m *Model) Evaluate(rows []Labelled) Evaluation {
	var samples []*sample
	var scores [][]float64
	var conf []float64
	var right []bool
	kept, keptRight := 0, 0
	for _, r := range rows {
		c, ok := slices.BinarySearch(m.Manifest.Categories, r.Category)
		bs := m.Manifest.Features.hashed(r.Text, nil)
		if !ok || len(bs) == 0 {
			continue
		}
		s, _ := m.lin.scores(bs, nil)
		samples, scores = append(samples, &sample{class: c, buckets: bs}), append(scores, s)
		p := m.Predict(r.Text)
		conf, right = append(conf, p.Confidence), append(right, p.Category == r.Category)
		if !m.Uncertain(p) {
			kept++
			if p.Category == r.Category {
				keptRight++
			}
		}
	}
	ev := Evaluation{Rows: len(samples), Result: cvResult(m.Manifest.Kind, scores, samples, m.Manifest.Categories), Reliability: reliability(conf, right, 10)}
	if len(samples) > 0 {
		ev.Kept = round6(float64(kept) / float64(len(samples)))
	}
	if kept > 0 {
		ev.KeptRight = round6(float64(keptRight) / float64(kept))
	}
	m.Manifest.HeldOut = &ev
	return ev
}

// packCategories are the names of the pack's categories, sorted.
func packCategories(p *Pack) []string {
	var out []string
	for _, c := range p.Categories.List {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

// stratifiedFolds assigns each sample a fold: the samples of each class,
// in an order drawn from seed, go to the folds in turn.
func stratifiedFolds(samples []*sample, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x666f6c64)) // "fold"
	order := rng.Perm(len(samples))
	folds := make([]int, len(samples))
	next := map[int]int{}
	for _, i := range order {
		c := samples[i].class
		folds[i] = next[c] % k
		next[c]++
	}
	return folds
}

// crossValidate returns each sample's raw scores from a model of kind
// trained on the other folds. Folds train in parallel; each is
// deterministic, so the result is too.
func crossValidate(kind string, samples []*sample, folds []int, k int, p trainParams) [][]float64 {
	out := make([][]float64, len(samples))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for f := range k {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var train []*sample
			for i, s := range samples {
				if folds[i] != f {
					train = append(train, s)
				}
			}
			m := trainLinear(kind, train, p)
			for i, s := range samples {
				if folds[i] == f {
					out[i], _ = m.scores(s.buckets, nil)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// cvResult scores out-of-fold decisions.
func cvResult(kind string, scores [][]float64, samples []*sample, classes []string) CVResult {
	k := len(classes)
	r := CVResult{Kind: kind, Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	right := 0
	for i, s := range samples {
		best, _ := ranked(scores[i])
		r.Confusion[s.class][best]++
		if best == s.class {
			right++
		}
	}
	r.Accuracy = round6(float64(right) / float64(max(len(samples), 1)))
	var f1s float64
	n := 0
	for c, name := range classes {
		support, decided := 0, 0
		for j := range k {
			support += r.Confusion[c][j]
			decided += r.Confusion[j][c]
		}
		if support == 0 {
			continue
		}
		m := CategoryMetrics{Category: name, Support: support}
		tp := float64(r.Confusion[c][c])
		if decided > 0 {
			m.Precision = tp / float64(decided)
		}
		m.Recall = tp / float64(support)
		if m.Precision+m.Recall > 0 {
			m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
		}
		f1s += m.F1
		n++
		m.Precision, m.Recall, m.F1 = round6(m.Precision), round6(m.Recall), round6(m.F1)
		r.PerCategory = append(r.PerCategory, m)
	}
	r.MacroF1 = round6(f1s / float64(max(n, 1)))
	return r
}

// calibrated returns each decision's confidence under the temperature
// and whether it was right.
func calibrated(scores [][]float64, truth []int, temp float64) (conf []float64, right []bool) {
	for i, s := range scores {
		ps := slices.Clone(s)
		softmax(ps, temp)
		best, _ := ranked(ps)
		conf = append(conf, ps[best])
		right = append(right, best == truth[i])
	}
	return conf, right
}

// CalibrationPoint is a point of a model's calibration curve: decisions
// of temperature-scaled confidence Confidence were right Accuracy of the
// time. Between points the curve is linear, beyond them flat.
type CalibrationPoint struct {
	Confidence float64 `json:"confidence"`
	Accuracy   float64 `json:"accuracy"`
}

// maxCalibrated caps a calibrated confidence: no decision is certain.
const maxCalibrated = 0.999

// isotonic fits the monotone curve of accuracy over confidence by pool
// adjacent violators over groups of decisions in confidence order: one
// point per pooled block, at its mean confidence and accuracy.
func isotonic(conf []float64, right []bool) []CalibrationPoint {
	order := make([]int, len(conf))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(conf[a], conf[b]) })
	type block struct{ x, y, n float64 }
	// equal-count groups of at least 20 decisions (a two-decision block
	// would claim 0 % or 100 %), pooled while they violate monotonicity
	group := max(20, len(order)/200)
	var bs []block
	for g := 0; g < len(order); g += group {
		var b block
		for _, i := range order[g:min(g+group, len(order))] {
			b.x += conf[i]
			b.n++
			if right[i] {
				b.y++
			}
		}
		bs = append(bs, b)
		for len(bs) > 1 && bs[len(bs)-2].y/bs[len(bs)-2].n >= bs[len(bs)-1].y/bs[len(bs)-1].n {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			bs = append(bs[:len(bs)-2], block{a.x + b.x, a.y + b.y, a.n + b.n})
		}
	}
	out := make([]CalibrationPoint, 0, len(bs))
	for _, b := range bs {
		out = append(out, CalibrationPoint{Confidence: round6(b.x / b.n), Accuracy: round6(min(b.y/b.n, maxCalibrated))})
	}
	return out
}

// calibrate reads the curve at confidence c.
func calibrate(curve []CalibrationPoint, c float64) float64 {
	if len(curve) == 0 {
		return c
	}
	i, _ := slices.BinarySearchFunc(curve, c, func(p CalibrationPoint, c float64) int { return cmp.Compare(p.Confidence, c) })
	switch {
	case i == 0:
		return curve[0].Accuracy
	case i == len(curve):
		return curve[len(curve)-1].Accuracy
	}
	a, b := curve[i-1], curve[i]
	return a.Accuracy + (b.Accuracy-a.Accuracy)*(c-a.Confidence)/(b.Confidence-a.Confidence)
}

// mapConfidence calibrates every confidence.
func mapConfidence(curve []CalibrationPoint, conf []float64) []float64 {
	out := make([]float64, len(conf))
	for i, c := range conf {
		out[i] = calibrate(curve, c)
	}
	return out
}

// crossFitted calibrates each out-of-fold confidence with a curve fitted
// on the other half of them (alternate rows), so that the reliability
// table measures calibration on decisions the curve did not see.
func crossFitted(conf []float64, right []bool) []float64 {
	var halves [2]struct {
		conf  []float64
		right []bool
	}
	for i := range conf {
		h := &halves[i%2]
		h.conf, h.right = append(h.conf, conf[i]), append(h.right, right[i])
	}
	curves := [2][]CalibrationPoint{isotonic(halves[1].conf, halves[1].right), isotonic(halves[0].conf, halves[0].right)}
	out := make([]float64, len(conf))
	for i, c := range conf {
		out[i] = calibrate(curves[i%2], c)
	}
	return out
}

// abstainAt chooses the threshold: the lowest confidence whose decisions
// at or above it are right at least target of the time, i.e. the highest
// coverage reaching the target. With none, the threshold is 1: every
// decision is marked uncertain.
func abstainAt(conf []float64, right []bool, target float64) Abstain {
	order := make([]int, len(conf))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(conf[b], conf[a]) })
	out := Abstain{Target: target, Threshold: 1}
	correct := 0
	for n, i := range order {
		if right[i] {
			correct++
		}
		// cut only between different confidences
		if n+1 < len(order) && conf[order[n+1]] == conf[i] {
			continue
		}
		if acc := float64(correct) / float64(n+1); acc >= target {
			out.Threshold, out.Coverage, out.Accuracy = round6(conf[i]), round6(float64(n+1)/float64(len(order))), round6(acc)
		}
	}
	return out
}

// reliability bins decisions by confidence.
func reliability(conf []float64, right []bool, bins int) []ReliabilityBin {
	out := make([]ReliabilityBin, bins)
	sums := make([]float64, bins)
	hits := make([]int, bins)
	for i, c := range conf {
		b := min(int(c*float64(bins)), bins-1)
		out[b].Count++
		sums[b] += c
		if right[i] {
			hits[b]++
		}
	}
	for b := range out {
		out[b].Lo, out[b].Hi = round6(float64(b)/float64(bins)), round6(float64(b+1)/float64(bins))
		if out[b].Count > 0 {
			out[b].MeanConfidence = round6(sums[b] / float64(out[b].Count))
			out[b].Accuracy = round6(float64(hits[b]) / float64(out[b].Count))
		}
	}
	return out
}

// round6 rounds to six decimals, so that manifests read well.
func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }
