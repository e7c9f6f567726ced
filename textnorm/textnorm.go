package textnorm

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pythonPunctuation is the text of Python's string.punctuation (ASCII only).
const pythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// Normalize is FlashRAG's normalize_answer: lower-case (Python str.lower), drop the characters
// of string.punctuation, replace the words a/an/the by a space, then split on whitespace and
// join with single spaces.
func Normalize(s string) string {
	s = Lower(s)
	s = removePunct(s)
	s = removeArticles(s)
	return strings.Join(Fields(s), " ")
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
// answers as a substring (FlashRAG's retrieval recall and acc rule). Empty answers never match
// here; NormalizeAll drops them anyway.
func ContainsAny(text string, normalizedAnswers []string) bool {
	n := Normalize(text)
	for _, a := range normalizedAnswers {
		if a != "" && strings.Contains(n, a) {
			return true
		}
	}
	return false
}

// Lower is Python's str.lower(): the Unicode lowercase mapping with Python's two special
// cases that Go's unicode.ToLower does not apply: 'İ' (U+0130) becomes "i̇" (two runes), and a
// capital sigma in final position (Unicode's Final_Sigma context) becomes 'ς'.
func Lower(s string) string {
	if isLowerASCII(s) {
		return s
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range rs {
		switch r {
		case 'İ':
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

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// finalSigma is Unicode's Final_Sigma condition as CPython evaluates it: looking back past
// case-ignorable characters there is a cased one, and looking forward past case-ignorable
// characters there is none.
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

// cased is Unicode's derived property Cased: Lowercase, Uppercase or titlecase letters,
// including Other_Lowercase and Other_Uppercase (ª, ʰ, Ⅰ, ⓐ ...).
func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable is Unicode's derived property Case_Ignorable: categories Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', // Single_Quote, MidNumLet, MidLetter
		'\u00b7', '\u0387', '\u055f', '\u05f4', '\u2027', '\ufe13', '\ufe55', '\uff1a', // MidLetter
		'\u2018', '\u2019', '\u2024', '\ufe52', '\uff07', '\uff0e': // MidNumLet
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

func removePunct(s string) string {
	if strings.IndexFunc(s, isPunct) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isPunct(r) {
			return -1
		}
		return r
	}, s)
}

func isPunct(r rune) bool {
	return r < utf8.RuneSelf && strings.ContainsRune(pythonPunctuation, r)
}

// IsWord is Python re's \w for str patterns: str.isalnum() (letters of categories L*, and
// characters with a numeric value: Nd, Nl, No) or '_'. Combining marks (Mn, Mc) are not word
// characters in Python, unlike in some other regex engines.
func IsWord(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// articles in the order Python's alternation (a|an|the) tries them. Because a \b must follow,
// at most one of them can match at a position.
var articles = [...]string{"a", "an", "the"}

// removeArticles is re.sub(r"\b(a|an|the)\b", " ", s) with Python's Unicode word boundaries.
func removeArticles(s string) string {
	var b strings.Builder
	changed := false
	prevWord := false // is the rune before position i a word character (in the original)?
	for i := 0; i < len(s); {
		if !prevWord {
			if n := articleAt(s[i:]); n > 0 {
				if !changed {
					b.Grow(len(s))
					b.WriteString(s[:i])
					changed = true
				}
				b.WriteByte(' ')
				i += n
				prevWord = true // the match ends in a word character
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if changed {
			b.WriteString(s[i : i+size])
		}
		prevWord = IsWord(r)
		i += size
	}
	if !changed {
		return s
	}
	return b.String()
}

// articleAt returns the byte length of an article at the start of s followed by a word
// boundary, or 0.
func articleAt(s string) int {
	for _, a := range articles {
		if strings.HasPrefix(s, a) {
			rest := s[len(a):]
			if rest == "" {
				return len(a)
			}
			r, _ := utf8.DecodeRuneInString(rest)
			if !IsWord(r) {
				return len(a)
			}
		}
	}
	return 0
}

// Fields is Python's str.split() with no argument: split on runs of whitespace as str.isspace
// defines it (category Zs or bidirectional class WS, B, S), dropping empty fields.
func Fields(s string) []string {
	return strings.FieldsFunc(s, IsSpace)
}

// IsSpace is Python's str.isspace for one character.
func IsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', '\x1c', '\x1d', '\x1e', '\x1f', '\x85', '\u2028', '\u2029':
		return true
	}
	return r > utf8.RuneSelf && unicode.Is(unicode.Zs, r)
}
