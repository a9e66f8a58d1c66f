package bleveindex

import (
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
)

// hanBigramName is the token filter of the text analyser that turns each
// run of Han (and kana) characters into overlapping bigrams: 信号差 is
// 信号 号差, and a run of one character stays that character (type
// analysis.Single; bigrams have type analysis.Double). Other tokens (Latin
// words, numbers) pass unchanged and end a run.
//
// Unlike Bleve's cjk_bigram, which ends a run wherever the characters are
// not adjacent in the text, a run here goes on across whatever the
// tokenizer dropped between two characters: punctuation, spaces (also the
// full-width one) and line breaks. 手机信号，差得很 is 手机 机信 信号 号差
// 差得 得很, so the phrase 信号差 finds it, as it does in Elasticsearch,
// where the standard analyzer makes every Han character a token and
// positions skip what lies between tokens. Positions count the output
// tokens from 1, so a phrase matches adjacent bigrams only.
const hanBigramName = "tousu_han_bigram"

func init() {
	// The index mapping names the filter; Bleve builds it from the registry
	// whenever an index is created or opened. A clash of names is a
	// programming error found at start-up.
	err := registry.RegisterTokenFilter(hanBigramName, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return hanBigram{}, nil
	})
	if err != nil {
		panic(err)
	}
}

// hanBigram is the token filter named hanBigramName.
type hanBigram struct{}

// hanChar is one character of a run with its byte offsets in the text.
type hanChar struct {
	term       []byte
	start, end int
}

// Filter implements analysis.TokenFilter.
func (hanBigram) Filter(input analysis.TokenStream) analysis.TokenStream {
	out := make(analysis.TokenStream, 0, len(input))
	var run []hanChar
	emit := func(t *analysis.Token) {
		t.Position = len(out) + 1
		out = append(out, t)
	}
	flush := func() {
		switch {
		case len(run) == 1:
			emit(&analysis.Token{Term: run[0].term, Start: run[0].start, End: run[0].end, Type: analysis.Single})
		case len(run) > 1:
			for i := 1; i < len(run); i++ {
				a, b := run[i-1], run[i]
				term := make([]byte, 0, len(a.term)+len(b.term))
				term = append(append(term, a.term...), b.term...)
				emit(&analysis.Token{Term: term, Start: a.start, End: b.end, Type: analysis.Double})
			}
		}
		run = run[:0]
	}
	for _, t := range input {
		if t.Type != analysis.Ideographic {
			flush()
			emit(t)
			continue
		}
		// A token of the tokenizer may hold several characters (a word
		// of kana); each is one character of the run.
		for off := 0; off < len(t.Term); {
			_, n := utf8.DecodeRune(t.Term[off:])
			run = append(run, hanChar{term: t.Term[off : off+n], start: t.Start + off, end: t.Start + off + n})
			off += n
		}
	}
	flush()
	return out
}
