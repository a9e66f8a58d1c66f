package esindex

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// MappingVersion is the version of the index layout this package writes:
// the concrete index is IndexPrefix-v<MappingVersion>.
//
// A new field (a new row of caseindex.Filters, say) is no new version:
// Elasticsearch adds fields to an existing index's mapping, so Open puts
// the current mappings on the index the alias points at (PUT
// /<index>/_mapping) as well as on the template; the index gains the
// field, and documents written before simply lack it until the case is
// written again. Any other change of templateBody or document (a field's
// type or analyzer, a renamed or removed field, settings) is a new
// version: bump MappingVersion and move existing data as README.md ("Real
// Kafka and Elasticsearch") describes (a new index, a reindex or a
// replay, an alias switch).
//
// History: 1 had the keyword fields channel, source, category, status and
// references; 2 adds contact_type, grade, validity, department, queue and
// pack. Every field of 1 is in 2 with the same type, so a version 1
// document reindexes into version 2 as it is (without the new fields until
// the cases topic is replayed). Version 2 later gained message_ids in
// place, then owner, assignee, customer.name, work_orders and
// business_type (a case written before lacks them until it is written
// again, as every case is when the cases topic is replayed), then the SLA
// facts (caseindex.SLAField; SLA reports count a case only once it has
// them).
const MappingVersion = 2

// facetSize is how many values each facet reports; the rest is not listed.
const facetSize = 100

// names are the names of what an Index creates in Elasticsearch.
type names struct {
	alias    string // the write (and read) alias: IndexPrefix
	index    string // the versioned index behind it
	template string // the index template for the versioned index
}

func namesFor(prefix string) names {
	versioned := fmt.Sprintf("%s-v%d", prefix, MappingVersion)
	return names{alias: prefix, index: versioned, template: versioned}
}

// templateBody is the composable index template of the versioned index.
//
// Subject and description use the standard analyzer, which every node has
// (it is part of the server, not of the analysis-common module): it splits
// Han characters into one token each and keeps Latin letters and digits as
// whole lower-cased words: the terms of a search text (caseindex, text.go).
// A quoted phrase is a match_phrase, so "信号差" must find 信, 号 and 差 at
// adjacent positions: it matches 手机信号差了三天 and not 信号还行但是速度很差;
// the rest is a combined_fields query, whose terms may stand anywhere in
// either field, so 信号很差 finds both. Full-width letters and digits are folded to
// ASCII before indexing and before searching (folded in Go, because the
// cjk_width filter is in analysis-common). The complete case is kept in
// the unindexed "case" object and returned as it was written.
func templateBody(n names, cfg Config) map[string]any {
	return map[string]any{
		"index_patterns": []string{n.index},
		"priority":       200,
		"_meta": map[string]any{
			"managed_by":      "tousu",
			"mapping_version": MappingVersion,
			"description":     "tousu case index; written by sinks/esindex",
		},
		"template": map[string]any{
			"settings": map[string]any{
				"index": map[string]any{
					"number_of_shards":   cfg.Shards,
					"number_of_replicas": *cfg.Replicas,
					"refresh_interval":   durationSetting(cfg.RefreshInterval),
				},
			},
			"mappings": mappings(),
		},
	}
}

// mappings are the mappings of the versioned index, in the template and
// in the update Open puts on an existing index.
func mappings() map[string]any {
	keyword := map[string]any{"type": "keyword"}
	text := map[string]any{"type": "text", "analyzer": "standard"}
	date := map[string]any{"type": "date", "format": "strict_date_optional_time||epoch_millis"}
	properties := map[string]any{
		"id":               keyword,
		"revision":         map[string]any{"type": "long"},
		"subject":          text,
		"description":      text,
		"received_at":      date,
		"updated_at":       date,
		"deadline":         date,
		"case":             map[string]any{"type": "object", "enabled": false},
		caseindex.SLAField: keyword,
	}
	for _, f := range caseindex.Filters {
		addProperty(properties, f.IndexField(), keyword)
	}
	for _, field := range []string{"customer.key"} {
		addProperty(properties, field, keyword)
	}
	return map[string]any{
		"dynamic":    "strict",
		"_meta":      map[string]any{"mapping_version": MappingVersion},
		"properties": properties,
	}
}

// addProperty maps the field in properties, a dotted field
// (customer.phone) as a property of its objects, which it creates as
// needed.
func addProperty(properties map[string]any, field string, m map[string]any) {
	parent, name, ok := strings.Cut(field, ".")
	if !ok {
		properties[field] = m
		return
	}
	object, _ := properties[parent].(map[string]any)
	if object == nil {
		object = map[string]any{"properties": map[string]any{}}
		properties[parent] = object
	}
	addProperty(object["properties"].(map[string]any), name, m)
}

