package tokenizer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer splits a normalized segment into words. first is true for the segment that
// starts the input (Metaspace's prepend_scheme "first").
type preTokenizer interface {
	split(words []string, first bool) []string
}

type preSeq []preTokenizer

func (ps preSeq) split(words []string, first bool) []string {
	for _, p := range ps {
		words = p.split(words, first)
	}
	return words
}

// isBertPunct is ASCII punctuation (which includes symbols such as $ + < = > ^ ` |) or any
// Unicode punctuation category.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// bertPre splits on whitespace (dropped) and isolates each punctuation character.
type bertPre struct{}

func (bertPre) split(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		start := -1
		for i, r := range w {
			switch {
			case isWhitespace(r) || unicode.IsSpace(r):
				if start >= 0 {
					out = append(out, w[start:i])
					start = -1
				}
			case isBertPunct(r):
				if start >= 0 {
					out = append(out, w[start:i])
					start = -1
				}
				out = append(out, w[i:i+utf8.RuneLen(r)])
			default:
				if start < 0 {
					start = i
				}
			}
		}
		if start >= 0 {
			out = append(out, w[start:])
		}
	}
	return out
}

type whitespaceSplit struct{}

func (whitespaceSplit) split(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		out = append(out, strings.FieldsFunc(w, unicode.IsSpace)...)
	}
	return out
}

// whitespacePre is Hugging Face's Whitespace pre-tokenizer: \w+|[^\w\s]+ with Unicode classes.
type whitespacePre struct{ re *regexp.Regexp }

func (p whitespacePre) split(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		out = append(out, p.re.FindAllString(w, -1)...)
	}
	return out
}

// metaspace replaces spaces with the replacement character (▁), prepends one per the scheme and
// optionally splits before each replacement character.
type metaspace struct {
	repl    string
	prepend string // "always", "first", "never"
	splitRe bool
}

func (m metaspace) split(words []string, first bool) []string {
	var out []string
	for _, w := range words {
		if w == "" {
			continue
		}
		w = strings.ReplaceAll(w, " ", m.repl)
		if (m.prepend == "always" || (m.prepend == "first" && first)) && !strings.HasPrefix(w, m.repl) {
			w = m.repl + w
		}
		if !m.splitRe {
			out = append(out, w)
			continue
		}
		// Each piece starts at a replacement character (merged with the text that follows).
		start := 0
		for i := 0; i < len(w); {
			j := strings.Index(w[i:], m.repl)
			if j < 0 {
				break
			}
			pos := i + j
			if pos > start {
				out = append(out, w[start:pos])
				start = pos
			}
			i = pos + len(m.repl)
		}
		if start < len(w) {
			out = append(out, w[start:])
		}
	}
	return out
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var head rawComponent
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch head.Type {
	case "Sequence":
		var v struct {
			Pre []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: %w", err)
		}
		var seq preSeq
		for i, r := range v.Pre {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: %w", i, err)
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "ByteLevel":
		var v struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %w", err)
		}
		p := byteLevel{addPrefixSpace: true, useRegex: true}
		if v.AddPrefixSpace != nil {
			p.addPrefixSpace = *v.AddPrefixSpace
		}
		if v.UseRegex != nil {
			p.useRegex = *v.UseRegex
		}
		return p, nil
	case "WhitespaceSplit":
		return whitespaceSplit{}, nil
	case "Whitespace":
		return whitespacePre{re: regexp.MustCompile(`[\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Pc}\s\p{Z}]+`)}, nil
	case "Metaspace":
		var v struct {
			Replacement    string  `json:"replacement"`
			PrependScheme  *string `json:"prepend_scheme"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
			Split          *bool   `json:"split"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %w", err)
		}
		m := metaspace{repl: v.Replacement, prepend: "always", splitRe: true}
		if m.repl == "" {
			m.repl = "\u2581"
		}
		if v.PrependScheme != nil {
			m.prepend = *v.PrependScheme
		} else if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
			m.prepend = "never"
		}
		if v.Split != nil {
			m.splitRe = *v.Split
		}
		switch m.prepend {
		case "always", "first", "never":
		default:
			return nil, fmt.Errorf("pre_tokenizer Metaspace: unknown prepend_scheme %q", m.prepend)
		}
		return m, nil
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported", head.Type)
}
