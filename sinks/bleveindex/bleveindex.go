// Package bleveindex is the embedded case index: a Bleve index on local disk
// that implements caseindex.Index for the single-process mode.
//
// Subject and description are analysed like Bleve's cjk analyzer (Unicode
// word segmentation, full-width to half-width folding, lower case, and
// overlapping bigrams of Han, Hiragana and Katakana runs), with an
// ASCII-folding character filter in front: Bleve's word segmentation drops
// full-width digits (ＯＲＤ６７８９０ would lose its number), so they are
// folded to ASCII before it. A run goes on across punctuation, spaces and
// line breaks between its characters (bigram.go), as Elasticsearch's
// positions skip them. A quoted phrase of a search text (caseindex,
// text.go) is a phrase query over the bigrams: "信号差" becomes the
// adjacent pair 信号 号差, so it finds 手机信号差了三天 and 手机信号，差得很,
// and not 信号还行但是速度很差. Latin letters and digits stay whole words
// ("ORD12345", "5G"). A single Han character at an end of a phrase (水, or
// 网 in 5G网) also matches the bigrams holding it there, so it is found
// inside words as in Elasticsearch (see text.go). Each text field is also
// indexed as its terms field (subject_terms, description_terms) without
// the bigrams, one term per Han character, where the terms outside quotes
// are looked up, caseindex.MinTerms of them at least.
//
// Writes are durable when Upsert returns: Bleve's scorch engine waits until
// the batch's segment is persisted and synced (unsafe_batch is left off).
//
// The keyword fields are those of caseindex.Filters. The index records its
// mapping version; Open rebuilds an index of an earlier version in place
// from the complete cases it stores (see upgrade.go) and refuses one of a
// version it does not know, such as one written by a newer tousu.
package bleveindex

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Config configures the embedded index.
type Config struct {
	// Path is the directory of the index; it is created when missing.
	Path string `yaml:"path"`
	// Calendars gives the working-day calendar of a case's pack for its
	// SLA facts (caseindex.SLAFacts); nil, or a pack it does not know,
	// means caseindex.DefaultCalendar. Set by code, not configuration.
	Calendars caseindex.Calendars `yaml:"-"`
}

// DefaultConfig returns the configuration of the embedded mode: the index
// lives under ./data.
func DefaultConfig() Config {
	return Config{Path: filepath.Join("data", "cases.bleve")}
}

// Validate reports whether the configuration can be used, naming the key
// of a problem. It changes nothing.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Path) == "" {
		return errors.New("path: required")
	}
	return nil
}

// ErrClosed is returned by every method of an Index after Close.
var ErrClosed = errors.New("bleveindex: index is closed")

// mappingVersion is stored in the index; an index written with another
// mapping is never searched as it is. Bump it whenever newMapping or
// document changes, caseindex.Filters included, and add the old version to
// upgradable, so that Open rebuilds such indexes instead of refusing them.
//
// History: tousu-cases-1 had the filters channel, category, status and
// reference; tousu-cases-2 adds source, contact_type, grade, validity,
// department, queue and pack; tousu-cases-3 adds message_id (field
// message_ids); tousu-cases-4 analyses text with tousu_han_bigram instead
// of cjk_bigram, so that a Han run goes on across punctuation and spaces;
// tousu-cases-5 adds owner, assignee, customer.name (and customer.phone as
// a filter), work_orders and business_type, and the terms fields
// subject_terms and description_terms (analyzer tousu_terms) that a search
// text's terms outside quotes are looked up in; tousu-cases-6 adds the SLA
// facts (caseindex.SLAField) that SLA reports count; tousu-cases-7 adds
// category_uncertain; tousu-cases-8 adds email (customer.email, a keyword
// before) and attachment (attachment_sha256) as filters.
// A Bleve index keeps the mapping it was created with and silently leaves
// out fields that mapping does not name, so even a new field needs a new
// version.
const mappingVersion = "tousu-cases-8"

var mappingVersionKey = []byte("tousu_mapping_version")

