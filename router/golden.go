package router

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
)

// Golden is a pack's golden test file (<pack>.golden.yaml beside the pack):
// realistic complaints with the verdict the pack must reach.
type Golden struct {
	// Pack is the pack file, relative to the golden file.
	Pack string `yaml:"pack"`
	// ClassifierFloor is the held-out accuracy the classifier must reach
	// on the pack's own examples (0 skips the check).
	ClassifierFloor float64      `yaml:"classifier_floor"`
	Cases           []GoldenCase `yaml:"cases"`
}

// GoldenCase is one complaint and what the pack must decide about it.
type GoldenCase struct {
	Name     string            `yaml:"name"`
	Text     string            `yaml:"text"`
	Subject  string            `yaml:"subject"`
	Received time.Time         `yaml:"received"`
	Occurred time.Time         `yaml:"occurred"`
	Channel  string            `yaml:"channel"`
	Source   string            `yaml:"source"`
	Extra    map[string]string `yaml:"extra"`
	// Customer defaults to a reachable customer with a phone number;
	// Anonymous gives none.
	Customer  *InputCustomer `yaml:"customer"`
	Anonymous bool           `yaml:"anonymous"`
	// Actions are applied in order to the case the pack opens, before
	// Want is checked against it: an agent's extension, pause or resume.
	Actions []GoldenAction `yaml:"actions"`
	Want    GoldenWant     `yaml:"want"`
	// Covers says what the case is there to test.
	Covers string `yaml:"covers"`
}

// GoldenAction is an action of a golden case, by agent 2044.
type GoldenAction struct {
	Kind   ActionKind `yaml:"kind"`
	At     time.Time  `yaml:"at"`
	Clock  string     `yaml:"clock"`
	Amount int        `yaml:"amount"`
	Note   string     `yaml:"note"`
	// Supervisor acts as a supervisor (Action.Override).
	Supervisor bool `yaml:"supervisor"`
	// Refused, when given, must occur in the refusal of the action, which
	// then changes nothing; otherwise the action must apply.
	Refused string `yaml:"refused"`
}

// GoldenWant is the expected verdict; empty fields are not checked, except
// that Deadlines, when given, must list exactly the running clocks.
type GoldenWant struct {
	ContactType string `yaml:"contact_type"`
	Category    string `yaml:"category"`
	// CategoryBy is rule, model, input or default.
	CategoryBy string `yaml:"category_by"`
	Valid      *bool  `yaml:"valid"`
	// InvalidReason must occur in the validity reason.
	InvalidReason string `yaml:"invalid_reason"`
	// Barred must occur in the claims a rule bars while the complaint
	// stays valid; "" requires that none is barred.
	Barred *string `yaml:"barred"`
	Grade  string  `yaml:"grade"`
	// Deadlines maps clock names to due times.
	Deadlines map[string]time.Time `yaml:"deadlines"`
	// Pending lists the clocks waiting for an event.
	Pending []string `yaml:"pending"`
	Route   *Route   `yaml:"route"`
	// AlertAtOnce lists who is alerted at receipt.
	AlertAtOnce []string `yaml:"alert_at_once"`
	// Paused lists the clocks paused after the actions.
	Paused []string `yaml:"paused"`
}

// customer is the golden case's complainant.
func (g GoldenCase) input() Input {
	in := Input{Text: g.Text, Subject: g.Subject, Received: g.Received, Occurred: g.Occurred, Channel: ingest.Channel(g.Channel), Source: g.Source, Extra: g.Extra}
	switch {
	case g.Anonymous:
		in.Customer = &InputCustomer{}
	case g.Customer != nil:
		in.Customer = g.Customer
	default:
		in.Customer = &InputCustomer{Name: "测试客户", Phone: "+8613800138000"}
	}
	return in
}

