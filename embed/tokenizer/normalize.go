package tokenizer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type normalizerSeq []normalizer

func (ns normalizerSeq) normalize(s string) string {
	for _, n := range ns {
		s = n.normalize(s)
	}
	return s
}

// bertNormalizer is Hugging Face's BertNormalizer: clean_text, handle_chinese_chars,
// strip_accents (defaults to lowercase when null) and lowercase, applied in that order.
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(s string) string {
	if b.cleanText {
		s = cleanText(s)
	}
	if b.chineseChars {
		s = spaceCJK(s)
	}
	if b.stripAccents {
		s = stripAccents(norm.NFD.String(s))
	}
	if b.lowercase {
		s = lowercase(s)
	}
	return s
}

// cleanText drops NUL, U+FFFD and control/format/private-use/unassigned characters (tab, newline
// and carriage return excepted) and turns every whitespace character into a plain space.
func cleanText(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if r == 0 || r == 0xFFFD || isControl(r) {
			continue
		}
		if isWhitespace(r) {
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func isWhitespace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.White_Space, r)
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

func spaceCJK(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if isCJK(r) {
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// stripAccents removes nonspacing marks (Mn); callers decompose (NFD) first.
func stripAccents(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// lowercase maps each character to its full Unicode lowercase, character by character (no
// context-dependent final sigma), as Rust's char::to_lowercase does. The only unconditional
// multi-character lowercase mapping is U+0130 (İ) -> "i̇".
func lowercase(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if r == 0x130 {
			sb.WriteString("i\u0307")
			continue
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}

type funcNormalizer func(string) string

func (f funcNormalizer) normalize(s string) string { return f(s) }

type replaceNormalizer struct {
	literal string
	re      *regexp.Regexp
	content string
}

func (r replaceNormalizer) normalize(s string) string {
	if r.re != nil {
		return r.re.ReplaceAllLiteralString(s, r.content)
	}
	return strings.ReplaceAll(s, r.literal, r.content)
}

type stripNormalizer struct{ left, right bool }

func (st stripNormalizer) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// prependNormalizer prepends a string to non-empty text.
type prependNormalizer string

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(p) + s
}

// compileHFRegex compiles a Hugging Face (Oniguruma) pattern with Go's RE2. Oniguruma's \s is
// Unicode-aware while RE2's is ASCII-only, so a bare \s outside a character class is widened.
func compileHFRegex(p string) (*regexp.Regexp, error) {
	if !strings.Contains(p, "[") {
		p = strings.ReplaceAll(p, `\s`, `[\s\p{Z}\x{85}]`)
	}
	return regexp.Compile(p)
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
		return funcNormalizer(lowercase), nil
	case "StripAccents":
		return funcNormalizer(stripAccents), nil
	case "NFD":
		return funcNormalizer(norm.NFD.String), nil
	case "NFC":
		return funcNormalizer(norm.NFC.String), nil
	case "NFKD":
		return funcNormalizer(norm.NFKD.String), nil
	case "NFKC":
		return funcNormalizer(norm.NFKC.String), nil
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
		var v struct {
			Pattern struct {
				String *string `json:"String"`
				Regex  *string `json:"Regex"`
			} `json:"pattern"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		switch {
		case v.Pattern.String != nil:
			return replaceNormalizer{literal: *v.Pattern.String, content: v.Content}, nil
		case v.Pattern.Regex != nil:
			re, err := compileHFRegex(*v.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("normalizer Replace regex %q: %w", *v.Pattern.Regex, err)
			}
			return replaceNormalizer{re: re, content: v.Content}, nil
		}
		return nil, fmt.Errorf("normalizer Replace: pattern has neither String nor Regex")
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", head.Type)
}