// Field names of the index document.
const (
	fieldCase     = "case" // the complete case as JSON, stored only
	fieldRevision = "revision"
	// fieldFacets holds "name=value" for every value of every facet
	// filter. Search counts all facets in one pass over this one field,
	// because Bleve reads the doc values of each counted field separately
	// for every match. The filter fields themselves serve term queries
	// only and keep no doc values.
	fieldFacets = "facets"
)

// textAnalyzer is the analyzer of the text fields, defined in newMapping.
const textAnalyzer = "tousu_cjk"

// termsAnalyzer is the analyzer of the terms fields, defined in newMapping:
// textAnalyzer without the bigrams, so that every Han character is a term
// of its own (as in Elasticsearch's standard analyzer).
const termsAnalyzer = "tousu_terms"

// textFields are searched by the phrases of Query.Text; each is also
// indexed as its terms field (termsField), which the terms outside quotes
// are looked up in.
var textFields = []string{"subject", "description"}

// termsField is the name of the terms field of a text field.
func termsField(field string) string { return field + "_terms" }

// facetSize is how many values each facet reports; the rest is not listed.
const facetSize = 100

// Index is a caseindex.Index backed by Bleve. It is safe for concurrent use.
// Upserts of the same case are serialised, so that the revision check and
// the write are one step for it; upserts of different cases run at once,
// and Bleve persists the batches that arrive together in one go.
type Index struct {
	bleve  bleve.Index
	logger *zap.Logger
	path   string
	cals   caseindex.Calendars

	writing caseLocks
	closed  atomic.Bool
	// testHookWrite, set by tests only, runs in Upsert while it holds
	// the cases of ids, before it reads their revisions.
	testHookWrite func(ids []string)
}

var _ caseindex.Index = (*Index)(nil)

// Open opens the index at cfg.Path, creating it (and its parent
// directories) when the path does not exist. The logger should carry a
// component field; nil discards logs.
func Open(cfg Config, logger *zap.Logger) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bleveindex: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	idx, created, err := openOrCreate(cfg.Path, cfg.Calendars, logger)
	if err != nil {
		return nil, err
	}
	count, err := idx.DocCount()
	if err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("bleveindex: count documents in %s: %w", cfg.Path, err)
	}
	logger.Info("case index opened", zap.String("path", cfg.Path), zap.Bool("created", created), zap.Uint64("cases", count))
	return &Index{bleve: idx, logger: logger, path: cfg.Path, cals: cfg.Calendars}, nil
}

// openOrCreate opens an existing index and checks its mapping version,
// upgrading an index of an earlier version (see upgrade.go), or creates a
// new one.
func openOrCreate(path string, cals caseindex.Calendars, logger *zap.Logger) (bleve.Index, bool, error) {
	if err := finishUpgrade(path); err != nil {
		return nil, false, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, false, fmt.Errorf("bleveindex: create parent of %s: %w", path, err)
		}
		idx, err := create(path)
		return idx, err == nil, err
	} else if err != nil {
		return nil, false, fmt.Errorf("bleveindex: %w", err)
	}

	idx, err := bleve.OpenUsing(path, map[string]any{"unsafe_batch": false})
	if err != nil {
		return nil, false, fmt.Errorf("bleveindex: open index at %s: %w", path, err)
	}
	raw, err := idx.GetInternal(mappingVersionKey)
	if err != nil {
		_ = idx.Close()
		return nil, false, fmt.Errorf("bleveindex: read mapping version: %w", err)
	}
	switch v := string(raw); {
	case v == mappingVersion:
		return idx, false, nil
	case slices.Contains(upgradable, v):
		idx, err := upgrade(idx, path, v, cals, logger)
		return idx, false, err
	default:
		_ = idx.Close()
		return nil, false, fmt.Errorf("bleveindex: index at %s has mapping %q, which this version of tousu (mapping %q) can neither read nor upgrade; "+
			"it was probably written by a newer version of tousu: run that one again "+
			"(moving the directory away starts an empty index, and cases already indexed are not searchable until the cases topic is replayed into it)",
			path, v, mappingVersion)
	}
}

