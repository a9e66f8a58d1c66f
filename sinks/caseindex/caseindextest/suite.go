// Package caseindextest is the contract suite of caseindex.Index: the
// behaviour every backend (Bleve embedded, Elasticsearch) must show, so that
// the embedded and the distributed mode find the same cases.
package caseindextest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Base is the instant the suite's cases are received around. Offsets from
// it are whole seconds, which every backend stores exactly.
var Base = time.Date(2024, 5, 6, 9, 0, 0, 0, time.UTC)

// NewCase returns a valid case with the id, revision 1, received at Base,
// with the changes applied in order.
func NewCase(tb testing.TB, id string, changes ...func(*router.Case)) router.Case {
	tb.Helper()
	c := router.Case{
		V:           router.SchemaVersion,
		ID:          id,
		Revision:    1,
		References:  []string{"TS" + id},
		Complaints:  []string{"webform:" + id},
		Channel:     ingest.ChannelWebForm,
		Customer:    normalize.Customer{Name: "张三", Phone: "+8613800138000", Key: "+8613800138000"},
		Description: "测试投诉内容",
		Category:    "other",
		Status:      router.StatusOpen,
		ReceivedAt:  Base,
		UpdatedAt:   Base,
	}
	for _, change := range changes {
		change(&c)
	}
	return c
}

// Run runs the contract suite. open must return a new, empty index for each
// call and close it when the test ends (t.Cleanup). Besides the rules of
// caseindex.Index the suite checks that Result.Hits is never nil, that
// Result.Facets has an entry for every caseindex.FacetFields name, that
// every row of caseindex.Filters filters and counts as its Value says, that an
// invalid query fails with a *caseindex.ParamError and that an Upsert
// holding a case without ID fails with caseindex.ErrInvalidCase and writes
// nothing.
func Run(t *testing.T, open func(t testing.TB) caseindex.Index) {
	tests := []struct {
		name string
		run  func(t *testing.T, idx caseindex.Index)
	}{
		{"UpsertIsIdempotent", testUpsertIdempotent},
		{"GetReturnsCompleteCase", testGetComplete},
		{"GetNotFound", testGetNotFound},
		{"StaleRevisionsIgnored", testStaleRevisions},
		{"ConcurrentUpserts", testConcurrentUpserts},
		{"UpdateReplacesIndexedFields", testUpdateReplaces},
		{"PhraseSearch", testPhraseSearch},
		{"ShortText", testShortText},
		{"PhraseAcrossPunctuation", testPhraseAcrossPunctuation},
		{"TermSearch", testTermSearch},
		{"TermRanking", testTermRanking},
		{"TextFindsKeywords", testTextFindsKeywords},
		{"Filters", testFilters},
		{"ThreadLookup", testThreadLookup},
		{"PolicyFilters", testPolicyFilters},
		{"PeopleFilters", testPeopleFilters},
		{"Scope", testScope},
		{"EveryFilter", testEveryFilter},
		{"Facets", testFacets},
		{"FacetTopValues", testFacetTopValues},
		{"SortByDeadline", testSortByDeadline},
		{"DueBefore", testDueBefore},
		{"ReceivedFromTo", testFromTo},
		{"SortByReceivedAt", testSortByReceivedAt},
		{"Pagination", testPagination},
		{"InvalidQuery", testInvalidQuery},
		{"QuerySyntaxIsText", testQuerySyntaxIsText},
		{"InvalidCaseRejected", testInvalidCase},
		{"EmptyUpsert", testEmptyUpsert},
		{"CanceledContext", testCanceledContext},
		{"Ping", testPing},
		{"SLAReport", testSLAReport},
		{"ErasedCaseNotFound", testErasedCaseNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, open(t))
		})
	}
}

// by returns the filters of a query from name, value pairs.
func by(pairs ...string) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// upsert writes the cases and fails the test on error.
func upsert(tb testing.TB, idx caseindex.Index, cases ...router.Case) {
	tb.Helper()
	if err := idx.Upsert(context.Background(), cases); err != nil {
		tb.Fatalf("Upsert(%d cases): %v", len(cases), err)
	}
}

// find searches and fails the test on error.
func find(tb testing.TB, idx caseindex.Index, q caseindex.Query) caseindex.Result {
	tb.Helper()
	res, err := idx.Search(context.Background(), q)
	if err != nil {
		tb.Fatalf("Search(%+v): %v", q, err)
	}
	if res.Hits == nil {
		tb.Fatalf("Search(%+v): Hits is nil, want an empty slice", q)
	}
	for _, f := range caseindex.FacetFields {
		if _, ok := res.Facets[f]; !ok {
			tb.Fatalf("Search(%+v): no facet %q in %v", q, f, res.Facets)
		}
	}
	return res
}

// ids lists the ids of the hits in order.
func ids(res caseindex.Result) []string {
	out := make([]string, 0, len(res.Hits))
	for _, c := range res.Hits {
		out = append(out, c.ID)
	}
	return out
}

// sameSet reports whether a and b hold the same ids in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// mustGet returns the case and fails the test on error.
func mustGet(tb testing.TB, idx caseindex.Index, id string) router.Case {
	tb.Helper()
	c, err := idx.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("Get(%q): %v", id, err)
	}
	return c
}

// sameCase fails the test unless got and want encode to the same JSON, the
// form a case travels in.
func sameCase(tb testing.TB, got, want router.Case) {
	tb.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		tb.Fatal(err)
	}
	if string(g) != string(w) {
		tb.Errorf("case differs\n got: %s\nwant: %s", g, w)
	}
}

func testUpsertIdempotent(t *testing.T, idx caseindex.Index) {
	c := NewCase(t, "c1")
	upsert(t, idx, c)
	upsert(t, idx, c)
	upsert(t, idx, c, c)
	res := find(t, idx, caseindex.Query{})
	if res.Total != 1 || len(res.Hits) != 1 {
		t.Fatalf("after upserting one case four times: total %d, hits %v; want 1", res.Total, ids(res))
	}
	sameCase(t, res.Hits[0], c)
	sameCase(t, mustGet(t, idx, "c1"), c)
}

func testGetComplete(t *testing.T, idx caseindex.Index) {
	shanghai := time.FixedZone("CST", 8*60*60)
	c := NewCase(t, "full", func(c *router.Case) {
		c.Revision = 7
		c.References = []string{"TS0000000001", "TS0000000002"}
		c.Complaints = []string{"email:a", "webform:b"}
		c.Channel = ingest.ChannelEmail
		c.Source = "support@example.com"
		c.Customer = normalize.Customer{Name: "李四", Phone: "+8613912345678", Email: "li@example.com", Key: "+8613912345678"}
		c.Subject = "宽带故障"
		c.Description = "家里宽带从周一开始无法上网，<b>多次</b>报修未果。"
		c.Attachments = []ingest.Attachment{{Name: "照片.jpg", Type: "image/jpeg", Size: 1234, SHA256: "ab12"}}
		c.Category = "network"
		c.Decision = router.Decision{Category: "network", Reason: "keyword 宽带", Confidence: 0.8}
		c.Status = router.StatusInProgress
		c.ReceivedAt = time.Date(2024, 5, 6, 17, 30, 0, 0, shanghai)
		c.UpdatedAt = time.Date(2024, 5, 7, 8, 0, 0, 0, shanghai)
		c.Deadlines = []router.Deadline{
			{Name: "reply", Due: time.Date(2024, 5, 8, 17, 30, 0, 0, shanghai), Basis: "《电信用户申诉处理办法》第十六条"},
		}
		c.Deadline = time.Date(2024, 5, 8, 17, 30, 0, 0, shanghai)
	})
	upsert(t, idx, c)
	sameCase(t, mustGet(t, idx, "full"), c)
	res := find(t, idx, caseindex.Query{Text: "宽带故障"})
	if len(res.Hits) != 1 {
		t.Fatalf("search 宽带故障: hits %v, want [full]", ids(res))
	}
	sameCase(t, res.Hits[0], c)
}

