package analysis

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// splitLucene is Anserini's DefaultEnglishAnalyzer before stemming: StandardTokenizer, then
// EnglishPossessiveFilter, LowerCaseFilter and StopFilter.
func splitLucene(dst []string, s string) []string {
	standardTokens(s, func(tok string) {
		tok = trimPossessive(tok)
		tok = lowerJava(tok)
		if !englishStopwords[tok] {
			dst = append(dst, tok)
		}
	})
	return dst
}

// trimPossessive is EnglishPossessiveFilter: drop a final 's or 'S after an apostrophe
// (U+0027), a right single quotation mark (U+2019) or a fullwidth apostrophe (U+FF07).
func trimPossessive(t string) string {
	if n := len(t); n >= 2 && (t[n-1] == 's' || t[n-1] == 'S') {
		r, size := utf8.DecodeLastRuneInString(t[:n-1])
		if r == '\'' || r == '\u2019' || r == '\uFF07' {
			return t[:n-1-size]
		}
	}
	return t
}

// lowerJava is LowerCaseFilter: Character.toLowerCase on every code point (the simple case
// mapping, which unicode.ToLower also is).
func lowerJava(t string) string {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.Map(unicode.ToLower, t)
		}
	}
	return t
}

// wb is a UAX#29 Word_Break class as StandardTokenizerImpl.jflex uses them.
type wb uint8

const (
	wbOther wb = iota
	wbEx       // Extend | Format | ZWJ: attached to the preceding character (WB4)
	wbALetter
	wbHebrew
	wbNumeric
	wbKatakana
	wbMidLetter  // MidLetter
	wbMidNumLet  // MidNumLet
	wbMidNum     // MidNum
	wbSingleQ    // Single_Quote
	wbDoubleQ    // Double_Quote
	wbExtNumLet  // ExtendNumLet
	wbHan        // Script=Han, not ALetter: one token per character
	wbHiragana   // one token per character
	wbComplex    // Line_Break=Complex_Context (Thai, Lao, Myanmar, Khmer ...): runs
	wbPictograph // Extended_Pictographic: an emoji token
)

// complexScripts approximates Line_Break=SA (South East Asian scripts).
var complexScripts = []*unicode.RangeTable{unicode.Thai, unicode.Lao, unicode.Myanmar, unicode.Khmer,
	unicode.Tai_Le, unicode.New_Tai_Lue, unicode.Tai_Tham, unicode.Tai_Viet, unicode.Ahom}

// classify approximates the Word_Break property (UAX#29, WordBreakProperty.txt) from general
// categories and scripts.
func classify(r rune) wb {
	if r < 0x80 {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			return wbALetter
		case '0' <= r && r <= '9':
			return wbNumeric
		}
		switch r {
		case '_':
			return wbExtNumLet
		case '.':
			return wbMidNumLet
		case ':':
			return wbMidLetter
		case ',', ';':
			return wbMidNum
		case '\'':
			return wbSingleQ
		case '"':
			return wbDoubleQ
		}
		return wbOther
	}
	switch r {
	case 0x00B7, 0x0387, 0x05F4, 0x2027, 0xFE13, 0xFE55, 0xFF1A:
		return wbMidLetter
	case 0x2018, 0x2019, 0x2024, 0xFE52, 0xFF07, 0xFF0E:
		return wbMidNumLet
	case 0x037E, 0x0589, 0x060C, 0x060D, 0x066C, 0x07F8, 0x2044, 0xFE10, 0xFE14, 0xFE50, 0xFE54, 0xFF0C, 0xFF1B:
		return wbMidNum
	case 0x200B: // ZERO WIDTH SPACE is not Format
		return wbOther
	case 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x309B, 0x309C, 0x30A0, 0x30FC, 0xFF70:
		return wbKatakana
	case 0x066B:
		return wbNumeric
	}
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc, unicode.Cf):
		return wbEx
	case unicode.Is(unicode.Pc, r):
		return wbExtNumLet
	case unicode.Is(unicode.Nd, r):
		return wbNumeric
	case unicode.Is(unicode.Katakana, r):
		return wbKatakana
	case unicode.Is(unicode.Hiragana, r):
		return wbHiragana
	case unicode.Is(unicode.Han, r) && !unicode.Is(unicode.Lm, r):
		return wbHan
	case unicode.In(r, complexScripts...) && (unicode.IsLetter(r) || unicode.In(r, unicode.Mn, unicode.Mc)):
		return wbComplex
	case unicode.Is(unicode.Hebrew, r) && unicode.IsLetter(r):
		return wbHebrew
	case unicode.IsLetter(r), unicode.Is(unicode.Nl, r), isAlphabeticSymbol(r):
		return wbALetter
	case isPictographic(r):
		return wbPictograph
	}
	return wbOther
}