// create creates an empty index with the current mapping at path.
func create(path string) (bleve.Index, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	// unsafe_batch stays false: a batch returns only once persisted.
	idx, err := bleve.NewUsing(path, m, scorch.Name, scorch.Name, map[string]any{"unsafe_batch": false})
	if err != nil {
		return nil, fmt.Errorf("bleveindex: create index at %s: %w", path, err)
	}
	if err := idx.SetInternal(mappingVersionKey, []byte(mappingVersion)); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("bleveindex: record mapping version: %w", err)
	}
	return idx, nil
}

// newMapping describes the index document built by document.
func newMapping() (*mapping.IndexMappingImpl, error) {
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = textAnalyzer
		f.Store = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	kw := func() *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		return f
	}
	date := func() *mapping.FieldMapping {
		f := bleve.NewDateTimeFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		return f
	}

	doc := bleve.NewDocumentStaticMapping()
	for _, name := range textFields {
		terms := text()
		terms.Name = termsField(name)
		terms.Analyzer = termsAnalyzer
		terms.IncludeTermVectors = false // no phrases are searched in it
		doc.AddFieldMappingsAt(name, text(), terms)
	}
	doc.AddFieldMappingsAt("id", kw())
	for _, f := range caseindex.Filters {
		m := kw()
		m.DocValues = false
		addField(doc, f.IndexField(), m)
	}
	doc.AddFieldMappingsAt(fieldFacets, kw())
	doc.AddFieldMappingsAt(caseindex.SLAField, kw())
	for _, name := range []string{"received_at", "updated_at", "deadline"} {
		doc.AddFieldMappingsAt(name, date())
	}
	rev := bleve.NewNumericFieldMapping()
	rev.IncludeInAll = false
	doc.AddFieldMappingsAt(fieldRevision, rev) // stored: read back by Upsert

	stored := bleve.NewTextFieldMapping()
	stored.Analyzer = keyword.Name
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	stored.IncludeTermVectors = false
	stored.DocValues = false
	doc.AddFieldMappingsAt(fieldCase, stored)

	for _, field := range []string{"customer.key"} {
		addField(doc, field, kw())
	}

	m := bleve.NewIndexMapping()
	err := m.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{cjk.WidthName, lowercase.Name, hanBigramName},
	})
	if err != nil {
		return nil, fmt.Errorf("bleveindex: analyzer: %w", err)
	}
	err = m.AddCustomAnalyzer(termsAnalyzer, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{cjk.WidthName, lowercase.Name},
	})
	if err != nil {
		return nil, fmt.Errorf("bleveindex: analyzer: %w", err)
	}
	m.DefaultMapping = doc
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("bleveindex: mapping: %w", err)
	}
	return m, nil
}

// addField maps the field of doc, a dotted field (customer.phone) in its
// sub-documents, which it creates as needed.
func addField(doc *mapping.DocumentMapping, field string, m *mapping.FieldMapping) {
	parent, name, ok := strings.Cut(field, ".")
	if !ok {
		doc.AddFieldMappingsAt(field, m)
		return
	}
	sub := doc.Properties[parent]
	if sub == nil {
		sub = bleve.NewDocumentStaticMapping()
		doc.AddSubDocumentMapping(parent, sub)
	}
	addField(sub, name, m)
}

// document is what Bleve indexes for a case, with its SLA facts at now on
// its pack's calendar from cals. Empty strings and zero times are left out,
// so they neither match filters nor show up in facets.
func document(c router.Case, raw []byte, cals caseindex.Calendars, now time.Time) map[string]any {
	doc := caseindex.Keywords(c)
	doc[caseindex.SLAField] = caseindex.SLAFacts(c, caseindex.CalendarFor(cals, c), now)
	doc["id"] = c.ID
	doc[fieldRevision] = float64(c.Revision)
	doc[fieldCase] = string(raw)
	var facets []string
	for _, f := range caseindex.Filters {
		if f.Facet {
			for _, v := range f.Value(c) {
				facets = append(facets, f.Name+"="+v)
			}
		}
	}
	if len(facets) > 0 {
		doc[fieldFacets] = facets
	}
	for name, v := range map[string]string{"subject": c.Subject, "description": c.Description} {
		if v != "" {
			doc[name] = v
		}
	}
	for name, t := range caseindex.Dates(c) {
		doc[name] = t
	}
	return doc
}