func testGetNotFound(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, NewCase(t, "present"))
	for _, id := range []string{"absent", "presen", ""} {
		_, err := idx.Get(context.Background(), id)
		if !errors.Is(err, caseindex.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

// rev returns a change setting the revision and description.
func rev(n int64, description string) func(*router.Case) {
	return func(c *router.Case) {
		c.Revision = n
		c.Description = description
	}
}

func testStaleRevisions(t *testing.T, idx caseindex.Index) {
	tests := []struct {
		name    string
		calls   [][]int64 // revisions per Upsert call, in order
		wantRev int64
	}{
		{"older after newer", [][]int64{{5}, {3}}, 5},
		{"newer after older", [][]int64{{3}, {5}}, 5},
		{"older after newer in one batch", [][]int64{{5, 3}}, 5},
		{"newer after older in one batch", [][]int64{{3, 5}}, 5},
		{"older batch after newer batch", [][]int64{{4, 6}, {2, 5}}, 6},
		{"many stale updates", [][]int64{{9}, {1}, {8}, {2}}, 9},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("stale%d", i)
			for _, call := range tc.calls {
				var batch []router.Case
				for _, r := range call {
					batch = append(batch, NewCase(t, id, rev(r, fmt.Sprintf("第%d版描述", r))))
				}
				upsert(t, idx, batch...)
			}
			got := mustGet(t, idx, id)
			if got.Revision != tc.wantRev {
				t.Fatalf("revision %d, want %d", got.Revision, tc.wantRev)
			}
			want := fmt.Sprintf("第%d版描述", tc.wantRev)
			if got.Description != want {
				t.Errorf("description %q, want %q", got.Description, want)
			}
			res := find(t, idx, caseindex.Query{Text: quoted(want)})
			if !slices.Contains(ids(res), id) {
				t.Errorf("search %q: hits %v, want %s", want, ids(res), id)
			}
			for _, call := range tc.calls {
				for _, r := range call {
					if r == tc.wantRev {
						continue
					}
					old := fmt.Sprintf("第%d版描述", r)
					if res := find(t, idx, caseindex.Query{Text: quoted(old)}); slices.Contains(ids(res), id) {
						t.Errorf("search %q finds %s: a stale revision is indexed", old, id)
					}
				}
			}
		})
	}
}

func testConcurrentUpserts(t *testing.T, idx caseindex.Index) {
	const writers, revisions = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*revisions)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Writers send the revisions in different orders.
			for i := range revisions {
				r := int64((i*(w+1))%revisions + 1)
				c := NewCase(t, "shared", rev(r, fmt.Sprintf("第%d版描述", r)))
				own := NewCase(t, fmt.Sprintf("own%d", w))
				if err := idx.Upsert(context.Background(), []router.Case{c, own}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Upsert: %v", err)
	}
	if got := mustGet(t, idx, "shared"); got.Revision != revisions {
		t.Errorf("revision after concurrent upserts %d, want %d", got.Revision, revisions)
	}
	if res := find(t, idx, caseindex.Query{}); res.Total != writers+1 {
		t.Errorf("total %d, want %d: %v", res.Total, writers+1, ids(res))
	}
}