// isAlphabeticSymbol: non-letters that Word_Break counts as ALetter (modifier symbols,
// Armenian punctuation, circled and squared letters).
func isAlphabeticSymbol(r rune) bool {
	switch {
	case 0x02C2 <= r && r <= 0x02C5, 0x02D2 <= r && r <= 0x02D7, 0x02DE <= r && r <= 0x02DF,
		0x02E5 <= r && r <= 0x02EB, r == 0x02ED, 0x02EF <= r && r <= 0x02FF,
		0x055A <= r && r <= 0x055C, r == 0x055E, r == 0x058A, r == 0x05F3,
		0xA708 <= r && r <= 0xA716, 0xA720 <= r && r <= 0xA721, 0xA789 <= r && r <= 0xA78A,
		r == 0xAB5B, 0x24B6 <= r && r <= 0x24E9,
		0x1F130 <= r && r <= 0x1F149, 0x1F150 <= r && r <= 0x1F169, 0x1F170 <= r && r <= 0x1F189:
		return true
	}
	return false
}

// pictographic holds the main Extended_Pictographic ranges of Unicode's emoji-data.txt.
var pictographic = [][2]rune{
	{0x00A9, 0x00A9}, {0x00AE, 0x00AE}, {0x203C, 0x203C}, {0x2049, 0x2049}, {0x2122, 0x2122},
	{0x2139, 0x2139}, {0x2194, 0x2199}, {0x21A9, 0x21AA}, {0x231A, 0x231B}, {0x2328, 0x2328},
	{0x2388, 0x2388}, {0x23CF, 0x23CF}, {0x23E9, 0x23F3}, {0x23F8, 0x23FA}, {0x24C2, 0x24C2},
	{0x25AA, 0x25AB}, {0x25B6, 0x25B6}, {0x25C0, 0x25C0}, {0x25FB, 0x25FE}, {0x2600, 0x2605},
	{0x2607, 0x2612}, {0x2614, 0x2685}, {0x2690, 0x2705}, {0x2708, 0x2712}, {0x2714, 0x2714},
	{0x2716, 0x2716}, {0x271D, 0x271D}, {0x2721, 0x2721}, {0x2728, 0x2728}, {0x2733, 0x2734},
	{0x2744, 0x2744}, {0x2747, 0x2747}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
	{0x2757, 0x2757}, {0x2763, 0x2767}, {0x2795, 0x2797}, {0x27A1, 0x27A1}, {0x27B0, 0x27B0},
	{0x27BF, 0x27BF}, {0x2934, 0x2935}, {0x2B05, 0x2B07}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50},
	{0x2B55, 0x2B55}, {0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299},
	{0x1F000, 0x1F0FF}, {0x1F10D, 0x1F10F}, {0x1F12F, 0x1F12F}, {0x1F16C, 0x1F16F},
	{0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F1AD, 0x1F1E5}, {0x1F201, 0x1F20F},
	{0x1F21A, 0x1F21A}, {0x1F22F, 0x1F22F}, {0x1F232, 0x1F23A}, {0x1F23C, 0x1F23F},
	{0x1F249, 0x1F3FA}, {0x1F400, 0x1F53D}, {0x1F546, 0x1F64F}, {0x1F680, 0x1F6FF},
	{0x1F774, 0x1F77F}, {0x1F7D5, 0x1F7FF}, {0x1F80C, 0x1F80F}, {0x1F848, 0x1F84F},
	{0x1F85A, 0x1F85F}, {0x1F888, 0x1F88F}, {0x1F8AE, 0x1F8FF}, {0x1F90C, 0x1F93A},
	{0x1F93C, 0x1F945}, {0x1F947, 0x1FAFF}, {0x1FC00, 0x1FFFD},
}

func isPictographic(r rune) bool {
	for _, g := range pictographic {
		if r < g[0] {
			return false
		}
		if r <= g[1] {
			return true
		}
	}
	return false
}

// maxTokenUnits is StandardTokenizer's default maxTokenLength (UTF-16 code units); longer
// tokens are cut into pieces of at most this length.
const maxTokenUnits = 255