// Upsert writes the cases in one batch. A case whose Revision is below the
// stored one is skipped; among copies of one ID in the batch the highest
// revision wins. A case without ID (or with a negative revision) fails the whole call with an error
// wrapping caseindex.ErrInvalidCase and nothing is written. When Upsert
// returns nil the cases are persisted and searchable.
func (x *Index) Upsert(ctx context.Context, cases []router.Case) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(cases) == 0 {
		return nil
	}

	unique, err := caseindex.LatestByID(cases)
	if err != nil {
		return fmt.Errorf("bleveindex: %w", err)
	}

	ids := make([]string, len(unique))
	for i, c := range unique {
		ids[i] = c.ID
	}
	if !x.writing.lock(ids) {
		return ErrClosed
	}
	defer x.writing.unlock(ids)
	if x.testHookWrite != nil {
		x.testHookWrite(ids)
	}

	stored, err := x.revisions(ctx, ids)
	if err != nil {
		return err
	}
	batch := x.bleve.NewBatch()
	now := time.Now()
	stale := 0
	for _, c := range unique {
		if rev, ok := stored[c.ID]; ok && c.Revision < rev {
			stale++
			continue
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("bleveindex: encode case %s: %w", c.ID, err)
		}
		if err := batch.Index(c.ID, document(c, raw, x.cals, now)); err != nil {
			return fmt.Errorf("bleveindex: index case %s: %w", c.ID, err)
		}
	}
	if stale > 0 {
		x.logger.Debug("skipped stale case revisions", zap.Int("stale", stale), zap.Int("cases", len(unique)))
	}
	if batch.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := x.bleve.Batch(batch); err != nil {
		return fmt.Errorf("bleveindex: write batch of %d cases: %w", batch.Size(), err)
	}
	return nil
}

// revisions returns the stored revision of each of ids that is indexed.
func (x *Index) revisions(ctx context.Context, ids []string) (map[string]int64, error) {
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = []string{fieldRevision}
	res, err := x.bleve.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("bleveindex: read stored revisions: %w", err)
	}
	revs := make(map[string]int64, len(res.Hits))
	for _, h := range res.Hits {
		f, ok := h.Fields[fieldRevision].(float64)
		if !ok {
			return nil, fmt.Errorf("bleveindex: case %s has no stored revision", h.ID)
		}
		revs[h.ID] = int64(f)
	}
	return revs, nil
}

// Get returns the case with the id, or an error wrapping
// caseindex.ErrNotFound.
func (x *Index) Get(ctx context.Context, id string) (router.Case, error) {
	if x.closed.Load() {
		return router.Case{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return router.Case{}, err
	}
	if id == "" {
		return router.Case{}, fmt.Errorf("bleveindex: empty id: %w", caseindex.ErrNotFound)
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery([]string{id}), 1, 0, false)
	req.Fields = []string{fieldCase}
	res, err := x.bleve.SearchInContext(ctx, req)
	if err != nil {
		return router.Case{}, fmt.Errorf("bleveindex: get case %s: %w", id, err)
	}
	if len(res.Hits) == 0 {
		return router.Case{}, fmt.Errorf("bleveindex: case %s: %w", id, caseindex.ErrNotFound)
	}
	return decodeHit(res.Hits[0])
}

func decodeHit(h *search.DocumentMatch) (router.Case, error) {
	raw, ok := h.Fields[fieldCase].(string)
	if !ok {
		return router.Case{}, fmt.Errorf("bleveindex: case %s has no stored source", h.ID)
	}
	var c router.Case
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return router.Case{}, fmt.Errorf("bleveindex: decode case %s: %w", h.ID, err)
	}
	return c, nil
}