// LoadGolden reads a golden file. Given a pack file instead, it reads the
// pack's sibling <name>.golden.yaml. It returns the golden tests and the
// path of their pack.
func LoadGolden(path string) (*Golden, string, error) {
	if !strings.HasSuffix(path, ".golden.yaml") {
		path = strings.TrimSuffix(path, filepath.Ext(path)) + ".golden.yaml"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var g Golden
	if err := configs.DecodeStrict(data, &g); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if g.Pack == "" {
		return nil, "", fmt.Errorf("%s: pack: must name the pack file", path)
	}
	var errs []error
	for i, c := range g.Cases {
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("cases[%d].name: must not be empty", i))
		}
		if err := c.input().check(); err != nil {
			errs = append(errs, fmt.Errorf("cases[%d] (%s): %w", i, c.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return &g, filepath.Join(filepath.Dir(path), g.Pack), nil
}

// TestPack runs a pack's golden tests: path is the pack or its golden
// file. It writes one line per case ("ok" or "FAIL" with every mismatch
// and the explanation) and the classifier's held-out accuracy to w, and
// returns how many cases passed and failed. err is for a pack or golden
// file that cannot be loaded, or a classifier below its floor.
func TestPack(path string, w io.Writer) (passed, failed int, err error) {
	return TestPackModel(path, "", w)
}

// TestPackModel is TestPack deciding categories with the trained model in
// modelDir (none when empty) instead of the model the pack names, if any.
// With a model it reports the model's cross-validated accuracy.
func TestPackModel(path, modelDir string, w io.Writer) (passed, failed int, err error) {
	g, packPath, err := LoadGolden(path)
	if err != nil {
		return 0, 0, err
	}
	e, err := LoadEngine(packPath)
	if err == nil && modelDir != "" {
		e, err = e.LoadModel(modelDir)
	}
	if err != nil {
		return 0, 0, err
	}
	for _, c := range g.Cases {
		v, err := e.Explain(c.input())
		problems := []string{}
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			v, problems = e.goldenActions(c, v)
			problems = append(problems, c.Want.check(v)...)
		}
		if len(problems) == 0 {
			passed++
			fmt.Fprintf(w, "ok   %s\n", c.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n", c.Name)
		for _, p := range problems {
			fmt.Fprintf(w, "       %s\n", p)
		}
		for _, x := range v.Explanation {
			fmt.Fprintf(w, "       · %s = %s [%s %s] %s\n", x.Field, x.Value, x.By, x.Rule, x.Reason)
		}
	}
	fmt.Fprintf(w, "%s: %d passed, %d failed\n", e.Name(), passed, failed)
	p := e.Pack()
	if m := e.Model(); m != nil {
		mf := m.Manifest
		for _, r := range mf.CV {
			fmt.Fprintf(w, "model %s: %s cross-validated accuracy %.3f, macro-F1 %.3f (%d rows, %d folds)\n", mf.ID, r.Kind, r.Accuracy, r.MacroF1, mf.Data.Rows, mf.Settings.Folds)
		}
		fmt.Fprintf(w, "model %s: abstain below %.3f: %.1f%% of decisions kept, %.3f of them right\n", mf.ID, mf.Abstain.Threshold, mf.Abstain.Coverage*100, mf.Abstain.Accuracy)
	} else if len(p.Categories.Examples) > 0 {
		correct, total := HoldOut(p.Categories.Examples, p.Categories.Classifier, holdOutEvery)
		acc := float64(correct) / float64(max(total, 1))
		fmt.Fprintf(w, "classifier: held-out accuracy %.3f (%d/%d, every %d-th example held out)\n", acc, correct, total, holdOutEvery)
		if acc < g.ClassifierFloor {
			return passed, failed, fmt.Errorf("classifier held-out accuracy %.3f is below the floor %.3f", acc, g.ClassifierFloor)
		}
	}
	return passed, failed, nil
}

// goldenActions applies the golden case's actions to the case the pack
// opens and returns the verdict with the clocks they leave, and what went
// otherwise than the actions expect.
func (e *Engine) goldenActions(g GoldenCase, v Verdict) (Verdict, []string) {
	if len(g.Actions) == 0 {
		return v, nil
	}
	in := g.input()
	comp := in.complaint()
	comp.ID, comp.Reference = "golden:1", "TS-GOLDEN"
	c := e.Open(comp, in.Received)
	var out []string
	for i, ga := range g.Actions {
		a := Action{V: ActionVersion, ID: fmt.Sprintf("golden-%d", i), Case: c.ID, Customer: c.Customer.Key, Kind: ga.Kind, Actor: "2044", At: ga.At,
			Clock: ga.Clock, Amount: ga.Amount, Note: ga.Note, Override: ga.Supervisor}
		next, _, _, err := e.Apply(c, a)
		switch {
		case err != nil && ga.Refused == "":
			out = append(out, fmt.Sprintf("actions[%d] %s: %s", i, ga.Kind, ReasonOf(err).Message))
		case err == nil && ga.Refused != "":
			out = append(out, fmt.Sprintf("actions[%d] %s applied, want it refused (%s)", i, ga.Kind, ga.Refused))
		case err != nil && !strings.Contains(ReasonOf(err).Message, ga.Refused):
			out = append(out, fmt.Sprintf("actions[%d] %s refused: %s, want %q", i, ga.Kind, ReasonOf(err).Message, ga.Refused))
		case err == nil:
			c = next
		}
	}
	v.Deadlines = slices.DeleteFunc(slices.Clone(c.Deadlines), func(d Deadline) bool { return !d.StoppedAt.IsZero() })
	v.PendingClocks, v.Escalation = c.PendingClocks, c.Escalation
	if g.Want.Paused != nil {
		var got []string
		for _, d := range c.Deadlines {
			if d.Paused() {
				got = append(got, d.Name)
			}
		}
		if !sameSet(got, g.Want.Paused) {
			out = append(out, fmt.Sprintf("paused clocks %v, want %v", got, g.Want.Paused))
		}
	}
	return v, out
}

// holdOutEvery is how TestPack splits the examples: every 5th held out.
const holdOutEvery = 5

func (want GoldenWant) check(v Verdict) []string {
	var out []string
	diff := func(field, got, want string) {
		if want != "" && got != want {
			out = append(out, fmt.Sprintf("%s = %q, want %q", field, got, want))
		}
	}
	diff("contact_type", v.ContactType, want.ContactType)
	diff("category", v.Category, want.Category)
	if want.CategoryBy != "" {
		for _, x := range v.Explanation {
			if x.Field == "category" {
				diff("category decided by", x.By, want.CategoryBy)
			}
		}
	}
	if want.Valid != nil && v.Validity.Valid != *want.Valid {
		out = append(out, fmt.Sprintf("valid = %v (%s), want %v", v.Validity.Valid, v.Validity.Reason, *want.Valid))
	}
	if want.InvalidReason != "" && !strings.Contains(v.Validity.Reason, want.InvalidReason) {
		out = append(out, fmt.Sprintf("invalid reason = %q, want it to contain %q", v.Validity.Reason, want.InvalidReason))
	}
	if b := want.Barred; b != nil {
		got := strings.Join(v.Validity.Barred, "；")
		if (*b == "" && got != "") || !strings.Contains(got, *b) {
			out = append(out, fmt.Sprintf("barred claims = %q, want %q", got, *b))
		}
	}
	diff("grade", v.Grade, want.Grade)
	if want.Deadlines != nil {
		got := map[string]Deadline{}
		for _, d := range v.Deadlines {
			got[d.Name] = d
		}
		for name, due := range want.Deadlines {
			d, ok := got[name]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("clock %s missing", name))
			case d.Error != "":
				out = append(out, fmt.Sprintf("clock %s: %s", name, d.Error))
			case !d.Due.Equal(due):
				out = append(out, fmt.Sprintf("clock %s due %s, want %s", name, d.Due.Format(time.RFC3339), due.In(d.Due.Location()).Format(time.RFC3339)))
			}
		}
		for name := range got {
			if _, ok := want.Deadlines[name]; !ok {
				out = append(out, fmt.Sprintf("clock %s running, not expected", name))
			}
		}
	}
	if want.Pending != nil {
		var got []string
		for _, d := range v.PendingClocks {
			got = append(got, d.Name)
		}
		if !sameSet(got, want.Pending) {
			out = append(out, fmt.Sprintf("pending clocks %v, want %v", got, want.Pending))
		}
	}
	if want.Route != nil {
		r := *want.Route
		diff("route.department", v.Route.Department, r.Department)
		diff("route.queue", v.Route.Queue, r.Queue)
		diff("route.owner", v.Route.Owner, r.Owner)
	}
	if want.AlertAtOnce != nil {
		var got []string
		for _, a := range v.Escalation.Alerts {
			if a.Clock == "" && a.At.Equal(v.ReceivedAt) {
				got = append(got, a.Notify...)
			}
		}
		if !sameSet(got, want.AlertAtOnce) {
			out = append(out, fmt.Sprintf("alerted at once %v, want %v", got, want.AlertAtOnce))
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