type runeInfo struct {
	pos int // byte offset
	c   wb
}

// standardTokens runs StandardTokenizer's grammar (StandardTokenizerImpl.jflex) over s and calls
// emit for each token, in order. Each token is the longest match at its start; characters that
// start no token are skipped.
func standardTokens(s string, emit func(string)) {
	rs := make([]runeInfo, 0, len(s)+1)
	for i, r := range s {
		rs = append(rs, runeInfo{pos: i, c: classify(r)})
	}
	rs = append(rs, runeInfo{pos: len(s), c: wbOther}) // sentinel
	n := len(rs) - 1
	// skipEx returns the index after i and the Extend/Format/ZWJ characters attached to it.
	skipEx := func(i int) int {
		i++
		for i < n && rs[i].c == wbEx {
			i++
		}
		return i
	}
	out := func(a, b int) {
		tok := s[rs[a].pos:rs[b].pos]
		for len(tok) > 0 {
			cut := utf16Cut(tok, maxTokenUnits)
			emit(tok[:cut])
			tok = tok[cut:]
		}
	}
	for i := 0; i < n; {
		switch rs[i].c {
		case wbHan, wbHiragana:
			e := skipEx(i)
			out(i, e)
			i = e
			continue
		case wbComplex:
			e := i
			for e < n && rs[e].c == wbComplex {
				e = skipEx(e)
			}
			out(i, e)
			i = e
			continue
		case wbPictograph:
			e := skipEx(i)
			out(i, e)
			i = e
			continue
		}
		if e := wordEnd(rs, i, n, skipEx); e > i {
			out(i, e)
			i = e
			continue
		}
		i++
	}
}

func isCore(c wb) bool {
	return c == wbALetter || c == wbHebrew || c == wbNumeric || c == wbKatakana
}

// wordEnd returns the end of the word or number token starting at i (the WORD_TYPE,
// NUMERIC_TYPE, KATAKANA_TYPE and HANGUL_TYPE rules), or i when none starts there.
func wordEnd(rs []runeInfo, i, n int, skipEx func(int) int) int {
	p := i
	for p < n && rs[p].c == wbExtNumLet { // leading ExtendNumLet*
		p = skipEx(p)
	}
	if p >= n || !isCore(rs[p].c) {
		return i
	}
	prev := rs[p].c
	hebQuote := false // the last element is Hebrew_Letter Single_Quote
	p = skipEx(p)
	end := p
	afterENL := false
	for p < n {
		c := rs[p].c
		switch {
		case isCore(c):
			if !afterENL && !adjacentJoins(prev, c, hebQuote) {
				return end
			}
			prev, hebQuote, afterENL = c, false, false
			p = skipEx(p)
			end = p
		case c == wbExtNumLet:
			afterENL = true
			p = skipEx(p)
			end = p // trailing ExtendNumLet* belongs to the token
		case !afterENL && !hebQuote && (c == wbMidLetter || c == wbMidNumLet || c == wbMidNum || c == wbSingleQ || c == wbDoubleQ):
			q := skipEx(p)
			next := wbOther
			if q < n {
				next = rs[q].c
			}
			letter := func(x wb) bool { return x == wbALetter || x == wbHebrew }
			switch {
			case letter(prev) && letter(next) && (c == wbMidLetter || c == wbMidNumLet || c == wbSingleQ):
			case prev == wbNumeric && next == wbNumeric && (c == wbMidNum || c == wbMidNumLet || c == wbSingleQ):
			case prev == wbHebrew && next == wbHebrew && c == wbDoubleQ:
			case prev == wbHebrew && c == wbSingleQ:
				hebQuote = true
				p = q
				end = p
				continue
			default:
				return end
			}
			prev = next
			p = skipEx(q)
			end = p
		default:
			return end
		}
	}
	return end
}

// adjacentJoins: two core characters with nothing between them are one token (WB5, WB8, WB9,
// WB10, WB13), except Katakana next to a letter or digit, which needs an ExtendNumLet.
func adjacentJoins(prev, c wb, hebQuote bool) bool {
	if prev == wbKatakana || c == wbKatakana {
		return prev == c && !hebQuote
	}
	return true
}

// utf16Cut returns the byte length of the longest prefix of t of at most max UTF-16 units.
func utf16Cut(t string, max int) int {
	units := 0
	for i, r := range t {
		u := utf16.RuneLen(r)
		if units+u > max {
			return i
		}
		units += u
	}
	return len(t)
}