// Search returns one page of the cases matching q, with facet counts over
// all matches. An invalid q gives an error wrapping *caseindex.ParamError.
func (x *Index) Search(ctx context.Context, q caseindex.Query) (caseindex.Result, error) {
	if x.closed.Load() {
		return caseindex.Result{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return caseindex.Result{}, err
	}
	q, err := q.Normalize()
	if err != nil {
		return caseindex.Result{}, fmt.Errorf("bleveindex: %w", err)
	}
	result := caseindex.Result{Hits: []router.Case{}, Facets: map[string]map[string]int{}}
	for _, f := range caseindex.FacetFields {
		result.Facets[f] = map[string]int{}
	}

	bq, ok, err := x.buildQuery(q)
	if err != nil {
		return caseindex.Result{}, err
	}
	if !ok {
		return result, nil // the text has no searchable terms: nothing matches
	}
	req := bleve.NewSearchRequestOptions(bq, q.Limit, q.Offset, false)
	req.Fields = []string{fieldCase}
	req.SortByCustom(sortOrder(q.Sort))
	// One facet over all "name=value" terms, split by name below: a
	// facet per name would see every term once per name.
	req.AddFacet(fieldFacets, bleve.NewFacetRequest(fieldFacets, math.MaxInt32))
	res, err := x.bleve.SearchInContext(ctx, req)
	if err != nil {
		return caseindex.Result{}, fmt.Errorf("bleveindex: search: %w", err)
	}

	result.Total = int(res.Total)
	for _, h := range res.Hits {
		c, err := decodeHit(h)
		if err != nil {
			return caseindex.Result{}, err
		}
		result.Hits = append(result.Hits, c)
	}
	if fr := res.Facets[fieldFacets]; fr != nil && fr.Terms != nil {
		for _, t := range fr.Terms.Terms() {
			name, v, _ := strings.Cut(t.Term, "=")
			if counts := result.Facets[name]; counts != nil {
				counts[v] = t.Count
			}
		}
	}
	for _, counts := range result.Facets {
		trimFacet(counts, facetSize)
	}
	return result, nil
}

// SLACounts counts the SLA facts (caseindex.SLAField) of the cases matching
// q in one facet over them; no case is read.
func (x *Index) SLACounts(ctx context.Context, q caseindex.Query) (map[string]int, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("bleveindex: %w", err)
	}
	counts := map[string]int{}
	bq, ok, err := x.buildQuery(q)
	if err != nil || !ok {
		return counts, err
	}
	req := bleve.NewSearchRequestOptions(bq, 0, 0, false)
	req.AddFacet(caseindex.SLAField, bleve.NewFacetRequest(caseindex.SLAField, math.MaxInt32))
	res, err := x.bleve.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("bleveindex: count SLA facts: %w", err)
	}
	if fr := res.Facets[caseindex.SLAField]; fr != nil && fr.Terms != nil {
		for _, t := range fr.Terms.Terms() {
			counts[t.Term] = t.Count
		}
	}
	return counts, nil
}

