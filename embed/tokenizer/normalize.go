package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization, keeping the alignment of every
// byte to the original input.
type normalizer interface {
	normalize(n nstr) nstr
}

type normalizerSeq []normalizer

func (ns normalizerSeq) normalize(n nstr) nstr {
	for _, x := range ns {
		n = x.normalize(n)
	}
	return n
}

// bertNormalizer is Hugging Face's BertNormalizer: clean_text, handle_chinese_chars,
// strip_accents (defaults to lowercase when null) and lowercase, applied in that order.
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(n nstr) nstr {
	if b.cleanText {
		n = mapRunes(n, cleanTextRune)
	}
	if b.chineseChars {
		n = mapRunes(n, spaceCJKRune)
	}
	if b.stripAccents {
		n = mapRunes(formNormalizer{norm.NFD}.normalize(n), stripAccentRune)
	}
	if b.lowercase {
		n = mapRunes(n, lowercaseRune)
	}
	return n
}

// cleanTextRune drops NUL, U+FFFD and control/format/private-use/unassigned characters (tab,
// newline and carriage return excepted) and turns every whitespace character into a space.
func cleanTextRune(r rune, w *nbuild, sp span) bool {
	if r == 0 || r == 0xFFFD || isControl(r) {
		return false
	}
	if isWhitespace(r) && r != ' ' {
		w.add(" ", sp)
		return false
	}
	return true
}

func isWhitespace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

// isControl is Unicode general category "Other" (Cc, Cf, Cs, Co, Cn) minus \t, \n, \r.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if r < 0x80 {
		return r < 0x20 || r == 0x7f
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) {
		return true
	}
	// Cn (unassigned): not in any category table.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}

// isCJK reports the CJK Unified Ideograph blocks BERT pads with spaces.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func spaceCJKRune(r rune, w *nbuild, sp span) bool {
	if r < 0x3400 || !isCJK(r) {
		return true
	}
	w.add(" ", sp)
	w.addRune(r, sp)
	w.add(" ", sp)
	return false
}

// stripAccentRune removes nonspacing marks (Mn); callers decompose (NFD) first.
func stripAccentRune(r rune, _ *nbuild, _ span) bool {
	return r < 0x300 || !unicode.Is(unicode.Mn, r)
}

// lowercaseRune maps a character to its full Unicode lowercase, character by character (no
// context-dependent final sigma), as Rust's char::to_lowercase does. The only unconditional
// multi-character lowercase mapping is U+0130 (İ) -> "i̇".
func lowercaseRune(r rune, w *nbuild, sp span) bool {
	if r < 0x80 {
		if r < 'A' || r > 'Z' {
			return true
		}
		w.addRune(r+32, sp)
		return false
	}
	if r == 0x130 {
		w.add("i\u0307", sp)
		return false
	}
	l := unicode.ToLower(r)
	if l == r {
		return true
	}
	w.addRune(l, sp)
	return false
}

// runeNormalizer applies a per-character rewrite.
type runeNormalizer func(r rune, w *nbuild, sp span) bool

func (f runeNormalizer) normalize(n nstr) nstr { return mapRunes(n, f) }

// formNormalizer is a Unicode normalization form. Alignment follows Hugging Face's
// normalization with alignments: a character's decomposition is aligned to that character,
// and a composed character to the first (starter) character it was composed from. When a
// segment (between the form's boundaries) defeats that bookkeeping, its output is aligned to
// the whole segment.
type formNormalizer struct{ f norm.Form }

func (fn formNormalizer) normalize(n nstr) nstr {
	if fn.f.IsNormalString(n.s) {
		return n
	}
	decomp := norm.NFD
	if fn.f == norm.NFKC || fn.f == norm.NFKD {
		decomp = norm.NFKD
	}
	w := newNbuild(len(n.s) + 8)
	var dec []runeSpan
	for i := 0; i < len(n.s); {
		j := i + fn.f.NextBoundaryInString(n.s[i:], true)
		if j <= i {
			j = len(n.s)
		}
		seg := n.s[i:j]
		out := fn.f.String(seg)
		if out == seg {
			w.copy(n, i, j)
			i = j
			continue
		}
		// Decompose character by character, each piece aligned to its character.
		dec = dec[:0]
		for k := i; k < j; {
			r, size := utf8.DecodeRuneInString(n.s[k:])
			for _, d := range decomp.String(string(r)) {
				dec = append(dec, runeSpan{d, n.origin(k, k+size), false})
			}
			k += size
		}
		if !alignComposed(out, dec, w) {
			w.add(out, n.origin(i, j))
		}
		i = j
	}
	res := w.done()
	if whole := fn.f.String(n.s); whole != res.s {
		// Segments did not normalize independently: align everything to the whole range.
		w = newNbuild(len(whole))
		w.add(whole, n.origin(0, len(n.s)))
		return w.done()
	}
	return res
}

type runeSpan struct {
	r    rune
	sp   span
	used bool
}

// alignComposed appends out to w, each character aligned to the decomposed input character
// its own canonical decomposition starts with. It reports false (appending nothing) when a
// piece of that decomposition is not found.
func alignComposed(out string, dec []runeSpan, w *nbuild) bool {
	mark := len(w.b)
	for _, o := range out {
		var first span
		for k, d := range norm.NFD.String(string(o)) {
			found := false
			for x := range dec {
				if !dec[x].used && dec[x].r == d {
					dec[x].used, found = true, true
					if k == 0 {
						first = dec[x].sp
					}
					break
				}
			}
			if !found {
				w.b, w.al = w.b[:mark], w.al[:mark]
				return false
			}
		}
		w.addRune(o, first)
	}
	return true
}

