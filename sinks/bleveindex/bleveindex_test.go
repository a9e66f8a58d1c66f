package bleveindex

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// openTemp opens a new index in a temporary directory, closed at the end
// of the test.
func openTemp(tb testing.TB) *Index {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "cases.bleve"))
}

// openAt opens the index at path, closed at the end of the test.
func openAt(tb testing.TB, path string) *Index {
	tb.Helper()
	idx, err := Open(Config{Path: path}, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := idx.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return idx
}

func TestContract(t *testing.T) {
	caseindextest.Run(t, func(tb testing.TB) caseindex.Index { return openTemp(tb) })
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr bool
	}{
		{DefaultConfig(), false},
		{Config{Path: "/var/lib/tousu/cases.bleve"}, false},
		{Config{}, true},
		{Config{Path: "   "}, true},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err != nil) != tc.wantErr {
			t.Errorf("Validate(%+v) = %v, want error %v", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not an index"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"a file", file},
		{"a directory that is no index", dir},
		{"below a file", filepath.Join(file, "cases.bleve")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := Open(Config{Path: tc.path}, zap.NewNop())
			if err == nil {
				_ = idx.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
		})
	}
}

func TestReopenKeepsCases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "cases.bleve")
	c := caseindextest.NewCase(t, "kept", func(c *router.Case) {
		c.Revision = 5
		c.Description = "手机信号差了三天"
		c.Deadline = caseindextest.Base.Add(time.Hour)
	})

	first, err := Open(Config{Path: path}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Upsert(ctx, []router.Case{c, caseindextest.NewCase(t, "other")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	idx := openAt(t, path)
	got, err := idx.Get(ctx, "kept")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.Revision != 5 || got.Description != c.Description {
		t.Errorf("after reopen: %+v", got)
	}
	res, err := idx.Search(ctx, caseindex.Query{Text: "信号差", DueBefore: caseindextest.Base.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || res.Hits[0].ID != "kept" {
		t.Errorf("search after reopen: total %d, hits %v", res.Total, res.Hits)
	}
	// The stored revision still guards against stale writes.
	stale := c
	stale.Revision = 4
	stale.Description = "旧的描述"
	if err := idx.Upsert(ctx, []router.Case{stale}); err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Get(ctx, "kept"); got.Revision != 5 {
		t.Errorf("stale write after reopen replaced revision 5 with %d", got.Revision)
	}
}

// TestMappingVersionMismatch checks that an index of a mapping version
// Open cannot upgrade (one of a newer tousu, or no tousu index at all) is
// refused with an error naming both versions, and left alone.
func TestMappingVersionMismatch(t *testing.T) {
	for _, found := range []string{"tousu-cases-0", "tousu-cases-9", ""} {
		t.Run(found, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cases.bleve")
			idx, err := Open(Config{Path: path}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if err := idx.bleve.SetInternal(mappingVersionKey, []byte(found)); err != nil {
				t.Fatal(err)
			}
			if err := idx.Close(); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				idx, err = Open(Config{Path: path}, zap.NewNop())
				if err == nil {
					_ = idx.Close()
					t.Fatal("Open of an index with another mapping version succeeded")
				}
				for _, want := range []string{fmt.Sprintf("%q", found), mappingVersion, "newer version of tousu"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %s", err, want)
					}
				}
			}
		})
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	idx, err := Open(Config{Path: filepath.Join(t.TempDir(), "cases.bleve")}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]error{
		"Upsert": idx.Upsert(ctx, []router.Case{caseindextest.NewCase(t, "x")}),
		"Search": func() error { _, err := idx.Search(ctx, caseindex.Query{}); return err }(),
		"Get":    func() error { _, err := idx.Get(ctx, "x"); return err }(),
		"Ping":   idx.Ping(ctx),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", name, err)
		}
	}
}

// TestPhraseTerms checks which positions of a text's phrase also match the
// bigrams holding their character: only a lone character at an end of the
// text, towards that end, when its other side is no Han run.
func TestPhraseTerms(t *testing.T) {
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	a := m.AnalyzerNamed(textAnalyzer)
	type pt = phraseTerm
	tests := []struct {
		text string
		want []phraseTerm
	}{
		{"水", []pt{{"水", true, true}}},
		{" 水！", []pt{{"水", true, true}}},
		{"停水", []pt{{"停水", false, false}}},
		{"信号差", []pt{{"信号", false, false}, {"号差", false, false}}},
		{"5G网", []pt{{"5g", false, false}, {"网", false, true}}},
		{"网 5G", []pt{{"网", true, false}, {"5g", false, false}}},
		{"器E5故", []pt{{"器", true, false}, {"e5", false, false}, {"故", false, true}}},
		{"A水B", []pt{{"a", false, false}, {"水", false, false}, {"b", false, false}}},
		{"5G网络", []pt{{"5g", false, false}, {"网络", false, false}}},
		// A gap does not end a run: no lone character here.
		{"水 电费", []pt{{"水电", false, false}, {"电费", false, false}}},
		{"信号 差", []pt{{"信号", false, false}, {"号差", false, false}}},
		{"水、电", []pt{{"水电", false, false}}},
		{"水 5G 电", []pt{{"水", true, false}, {"5g", false, false}, {"电", false, true}}},
		{"ORD12345", []pt{{"ord12345", false, false}}},
		{"！？", []pt{}},
	}
	for _, tc := range tests {
		if got := phraseTerms(a.Analyze([]byte(tc.text))); !slices.Equal(got, tc.want) {
			t.Errorf("phraseTerms(%q) = %+v, want %+v", tc.text, got, tc.want)
		}
	}
}

// TestHanBigram checks the terms and positions of the text analyser: a
// Han run is bigrams, also across punctuation, spaces and line breaks,
// and a Latin word or number ends it.
func TestHanBigram(t *testing.T) {
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	a := m.AnalyzerNamed(textAnalyzer)
	tests := []struct {
		text string
		want []string // term/type
	}{
		{"信号差", []string{"信号/D", "号差/D"}},
		{"手机信号，差得很", []string{"手机/D", "机信/D", "信号/D", "号差/D", "差得/D", "得很/D"}},
		{"信号 差", []string{"信号/D", "号差/D"}},
		{"信号\u3000差", []string{"信号/D", "号差/D"}},
		{"信号\r\n差", []string{"信号/D", "号差/D"}},
		{"信号……差！", []string{"信号/D", "号差/D"}},
		{"水、电费", []string{"水电/D", "电费/D"}},
		{"水", []string{"水/S"}},
		{"，水。", []string{"水/S"}},
		{"水3电", []string{"水/S", "3/N", "电/S"}},
		{"5G，网络", []string{"5g/A", "网络/D"}},
		{"ORD１２３４５发货", []string{"ord12345/A", "发货/D"}},
		{"热水器E5故障", []string{"热水/D", "水器/D", "e5/A", "故障/D"}},
		{"カタカナ，ひら", []string{"カタ/D", "タカ/D", "カナ/D", "ナひ/D", "ひら/D"}},
		{"keeps, rebooting", []string{"keeps/A", "rebooting/A"}},
		{"！？ ", nil},
	}
	types := map[analysis.TokenType]string{analysis.Single: "S", analysis.Double: "D", analysis.AlphaNumeric: "A", analysis.Numeric: "N"}
	for _, tc := range tests {
		var got []string
		for i, tok := range a.Analyze([]byte(tc.text)) {
			if tok.Position != i+1 {
				t.Errorf("%q: token %d (%s) at position %d", tc.text, i, tok.Term, tok.Position)
			}
			got = append(got, string(tok.Term)+"/"+types[tok.Type])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("analyse %q = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestSingleCharacterTerms checks that a lone character in a quoted
// phrase finds its
// documents through the bigrams holding it at the start, the end and
// inside a run, and through itself where it stands alone, and that next
// to a Latin word it is found only where that word is its neighbour.
func TestSingleCharacterTerms(t *testing.T) {
	idx := openTemp(t)
	ctx := context.Background()
	cases := []router.Case{
		caseindextest.NewCase(t, "first", func(c *router.Case) { c.Description = "差评" }),
		caseindextest.NewCase(t, "last", func(c *router.Case) { c.Description = "信号差" }),
		caseindextest.NewCase(t, "inside", func(c *router.Case) { c.Description = "很差劲" }),
		caseindextest.NewCase(t, "alone", func(c *router.Case) { c.Description = "网络 差 到 极点" }),
		caseindextest.NewCase(t, "subject", func(c *router.Case) { c.Subject = "差价" }),
		caseindextest.NewCase(t, "other", func(c *router.Case) { c.Description = "相差无几 x差y" }),
		caseindextest.NewCase(t, "none", func(c *router.Case) { c.Description = "信号很好" }),
	}
	if err := idx.Upsert(ctx, cases); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []string
	}{
		{"差", []string{"first", "last", "inside", "alone", "subject", "other"}},
		{"差评", []string{"first"}},
		{"X差", []string{"other"}},
		{"差Y", []string{"other"}},
		{"x差y", []string{"other"}},
		{"差x", nil},
		{"Y差", nil},
		{"相", []string{"other"}},
		{"几", []string{"other"}},
		{"无", []string{"other"}},
	}
	for _, tc := range tests {
		res, err := idx.Search(ctx, caseindex.Query{Text: `"` + tc.text + `"`}) // a phrase
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %q: %v, want %v", tc.text, got, tc.want)
		}
	}
}

// benchCases returns n cases with varied text and fields.
func benchCases(tb testing.TB, prefix string, n int) []router.Case {
	tb.Helper()
	texts := []string{
		"手机信号差了三天，打客服电话一直占线",
		"宽带从周一开始无法上网，报修后无人上门",
		"订单号ORD%05d一直没有发货，要求退款",
		"5G套餐资费与宣传不符，多扣了话费",
		"信号还行但是速度很差，晚上几乎不能用",
	}
	categories := []string{"network", "billing", "service", "delivery"}
	statuses := []router.Status{router.StatusOpen, router.StatusInProgress, router.StatusResolved}
	contactTypes := []string{"投诉", "咨询", "查询", "障碍申告"}
	grades := []string{"一般", "较大", "重大"}
	departments := []string{"网络部", "计费中心", "客服中心"}
	out := make([]router.Case, n)
	for i := range n {
		out[i] = caseindextest.NewCase(tb, fmt.Sprintf("%s%07d", prefix, i), func(c *router.Case) {
			c.Description = fmt.Sprintf(texts[i%len(texts)], i)
			c.Subject = "投诉" + categories[i%len(categories)]
			c.Category = categories[i%len(categories)]
			c.Status = statuses[i%len(statuses)]
			c.ReceivedAt = caseindextest.Base.Add(time.Duration(i) * time.Second)
			c.Deadline = c.ReceivedAt.Add(48 * time.Hour)
			c.Pack = "telecom@1"
			c.ContactType = contactTypes[i%len(contactTypes)]
			c.Grade = grades[i%len(grades)]
			c.Validity = router.Validity{Valid: i%7 != 0}
			c.Route = router.Route{Department: departments[i%len(departments)], Queue: "queue-" + categories[i%len(categories)]}
		})
	}
	return out
}

// BenchmarkUpsert measures durable upserts in batches of 100 new cases.
func BenchmarkUpsert(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			idx := openBench(b)
			ctx := context.Background()
			batch := 0
			for b.Loop() {
				cases := benchCases(b, fmt.Sprintf("b%d-", batch), size)
				batch++
				if err := idx.Upsert(ctx, cases); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*size)/b.Elapsed().Seconds(), "cases/s")
		})
	}
}

