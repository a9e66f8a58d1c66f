package router

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// Correction is an agent's correction of a case's category, grade or
// validity (Field). The pack's classifier learns Text as one more example
// of Category; a grade or validity correction teaches the engine that
// texts like Text have that grade or validity (Value).
type Correction struct {
	// Complaint is the id of the complaint whose category was corrected
	// (the case's first complaint). Of several corrections of the same
	// complaint only the latest counts.
	Complaint string `json:"complaint"`
	// Case is the corrected case's id; it identifies the correction when
	// Complaint is empty.
	Case string `json:"case"`
	// Text is what the classifier saw: ClassifierText of the case's
	// subject and description.
	Text string `json:"text"`
	// Field is what was corrected: FieldGrade, FieldValidity, or (empty)
	// the category, as corrections were recorded before grades and
	// validity could be corrected.
	Field string `json:"field,omitempty"`
	// Category is the corrected category of a category correction.
	Category string `json:"category,omitempty"`
	// Value is the corrected grade, or ValidityValid / ValidityInvalid.
	Value string `json:"value,omitempty"`
	// Reason is the agent's reason for an invalid verdict, masked
	// (ingest.MaskText): the reason the engine gives texts like Text.
	Reason string    `json:"reason,omitempty"`
	Agent  string    `json:"agent"`
	At     time.Time `json:"at"`
}

// field is what the correction corrects, FieldCategory when unnamed.
func (c Correction) field() string {
	if c.Field == "" {
		return FieldCategory
	}
	return c.Field
}

// value is the corrected value of the correction's field.
func (c Correction) value() string {
	if c.field() == FieldCategory {
		return c.Category
	}
	return c.Value
}

// ClassifierText is the text the engine classifies for a complaint with
// this subject and description: both cleaned (normalize.CleanText) and
// lower-cased. A Case keeps its complaint's subject and description, so
// ClassifierText(c.Subject, c.Description) is what decided its category.
func ClassifierText(subject, description string) string {
	return strings.ToLower(normalize.CleanText(strings.TrimSpace(subject + "\n" + description)))
}

// CorrectionFrom is the correction a recategorize, regrade or revalidate
// action makes to a case.
func CorrectionFrom(c Case, a Action) Correction {
	complaint := c.ID
	if len(c.Complaints) > 0 {
		complaint = c.Complaints[0]
	}
	out := Correction{
		Complaint: complaint,
		Case:      c.ID,
		Text:      ClassifierText(c.Subject, c.Description),
		Agent:     a.Actor,
		At:        a.At,
	}
	switch a.Kind {
	case ActionRegrade:
		out.Field, out.Value = FieldGrade, a.Grade
	case ActionRevalidate:
		out.Field, out.Value = FieldValidity, ValidityValid
		if a.Valid != nil && !*a.Valid {
			// masked: the reason becomes that of other customers' cases
			out.Value, out.Reason = ValidityInvalid, ingest.MaskText(strings.TrimSpace(a.Note))
		}
	default: // a category correction stays as it was recorded before
		out.Category = a.Category
	}
	return out
}

// key identifies what a correction corrects: the field of a complaint
// (or case).
func (c Correction) key() string {
	k := "case " + c.Case
	if c.Complaint != "" {
		k = "complaint " + c.Complaint
	}
	if f := c.field(); f != FieldCategory {
		k += " " + f
	}
	return k
}

// CheckCorrection reports why the engine cannot learn from a correction:
// it names neither a complaint nor a case, its text has no letters or
// digits, its category is not one of the pack's, or the pack has no
// classifier (no categories.examples). Call it before storing a
// correction, and to filter stored corrections (say, ones recorded before
// the pack lost a category) before WithCorrections.
//
// A grade correction must name one of the pack's grades, a validity
// correction ValidityValid or ValidityInvalid; they need no classifier.
func (e *Engine) CheckCorrection(c Correction) error {
	var errs []error
	switch c.field() {
	case FieldCategory:
		if e.classifier == nil && e.model == nil {
			return fmt.Errorf("pack %s has no classifier (categories.examples is empty), so it cannot learn from corrections", e.id)
		}
		if !e.catNames[c.Category] {
			errs = append(errs, fmt.Errorf("pack %s has no category %q", e.id, c.Category))
		}
	case FieldGrade:
		if _, ok := e.grades[c.Value]; !ok {
			errs = append(errs, fmt.Errorf("pack %s has no grade %q", e.id, c.Value))
		}
	case FieldValidity:
		if c.Value != ValidityValid && c.Value != ValidityInvalid {
			errs = append(errs, fmt.Errorf("validity %q is neither %s nor %s", c.Value, ValidityValid, ValidityInvalid))
		}
	default:
		errs = append(errs, fmt.Errorf("field %q is none of %s, %s, %s", c.Field, FieldCategory, FieldGrade, FieldValidity))
	}
	if strings.TrimSpace(c.Complaint) == "" && strings.TrimSpace(c.Case) == "" {
		errs = append(errs, errors.New("names neither a complaint nor a case"))
	}
	lo, hi := 1, 1
	switch {
	case c.field() != FieldCategory:
	case e.model != nil:
		lo, hi = e.model.Manifest.Features.NgramMin, e.model.Manifest.Features.NgramMax
	default:
		lo, hi = e.classifier.min, e.classifier.max
	}
	if len(features(c.Text, lo, hi)) == 0 {
		errs = append(errs, errors.New("text has no letters or digits"))
	}
	return errors.Join(errs...)
}

