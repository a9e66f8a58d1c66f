package bleveindex

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/tousu/tousu/sinks/caseindex"
)

// Text search. The text fields hold the bigrams of each run of Han (and
// kana) characters: 停水三天 is 停水 水三 三天, and only a run of one
// character is indexed as itself. Punctuation, spaces and line breaks
// between two characters do not end a run (bigram.go): 停水，三天 is
// indexed as 停水三天 is, as Elasticsearch's positions skip them, while a
// Latin word or number does end it. A quoted phrase of a search text is
// analysed the same way and searched as a phrase of its terms, which is
// exact for runs of two or more characters. A run of one character at an
// end of the phrase is not:
// 水 alone, or 网 in 5G网, must also match where the document's run goes
// on past that end (停水三天, 5G网络), as it does in Elasticsearch, where
// every Han character is a term. There the phrase position also takes the
// bigrams that hold the character on the open side: at the start of the
// text those ending in it, at the end those starting with it, and both
// when it is the whole text.

// phraseTerm is one position of a text phrase.
type phraseTerm struct {
	term string
	// openLeft: the bigrams ending in term match too (the document's run
	// may start before term).
	openLeft bool
	// openRight: the bigrams starting with term match too.
	openRight bool
}

// phraseTerms turns the text analyser's tokens of a text into the
// positions of its phrase, opening a lone character at an end of the
// text (see above). A lone character is a run of its own, so on its other
// side the text ends too or goes on with a word that is no Han run: the
// document's run stops there as well, so its character is the last
// (first) of the bigram at the open side.
func phraseTerms(tokens analysis.TokenStream) []phraseTerm {
	terms := make([]phraseTerm, len(tokens))
	for i, t := range tokens {
		terms[i].term = string(t.Term)
	}
	if n := len(tokens); n > 0 {
		terms[0].openLeft = tokens[0].Type == analysis.Single
		terms[n-1].openRight = tokens[n-1].Type == analysis.Single
	}
	return terms
}

// textPhrase is the query of Query.Text on one text field: the phrase of
// terms, where an open position also matches the bigrams holding its
// character on the open side. The bigrams are looked up in the term
// dictionary of the search's own index snapshot.
type textPhrase struct {
	field string
	terms []phraseTerm
	boost float64 // 0 is 1
}

var _ query.Query = (*textPhrase)(nil)

// Searcher implements query.Query.
func (q *textPhrase) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	terms := make([][]string, len(q.terms))
	for i, t := range q.terms {
		alternatives, err := t.expand(r, q.field)
		if err != nil {
			return nil, err
		}
		terms[i] = alternatives
	}
	phrase := query.NewMultiPhraseQuery(terms, q.field)
	if q.boost != 0 {
		phrase.SetBoost(q.boost)
	}
	return phrase.Searcher(ctx, r, m, options)
}

// expand returns the terms of the field that match at this position: the
// term itself, and for an open position the bigrams holding it on the
// open side.
func (t phraseTerm) expand(r index.IndexReader, field string) ([]string, error) {
	if !t.openLeft && !t.openRight {
		return []string{t.term}, nil
	}
	rr, ok := r.(index.IndexReaderRegexp)
	if !ok {
		return nil, fmt.Errorf("bleveindex: the index reader %T cannot look up terms by pattern", r)
	}
	// The dictionary's patterns match whole terms.
	quoted := regexp.QuoteMeta(t.term)
	patterns := []string{quoted}
	if t.openLeft {
		patterns = append(patterns, "."+quoted)
	}
	if t.openRight {
		patterns = append(patterns, quoted+".")
	}
	dict, err := rr.FieldDictRegexp(field, strings.Join(patterns, "|"))
	if err != nil {
		return nil, fmt.Errorf("bleveindex: look up the terms holding %q: %w", t.term, err)
	}
	terms := []string{t.term} // even when absent: a position needs a term
	for {
		e, err := dict.Next()
		if err != nil {
			_ = dict.Close()
			return nil, fmt.Errorf("bleveindex: look up the terms holding %q: %w", t.term, err)
		}
		if e == nil {
			break
		}
		if e.Term != t.term {
			terms = append(terms, e.Term)
		}
	}
	if err := dict.Close(); err != nil {
		return nil, fmt.Errorf("bleveindex: look up the terms holding %q: %w", t.term, err)
	}
	return terms, nil
}

// textQuery is the query of a search text as caseindex (text.go) defines
// it: every quoted phrase and the terms outside quotes, or the whole text
// as a reference, work-order number or business type. ok is false when a
// phrase or the text outside quotes has no terms, or there is neither:
// such a text matches nothing.
func (x *Index) textQuery(t caseindex.Text) (query.Query, bool, error) {
	var clauses []query.Query
	for _, p := range t.Phrases {
		phrase, ok, err := x.phraseQuery(p, 1)
		if err != nil || !ok {
			return nil, false, err
		}
		clauses = append(clauses, phrase)
	}
	if t.Terms != "" {
		terms, ok, err := x.termsQuery(t.Terms)
		if err != nil || !ok {
			return nil, false, err
		}
		clauses = append(clauses, terms)
	}
	if len(clauses) == 0 {
		return nil, false, nil
	}
	alternatives := []query.Query{bleve.NewConjunctionQuery(clauses...)}
	for _, name := range caseindex.TextKeywords {
		f, _ := caseindex.FilterNamed(name)
		kw := bleve.NewTermQuery(t.Whole)
		kw.SetField(f.IndexField())
		alternatives = append(alternatives, kw)
	}
	return bleve.NewDisjunctionQuery(alternatives...), true, nil
}

// phraseQuery finds the text as a phrase in any text field, weighed by
// boost. ok is false when the text has no terms.
func (x *Index) phraseQuery(text string, boost float64) (query.Query, bool, error) {
	tokens, err := x.analyze(textAnalyzer, text)
	if err != nil || len(tokens) == 0 {
		return nil, false, err
	}
	terms := phraseTerms(tokens)
	var phrases []query.Query
	for _, field := range textFields {
		phrases = append(phrases, &textPhrase{field: field, terms: terms, boost: boost})
	}
	return bleve.NewDisjunctionQuery(phrases...), true, nil
}

// termsQuery finds the cases whose text fields together hold at least
// caseindex.MinTerms of the text's terms; those holding the text as a
// phrase score higher by caseindex.PhraseBoost. ok is false when the text
// has no terms.
func (x *Index) termsQuery(text string) (query.Query, bool, error) {
	tokens, err := x.analyze(termsAnalyzer, text)
	if err != nil || len(tokens) == 0 {
		return nil, false, err
	}
	perTerm := make([]query.Query, len(tokens))
	for i, tok := range tokens {
		var inFields []query.Query
		for _, field := range textFields {
			q := bleve.NewTermQuery(string(tok.Term))
			q.SetField(termsField(field))
			inFields = append(inFields, q)
		}
		perTerm[i] = bleve.NewDisjunctionQuery(inFields...)
	}
	terms := bleve.NewDisjunctionQuery(perTerm...)
	terms.SetMin(float64(caseindex.MinTerms(len(tokens))))
	phrase, ok, err := x.phraseQuery(text, caseindex.PhraseBoost)
	if err != nil || !ok {
		return terms, true, err
	}
	// A disjunction matches what terms matches (the phrase holds all the
	// terms) and adds the phrase's score.
	return bleve.NewDisjunctionQuery(terms, phrase), true, nil
}