// durationSetting writes d in Elasticsearch's time unit syntax.
func durationSetting(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// foldText prepares text for the standard analyzer, at index and at query
// time alike: full-width ASCII becomes ASCII (ＯＲＤ１２ → ORD12).
func foldText(s string) string {
	return width.Fold.String(s)
}

// esTime is how times are sent: UTC with milliseconds, the precision of a
// date field.
func esTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// document is what Elasticsearch indexes for a case, with its SLA facts at
// now on its pack's calendar from cals. Empty strings and zero times are
// left out, so they neither match filters nor show up in facets. It fails
// when the case cannot be encoded.
func document(c router.Case, cals caseindex.Calendars, now time.Time) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	doc := caseindex.Keywords(c)
	doc[caseindex.SLAField] = caseindex.SLAFacts(c, caseindex.CalendarFor(cals, c), now)
	doc["id"] = c.ID
	doc["revision"] = c.Revision
	for name, v := range map[string]string{"subject": foldText(c.Subject), "description": foldText(c.Description)} {
		if v != "" {
			doc[name] = v
		}
	}
	for name, t := range caseindex.Dates(c) {
		doc[name] = esTime(t)
	}
	fields, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// The stored case goes in last, as json.Marshal wrote it: as a
	// json.RawMessage in doc it would be checked and compacted again, the
	// largest part of the document once more.
	out := make([]byte, 0, len(fields)+len(`,"case":`)+len(raw))
	out = append(out, fields[:len(fields)-1]...)
	out = append(out, `,"case":`...)
	out = append(out, raw...)
	return append(out, '}'), nil
}

// millisCeil is t in Unix milliseconds, rounded up: a stored date (whole
// milliseconds) m satisfies m >= t exactly when m >= millisCeil(t), and
// m < t exactly when m < millisCeil(t).
func millisCeil(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}

