package bleveindex

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// Text search. The text fields hold the bigrams of each run of Han (and
// kana) characters: 停水三天 is 停水 水三 三天, and only a run of one
// character is indexed as itself. Punctuation, spaces and line breaks
// between two characters do not end a run (bigram.go): 停水，三天 is
// indexed as 停水三天 is, as Elasticsearch's positions skip them, while a
// Latin word or number does end it. A text is analysed the same way and
// searched as a phrase of its terms, which is exact for runs of two or
// more characters. A run of one character at an end of the text is not:
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
	return query.NewMultiPhraseQuery(terms, q.field).Searcher(ctx, r, m, options)
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