func testUpdateReplaces(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, NewCase(t, "u", func(c *router.Case) {
		c.Description = "手机信号差了三天"
		c.Status = router.StatusOpen
		c.Category = "network"
		c.References = []string{"TSOLD"}
		c.Pack = "telecom@1"
		c.Grade = "重大"
		c.Validity = router.Validity{Valid: true}
		c.Route = router.Route{Department: "网络部", Queue: "network-1"}
	}))
	upsert(t, idx, NewCase(t, "u", func(c *router.Case) {
		c.Revision = 2
		c.Description = "账单多扣了话费"
		c.Status = router.StatusResolved
		c.Category = "billing"
		c.References = []string{"TSNEW"}
		c.Pack = "telecom@2"
		c.Validity = router.Validity{Valid: false, Reason: "非本企业业务"}
		c.Route = router.Route{Department: "计费中心"}
	}))
	tests := []struct {
		q    caseindex.Query
		want []string
	}{
		{caseindex.Query{Text: "信号差"}, nil},
		{caseindex.Query{Text: "多扣"}, []string{"u"}},
		{caseindex.Query{Filters: by("status", "open")}, nil},
		{caseindex.Query{Filters: by("status", "resolved")}, []string{"u"}},
		{caseindex.Query{Filters: by("category", "network")}, nil},
		{caseindex.Query{Filters: by("reference", "TSOLD")}, nil},
		{caseindex.Query{Filters: by("reference", "TSNEW")}, []string{"u"}},
		{caseindex.Query{Filters: by("grade", "重大")}, nil}, // the grade is gone
		{caseindex.Query{Filters: by("validity", "valid")}, nil},
		{caseindex.Query{Filters: by("validity", "invalid")}, []string{"u"}},
		{caseindex.Query{Filters: by("department", "网络部")}, nil},
		{caseindex.Query{Filters: by("department", "计费中心")}, []string{"u"}},
		{caseindex.Query{Filters: by("queue", "network-1")}, nil},
		{caseindex.Query{Filters: by("pack", "telecom@1")}, nil},
		{caseindex.Query{Filters: by("pack", "telecom@2")}, []string{"u"}},
	}
	for _, tc := range tests {
		if got := ids(find(t, idx, tc.q)); !sameSet(got, tc.want) {
			t.Errorf("Search(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	res := find(t, idx, caseindex.Query{})
	for field, want := range map[string]map[string]int{
		"status":     {"resolved": 1},
		"grade":      {},
		"validity":   {"invalid": 1},
		"department": {"计费中心": 1},
		"queue":      {},
	} {
		if got := res.Facets[field]; !mapsEqual(got, want) {
			t.Errorf("%s facet %v, want %v", field, got, want)
		}
	}
}

// textCase is the text of a case.
type textCase struct{ id, subject, description string }

// upsertTexts writes a case of each text, received an hour apart, the
// first newest, and returns their ids.
func upsertTexts(tb testing.TB, idx caseindex.Index, corpus []textCase) []string {
	tb.Helper()
	var all []string
	for i, c := range corpus {
		upsert(tb, idx, NewCase(tb, c.id, func(k *router.Case) {
			k.Subject = c.subject
			k.Description = c.description
			k.ReceivedAt = Base.Add(-time.Duration(i) * time.Hour)
		}))
		all = append(all, c.id)
	}
	return all
}

// quoted is the text as an exact phrase: in double quotes, unless it is
// blank.
func quoted(text string) string {
	if strings.TrimSpace(text) == "" {
		return text
	}
	return `"` + text + `"`
}

// testPhraseSearch checks quoted texts, exact phrases: the characters
// next to each other in their order, Latin words and numbers whole.
func testPhraseSearch(t *testing.T, idx caseindex.Index) {
	corpus := []textCase{
		{"signal", "网络故障", "手机信号差了三天"},
		{"speed", "网速慢", "信号还行但是速度很差"},
		{"5g", "5G信号差", "在家里完全用不了"},
		{"order", "退款", "订单号ORD12345一直没有发货，客服也不回复"},
		{"fullwidth", "", "订单号ＯＲＤ６７８９０未发货"},
		{"latin", "", "Router keeps rebooting, model AX3000"},
		{"broadband", "宽带断网", "从周一开始无法上网"},
	}
	all := upsertTexts(t, idx, corpus)
	tests := []struct {
		text string
		want []string
	}{
		{"信号差", []string{"signal", "5g"}},
		{"差了三天", []string{"signal"}},
		{"速度很差", []string{"speed"}},
		{"信号", []string{"signal", "speed", "5g"}},
		{"三天信号", nil},
		{"很差信号", nil},
		{"信号很差", nil},
		{"5G", []string{"5g"}},
		{"5g", []string{"5g"}},
		{"5G信号", []string{"5g"}},
		{"5G信号差", []string{"5g"}},
		{"ORD12345", []string{"order"}},
		{"ord12345", []string{"order"}},
		{"ORD1234", nil},
		{"订单号ORD12345", []string{"order"}},
		{"ORD67890", []string{"fullwidth"}},
		{"ＯＲＤ１２３４５", []string{"order"}},
		{"发货", []string{"order", "fullwidth"}},
		{"宽带断网", []string{"broadband"}},
		{"无法上网", []string{"broadband"}},
		{"keeps rebooting", []string{"latin"}},
		{"REBOOTING", []string{"latin"}},
		{"rebooting keeps", nil},
		{"ax3000", []string{"latin"}},
		{"！？", nil},
		{"   ", all},
	}
	for _, tc := range tests {
		for _, sort := range []string{"", caseindex.SortRelevance, caseindex.SortNewest} {
			res := find(t, idx, caseindex.Query{Text: quoted(tc.text), Sort: sort})
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(Text %q, Sort %q) = %v (total %d), want %v", tc.text, sort, got, res.Total, tc.want)
			}
		}
	}
}

// testShortText checks short texts: a single Han character, quoted or
// not, finds every case holding it anywhere in subject or description (an
// index of bigrams must still find it inside words), and in a quoted
// phrase a character at either end next to a Latin word or number finds
// it there inside words too, while longer phrases stay phrases.
func testShortText(t *testing.T, idx caseindex.Index) {
	corpus := []textCase{
		{"cut", "停水通知", "小区从周一开始停水，至今未恢复"},
		{"bill", "水费", "这个月的水费比上月多了一倍"},
		{"power", "停电", "昨晚停电三小时，冰箱里的东西都坏了"},
		{"heater", "", "热水器E5故障"},
		{"net", "5G网络", "5G网络很慢，网页打不开"},
		{"leak", "漏水", "楼上卫生间渗到我家天花板"},
		{"speed", "网速", "网速：差，经常掉线"},
		{"signal", "", "手机信号差了三天"},
		{"latin", "", "Router AX3000 keeps rebooting"},
	}
	upsertTexts(t, idx, corpus)
	search := func(t *testing.T, text string, want []string) {
		t.Helper()
		for _, sort := range []string{"", caseindex.SortRelevance} {
			res := find(t, idx, caseindex.Query{Text: quoted(text), Sort: sort})
			if got := ids(res); !sameSet(got, want) || res.Total != len(want) {
				t.Errorf("Search(Text %q, Sort %q) = %v (total %d), want %v", text, sort, got, res.Total, want)
			}
		}
	}

	t.Run("one character", func(t *testing.T) {
		// First, last, inside a word and alone, in subject or description.
		for _, r := range "水电差网漏障器天火雪" {
			var want []string
			for _, c := range corpus {
				if strings.ContainsRune(c.subject+c.description, r) {
					want = append(want, c.id)
				}
			}
			if r == '火' || r == '雪' {
				if len(want) != 0 {
					t.Fatalf("the corpus holds %c; the test needs a character it does not hold", r)
				}
			} else if len(want) == 0 {
				t.Fatalf("the corpus does not hold %c", r)
			}
			search(t, string(r), want)
			res := find(t, idx, caseindex.Query{Text: string(r)})
			if got := ids(res); !sameSet(got, want) {
				t.Errorf("Search(Text %q) without quotes = %v, want %v", string(r), got, want)
			}
		}
	})

	tests := []struct {
		text string
		want []string
	}{
		{" 水 ", []string{"cut", "bill", "heater", "leak"}},
		{"水！", []string{"cut", "bill", "heater", "leak"}},
		{"停水", []string{"cut"}},
		{"水费", []string{"bill"}},
		{"漏水", []string{"leak"}},
		{"水停", nil},
		{"费水", nil},
		{"停电三小时", []string{"power"}},
		{"水电", nil},
		{"5G网络", []string{"net"}},
		{"5G网", []string{"net"}},
		{"网5G", nil},
		{"5G网页", nil},
		{"热水器E5", []string{"heater"}},
		{"器E5", []string{"heater"}},
		{"E5故", []string{"heater"}},
		{"器E5故", []string{"heater"}},
		{"水E5", nil},
		{"E5障", nil},
		{"AX3000", []string{"latin"}},
	}
	for _, tc := range tests {
		search(t, tc.text, tc.want)
	}
}

// testPhraseAcrossPunctuation checks that punctuation, spaces and line
// breaks between Han characters do not break a quoted phrase (customers write
// 手机信号，差得很, agents search 信号差), while a Latin word or number
// between them does, the order of the characters still matters, and a
// phrase does not run from the subject into the description.
func testPhraseAcrossPunctuation(t *testing.T, idx caseindex.Index) {
	corpus := []textCase{
		{"comma", "", "手机信号，差得很"},
		{"space", "", "手机信号 差得很"},
		{"ideographic space", "", "手机信号\u3000差得很"},
		{"line break", "", "手机信号\r\n差得很"},
		{"list", "", "水、电费都多扣了"},
		{"far", "", "信号还行但是速度很差"},
		{"number", "", "信号3差"},
		{"latin", "", "信号 5G 差"},
		{"fields", "手机信号", "差得很"},
	}
	upsertTexts(t, idx, corpus)
	spanned := []string{"comma", "space", "ideographic space", "line break"}
	tests := []struct {
		text string
		want []string
	}{
		{"信号差", spanned},
		{"信号差得很", spanned},
		{"号差得", spanned},
		{"信号，差", spanned},
		{"信号 差", spanned},
		{"差信号", nil},
		{"信号很差", nil},
		{"水电费", []string{"list"}},
		{"水 电费", []string{"list"}},
		{"水电", []string{"list"}},
		{"电水费", nil},
		{"信号3差", []string{"number"}},
		{"信号5G差", []string{"latin"}},
		{"信号5G", []string{"latin"}},
	}
	for _, tc := range tests {
		for _, sort := range []string{"", caseindex.SortRelevance} {
			res := find(t, idx, caseindex.Query{Text: quoted(tc.text), Sort: sort})
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(Text %q, Sort %q) = %v (total %d), want %v", tc.text, sort, got, res.Total, tc.want)
			}
		}
	}
}

// termCorpus is complaints as customers write them, for searches that
// agents type without quotes.
var termCorpus = []textCase{
	{"signal", "", "手机信号差了三天，打10086也没人管"},
	{"phrase", "信号问题", "信号很差，家里基本打不了电话"},
	{"speed", "网速慢", "信号还行但是速度很差"},
	{"adsl", "宽带掉线", "家里的ADSL经常断，5G信号也不稳定"},
	{"broadband", "", "宽带报修三次了，师傅一直不上门"},
	{"bill", "话费", "这个月话费多扣了五十元"},
	{"latin", "", "Router AX3000 keeps rebooting"},
}

