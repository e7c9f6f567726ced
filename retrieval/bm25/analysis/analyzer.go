package analysis

import (
	"fmt"
	"strings"
	"unicode"
)

// Analyzer names (stable: they are stored in index files and manifests).
const (
	Plain  = "plain"
	BM25S  = "bm25s"
	Lucene = "lucene"
)

// Names lists the analyzers, default first.
var Names = []string{Plain, BM25S, Lucene}

// BM25SUnstemmed is a query analyzer for bm25s indexes: what FlashRAG's bm25s retriever does
// to queries (flashrag/retriever/retriever.py, BM25Retriever._search and _batch_search, since
// FlashRAG 0a68454 of 2025-04-25): bm25s.tokenize with its defaults (bm25s/tokenization.py
// tokenize at 0.2.1, the version FlashRAG pins: lower=True, token_pattern (?u)\b\w\w+\b,
// stopwords "english", stemmer None), i.e. the bm25s analyzer without the stemmer, and
// without the empty token for a query with no words (only bm25s' Tokenizer class adds it).
// Against the stemmed index only query words that equal a stem match (bm25s.BM25.retrieve
// drops the others: get_tokens_ids).
const BM25SUnstemmed = "bm25s-unstemmed"

// QueryNames lists the query analyzers that can search an index built with analyzer index:
// the index's own (first) and, for bm25s, BM25SUnstemmed.
func QueryNames(index string) []string {
	if index == BM25S {
		return []string{BM25S, BM25SUnstemmed}
	}
	return []string{index}
}

// ForQueries returns the analyzer that turns queries into terms of an index built with
// analyzer index: query "" (or index) is the index's own analyzer; BM25SUnstemmed is allowed
// for bm25s indexes.
func ForQueries(index, query string) (*Analyzer, error) {
	if query == "" || query == index {
		return ByName(index)
	}
	if query == BM25SUnstemmed && index == BM25S {
		return &Analyzer{name: BM25SUnstemmed, split: splitBM25S}, nil
	}
	return nil, fmt.Errorf("query analyzer %q cannot search a %s index (for it: %s)", query, index, strings.Join(QueryNames(index), ", "))
}

// Analyzer turns text into index terms. The zero value is not usable; use ByName.
type Analyzer struct {
	name string
	// split appends the unstemmed terms of text (lowercased, stopwords removed).
	split func(dst []string, text string) []string
	stem  func(string) string // nil: no stemming
	// emptyToken: a text without terms yields the one term "" (bm25s' allow_empty).
	emptyToken bool
}

// ByName returns the analyzer called name (one of Names).
func ByName(name string) (*Analyzer, error) {
	switch name {
	case Plain:
		return &Analyzer{name: Plain, split: splitPlain}, nil
	case BM25S:
		return &Analyzer{name: BM25S, split: splitBM25S, stem: SnowballEnglish, emptyToken: true}, nil
	case Lucene:
		return &Analyzer{name: Lucene, split: splitLucene, stem: Porter}, nil
	}
	return nil, fmt.Errorf("unknown BM25 analyzer %q (known: %s)", name, strings.Join(Names, ", "))
}

// Name is the analyzer's stable name.
func (a *Analyzer) Name() string { return a.name }

// Terms appends the index terms of text to dst, in text order (repeats kept). cache, when not
// nil, memoizes stems (word -> stem); it belongs to one goroutine and the caller bounds it.
func (a *Analyzer) Terms(dst []string, text string, cache map[string]string) []string {
	n := len(dst)
	dst = a.split(dst, text)
	if a.stem != nil {
		for i := n; i < len(dst); i++ {
			w := dst[i]
			if cache != nil {
				if s, ok := cache[w]; ok {
					dst[i] = s
					continue
				}
			}
			s := a.stem(w)
			if cache != nil {
				cache[strings.Clone(w)] = s
			}
			dst[i] = s
		}
	}
	if a.emptyToken && len(dst) == n {
		dst = append(dst, "")
	}
	return dst
}

// splitPlain: lowercase runs of Unicode letters and digits.
func splitPlain(dst []string, s string) []string {
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			dst = append(dst, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, strings.ToLower(s[start:]))
	}
	return dst
}

// englishStopwords is bm25s' STOPWORDS_EN, which is also Lucene's
// EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (the same 33 words).
var englishStopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by for if in into is it no not of on
		or such that the their then there these they this to was will with`) {
		englishStopwords[w] = true
	}
}

// IsStopword reports whether w (lowercase) is one of the 33 English stopwords.
func IsStopword(w string) bool { return englishStopwords[w] }
