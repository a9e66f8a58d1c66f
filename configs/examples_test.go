package configs_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tousu/tousu/router"
)

// examplesMinimum is, per pack, how many rows each category has at least in
// policies/examples/<pack>.csv (training) and <pack>.heldout.csv (held out),
// and the held-out accuracy that naive Bayes trained on the training file
// reaches at least. A pack not listed has no examples files yet.
var examplesMinimum = map[string]struct {
	train, heldout int
	accuracy       float64
}{
	"telecom":       {train: 200, heldout: 50, accuracy: 0.70},
	"insurance":     {train: 100, heldout: 20, accuracy: 0.70},
	"hotel":         {train: 100, heldout: 20, accuracy: 0.70},
	"automotive":    {train: 100, heldout: 20, accuracy: 0.70},
	"construction":  {train: 100, heldout: 20, accuracy: 0.70},
	"manufacturing": {train: 100, heldout: 20, accuracy: 0.70},
	"property":      {train: 100, heldout: 20, accuracy: 0.70},
}

// exampleRow is one labelled work order of an examples file.
type exampleRow struct {
	text, category string
	line           int
}

// TestExamplesFiles checks the bundled training sets: the header, labels
// that are the pack's categories, enough rows per category, no empty,
// over-long or duplicate rows, and no held-out row that repeats or nearly
// repeats (character-bigram Jaccard ≥ 0.8) a training row.
func TestExamplesFiles(t *testing.T) {
	files, err := filepath.Glob("policies/examples/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		pack := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".csv"), ".heldout")
		if _, ok := examplesMinimum[pack]; !ok {
			t.Errorf("%s: pack %q has no minimum in examplesMinimum", f, pack)
		}
	}
	for _, pack := range slices.Sorted(maps.Keys(examplesMinimum)) {
		min := examplesMinimum[pack]
		t.Run(pack, func(t *testing.T) {
			cats := packCategories(t, pack)
			train := readExamples(t, examplesPath(pack, false))
			held := readExamples(t, examplesPath(pack, true))
			checkExamples(t, examplesPath(pack, false), train, cats, min.train)
			checkExamples(t, examplesPath(pack, true), held, cats, min.heldout)
			for _, d := range nearDuplicates(train, held, 0.8) {
				t.Errorf("%s: %s", examplesPath(pack, true), d)
			}
			// The baseline in TestExamplesHeldOutAccuracy is fair only if
			// the pack's inline examples do not hold the held-out rows.
			for _, d := range nearDuplicates(inlineExamples(t, pack), held, 0.8) {
				t.Errorf("%s: %s (of the pack's inline examples)", examplesPath(pack, true), d)
			}
		})
	}
}

// TestExamplesHeldOutAccuracy trains the pack's naive Bayes classifier on
// the training file and measures it on the held-out file, per category,
// against the baseline of the pack's own inline examples. Run with -v to
// read the table.
func TestExamplesHeldOutAccuracy(t *testing.T) {
	for _, pack := range slices.Sorted(maps.Keys(examplesMinimum)) {
		min := examplesMinimum[pack]
		t.Run(pack, func(t *testing.T) {
			p := loadPack(t, pack)
			held := readExamples(t, examplesPath(pack, true))
			cfg := p.Categories.Classifier
			shipped := heldOutAccuracy(router.TrainClassifier(p.Categories.Examples, cfg), held)
			filesOnly := heldOutAccuracy(router.TrainClassifier(exampleSets(readExamples(t, examplesPath(pack, false))), cfg), held)
			baseline := heldOutAccuracy(router.TrainClassifier(inlinePack(t, pack).Categories.Examples, cfg), held)
			t.Logf("%s held-out accuracy (%d rows): as shipped %.1f %%, examples file alone %.1f %%, inline examples alone %.1f %%",
				pack, len(held), 100*shipped.overall(), 100*filesOnly.overall(), 100*baseline.overall())
			for _, c := range packCategories(t, pack) {
				t.Logf("  %-8s %5.1f %%  %5.1f %%  %5.1f %%  (%d)", c, 100*shipped.of(c), 100*filesOnly.of(c), 100*baseline.of(c), shipped.total[c])
			}
			if shipped.overall() < min.accuracy {
				t.Errorf("%s: held-out accuracy %.3f, want ≥ %.2f", pack, shipped.overall(), min.accuracy)
			}
			if shipped.overall() < baseline.overall() {
				t.Errorf("%s: the pack as shipped %.3f does worse than its inline examples alone %.3f", pack, shipped.overall(), baseline.overall())
			}
		})
	}
}