// testTermSearch checks texts without quotes: their terms (Han
// characters, Latin words, numbers) are found in any order and apart, in
// subject and description together, and a quarter of them (rounded
// down) may be missing; a quoted part in the same text stays a phrase.
func testTermSearch(t *testing.T, idx caseindex.Index) {
	all := upsertTexts(t, idx, termCorpus)
	tests := []struct {
		text string
		want []string
	}{
		{"信号很差", []string{"signal", "phrase", "speed"}}, // signal lacks 很, one of four
		{"信号差", []string{"signal", "phrase", "speed"}},
		{`"信号差"`, []string{"signal"}},
		{`"信号很差"`, []string{"phrase"}},
		{`＂信号很差＂`, []string{"phrase"}},
		{`“信号很差”`, []string{"phrase"}},
		{"信号很茶", []string{"phrase", "speed"}}, // a typo: three of four
		{"差信号", []string{"signal", "phrase", "speed"}},
		{"信号 差", []string{"signal", "phrase", "speed"}},
		{"扣费", []string{"bill"}},
		{"话费多扣", []string{"bill"}},
		{"话费多收", []string{"bill"}},
		{"话费多收了", []string{"bill"}}, // one of five missing
		{"话费多收取", nil},              // two of five missing
		{"宽带", []string{"adsl", "broadband"}},
		{"宽带掉线", []string{"adsl"}}, // in the subject
		{"宽带断线", []string{"adsl"}}, // 宽带 and 线 in the subject, 断 in the description
		{"宽带 ADSL", []string{"adsl"}},
		{"ADSL", []string{"adsl"}},
		{"adsl", []string{"adsl"}},
		{"ＡＤＳＬ", []string{"adsl"}},
		{"ADS", nil},
		{"5G", []string{"adsl"}},
		{"5g信号", []string{"adsl"}},
		{"10086", []string{"signal"}},
		{"打10086", []string{"signal"}},
		{"1008", nil},
		{"AX3000 rebooting", []string{"latin"}},
		{"rebooting ax3000", []string{"latin"}},
		{`宽带 "不上门"`, []string{"broadband"}},
		{`宽带 "上门不"`, nil},
		{`"5G" 宽带`, []string{"adsl"}},
		{`"信号差" 10086`, []string{"signal"}},
		{`"信号差" 宽带`, nil},
		{"信号，很差！", []string{"signal", "phrase", "speed"}},
		{"！？", nil},
		{`""`, nil},
		{`！"信号差"`, []string{"signal"}},
		{"", all},
		{"   ", all},
		{"\u3000", all}, // the ideographic space alone is blank too
	}
	for _, tc := range tests {
		for _, sort := range []string{"", caseindex.SortRelevance, caseindex.SortNewest} {
			res := find(t, idx, caseindex.Query{Text: tc.text, Sort: sort, Limit: 50})
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(Text %q, Sort %q) = %v (total %d), want %v", tc.text, sort, got, res.Total, tc.want)
			}
		}
	}
}

// testTermRanking checks the relevance order: a case holding the text
// as an exact phrase comes before those holding only its terms, whatever
// their dates.
func testTermRanking(t *testing.T, idx caseindex.Index) {
	upsertTexts(t, idx, termCorpus) // the phrase cases are not the newest
	upsert(t, idx, NewCase(t, "repeated", func(k *router.Case) {
		k.Description = "差差差 OK 很很很 OK 信号信号信号" // every term, thrice, never as a phrase
		k.ReceivedAt = Base.Add(time.Hour)
	}))
	tests := []struct {
		text  string
		first string
	}{
		{"信号很差", "phrase"},
		{"信号差", "signal"},
		{"信号差了", "signal"},
		{"很差", ""}, // phrase and speed both hold it: either first
	}
	for _, tc := range tests {
		for _, sort := range []string{"", caseindex.SortRelevance} {
			res := find(t, idx, caseindex.Query{Text: tc.text, Sort: sort})
			got := ids(res)
			if len(got) < 2 {
				t.Fatalf("Search(Text %q) = %v: too few hits to rank", tc.text, got)
			}
			switch {
			case tc.first != "" && got[0] != tc.first:
				t.Errorf("Search(Text %q, Sort %q) = %v, want %s, which holds the phrase, first", tc.text, sort, got, tc.first)
			case tc.first == "" && !sameSet(got[:2], []string{"phrase", "speed"}):
				t.Errorf("Search(Text %q, Sort %q) = %v, want phrase and speed, which hold the phrase, first", tc.text, sort, got)
			}
		}
	}
	// Other orders keep their meaning with a text.
	res := find(t, idx, caseindex.Query{Text: "信号很差", Sort: caseindex.SortNewest})
	if got := ids(res); !slices.Equal(got, []string{"repeated", "signal", "phrase", "speed"}) {
		t.Errorf("Search(Text 信号很差, newest first) = %v", got)
	}
}

// testTextFindsKeywords checks that the whole text also finds a case by
// its reference, work-order number or business type, exactly.
func testTextFindsKeywords(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, filterCorpus(t)...)
	tests := []struct {
		text string
		want []string
	}{
		{"GD20240506000117", []string{"c"}},
		{"GD20240507000042", []string{"c"}},
		{` "GD20240507000042" `, []string{"c"}},
		{"12345-0506-88", []string{"d"}},
		{"GD2024050600011", nil},
		{"gd20240506000117", nil}, // work-order numbers are exact
		{"TSB2", []string{"b"}},
		{"宽带故障", []string{"d"}},
		{"移动网络", []string{"c"}}, // the business type, though the text holds neither 移 nor 动
		{"移动", nil},
	}
	for _, tc := range tests {
		res := find(t, idx, caseindex.Query{Text: tc.text})
		if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
			t.Errorf("Search(Text %q) = %v (total %d), want %v", tc.text, got, res.Total, tc.want)
		}
	}
}

// filterCorpus is four cases across channels, categories, statuses and
// the policy's decisions; d was decided by no policy pack.
func filterCorpus(tb testing.TB) []router.Case {
	tb.Helper()
	mk := func(id string, ch ingest.Channel, cat string, st router.Status, desc string, refs ...string) func(...func(*router.Case)) router.Case {
		return func(more ...func(*router.Case)) router.Case {
			return NewCase(tb, id, append([]func(*router.Case){func(c *router.Case) {
				c.Channel = ch
				c.Category = cat
				c.Status = st
				c.Description = desc
				c.References = refs
			}}, more...)...)
		}
	}
	decided := func(source, pack, contactType, grade string, v router.Validity, route router.Route) func(*router.Case) {
		return func(c *router.Case) {
			c.Source = source
			c.Pack = pack
			c.ContactType = contactType
			c.Grade = grade
			c.Validity = v
			c.Route = route
		}
	}
	valid := router.Validity{Valid: true}
	return []router.Case{
		mk("a", ingest.ChannelWebForm, "billing", router.StatusOpen, "话费多扣了五十元", "TSA")(
			decided("", "telecom@1", "投诉", "一般", valid, router.Route{Department: "计费中心", Queue: "billing-1"})),
		mk("b", ingest.ChannelEmail, "billing", router.StatusResolved, "账单有误，话费多扣", "TSB", "TSB2")(
			decided("support@example.com", "telecom@1", "咨询", "", router.Validity{Reason: "非本企业业务", Basis: "test"},
				router.Route{Department: "计费中心", Queue: "billing-2", Owner: "agent7"}),
			messageIDs("b1@mail.example", "b2@mail.example"), assigned("agent7"),
			customer("李 明", "+8613912340001"), emailAndFiles("liming@example.cn", strings.Repeat("1a", 32), strings.Repeat("2b", 32))),
		mk("c", ingest.ChannelHotline, "network", router.StatusOpen, "手机信号差了三天", "TSC")(
			decided("hotline-bj", "telecom@2", "投诉", "重大", valid, router.Route{Department: "网络部", Queue: "network-1", Owner: "张伟"}),
			messageIDs("c1@mail.example"), assigned("王芳"), customer("王女士", "+8613912340001"),
			hotline("移动网络", "GD20240506000117", "GD20240507000042"), emailAndFiles("wang.f@example.com", strings.Repeat("2b", 32))),
		mk("d", ingest.ChannelWebForm, "network", router.StatusInProgress, "宽带信号差")(
			assigned("agent7"), hotline("宽带故障", "12345-0506-88"), uncertain("network", "billing")),
	}
}

// uncertain marks the case's category uncertain with the suggestions.
func uncertain(suggestions ...string) func(*router.Case) {
	return func(c *router.Case) { c.CategoryUncertain, c.CategorySuggestions = true, suggestions }
}

// assigned sets the case's assignee.
func assigned(name string) func(*router.Case) {
	return func(c *router.Case) { c.Assignee = name }
}

// customer sets the customer's name and phone number.
func customer(name, phone string) func(*router.Case) {
	return func(c *router.Case) {
		c.Customer = normalize.Customer{Name: name, Phone: phone, Key: "phone:" + phone}
	}
}