// BenchmarkSearch measures searches over 5000 cases.
func BenchmarkSearch(b *testing.B) {
	idx := openBench(b)
	ctx := context.Background()
	all := benchCases(b, "s", 5000)
	for i := 0; i < len(all); i += 500 {
		if err := idx.Upsert(ctx, all[i:i+500]); err != nil {
			b.Fatal(err)
		}
	}
	queries := map[string]caseindex.Query{
		"phrase":          {Text: "信号差"},
		"one character":   {Text: "差"},
		"phrase+filter":   {Text: "信号差", Filters: map[string]string{"status": string(router.StatusOpen)}},
		"all by deadline": {Sort: caseindex.SortDeadline},
		"due before":      {DueBefore: caseindextest.Base.Add(50 * time.Hour), Filters: map[string]string{"category": "billing"}},
		"policy filters": {Sort: caseindex.SortDeadline, Filters: map[string]string{
			"department": "网络部", "validity": caseindex.ValidityValid, "contact_type": "投诉"}},
	}
	for name, q := range queries {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := idx.Search(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func openBench(b *testing.B) *Index {
	b.Helper()
	idx, err := Open(Config{Path: filepath.Join(b.TempDir(), "cases.bleve")}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = idx.Close() })
	return idx
}

// TestFilterFields checks that no filter of caseindex.Filters takes the
// field of something else in the index document, and that a document
// carries each filter's values and the facet terms.
func TestFilterFields(t *testing.T) {
	reserved := []string{"id", fieldRevision, fieldCase, fieldFacets, "customer", "received_at", "updated_at", "deadline"}
	reserved = append(reserved, textFields...)
	for _, f := range caseindex.Filters {
		if slices.Contains(reserved, f.IndexField()) || strings.Contains(f.Name, "=") {
			t.Errorf("filter %s: field %s is taken, or the name holds '='", f.Name, f.IndexField())
		}
	}
	c := caseindextest.NewCase(t, "f1", func(c *router.Case) {
		c.References = []string{"TS1", "TS2"}
		c.Grade = "重大"
		c.Route.Queue = "a=b"
	})
	doc := document(c, nil, nil, time.Now())
	if got := doc["references"]; !slices.Equal(got.([]string), []string{"TS1", "TS2"}) {
		t.Errorf("references %v", got)
	}
	if doc["grade"] != "重大" || doc["queue"] != "a=b" || doc["department"] != nil {
		t.Errorf("document %v", doc)
	}
	want := []string{"channel=webform", "category=other", "status=open", "grade=重大", "queue=a=b"}
	if got := doc[fieldFacets].([]string); !slices.Equal(got, want) {
		t.Errorf("facet terms %q, want %q", got, want)
	}
}

func TestTrimFacet(t *testing.T) {
	counts := map[string]int{"a": 1, "b": 3, "c": 1, "d": 2, "e": 1}
	trimFacet(counts, 3)
	if want := map[string]int{"b": 3, "d": 2, "a": 1}; !maps.Equal(counts, want) {
		t.Errorf("trimmed to %v, want %v", counts, want)
	}
	small := map[string]int{"x": 1}
	trimFacet(small, 3)
	if len(small) != 1 {
		t.Errorf("a small facet was trimmed: %v", small)
	}
}