// TestNearDuplicates checks the held-out check itself: a row that differs
// from a training row by a character or two is caught, a different
// phrasing of the same complaint is not.
func TestNearDuplicates(t *testing.T) {
	train := []exampleRow{{text: "上个月话费无故多扣了50元，打了三次客服都说在处理", category: "费用问题", line: 2}}
	tests := []struct {
		text string
		want int
	}{
		{"上个月话费无故多扣了50元，打了三次客服都说再处理", 1},
		{"上个月话费无故多扣了50元，打了三次客服都说在处理。", 1},
		{"这个月账单莫名多出五十块，客服一直说在核实", 0},
	}
	for _, tt := range tests {
		got := nearDuplicates(train, []exampleRow{{text: tt.text, category: "费用问题", line: 2}}, 0.8)
		if len(got) != tt.want {
			t.Errorf("%q: %d near duplicates %v, want %d", tt.text, len(got), got, tt.want)
		}
	}
}

func examplesPath(pack string, heldOut bool) string {
	if heldOut {
		return filepath.Join("policies", "examples", pack+".heldout.csv")
	}
	return filepath.Join("policies", "examples", pack+".csv")
}

// loadPack loads policies/<pack>.yaml.
func loadPack(tb testing.TB, pack string) *router.Pack {
	tb.Helper()
	p, err := router.LoadPack(filepath.Join("policies", pack+".yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// packCategories returns the names of the pack's categories, in the pack's
// order.
func packCategories(tb testing.TB, pack string) []string {
	tb.Helper()
	var names []string
	for _, d := range loadPack(tb, pack).Categories.List {
		names = append(names, d.Name)
	}
	return names
}

// inlinePack is policies/<pack>.yaml without its examples file: the
// examples written in the pack alone.
func inlinePack(tb testing.TB, pack string) *router.Pack {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("policies", pack+".yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	without := regexp.MustCompile(`(?m)^  examples_file: .*\n`).ReplaceAll(data, nil)
	if bytes.Equal(without, data) {
		tb.Fatalf("%s names no examples_file", pack)
	}
	p, err := router.ParsePack(without)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// inlineExamples returns the examples the pack itself holds, as rows.
func inlineExamples(tb testing.TB, pack string) []exampleRow {
	tb.Helper()
	var rows []exampleRow
	for _, set := range inlinePack(tb, pack).Categories.Examples {
		for _, text := range set.Texts {
			rows = append(rows, exampleRow{text: text, category: set.Category, line: len(rows) + 1})
		}
	}
	return rows
}

// readExamples reads an examples file: UTF-8 CSV with the header 内容,类别.
func readExamples(tb testing.TB, path string) []exampleRow {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	records, err := r.ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(records) == 0 || !slices.Equal(records[0], []string{"内容", "类别"}) {
		tb.Fatalf("%s: header %q, want 内容,类别", path, records[:min(1, len(records))])
	}
	var rows []exampleRow
	for i, rec := range records[1:] {
		rows = append(rows, exampleRow{text: rec[0], category: rec[1], line: i + 2})
	}
	return rows
}

// checkExamples checks one file's rows against the pack's categories and
// the minimum per category.
func checkExamples(tb testing.TB, path string, rows []exampleRow, cats []string, minimum int) {
	tb.Helper()
	count := map[string]int{}
	seen := map[string]int{}
	for _, r := range rows {
		if !slices.Contains(cats, r.category) {
			tb.Errorf("%s:%d: label %q is not a category of the pack %v", path, r.line, r.category, cats)
		}
		n := utf8.RuneCountInString(strings.TrimSpace(r.text))
		if n < 5 || n > 300 {
			tb.Errorf("%s:%d: %d characters, want 5–300", path, r.line, n)
		}
		if first, ok := seen[r.text]; ok {
			tb.Errorf("%s:%d: duplicates line %d", path, r.line, first)
		}
		seen[r.text] = r.line
		count[r.category]++
	}
	for _, c := range cats {
		if count[c] < minimum {
			tb.Errorf("%s: %s has %d rows, want ≥ %d", path, c, count[c], minimum)
		}
	}
}

// nearDuplicates lists the held-out rows whose character bigrams overlap
// a training row's by a Jaccard index of at least threshold.
func nearDuplicates(train, held []exampleRow, threshold float64) []string {
	grams := make([]map[string]bool, len(train))
	for i, r := range train {
		grams[i] = router.Bigrams(r.text)
	}
	var out []string
	for _, h := range held {
		hg := router.Bigrams(h.text)
		for i, g := range grams {
			if j := router.Jaccard(hg, g); j >= threshold {
				out = append(out, fmt.Sprintf("line %d nearly repeats training line %d (Jaccard %.2f)", h.line, train[i].line, j))
			}
		}
	}
	return out
}

// exampleSets groups rows by category for router.TrainClassifier.
func exampleSets(rows []exampleRow) []router.ExampleSet {
	var sets []router.ExampleSet
	index := map[string]int{}
	for _, r := range rows {
		i, ok := index[r.category]
		if !ok {
			i = len(sets)
			index[r.category] = i
			sets = append(sets, router.ExampleSet{Category: r.category})
		}
		sets[i].Texts = append(sets[i].Texts, r.text)
	}
	return sets
}

// accuracy counts right answers per category.
type accuracy struct {
	right, total map[string]int
}

func heldOutAccuracy(m *router.Classifier, held []exampleRow) accuracy {
	a := accuracy{right: map[string]int{}, total: map[string]int{}}
	for _, r := range held {
		a.total[r.category]++
		if m.Predict(r.text).Category == r.category {
			a.right[r.category]++
		}
	}
	return a
}

func (a accuracy) of(category string) float64 {
	if a.total[category] == 0 {
		return 0
	}
	return float64(a.right[category]) / float64(a.total[category])
}

func (a accuracy) overall() float64 {
	right, total := 0, 0
	for c, n := range a.total {
		right += a.right[c]
		total += n
	}
	if total == 0 {
		return 0
	}
	return float64(right) / float64(total)
}

// errorRecorder is a testing.TB that records errors instead of failing.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Helper() {}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckExamples checks that the file check catches a label outside
// the pack, a duplicate row, a row too short, and a category with too few
// rows.
func TestCheckExamples(t *testing.T) {
	cats := []string{"费用问题", "网络问题"}
	good := []exampleRow{
		{text: "话费多扣了30块，要求退还", category: "费用问题", line: 2},
		{text: "家里宽带天天掉线，光猫亮红灯", category: "网络问题", line: 3},
	}
	tests := []struct {
		name string
		rows []exampleRow
		want string
	}{
		{"good", good, ""},
		{"unknown label", append(slices.Clone(good), exampleRow{text: "营业员态度太差了，爱答不理", category: "服务问题", line: 4}), "is not a category"},
		{"duplicate", append(slices.Clone(good), exampleRow{text: good[0].text, category: "费用问题", line: 4}), "duplicates line 2"},
		{"too short", append(slices.Clone(good), exampleRow{text: "没网", category: "网络问题", line: 4}), "want 5–300"},
		{"too few", good[:1], "网络问题 has 0 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &errorRecorder{TB: t}
			checkExamples(r, "x.csv", tt.rows, cats, 1)
			switch {
			case tt.want == "" && len(r.errors) > 0:
				t.Errorf("errors %q, want none", r.errors)
			case tt.want != "" && !slices.ContainsFunc(r.errors, func(e string) bool { return strings.Contains(e, tt.want) }):
				t.Errorf("errors %q, want one containing %q", r.errors, tt.want)
			}
		})
	}
}
