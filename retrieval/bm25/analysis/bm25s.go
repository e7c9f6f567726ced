package analysis

import (
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/textnorm"
)

// splitBM25S is bm25s' splitting: Python str.lower(), then re.findall(r"(?u)\b\w\w+\b"),
// i.e. every maximal run of at least two word characters, minus the stopwords
// (bm25s/tokenization.py, Tokenizer.streaming_tokenize).
func splitBM25S(dst []string, s string) []string {
	s = textnorm.Lower(s)
	start, runes := -1, 0
	flush := func(end int) {
		if start >= 0 && runes >= 2 {
			if w := s[start:end]; !englishStopwords[w] {
				dst = append(dst, w)
			}
		}
		start, runes = -1, 0
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if textnorm.IsWord(r) && !(r == utf8.RuneError && size == 1) {
			if start < 0 {
				start = i
			}
			runes++
		} else {
			flush(i)
		}
		i += size
	}
	flush(len(s))
	return dst
}