// training is what a classifier trained with corrections learnt from, for
// Engine.ModelReport.
type training struct {
	sets        []ExampleSet // the pack's examples, then the corrections' texts
	examples    int          // texts from the pack's examples
	corrections int          // texts from corrections
	superseded  int          // corrections given but not learnt
}

// maxErrorsListed bounds how many bad corrections an error lists.
const maxErrorsListed = 20

// WithCorrections returns a new engine whose classifier is trained on the
// pack's examples and the agents' corrections; the engine it is called on
// is not changed, and both are immutable and safe for concurrent use. The
// corrections replace any the engine was trained with. An engine with a
// trained model (WithModel) keeps it: its category corrections decide
// texts alike to the corrected ones, as grade corrections do, and join
// the model's next training (tousu policy train -corrections-from).
//
// Each correction counts like one labelled example, however often it was
// made: of several corrections of the same complaint only the latest (by
// At, then by position in cs) counts, and the same text corrected to the
// same category by several complaints (a batch of identical complaints)
// counts once. The result does not depend on the order of cs beyond that
// tie-break.
//
// It fails, listing such corrections (the first 20), when a correction
// cannot be used (see CheckCorrection): filter stored corrections with
// CheckCorrection first to skip them instead. An empty cs gives an engine
// that decides exactly as the pack's NewEngine does (as e does, unless e
// was itself trained with corrections).
func (e *Engine) WithCorrections(cs []Correction) (*Engine, error) {
	var errs []error
	bad := 0
	for i, c := range cs {
		if err := e.CheckCorrection(c); err != nil {
			if bad++; bad <= maxErrorsListed {
				errs = append(errs, fmt.Errorf("corrections[%d] (%s): %w", i, c.key(), err))
			}
		}
	}
	if bad > maxErrorsListed {
		errs = append(errs, fmt.Errorf("… and %d more", bad-maxErrorsListed))
	}
	if bad > 0 {
		return nil, fmt.Errorf("pack %s: cannot learn from %s: %w", e.id, plural(bad, "correction"), errors.Join(errs...))
	}
	cp := *e // every field of an Engine is read-only once built
	cp.recalls = nil
	learnt := latestCorrections(cs)
	var categories []Correction
	byField := map[string][]Correction{}
	for _, c := range learnt {
		if f := c.field(); f == FieldCategory {
			categories = append(categories, c)
		} else {
			byField[f] = append(byField[f], c)
		}
	}
	if e.model != nil && len(categories) > 0 {
		// A trained model is not retrained here: texts alike to corrected
		// ones take the agents' category, and the corrections join the
		// next training file (tousu policy train -corrections).
		for _, c := range categories {
			c.Value = c.Category
			byField[FieldCategory] = append(byField[FieldCategory], c)
		}
		categories = nil
	}
	for f, fcs := range byField {
		if cp.recalls == nil {
			cp.recalls = map[string]*recall{}
		}
		cp.recalls[f] = newRecall(fcs, e.pack.Categories.Classifier)
	}
	if len(categories) == 0 {
		if e.classifier != nil && e.classifier.trained != nil {
			cp.classifier = TrainClassifier(e.pack.Categories.Examples, e.pack.Categories.Classifier)
		}
		return &cp, nil
	}
	t := &training{superseded: len(cs) - len(learnt)}
	texts := map[string][]string{} // category -> corrected texts, sorted
	for _, c := range categories {
		texts[c.Category] = append(texts[c.Category], c.Text)
	}
	for _, set := range e.pack.Categories.Examples {
		all := slices.Concat(set.Texts, texts[set.Category])
		t.sets = append(t.sets, ExampleSet{Category: set.Category, Texts: all})
		t.examples += len(set.Texts)
		delete(texts, set.Category)
	}
	// Categories the pack has no examples of, in name order.
	for _, cat := range slices.Sorted(maps.Keys(texts)) {
		t.sets = append(t.sets, ExampleSet{Category: cat, Texts: texts[cat]})
	}
	t.corrections = len(categories)
	cp.classifier = TrainClassifier(t.sets, e.pack.Categories.Classifier)
	cp.classifier.trained = t
	return &cp, nil
}

