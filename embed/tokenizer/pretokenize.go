package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer splits normalized pieces into words (and may rewrite them, as ByteLevel and
// Metaspace do). Empty pieces are dropped after every step, as Hugging Face does.
type preTokenizer interface {
	split(pieces []nstr) []nstr
}

type preSeq []preTokenizer

func (ps preSeq) split(pieces []nstr) []nstr {
	for _, p := range ps {
		pieces = p.split(pieces)
	}
	return pieces
}

// segment is a piece of a string found by a pattern: a match or the text between matches.
type segment struct {
	start, end int
	match      bool
}

// behavior is what Split does with the matches (Hugging Face's SplitDelimiterBehavior).
type behavior uint8

const (
	removed behavior = iota
	isolated
	mergedWithPrevious
	mergedWithNext
	contiguous
)

var behaviors = map[string]behavior{
	"Removed": removed, "Isolated": isolated, "MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext": mergedWithNext, "Contiguous": contiguous,
}

// applyBehavior turns segments (covering the whole string, in order) into the ranges to
// keep. Consecutive matches are merged with the neighbouring text only once: a match that
// follows a match stays on its own (MergedWith*) or joins it (Contiguous).
func applyBehavior(segs []segment, b behavior, out []segment) []segment {
	switch b {
	case removed:
		for _, s := range segs {
			if !s.match {
				out = append(out, s)
			}
		}
	case isolated:
		out = append(out, segs...)
	case contiguous:
		prev := false
		for _, s := range segs {
			if len(out) > 0 && s.match == prev {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
	case mergedWithPrevious:
		prev := false
		for _, s := range segs {
			if s.match && !prev && len(out) > 0 {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
	case mergedWithNext:
		mark := len(out)
		prev := false
		for i := len(segs) - 1; i >= 0; i-- {
			s := segs[i]
			if s.match && !prev && len(out) > mark {
				out[len(out)-1].start = s.start
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
		for i, j := mark, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// splitter finds the segments of a string.
type splitter interface {
	segments(s string, out []segment) []segment
}

// regexSplitter: matches of an Oniguruma pattern; invert swaps matches and the text between.
type regexSplitter struct {
	re     *hfRegex
	invert bool
}

func (r regexSplitter) segments(s string, out []segment) []segment {
	prev := 0
	r.re.findAll(s, func(start, end int) {
		if start > prev {
			out = append(out, segment{prev, start, r.invert})
		}
		out = append(out, segment{start, end, !r.invert})
		prev = end
	})
	if prev < len(s) {
		out = append(out, segment{prev, len(s), r.invert})
	}
	return out
}

// literalSplitter: occurrences of a fixed string.
type literalSplitter struct {
	lit    string
	invert bool
}

func (l literalSplitter) segments(s string, out []segment) []segment {
	if l.lit == "" {
		return append(out, segment{0, len(s), l.invert})
	}
	prev := 0
	for {
		j := strings.Index(s[prev:], l.lit)
		if j < 0 {
			break
		}
		if j > 0 {
			out = append(out, segment{prev, prev + j, l.invert})
		}
		out = append(out, segment{prev + j, prev + j + len(l.lit), !l.invert})
		prev += j + len(l.lit)
	}
	if prev < len(s) {
		out = append(out, segment{prev, len(s), l.invert})
	}
	return out
}

// runeSplitter: every character for which is returns true is a match of its own.
type runeSplitter func(rune) bool

func (f runeSplitter) segments(s string, out []segment) []segment {
	prev := 0
	for i, r := range s {
		if f(r) {
			if i > prev {
				out = append(out, segment{prev, i, false})
			}
			n := utf8.RuneLen(r)
			if n < 0 {
				n = 1
			}
			out = append(out, segment{i, i + n, true})
			prev = i + n
		}
	}
	if prev < len(s) {
		out = append(out, segment{prev, len(s), false})
	}
	return out
}

// splitPre is a pre-tokenizer that splits by a splitter and a behavior (Split, Punctuation,
// Digits, WhitespaceSplit, ...).
type splitPre struct {
	by  splitter
	beh behavior
}

func (p splitPre) split(pieces []nstr) []nstr {
	var out []nstr
	var segs, keep []segment
	for _, n := range pieces {
		segs = p.by.segments(n.s, segs[:0])
		keep = applyBehavior(segs, p.beh, keep[:0])
		for _, k := range keep {
			if k.end > k.start {
				out = append(out, n.slice(k.start, k.end))
			}
		}
	}
	return out
}

// chain applies several splitters in turn (BertPreTokenizer: whitespace, then punctuation).
type chain []preTokenizer

func (c chain) split(pieces []nstr) []nstr {
	for _, p := range c {
		pieces = p.split(pieces)
	}
	return pieces
}

// isBertPunct is ASCII punctuation (which includes symbols such as $ + < = > ^ ` |) or any
// Unicode punctuation category.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// isRustWhitespace is Rust's char::is_whitespace: the White_Space property.
func isRustWhitespace(r rune) bool { return isWhitespace(r) }

// metaspace replaces spaces with the replacement character (▁), prepends one per the scheme
// (first: only to a piece that starts the input) and optionally splits before each
// replacement character.
type metaspace struct {
	repl    rune
	prepend string // "always", "first", "never"
	splitOn bool
}

func (m metaspace) split(pieces []nstr) []nstr {
	var out []nstr
	var segs, keep []segment
	replStr := string(m.repl)
	for _, n := range pieces {
		n = mapRunes(n, func(r rune, w *nbuild, sp span) bool {
			if r != ' ' {
				return true
			}
			w.addRune(m.repl, sp)
			return false
		})
		if n.s == "" {
			continue
		}
		if !strings.HasPrefix(n.s, replStr) &&
			(m.prepend == "always" || (m.prepend == "first" && n.align[0].start == 0)) {
			n = prependNormalizer(replStr).normalize(n)
		}
		if !m.splitOn {
			out = append(out, n)
			continue
		}
		segs = runeSplitter(func(r rune) bool { return r == m.repl }).segments(n.s, segs[:0])
		keep = applyBehavior(segs, mergedWithNext, keep[:0])
		for _, k := range keep {
			out = append(out, n.slice(k.start, k.end))
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
		return chain{splitPre{runeSplitter(isRustWhitespace), removed}, splitPre{runeSplitter(isBertPunct), isolated}}, nil
	case "ByteLevel":
		var v struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %w", err)
		}
		p := byteLevel{addPrefixSpace: true}
		if v.AddPrefixSpace != nil {
			p.addPrefixSpace = *v.AddPrefixSpace
		}
		if v.UseRegex == nil || *v.UseRegex {
			p.re = gpt2Regex()
		}
		return p, nil
	case "WhitespaceSplit":
		return splitPre{runeSplitter(isRustWhitespace), removed}, nil
	case "Whitespace":
		re, err := compileRegex(`\w+|[^\w\s]+`)
		if err != nil {
			return nil, err
		}
		return splitPre{regexSplitter{re: re, invert: true}, removed}, nil
	case "Punctuation":
		var v struct {
			Behavior string `json:"behavior"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Punctuation: %w", err)
		}
		b := isolated
		if v.Behavior != "" {
			var ok bool
			if b, ok = behaviors[v.Behavior]; !ok {
				return nil, fmt.Errorf("pre_tokenizer Punctuation: unknown behavior %q", v.Behavior)
			}
		}
		return splitPre{runeSplitter(isBertPunct), b}, nil
	case "Digits":
		var v struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Digits: %w", err)
		}
		b := contiguous
		if v.Individual {
			b = isolated
		}
		return splitPre{runeSplitter(unicode.IsNumber), b}, nil // Rust's char::is_numeric
	case "Split":
		return parseSplit(raw)
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
		m := metaspace{repl: '\u2581', prepend: "always", splitOn: true}
		if v.Replacement != "" {
			r, size := utf8.DecodeRuneInString(v.Replacement)
			if size != len(v.Replacement) {
				return nil, fmt.Errorf("pre_tokenizer Metaspace: replacement %q is not one character", v.Replacement)
			}
			m.repl = r
		}
		if v.PrependScheme != nil {
			m.prepend = *v.PrependScheme
		}
		if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
			m.prepend = "never"
		}
		if v.Split != nil {
			m.splitOn = *v.Split
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

// parseSplit reads a Split pre-tokenizer: a String or Regex pattern, a behavior and invert.
func parseSplit(raw json.RawMessage) (preTokenizer, error) {
	var v struct {
		Pattern struct {
			String *string `json:"String"`
			Regex  *string `json:"Regex"`
		} `json:"pattern"`
		Behavior string `json:"behavior"`
		Invert   bool   `json:"invert"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
	}
	b, ok := behaviors[v.Behavior]
	if !ok {
		return nil, fmt.Errorf("pre_tokenizer Split: unknown behavior %q", v.Behavior)
	}
	switch {
	case v.Pattern.String != nil:
		return splitPre{literalSplitter{lit: *v.Pattern.String, invert: v.Invert}, b}, nil
	case v.Pattern.Regex != nil:
		re, err := compileRegex(*v.Pattern.Regex)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return splitPre{regexSplitter{re: re, invert: v.Invert}, b}, nil
	}
	return nil, fmt.Errorf("pre_tokenizer Split: pattern has neither String nor Regex")
}