// trimFacet keeps the n values with the highest counts, on a tie those
// first in byte order, like Elasticsearch's terms aggregation.
func trimFacet(counts map[string]int, n int) {
	if len(counts) <= n {
		return
	}
	values := slices.Collect(maps.Keys(counts))
	slices.SortFunc(values, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, v := range values[n:] {
		delete(counts, v)
	}
}

// scopeQuery matches the cases of a scope: one of its terms; none when
// it has none.
func scopeQuery(s caseindex.Scope) query.Query {
	var terms []query.Query
	for _, t := range s.Terms() {
		tq := bleve.NewTermQuery(t.Value)
		tq.SetField(t.Field)
		terms = append(terms, tq)
	}
	if len(terms) == 0 {
		return bleve.NewMatchNoneQuery()
	}
	return bleve.NewDisjunctionQuery(terms...)
}

// buildQuery turns a normalised Query into a Bleve query. ok is false when
// the text matches nothing (see textQuery).
func (x *Index) buildQuery(q caseindex.Query) (query.Query, bool, error) {
	var filters []query.Query
	for _, f := range caseindex.Filters { // in table order: the same query every time
		if v := q.Filters[f.Name]; v != "" {
			t := bleve.NewTermQuery(v)
			t.SetField(f.IndexField())
			filters = append(filters, t)
		}
	}
	yes, no := true, false
	if !q.From.IsZero() || !q.To.IsZero() {
		r := bleve.NewDateRangeInclusiveQuery(q.From, q.To, &yes, &no)
		r.SetField("received_at")
		filters = append(filters, r)
	}
	if !q.DueBefore.IsZero() {
		r := bleve.NewDateRangeInclusiveQuery(time.Time{}, q.DueBefore, nil, &no)
		r.SetField("deadline")
		filters = append(filters, r)
	}
	if q.Scope != nil {
		filters = append(filters, scopeQuery(*q.Scope))
	}

	var must query.Query
	if q.Text != "" {
		text, ok, err := x.textQuery(caseindex.ParseText(q.Text))
		if err != nil || !ok {
			return nil, false, err
		}
		must = text
	}

	switch {
	case len(filters) == 0 && must == nil:
		return bleve.NewMatchAllQuery(), true, nil
	case len(filters) == 0:
		return must, true, nil
	}
	bq := bleve.NewBooleanQuery()
	if must != nil {
		bq.AddMust(must)
	}
	bq.AddFilter(bleve.NewConjunctionQuery(filters...))
	return bq, true, nil
}

// analyze returns the terms the analyzer makes of s, in order.
func (x *Index) analyze(analyzer, s string) (analysis.TokenStream, error) {
	a := x.bleve.Mapping().AnalyzerNamed(analyzer)
	if a == nil {
		return nil, fmt.Errorf("bleveindex: analyzer %s is not defined", analyzer)
	}
	return a.Analyze([]byte(s)), nil
}

// sortOrder is the Bleve sort of a normalised Query.Sort. Every order ends
// in the document id so that pages do not overlap.
func sortOrder(s string) search.SortOrder {
	newest := &search.SortField{Field: "received_at", Desc: true, Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast}
	id := &search.SortDocID{}
	switch s {
	case caseindex.SortRelevance:
		return search.SortOrder{&search.SortScore{Desc: true}, newest, id}
	case caseindex.SortOldest:
		return search.SortOrder{&search.SortField{Field: "received_at", Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast}, id}
	case caseindex.SortDeadline:
		return search.SortOrder{&search.SortField{Field: "deadline", Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast}, newest, id}
	default:
		return search.SortOrder{newest, id}
	}
}

// Ping reports whether the index is open and answers.
func (x *Index) Ping(ctx context.Context) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := x.bleve.DocCount(); err != nil {
		return fmt.Errorf("bleveindex: ping: %w", err)
	}
	return nil
}

// Close closes the index; it waits for running Upserts, and later ones
// return ErrClosed. Closing twice is not an error.
func (x *Index) Close() error {
	if !x.writing.close() {
		return nil
	}
	x.closed.Store(true)
	if err := x.bleve.Close(); err != nil {
		return fmt.Errorf("bleveindex: close %s: %w", x.path, err)
	}
	x.logger.Info("case index closed", zap.String("path", x.path))
	return nil
}

// NewMapping returns the mapping Open creates a new index with. With
// Document it is what a loader outside Index (the benchmark's raw Bleve
// baseline, deploy/bench) needs to build the same index.
func NewMapping() (*mapping.IndexMappingImpl, error) { return newMapping() }

// Document is the document Upsert indexes for c at now, with the default
// calendar.
func Document(c router.Case, now time.Time) (map[string]any, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("bleveindex: encode case %s: %w", c.ID, err)
	}
	return document(c, raw, nil, now), nil
}