// latestCorrections keeps the latest correction of each field of each
// complaint, with its text as the classifier reads it, drops repeats of
// the same text, field and value, and sorts them by field, value and
// text.
func latestCorrections(cs []Correction) []Correction {
	latest := map[string]int{} // key -> index in cs
	for i, c := range cs {
		if j, ok := latest[c.key()]; !ok || !c.At.Before(cs[j].At) {
			latest[c.key()] = i
		}
	}
	seen := map[[3]string]bool{}
	var out []Correction
	for _, i := range latest {
		c := cs[i]
		c.Text = ClassifierText("", c.Text)
		if k := [3]string{c.field(), c.value(), c.Text}; !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Correction) int {
		return cmp.Or(cmp.Compare(a.field(), b.field()), cmp.Compare(a.value(), b.value()), cmp.Compare(a.Text, b.Text), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ModelReport describes an engine's category classifier: what it learnt
// from and how well it classifies texts it did not learn from.
type ModelReport struct {
	// Pack is the engine's name (name@version).
	Pack string `json:"pack"`
	// Examples counts the pack's labelled examples, zero when the pack
	// has no classifier.
	Examples int `json:"examples"`
	// Corrections counts the agents' corrections learnt; Superseded the
	// corrections given but not learnt: replaced by a later correction of
	// the same complaint, or repeating another's text and category.
	Corrections int `json:"corrections"`
	Superseded  int `json:"superseded"`
	// Recalled counts the grade and validity corrections learnt, by
	// field; empty without any.
	Recalled map[string]int `json:"recalled,omitempty"`
	// HeldOut measures the classifier on examples and corrections
	// together, as `tousu policy test` measures it on the pack's examples.
	HeldOut HeldOut `json:"held_out"`
}

// HeldOut is a held-out accuracy: every Every-th text of each category
// (the 1st, Every+1-th, …) is held out, a model is trained on the rest
// and Correct of the Total held-out texts are classified right.
type HeldOut struct {
	Every    int     `json:"every"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

// ModelReport reports on the engine's classifier. It trains a model to
// measure the held-out accuracy: call it for a report, not per complaint.
func (e *Engine) ModelReport() ModelReport {
	r := ModelReport{Pack: e.id}
	for f, rc := range e.recalls {
		if r.Recalled == nil {
			r.Recalled = map[string]int{}
		}
		r.Recalled[f] = len(rc.texts)
	}
	if e.classifier == nil {
		return r
	}
	sets := e.pack.Categories.Examples
	if t := e.classifier.trained; t != nil {
		sets = t.sets
		r.Examples, r.Corrections, r.Superseded = t.examples, t.corrections, t.superseded
	} else {
		r.Examples = countTexts(sets)
	}
	correct, total := HoldOut(sets, e.pack.Categories.Classifier, holdOutEvery)
	r.HeldOut = HeldOut{Every: holdOutEvery, Correct: correct, Total: total, Accuracy: float64(correct) / float64(max(total, 1))}
	return r
}

func countTexts(sets []ExampleSet) int {
	n := 0
	for _, s := range sets {
		n += len(s.Texts)
	}
	return n
}

// WithCorrections returns new Packs whose engines are trained with the
// corrections of byPack, keyed by engine name (name@version, as cases
// record it in Case.Pack); engines without corrections decide as before,
// and complaints go to the same packs by source and channel. p is not
// changed. It fails for a key naming no loaded pack and for corrections
// an engine cannot use (see Engine.WithCorrections).
func (p *Packs) WithCorrections(byPack map[string][]Correction) (*Packs, error) {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(byPack)) {
		if p.ByName(name) == nil {
			var loaded []string
			for _, e := range p.all {
				loaded = append(loaded, e.Name())
			}
			errs = append(errs, fmt.Errorf("corrections for pack %s: no such pack is loaded (loaded: %s)", name, strings.Join(loaded, ", ")))
		}
	}
	retrained := make(map[*Engine]*Engine, len(p.all))
	out := &Packs{bySource: map[string]*Engine{}, byChannel: map[string]*Engine{}}
	for _, e := range p.all {
		ne, err := e.WithCorrections(byPack[e.Name()])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		retrained[e] = ne
		out.all = append(out.all, ne)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out.def = retrained[p.def]
	for k, e := range p.bySource {
		out.bySource[k] = retrained[e]
	}
	for k, e := range p.byChannel {
		out.byChannel[k] = retrained[e]
	}
	return out, nil
}