// emailAndFiles sets the customer's e-mail address and the case's
// attachments, by their content hashes.
func emailAndFiles(email string, sums ...string) func(*router.Case) {
	return func(c *router.Case) {
		c.Customer.Email = email
		for i, sum := range sums {
			c.Attachments = append(c.Attachments, ingest.Attachment{Name: fmt.Sprintf("截图%d.png", i+1), Type: "image/png", Size: 1024, SHA256: sum})
		}
	}
}

// hotline sets what the hotline system knows the case by.
func hotline(businessType string, workOrders ...string) func(*router.Case) {
	return func(c *router.Case) {
		c.BusinessType = businessType
		c.WorkOrders = workOrders
	}
}

// messageIDs sets the case's Message-IDs.
func messageIDs(ids ...string) func(*router.Case) {
	return func(c *router.Case) { c.MessageIDs = ids }
}

func testFilters(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, filterCorpus(t)...)
	tests := []struct {
		name string
		q    caseindex.Query
		want []string
	}{
		{"no filter", caseindex.Query{}, []string{"a", "b", "c", "d"}},
		{"channel", caseindex.Query{Filters: by("channel", "webform")}, []string{"a", "d"}},
		{"category", caseindex.Query{Filters: by("category", "billing")}, []string{"a", "b"}},
		{"category is exact", caseindex.Query{Filters: by("category", "Billing")}, nil},
		{"category is whole", caseindex.Query{Filters: by("category", "bill")}, nil},
		{"status", caseindex.Query{Filters: by("status", "open")}, []string{"a", "c"}},
		{"reference", caseindex.Query{Filters: by("reference", "TSC")}, []string{"c"}},
		{"second reference", caseindex.Query{Filters: by("reference", "TSB2")}, []string{"b"}},
		{"unknown reference", caseindex.Query{Filters: by("reference", "TSX")}, nil},
		{"message id", caseindex.Query{Filters: by("message_id", "c1@mail.example")}, []string{"c"}},
		{"second message id", caseindex.Query{Filters: by("message_id", "b2@mail.example")}, []string{"b"}},
		{"unknown message id", caseindex.Query{Filters: by("message_id", "x@mail.example")}, nil},
		{"message id and status", caseindex.Query{Filters: by("message_id", "b1@mail.example", "status", "open")}, nil},
		{"channel and category", caseindex.Query{Filters: by("channel", "webform", "category", "network")}, []string{"d"}},
		{"no overlap", caseindex.Query{Filters: by("channel", "email", "status", "open")}, nil},
		{"text and status", caseindex.Query{Text: "信号差", Filters: by("status", "open")}, []string{"c"}},
		{"text and category", caseindex.Query{Text: "话费多扣", Filters: by("category", "billing")}, []string{"a", "b"}},
		{"text and channel", caseindex.Query{Text: "话费多扣", Filters: by("channel", "email")}, []string{"b"}},
		{"text misses filter", caseindex.Query{Text: "信号差", Filters: by("category", "billing")}, nil},
		{"category uncertain", caseindex.Query{Filters: by("category_uncertain", caseindex.CategoryUncertain)}, []string{"d"}},
		{"category uncertain and open", caseindex.Query{Filters: by("category_uncertain", caseindex.CategoryUncertain, "status", "open")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := find(t, idx, tc.q)
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(%+v) = %v (total %d), want %v", tc.q, got, res.Total, tc.want)
			}
		})
	}
}

// testThreadLookup checks the lookups that attach an e-mail reply from
// another address to its case: a filter on message_id finds exactly the
// case carrying the Message-ID, one on reference finds the case by any of
// its references, both exactly (Message-IDs are case-sensitive and hold
// characters like "+", "/", "=" and "."), and a case's later revision
// with more Message-IDs is found by each of them.
func testThreadLookup(t *testing.T, idx caseindex.Index) {
	root := "CAFx+9Qw=uT/b.Zk_8@mail.gmail.com"
	first := NewCase(t, "t1", func(c *router.Case) {
		c.Channel = ingest.ChannelEmail
		c.References = []string{"TS00000000T1", "TS00000000T2", "TS00000000T3"}
		c.MessageIDs = []string{root, "20240506.1@customer.example"}
	})
	other := NewCase(t, "t2", func(c *router.Case) {
		c.Channel = ingest.ChannelEmail
		c.References = []string{"TS00000000U1"}
		c.MessageIDs = []string{strings.ToLower(root), "reply-1@colleague.example"}
	})
	plain := NewCase(t, "t3") // no Message-IDs
	upsert(t, idx, first, other, plain)
	grown := first
	grown.Revision = 2
	grown.References = append(slices.Clone(first.References), "TS00000000T4")
	grown.MessageIDs = append(slices.Clone(first.MessageIDs), "reply-2@colleague.example")
	upsert(t, idx, grown)

	tests := []struct {
		filter, value string
		want          []string
	}{
		{"message_id", root, []string{"t1"}},
		{"message_id", strings.ToLower(root), []string{"t2"}},
		{"message_id", strings.ToUpper(root), nil},
		{"message_id", "20240506.1@customer.example", []string{"t1"}},
		{"message_id", "reply-1@colleague.example", []string{"t2"}},
		{"message_id", "reply-2@colleague.example", []string{"t1"}}, // added by the later revision
		{"message_id", "colleague.example", nil},
		{"message_id", "reply-1", nil},
		{"message_id", "<reply-1@colleague.example>", nil},
		{"reference", "TS00000000T1", []string{"t1"}},
		{"reference", "TS00000000T2", []string{"t1"}},
		{"reference", "TS00000000T3", []string{"t1"}},
		{"reference", "TS00000000T4", []string{"t1"}},
		{"reference", "TS00000000U1", []string{"t2"}},
		{"reference", "ts00000000u1", nil},
		{"reference", "TS00000000", nil},
	}
	for _, tc := range tests {
		t.Run(tc.filter+"="+tc.value, func(t *testing.T) {
			res := find(t, idx, caseindex.Query{Filters: by(tc.filter, tc.value), Limit: 5})
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("%s=%s: %v (total %d), want %v", tc.filter, tc.value, got, res.Total, tc.want)
			}
			if len(res.Hits) == 1 && res.Hits[0].ID == "t1" && !slices.Equal(res.Hits[0].MessageIDs, grown.MessageIDs) {
				t.Errorf("the hit carries Message-IDs %q, want %q", res.Hits[0].MessageIDs, grown.MessageIDs)
			}
		})
	}
}

func testPolicyFilters(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, filterCorpus(t)...)
	tests := []struct {
		name string
		q    caseindex.Query
		want []string
	}{
		{"contact type", caseindex.Query{Filters: by("contact_type", "投诉")}, []string{"a", "c"}},
		{"other contact type", caseindex.Query{Filters: by("contact_type", "咨询")}, []string{"b"}},
		{"grade", caseindex.Query{Filters: by("grade", "重大")}, []string{"c"}},
		{"grade is whole", caseindex.Query{Filters: by("grade", "重")}, nil},
		{"valid", caseindex.Query{Filters: by("validity", "valid")}, []string{"a", "c"}},
		{"invalid", caseindex.Query{Filters: by("validity", "invalid")}, []string{"b"}}, // d has no verdict
		{"department", caseindex.Query{Filters: by("department", "计费中心")}, []string{"a", "b"}},
		{"queue", caseindex.Query{Filters: by("queue", "network-1")}, []string{"c"}},
		{"queue is exact", caseindex.Query{Filters: by("queue", "Network-1")}, nil},
		{"source", caseindex.Query{Filters: by("source", "support@example.com")}, []string{"b"}},
		{"pack", caseindex.Query{Filters: by("pack", "telecom@1")}, []string{"a", "b"}},
		{"pack is whole", caseindex.Query{Filters: by("pack", "telecom")}, nil},
		{"contact type and grade", caseindex.Query{Filters: by("contact_type", "投诉", "grade", "重大")}, []string{"c"}},
		{"invalid and open", caseindex.Query{Filters: by("validity", "invalid", "status", "open")}, nil},
		{"department, validity and channel", caseindex.Query{Filters: by("department", "计费中心", "validity", "valid", "channel", "webform")}, []string{"a"}},
		{"text and department", caseindex.Query{Text: "话费多扣", Filters: by("department", "计费中心")}, []string{"a", "b"}},
		{"text and validity", caseindex.Query{Text: "信号差", Filters: by("validity", "valid")}, []string{"c"}},
		{"empty values do not filter", caseindex.Query{Filters: by("grade", "", "queue", " ")}, []string{"a", "b", "c", "d"}},
		{"with deadline order", caseindex.Query{Sort: caseindex.SortDeadline, Filters: by("department", "网络部")}, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := find(t, idx, tc.q)
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(%+v) = %v (total %d), want %v", tc.q, got, res.Total, tc.want)
			}
		})
	}
}