// scopeQuery matches the cases of a scope: one of its terms; none when
// it has none.
func scopeQuery(s caseindex.Scope) map[string]any {
	var should []any
	for _, t := range s.Terms() {
		should = append(should, map[string]any{"term": map[string]any{t.Field: t.Value}})
	}
	if len(should) == 0 {
		return map[string]any{"bool": map[string]any{"must_not": map[string]any{"match_all": map[string]any{}}}}
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// searchBody builds the search request of a normalised query.
func searchBody(q caseindex.Query) map[string]any {
	var filters []any
	for _, f := range caseindex.Filters { // in table order: the same body every time
		if v := q.Filters[f.Name]; v != "" {
			filters = append(filters, map[string]any{"term": map[string]any{f.IndexField(): v}})
		}
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		r := map[string]any{"format": "epoch_millis"}
		if !q.From.IsZero() {
			r["gte"] = millisCeil(q.From)
		}
		if !q.To.IsZero() {
			r["lt"] = millisCeil(q.To)
		}
		filters = append(filters, map[string]any{"range": map[string]any{"received_at": r}})
	}
	if !q.DueBefore.IsZero() {
		filters = append(filters, map[string]any{"range": map[string]any{
			"deadline": map[string]any{"lt": millisCeil(q.DueBefore), "format": "epoch_millis"},
		}})
	}
	if q.Scope != nil {
		filters = append(filters, scopeQuery(*q.Scope))
	}

	boolq := map[string]any{}
	if len(filters) > 0 {
		boolq["filter"] = filters
	}
	if q.Text != "" {
		boolq["must"] = []any{textQuery(caseindex.ParseText(q.Text))}
	}
	query := map[string]any{"match_all": map[string]any{}}
	if len(boolq) > 0 {
		query = map[string]any{"bool": boolq}
	}

	aggs := map[string]any{}
	for _, f := range caseindex.Filters {
		if f.Facet {
			aggs[f.Name] = map[string]any{"terms": map[string]any{"field": f.IndexField(), "size": facetSize}}
		}
	}
	return map[string]any{
		"query":            query,
		"from":             q.Offset,
		"size":             q.Limit,
		"track_total_hits": true,
		"_source":          []string{"case"},
		"sort":             sortOrder(q.Sort),
		"aggs":             aggs,
	}
}

// slaTermsSize bounds the distinct SLA facts one count reports: far more
// than the facts of a period (about 70 besides one per batch incident and
// per group value), within the default search.max_buckets.
const slaTermsSize = 50000

// countBody builds the request of SLACounts: the query of searchBody,
// no hits, and the terms of caseindex.SLAField.
func countBody(q caseindex.Query) map[string]any {
	return map[string]any{
		"query":            searchBody(q)["query"],
		"size":             0,
		"track_total_hits": false,
		"aggs": map[string]any{caseindex.SLAField: map[string]any{
			"terms": map[string]any{"field": caseindex.SLAField, "size": slaTermsSize},
		}},
	}
}

// textFields are searched by Query.Text.
var textFields = []string{"subject", "description"}

// textQuery is the query of a search text as caseindex (text.go) defines
// it: every quoted phrase and the terms outside quotes, or the whole text
// as a reference, work-order number or business type. A text without
// phrases and terms matches nothing.
func textQuery(t caseindex.Text) map[string]any {
	var clauses []any
	for _, p := range t.Phrases {
		clauses = append(clauses, phraseQuery(foldText(p), 1))
	}
	if t.Terms != "" {
		terms := foldText(t.Terms)
		// The phrase adds its score to what the terms match (a case
		// holding the phrase holds every term).
		clauses = append(clauses, anyOf(
			map[string]any{"combined_fields": map[string]any{
				"query":                terms,
				"fields":               textFields,
				"operator":             "or",
				"minimum_should_match": fmt.Sprintf("-%d%%", caseindex.MissingTermsPercent),
				"zero_terms_query":     "none",
			}},
			phraseQuery(terms, caseindex.PhraseBoost),
		))
	}
	if len(clauses) == 0 {
		return map[string]any{"match_none": map[string]any{}}
	}
	alternatives := []any{map[string]any{"bool": map[string]any{"must": clauses}}}
	for _, name := range caseindex.TextKeywords {
		f, _ := caseindex.FilterNamed(name)
		alternatives = append(alternatives, map[string]any{"term": map[string]any{f.IndexField(): t.Whole}})
	}
	return anyOf(alternatives...)
}

// phraseQuery finds the text as a phrase in any text field, weighed by
// boost.
func phraseQuery(text string, boost float64) map[string]any {
	var phrases []any
	for _, field := range textFields {
		phrases = append(phrases, map[string]any{"match_phrase": map[string]any{
			field: map[string]any{"query": text, "zero_terms_query": "none", "boost": boost},
		}})
	}
	return anyOf(phrases...)
}

// anyOf matches what any of the queries matches, scored by the sum of
// those matching.
func anyOf(queries ...any) map[string]any {
	return map[string]any{"bool": map[string]any{"should": queries, "minimum_should_match": 1}}
}

// sortOrder is the sort of a normalised Query.Sort. Every order ends in the
// case id so that pages neither overlap nor leave gaps.
func sortOrder(s string) []any {
	field := func(name, order string) map[string]any {
		return map[string]any{name: map[string]any{"order": order, "missing": "_last"}}
	}
	newest := field("received_at", "desc")
	id := map[string]any{"id": map[string]any{"order": "asc"}}
	switch s {
	case caseindex.SortRelevance:
		return []any{map[string]any{"_score": map[string]any{"order": "desc"}}, newest, id}
	case caseindex.SortOldest:
		return []any{field("received_at", "asc"), id}
	case caseindex.SortDeadline:
		return []any{field("deadline", "asc"), newest, id}
	default:
		return []any{newest, id}
	}
}

// searchResponse is the part of a search response Search reads.
type searchResponse struct {
	Hits struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID     string `json:"_id"`
			Source struct {
				Case json.RawMessage `json:"case"`
			} `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]struct {
		Buckets []struct {
			Key      string `json:"key"`
			DocCount int    `json:"doc_count"`
		} `json:"buckets"`
	} `json:"aggregations"`
}

// result turns a search response into a caseindex.Result with every facet
// present.
func (r *searchResponse) result() (caseindex.Result, error) {
	res := caseindex.Result{
		Total:  r.Hits.Total.Value,
		Hits:   make([]router.Case, 0, len(r.Hits.Hits)),
		Facets: make(map[string]map[string]int, len(caseindex.FacetFields)),
	}
	for _, h := range r.Hits.Hits {
		c, err := decodeCase(h.ID, h.Source.Case)
		if err != nil {
			return caseindex.Result{}, err
		}
		res.Hits = append(res.Hits, c)
	}
	for _, f := range caseindex.FacetFields {
		counts := map[string]int{}
		for _, b := range r.Aggregations[f].Buckets {
			counts[b.Key] = b.DocCount
		}
		res.Facets[f] = counts
	}
	return res, nil
}

// decodeCase reads the case kept in a document's source.
func decodeCase(id string, raw json.RawMessage) (router.Case, error) {
	if len(raw) == 0 || strings.TrimSpace(string(raw)) == "null" {
		return router.Case{}, fmt.Errorf("esindex: document %s has no case in its source", id)
	}
	var c router.Case
	if err := json.Unmarshal(raw, &c); err != nil {
		return router.Case{}, fmt.Errorf("esindex: decode case %s: %w", id, err)
	}
	return c, nil
}

// Document is the source document Upsert sends for c at now, with the
// default calendar: what a loader outside Index (the benchmark's direct
// bulk baseline, deploy/bench) needs to write the same documents.
func Document(c router.Case, now time.Time) ([]byte, error) { return document(c, nil, now) }