// replaceNormalizer replaces every (non-overlapping, leftmost) occurrence of a literal string
// or an Oniguruma pattern.
type replaceNormalizer struct {
	literal string
	re      *hfRegex
	content string
}

func (r replaceNormalizer) normalize(n nstr) nstr {
	var w *nbuild
	last := 0
	r.matches(n.s, func(start, end int) {
		if w == nil {
			w = newNbuild(len(n.s) + 8)
		}
		w.copy(n, last, start)
		// As in Hugging Face, the replacement is aligned to the last byte it replaces (for an
		// empty match, the byte before it).
		var sp span
		switch {
		case end > 0:
			sp = n.align[end-1]
		case len(n.s) > 0:
			sp = span{n.align[0].start, n.align[0].start}
		}
		w.add(r.content, sp)
		last = end
	})
	if w == nil {
		return n
	}
	w.copy(n, last, len(n.s))
	return w.done()
}

func (r replaceNormalizer) matches(s string, fn func(start, end int)) {
	if r.re != nil {
		r.re.findAll(s, fn)
		return
	}
	if r.literal == "" {
		return
	}
	for i := 0; ; {
		j := strings.Index(s[i:], r.literal)
		if j < 0 {
			return
		}
		fn(i+j, i+j+len(r.literal))
		i += j + len(r.literal)
	}
}

// replaceString applies the replacement to a plain string (the Replace decoder).
func (r replaceNormalizer) replaceString(s string) string {
	var b []byte
	last := 0
	matched := false
	r.matches(s, func(start, end int) {
		matched = true
		b = append(b, s[last:start]...)
		b = append(b, r.content...)
		last = end
	})
	if !matched {
		return s
	}
	return string(append(b, s[last:]...))
}

type stripNormalizer struct{ left, right bool }

func (st stripNormalizer) normalize(n nstr) nstr {
	i, j := 0, len(n.s)
	if st.left {
		i = len(n.s) - len(strings.TrimLeftFunc(n.s, unicode.IsSpace))
	}
	if st.right {
		j = len(strings.TrimRightFunc(n.s, unicode.IsSpace))
	}
	if j < i {
		j = i
	}
	return n.slice(i, j)
}

// prependNormalizer prepends a string to non-empty text, aligned to its first character.
type prependNormalizer string

func (p prependNormalizer) normalize(n nstr) nstr {
	if n.s == "" {
		return n
	}
	w := newNbuild(len(p) + len(n.s))
	w.add(string(p), n.align[0])
	w.copy(n, 0, len(n.s))
	return w.done()
}

// parseReplace reads the pattern and content of a Replace normalizer or decoder.
func parseReplace(raw json.RawMessage) (replaceNormalizer, error) {
	var v struct {
		Pattern struct {
			String *string `json:"String"`
			Regex  *string `json:"Regex"`
		} `json:"pattern"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return replaceNormalizer{}, fmt.Errorf("Replace: %w", err)
	}
	switch {
	case v.Pattern.String != nil:
		return replaceNormalizer{literal: *v.Pattern.String, content: v.Content}, nil
	case v.Pattern.Regex != nil:
		re, err := compileRegex(*v.Pattern.Regex)
		if err != nil {
			return replaceNormalizer{}, fmt.Errorf("Replace: %w", err)
		}
		return replaceNormalizer{re: re, content: v.Content}, nil
	}
	return replaceNormalizer{}, fmt.Errorf("Replace: pattern has neither String nor Regex")
}

type rawComponent struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var head rawComponent
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch head.Type {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %w", err)
		}
		var seq normalizerSeq
		for i, r := range v.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "BertNormalizer":
		var v struct {
			CleanText    *bool `json:"clean_text"`
			ChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents *bool `json:"strip_accents"`
			Lowercase    *bool `json:"lowercase"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer BertNormalizer: %w", err)
		}
		b := bertNormalizer{cleanText: true, chineseChars: true, lowercase: true}
		if v.CleanText != nil {
			b.cleanText = *v.CleanText
		}
		if v.ChineseChars != nil {
			b.chineseChars = *v.ChineseChars
		}
		if v.Lowercase != nil {
			b.lowercase = *v.Lowercase
		}
		b.stripAccents = b.lowercase
		if v.StripAccents != nil {
			b.stripAccents = *v.StripAccents
		}
		return b, nil
	case "Lowercase":
		return runeNormalizer(lowercaseRune), nil
	case "StripAccents":
		return runeNormalizer(stripAccentRune), nil
	case "NFD":
		return formNormalizer{norm.NFD}, nil
	case "NFC":
		return formNormalizer{norm.NFC}, nil
	case "NFKD":
		return formNormalizer{norm.NFKD}, nil
	case "NFKC":
		return formNormalizer{norm.NFKC}, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %w", err)
		}
		return stripNormalizer{left: v.Left, right: v.Right}, nil
	case "Prepend":
		var v struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Prepend: %w", err)
		}
		return prependNormalizer(v.Prepend), nil
	case "Replace":
		r, err := parseReplace(raw)
		if err != nil {
			return nil, fmt.Errorf("normalizer %w", err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", head.Type)
}
