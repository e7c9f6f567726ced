package textnorm

import (
	"strings"
	"unicode"
)

// pythonPunctuation is Python's string.punctuation.
const pythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// Normalize is FlashRAG's normalize_answer: lower, drop ASCII punctuation, drop articles,
// collapse whitespace.
func Normalize(s string) string {
	s = Lower(s)
	s = removePunct(s)
	s = removeArticles(s)
	return strings.Join(splitPython(s), " ")
}

// NormalizeAll normalizes each answer and drops the ones that normalize to "".
func NormalizeAll(answers []string) []string {
	out := make([]string, 0, len(answers))
	for _, a := range answers {
		if n := Normalize(a); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// ContainsAny reports whether the normalized text contains one of the already normalized
// answers as a substring (FlashRAG's retrieval recall and acc rule).
func ContainsAny(text string, normalizedAnswers []string) bool {
	n := Normalize(text)
	for _, a := range normalizedAnswers {
		if a != "" && strings.Contains(n, a) {
			return true
		}
	}
	return false
}

// Lower is Python's str.lower(): full Unicode lowercase mapping, including the special cases
// Go's unicode.ToLower does not apply ('İ' -> "i̇", final sigma).
func Lower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i, r := range rs {
		switch r {
		case 'İ': // U+0130 lowers to 'i' + COMBINING DOT ABOVE in Python
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma applies Unicode's Final_Sigma condition as CPython does: preceded by a cased
// letter (skipping case-ignorable characters) and not followed by one.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	k := i + 1
	for k < len(rs) && caseIgnorable(rs[k]) {
		k++
	}
	return k == len(rs) || !cased(rs[k])
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
}

func caseIgnorable(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) ||
		r == '\'' || r == '.' || r == ':' || r == '^' || r == '`' || r == '\u00b7' || r == '\u2019'
}

func removePunct(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && strings.ContainsRune(pythonPunctuation, r) {
			return -1
		}
		return r
	}, s)
}

// isWord is Python re's \w for str patterns: Unicode alphanumerics and underscore.
func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Nd, unicode.Nl, unicode.No, unicode.Mn, unicode.Mc)
}

// removeArticles is re.sub(r"\b(a|an|the)\b", " ", s).
func removeArticles(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(rs); {
		if i == 0 || !isWord(rs[i-1]) {
			matched := 0
			for _, art := range [...]string{"the", "an", "a"} {
				ar := []rune(art)
				if i+len(ar) <= len(rs) && string(rs[i:i+len(ar)]) == art && (i+len(ar) == len(rs) || !isWord(rs[i+len(ar)])) {
					matched = len(ar)
					break
				}
			}
			if matched > 0 {
				b.WriteByte(' ')
				i += matched
				continue
			}
		}
		b.WriteRune(rs[i])
		i++
	}
	return b.String()
}

// splitPython is Python's str.split() with no argument: split on runs of Unicode whitespace
// (str.isspace), dropping empty fields.
func splitPython(s string) []string {
	return strings.FieldsFunc(s, isPySpace)
}

func isPySpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', '\x1c', '\x1d', '\x1e', '\x1f', '\x85':
		return true
	}
	return unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029'
}
