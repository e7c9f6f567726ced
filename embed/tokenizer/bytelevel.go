package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte-to-character table: the printable bytes ! to ~, ¡ to ¬
// and ® to ÿ map to themselves, every other byte, in increasing order, to U+0100, U+0101, ...
var byteToRune = func() [256]rune {
	var t [256]rune
	next := rune(256)
	for b := 0; b < 256; b++ {
		switch {
		case b >= '!' && b <= '~', b >= 0xA1 && b <= 0xAC, b >= 0xAE && b <= 0xFF:
			t[b] = rune(b)
		default:
			t[b] = next
			next++
		}
	}
	return t
}()

// byteLevel is Hugging Face's ByteLevel pre-tokenizer: each piece gets a leading space when
// addPrefixSpace and it does not start with one, is split with the GPT-2 pattern when useRegex,
// and every piece's UTF-8 bytes are then rewritten as byteToRune characters.
type byteLevel struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p byteLevel) split(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		if w == "" {
			continue
		}
		if p.addPrefixSpace && w[0] != ' ' {
			w = " " + w
		}
		if !p.useRegex {
			out = append(out, bytesToRunes(w))
			continue
		}
		for len(w) > 0 {
			n := gpt2Match(w)
			out = append(out, bytesToRunes(w[:n]))
			w = w[n:]
		}
	}
	return out
}

func bytesToRunes(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// isGPT2Space is \s of the Oniguruma regex Hugging Face runs: the Unicode White_Space property.
func isGPT2Space(r rune) bool { return unicode.Is(unicode.White_Space, r) }

// gpt2Match returns the length in bytes of the match of the GPT-2 pattern at the start of s
// (non-empty). The pattern is an ordered alternation, the first alternative that matches wins:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Every character is a letter, a number, whitespace or none of these, so some alternative
// always matches. \s+(?!\S) takes a whitespace run that reaches the end of s, or else the run
// minus its last character (which must leave at least one), so that the last space of a run
// stays with the word that follows ("a   b" splits as "a", "  ", " b").
func gpt2Match(s string) int {
	if s[0] == '\'' && len(s) > 1 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(s) > 2 && s[2] == 'e' {
				return 3
			}
		case 'l':
			if len(s) > 2 && s[2] == 'l' {
				return 3
			}
		}
	}
	// ` ?X+` for the classes letter, number, other (not space, letter nor number).
	start := 0
	if s[0] == ' ' {
		start = 1
	}
	for _, class := range []func(rune) bool{unicode.IsLetter, unicode.IsNumber, isGPT2Other} {
		// Without the optional space X+ would have to match the space itself, which is
		// none of the classes, so trying with it is enough.
		if n := runLen(s[start:], class); n > 0 {
			return start + n
		}
	}
	// Whitespace run.
	end, last := 0, 0
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if !isGPT2Space(r) {
			break
		}
		last = size
		end += size
	}
	if end == len(s) || end-last == 0 {
		return end // \s+(?!\S) to the end, or \s+ for a single space before a non-space
	}
	return end - last
}

func isGPT2Other(r rune) bool {
	return !isGPT2Space(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}

// runLen is the length in bytes of the leading run of s whose characters satisfy class.
func runLen(s string, class func(rune) bool) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !class(r) {
			break
		}
		n += size
	}
	return n
}