// testPeopleFilters checks the filters an agent finds "my" cases and a
// customer's cases by: owner and assignee, the customer's phone number in
// any form intake takes (read through caseindex.ParseQuery, as the API
// does) and name, and the hotline's work-order number and business type.
func testPeopleFilters(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, filterCorpus(t)...)
	tests := []struct {
		raw  string // the API's query string
		want []string
	}{
		{"owner=agent7", []string{"b"}},
		{"owner=%E5%BC%A0%E4%BC%9F", []string{"c"}}, // 张伟
		{"owner=%E5%BC%A0", nil},                    // 张: names are whole
		{"assignee=agent7", []string{"b", "d"}},
		{"assignee=Agent7", nil},
		{"assignee=agent7&owner=agent7", []string{"b"}},
		{"assignee=agent7&status=in_progress", []string{"d"}},
		{"phone=13912340001", []string{"b", "c"}},
		{"phone=139+1234+0001", []string{"b", "c"}},
		{"phone=%2B86+139-1234-0001", []string{"b", "c"}},
		{"phone=%EF%BC%91%EF%BC%93%EF%BC%99%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%91", []string{"b", "c"}}, // full-width
		{"phone=13800138000", []string{"a", "d"}}, // NewCase's customer
		{"phone=13912340002", nil},
		{"phone=13912340001&channel=hotline", []string{"c"}},
		{"customer=%E7%8E%8B%E5%A5%B3%E5%A3%AB", []string{"c"}}, // 王女士
		{"customer=%E6%9D%8E+%E6%98%8E", []string{"b"}},         // 李 明
		{"customer=%E7%8E%8B", nil},                             // 王
		{"work_order=GD20240506000117", []string{"c"}},
		{"work_order=GD20240507000042", []string{"c"}},
		{"work_order=12345-0506-88", []string{"d"}},
		{"work_order=GD2024050600011", nil},
		{"business_type=%E5%AE%BD%E5%B8%A6%E6%95%85%E9%9A%9C", []string{"d"}}, // 宽带故障
		{"business_type=%E5%AE%BD%E5%B8%A6", nil},                             // 宽带
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			values, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			q, err := caseindex.ParseQuery(values)
			if err != nil {
				t.Fatalf("ParseQuery(%s): %v", tc.raw, err)
			}
			res := find(t, idx, q)
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("%s: %v (total %d), want %v", tc.raw, got, res.Total, tc.want)
			}
		})
	}
}

// testScope checks that a search with a Scope finds exactly the matching
// cases the scope allows (caseindex.Scope.Allows), and counts only them.
func testScope(t *testing.T, idx caseindex.Index) {
	corpus := filterCorpus(t)
	upsert(t, idx, corpus...)
	tests := []struct {
		name  string
		q     caseindex.Query
		scope caseindex.Scope
		want  []string
	}{
		{"one department", caseindex.Query{}, caseindex.Scope{Departments: []string{"网络部"}}, []string{"c"}},
		{"departments", caseindex.Query{}, caseindex.Scope{Departments: []string{"计费中心", "网络部"}}, []string{"a", "b", "c"}},
		{"department names are whole", caseindex.Query{}, caseindex.Scope{Departments: []string{"网络"}}, nil},
		{"own and held cases", caseindex.Query{}, caseindex.Scope{Person: "agent7"}, []string{"b", "d"}},
		{"held case of another department", caseindex.Query{}, caseindex.Scope{Person: "王芳"}, []string{"c"}},
		{"department or own", caseindex.Query{}, caseindex.Scope{Departments: []string{"网络部"}, Person: "agent7"}, []string{"b", "c", "d"}},
		{"nothing", caseindex.Query{}, caseindex.Scope{}, nil},
		{"with a filter", caseindex.Query{Filters: by("status", "in_progress")}, caseindex.Scope{Person: "agent7"}, []string{"d"}},
		{"with text outside", caseindex.Query{Text: "信号差"}, caseindex.Scope{Departments: []string{"计费中心"}}, nil},
		{"with text inside", caseindex.Query{Text: "信号差"}, caseindex.Scope{Departments: []string{"网络部"}}, []string{"c"}},
		{"with text and own", caseindex.Query{Text: "信号差"}, caseindex.Scope{Person: "agent7"}, []string{"d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Scope = &tc.scope
			res := find(t, idx, tc.q)
			if got := ids(res); !sameSet(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("scope %+v: %v (total %d), want %v", tc.scope, got, res.Total, tc.want)
			}
			counted := 0
			for _, n := range res.Facets["status"] {
				counted += n
			}
			if counted != len(tc.want) {
				t.Errorf("scope %+v: the status facet counts %d cases, want %d", tc.scope, counted, len(tc.want))
			}
			if tc.q.Text == "" && len(tc.q.Filters) == 0 {
				var allowed []string
				for _, c := range corpus {
					if tc.scope.Allows(c) {
						allowed = append(allowed, c.ID)
					}
				}
				if !sameSet(allowed, tc.want) {
					t.Errorf("Scope.Allows holds %v, the search %v", allowed, tc.want)
				}
			}
		})
	}
}

// testEveryFilter checks each row of caseindex.Filters against the values
// the row itself gives the corpus: a search on each value finds exactly
// the cases holding it, and a facet counts them. A new filter is covered
// as soon as filterCorpus sets its field.
func testEveryFilter(t *testing.T, idx caseindex.Index) {
	corpus := filterCorpus(t)
	upsert(t, idx, corpus...)
	all := find(t, idx, caseindex.Query{})
	for _, f := range caseindex.Filters {
		t.Run(f.Name, func(t *testing.T) {
			holders := map[string][]string{} // value -> ids
			for _, c := range corpus {
				for _, v := range f.Value(c) {
					holders[v] = append(holders[v], c.ID)
				}
			}
			need := 2 // so that a filter is seen to tell values apart
			if len(f.Allowed) == 1 {
				need = 1 // a mark (category_uncertain): the others lack it
			}
			if len(holders) < need {
				t.Fatalf("the corpus gives %s fewer than %d values (%v); extend filterCorpus", f.Name, need, holders)
			}
			for v, want := range holders {
				res := find(t, idx, caseindex.Query{Filters: by(f.Name, v)})
				if got := ids(res); !sameSet(got, want) || res.Total != len(want) {
					t.Errorf("%s=%s: %v (total %d), want %v", f.Name, v, got, res.Total, want)
				}
			}
			if !f.Facet {
				if _, ok := all.Facets[f.Name]; ok {
					t.Errorf("facet %s is reported, but the filter is no facet", f.Name)
				}
				return
			}
			want := map[string]int{}
			for v, holding := range holders {
				want[v] = len(holding)
			}
			if got := all.Facets[f.Name]; !mapsEqual(got, want) {
				t.Errorf("facet %s = %v, want %v", f.Name, got, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testFacets(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, filterCorpus(t)...)
	everything := map[string]map[string]int{
		"channel":            {"webform": 2, "email": 1, "hotline": 1},
		"source":             {"support@example.com": 1, "hotline-bj": 1},
		"category":           {"billing": 2, "network": 2},
		"status":             {"open": 2, "resolved": 1, "in_progress": 1},
		"contact_type":       {"投诉": 2, "咨询": 1},
		"grade":              {"一般": 1, "重大": 1},
		"validity":           {"valid": 2, "invalid": 1},
		"department":         {"计费中心": 2, "网络部": 1},
		"queue":              {"billing-1": 1, "billing-2": 1, "network-1": 1},
		"pack":               {"telecom@1": 2, "telecom@2": 1},
		"owner":              {"agent7": 1, "张伟": 1},
		"assignee":           {"agent7": 2, "王芳": 1},
		"business_type":      {"移动网络": 1, "宽带故障": 1},
		"category_uncertain": {"true": 1},
	}
	network := map[string]map[string]int{ // c and d
		"channel":            {"webform": 1, "hotline": 1},
		"source":             {"hotline-bj": 1},
		"category":           {"network": 2},
		"status":             {"open": 1, "in_progress": 1},
		"contact_type":       {"投诉": 1},
		"grade":              {"重大": 1},
		"validity":           {"valid": 1},
		"department":         {"网络部": 1},
		"queue":              {"network-1": 1},
		"pack":               {"telecom@2": 1},
		"owner":              {"张伟": 1},
		"assignee":           {"agent7": 1, "王芳": 1},
		"business_type":      {"移动网络": 1, "宽带故障": 1},
		"category_uncertain": {"true": 1},
	}
	none := map[string]map[string]int{}
	for _, f := range caseindex.FacetFields {
		none[f] = map[string]int{}
	}
	tests := []struct {
		name      string
		q         caseindex.Query
		wantTotal int
		want      map[string]map[string]int
	}{
		{"all, one per page", caseindex.Query{Limit: 1}, 4, everything},
		{"filtered", caseindex.Query{Limit: 1, Filters: by("category", "network")}, 2, network},
		{"text", caseindex.Query{Text: "信号差"}, 2, network},
		{"past the last page", caseindex.Query{Offset: 10}, 4, everything},
		{"filtered by the policy", caseindex.Query{Filters: by("department", "计费中心")}, 2, map[string]map[string]int{
			"channel":            {"webform": 1, "email": 1},
			"source":             {"support@example.com": 1},
			"category":           {"billing": 2},
			"status":             {"open": 1, "resolved": 1},
			"contact_type":       {"投诉": 1, "咨询": 1},
			"grade":              {"一般": 1},
			"validity":           {"valid": 1, "invalid": 1},
			"department":         {"计费中心": 2},
			"queue":              {"billing-1": 1, "billing-2": 1},
			"pack":               {"telecom@1": 2},
			"owner":              {"agent7": 1},
			"assignee":           {"agent7": 1},
			"business_type":      {},
			"category_uncertain": {},
		}},
		{"no match", caseindex.Query{Text: "不存在的内容"}, 0, none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := find(t, idx, tc.q)
			if res.Total != tc.wantTotal {
				t.Errorf("total %d, want %d", res.Total, tc.wantTotal)
			}
			if len(res.Facets) != len(caseindex.FacetFields) {
				t.Errorf("facets %v, want exactly %v", res.Facets, caseindex.FacetFields)
			}
			for _, field := range caseindex.FacetFields {
				want, ok := tc.want[field]
				if !ok {
					t.Fatalf("the test lists no counts for facet %s", field)
				}
				if got := res.Facets[field]; !mapsEqual(got, want) {
					t.Errorf("facet %s = %v, want %v", field, got, want)
				}
			}
		})
	}
}

// testFacetTopValues checks that a facet with more than 100 values lists
// the 100 most frequent, on a tie those first in byte order.
func testFacetTopValues(t *testing.T, idx caseindex.Index) {
	var cases []router.Case
	add := func(id, queue string) {
		cases = append(cases, NewCase(t, id, func(c *router.Case) { c.Route.Queue = queue }))
	}
	for i := range 100 {
		add(fmt.Sprintf("one%03d", i), fmt.Sprintf("q%03d", i))
	}
	for i := range 3 {
		add(fmt.Sprintf("twoa%d", i), fmt.Sprintf("q1%02d", i))
		add(fmt.Sprintf("twob%d", i), fmt.Sprintf("q1%02d", i))
	}
	upsert(t, idx, cases...)
	want := map[string]int{"q100": 2, "q101": 2, "q102": 2}
	for i := range 97 {
		want[fmt.Sprintf("q%03d", i)] = 1
	}
	res := find(t, idx, caseindex.Query{Limit: 1})
	if got := res.Facets["queue"]; res.Total != len(cases) || !mapsEqual(got, want) {
		t.Errorf("total %d (want %d), queue facet of %d values: %v\nwant %v", res.Total, len(cases), len(got), got, want)
	}
}

// deadlineCorpus has cases due in 3h, never, 1h and 2h after Base,
// received in that order an hour apart.
func deadlineCorpus(tb testing.TB) []router.Case {
	tb.Helper()
	mk := func(id string, received, due time.Duration) router.Case {
		return NewCase(tb, id, func(c *router.Case) {
			c.ReceivedAt = Base.Add(received)
			if due > 0 {
				c.Deadline = Base.Add(due)
				c.Deadlines = []router.Deadline{{Name: "reply", Due: c.Deadline, Basis: "test"}}
			}
		})
	}
	return []router.Case{
		mk("due3h", 0, 3*time.Hour),
		mk("nodue", time.Hour, 0),
		mk("due1h", 2*time.Hour, time.Hour),
		mk("due2h", 3*time.Hour, 2*time.Hour),
		mk("nodue2", 4*time.Hour, 0),
	}
}

func testSortByDeadline(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, deadlineCorpus(t)...)
	res := find(t, idx, caseindex.Query{Sort: caseindex.SortDeadline})
	got := ids(res)
	if want := []string{"due1h", "due2h", "due3h"}; len(got) != 5 || !slices.Equal(got[:3], want) {
		t.Fatalf("deadline order %v, want %v then the two without deadline", got, want)
	}
	if !sameSet(got[3:], []string{"nodue", "nodue2"}) {
		t.Errorf("deadline order %v: cases without deadline must come last", got)
	}
	// Paging through the deadline order gives the same sequence.
	var paged []string
	for off := 0; off < 5; off += 2 {
		paged = append(paged, ids(find(t, idx, caseindex.Query{Sort: caseindex.SortDeadline, Offset: off, Limit: 2}))...)
	}
	if !slices.Equal(paged, got) {
		t.Errorf("paged deadline order %v, want %v", paged, got)
	}
}

func testDueBefore(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, deadlineCorpus(t)...)
	tests := []struct {
		name string
		q    caseindex.Query
		want []string
	}{
		{"before the first", caseindex.Query{DueBefore: Base.Add(time.Hour)}, nil},
		{"just after the first", caseindex.Query{DueBefore: Base.Add(time.Hour + time.Second)}, []string{"due1h"}},
		{"exactly the second", caseindex.Query{DueBefore: Base.Add(2 * time.Hour)}, []string{"due1h"}},
		{"after all", caseindex.Query{DueBefore: Base.Add(24 * time.Hour)}, []string{"due1h", "due2h", "due3h"}},
		{"other zone", caseindex.Query{DueBefore: Base.Add(2*time.Hour + time.Second).In(time.FixedZone("CST", 8*60*60))}, []string{"due1h", "due2h"}},
		{"with status", caseindex.Query{DueBefore: Base.Add(24 * time.Hour), Filters: by("status", "resolved")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Sort = caseindex.SortDeadline
			res := find(t, idx, tc.q)
			if got := ids(res); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("Search(%+v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func testFromTo(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, deadlineCorpus(t)...) // received at Base + 0h, 1h, 2h, 3h, 4h
	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"from is inclusive", Base.Add(3 * time.Hour), time.Time{}, []string{"due2h", "nodue2"}},
		{"to is exclusive", time.Time{}, Base.Add(time.Hour), []string{"due3h"}},
		{"window", Base.Add(time.Hour), Base.Add(3 * time.Hour), []string{"nodue", "due1h"}},
		{"one second", Base.Add(2 * time.Hour), Base.Add(2*time.Hour + time.Second), []string{"due1h"}},
		{"empty window", Base.Add(time.Hour + time.Second), Base.Add(2 * time.Hour), nil},
		{"before all", time.Time{}, Base, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := caseindex.Query{From: tc.from, To: tc.to}
			if got := ids(find(t, idx, q)); !sameSet(got, tc.want) {
				t.Errorf("Search(from %v, to %v) = %v, want %v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func testSortByReceivedAt(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, deadlineCorpus(t)...)
	newest := []string{"nodue2", "due2h", "due1h", "nodue", "due3h"}
	oldest := slices.Clone(newest)
	slices.Reverse(oldest)
	tests := []struct {
		q    caseindex.Query
		want []string
	}{
		{caseindex.Query{}, newest},
		{caseindex.Query{Sort: caseindex.SortNewest}, newest},
		{caseindex.Query{Sort: caseindex.SortOldest}, oldest},
	}
	for _, tc := range tests {
		if got := ids(find(t, idx, tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("Search(Sort %q) = %v, want %v", tc.q.Sort, got, tc.want)
		}
	}
}

func testPagination(t *testing.T, idx caseindex.Index) {
	const n = 25
	var cases []router.Case
	var want []string // newest first
	for i := range n {
		id := fmt.Sprintf("p%02d", i)
		cases = append(cases, NewCase(t, id, func(c *router.Case) { c.ReceivedAt = Base.Add(time.Duration(i) * time.Minute) }))
		want = append([]string{id}, want...)
	}
	upsert(t, idx, cases...)

	var got []string
	for off := 0; off < n; off += 10 {
		res := find(t, idx, caseindex.Query{Offset: off, Limit: 10})
		if res.Total != n {
			t.Errorf("offset %d: total %d, want %d", off, res.Total, n)
		}
		got = append(got, ids(res)...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages %v, want %v", got, want)
	}
	tests := []struct {
		name     string
		q        caseindex.Query
		wantHits int
	}{
		{"default limit", caseindex.Query{}, caseindex.DefaultLimit},
		{"last partial page", caseindex.Query{Offset: 20, Limit: 10}, 5},
		{"past the end", caseindex.Query{Offset: 30, Limit: 10}, 0},
		{"limit above max", caseindex.Query{Limit: caseindex.MaxLimit + 1}, n},
	}
	for _, tc := range tests {
		res := find(t, idx, tc.q)
		if len(res.Hits) != tc.wantHits || res.Total != n {
			t.Errorf("%s: %d hits, total %d; want %d hits, total %d", tc.name, len(res.Hits), res.Total, tc.wantHits, n)
		}
	}
}

func testInvalidQuery(t *testing.T, idx caseindex.Index) {
	upsert(t, idx, NewCase(t, "x"))
	tests := []struct {
		name string
		q    caseindex.Query
	}{
		{"unknown sort", caseindex.Query{Sort: "score"}},
		{"negative offset", caseindex.Query{Offset: -1}},
		{"negative limit", caseindex.Query{Limit: -5}},
		{"too deep", caseindex.Query{Offset: caseindex.MaxWindow}},
		{"unknown status", caseindex.Query{Filters: by("status", "pending")}},
		{"unknown validity", caseindex.Query{Filters: by("validity", "unknown")}},
		{"unknown filter", caseindex.Query{Filters: by("phone_number", "13912340001")}},
		{"not a phone number", caseindex.Query{Filters: by("phone", "1391234000")}},
		{"filter too long", caseindex.Query{Filters: by("grade", strings.Repeat("重", caseindex.MaxFilterBytes))}},
		{"from after to", caseindex.Query{From: Base.Add(time.Hour), To: Base}},
		{"from equals to", caseindex.Query{From: Base, To: Base}},
		{"year out of range", caseindex.Query{DueBefore: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"invalid utf-8", caseindex.Query{Text: "信号\xff"}},
	}
	for _, tc := range tests {
		_, err := idx.Search(context.Background(), tc.q)
		var pe *caseindex.ParamError
		if !errors.As(err, &pe) {
			t.Errorf("%s: Search(%+v) error = %v, want a *caseindex.ParamError", tc.name, tc.q, err)
		}
	}
}

// testQuerySyntaxIsText checks that a search text is only ever text: the
// query languages of the backends (Lucene's and Bleve's query strings,
// wildcards, field names, regular expressions, boolean operators) neither
// fail the search nor widen it to cases that do not hold the text.
func testQuerySyntaxIsText(t *testing.T, idx caseindex.Index) {
	upsert(t, idx,
		NewCase(t, "plain", func(c *router.Case) { c.Description = "宽带断网三天" }),
		NewCase(t, "other", func(c *router.Case) { c.Description = "话费多扣了五十元"; c.Status = router.StatusClosed }),
		NewCase(t, "literal", func(c *router.Case) { c.Description = "页面提示 status:closed 无法办理" }),
	)
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"*", nil},
		{"?", nil},
		{"宽带*", []string{"plain"}},
		{"status:closed", []string{"literal"}},
		{"description:宽带", nil},
		{"宽带 OR 话费", nil},
		{"宽带 || 话费", nil},
		{"+宽带 -断网", []string{"plain"}}, // the phrase 宽带断网, across the signs
		{"-宽带", []string{"plain"}},
		{"/.*/", nil},
		{`\"宽带`, []string{"plain"}},
		{"(宽带", []string{"plain"}},
		{"宽带~2", nil}, // 宽带 followed by the number 2
		{"_id:other", nil},
		{"*:*", nil},
	} {
		res := find(t, idx, caseindex.Query{Text: tc.text})
		if got := ids(res); !sameSet(got, tc.want) {
			t.Errorf("Search(Text %q) = %v, want %v: query syntax must be searched as text", tc.text, got, tc.want)
		}
	}
}

func testInvalidCase(t *testing.T, idx caseindex.Index) {
	err := idx.Upsert(context.Background(), []router.Case{NewCase(t, "valid"), NewCase(t, "")})
	if !errors.Is(err, caseindex.ErrInvalidCase) {
		t.Fatalf("Upsert with an empty id: error = %v, want ErrInvalidCase", err)
	}
	if _, err := idx.Get(context.Background(), "valid"); !errors.Is(err, caseindex.ErrNotFound) {
		t.Errorf("Get(valid) after a rejected batch: error = %v, want ErrNotFound", err)
	}
}

func testEmptyUpsert(t *testing.T, idx caseindex.Index) {
	for _, cases := range [][]router.Case{nil, {}} {
		if err := idx.Upsert(context.Background(), cases); err != nil {
			t.Errorf("Upsert(%v) = %v", cases, err)
		}
	}
	if res := find(t, idx, caseindex.Query{}); res.Total != 0 {
		t.Errorf("total %d, want 0", res.Total)
	}
}

func testCanceledContext(t *testing.T, idx caseindex.Index) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := idx.Upsert(ctx, []router.Case{NewCase(t, "late")}); err == nil {
		t.Error("Upsert with a canceled context returned nil")
	}
	if _, err := idx.Get(context.Background(), "late"); !errors.Is(err, caseindex.ErrNotFound) {
		t.Errorf("Get after a canceled Upsert: error = %v, want ErrNotFound", err)
	}
	if _, err := idx.Search(ctx, caseindex.Query{}); err == nil {
		t.Error("Search with a canceled context returned nil")
	}
}

func testPing(t *testing.T, idx caseindex.Index) {
	if err := idx.Ping(context.Background()); err != nil {
		t.Errorf("Ping on an open index: %v", err)
	}
}
