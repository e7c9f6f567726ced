package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is a small backtracking regular-expression engine for the patterns that
// tokenizer.json files hand to Oniguruma (the Split pre-tokenizer, Replace normalizers and
// decoders). Go's regexp (RE2) has no lookaround and picks matches by a different rule, so the
// engine follows Oniguruma's semantics instead: alternatives are tried left to right and the
// first that lets the whole pattern match wins; quantifiers are greedy (or lazy with ?) and give
// characters back one at a time when what follows fails.
//
// Supported: literals and escapes (\t \n \r \f \v \e \a \xHH \x{H..} \uHHHH, escaped
// punctuation), . (any character but \n), classes [...] with ranges, negation and escapes
// inside, \s \S \d \D \w \W \h \H, \p{..} \P{..} \p{^..} for general categories (L, Lu, N, ...)
// and scripts (Han, Latin, ...), groups (...) (?:...) (?<name>...), inline flags (?i) (?-i)
// (?i:...) (case folding by Unicode simple folding orbits), lookahead (?=...) (?!...), atomic
// groups (?>...), quantifiers ? * + {n} {n,} {n,m} {,m} with lazy (?) and possessive (+)
// forms, anchors ^ $ (line), \A \z \Z, \b \B. Anything else (lookbehind, backreferences,
// nested class set operations, POSIX brackets, ...) is a load-time error naming the pattern.

// reNode is the parsed pattern.
type reNode struct {
	kind     reKind
	set      *charSet // reChar
	subs     []*reNode
	min, max int // reRepeat: max < 0 is unbounded
	greedy   bool
	neg      bool   // reLook: negative lookahead
	assert   byte   // reAssert: '^' '$' 'A' 'z' 'Z' 'b' 'B'
	lit      string // reChar from a literal character: that character
}

type reKind uint8

const (
	reChar reKind = iota
	reConcat
	reAlt
	reRepeat
	reLook
	reAtomic
	reAssert
	reEmpty
)

// charSet is a set of characters: ranges and Unicode tables, optionally negated and case
// folded. Membership of ASCII characters is precomputed.
type charSet struct {
	ascii  [2]uint64
	ranges []runeRange
	tables []setTable
	neg    bool
	fold   bool
}

type runeRange struct{ lo, hi rune }

type setTable struct {
	fn  func(rune) bool
	neg bool
}

func (c *charSet) has(r rune) bool {
	if r >= 0 && r < 128 {
		return c.ascii[r>>6]&(1<<(uint(r)&63)) != 0
	}
	return c.slow(r)
}

func (c *charSet) slow(r rune) bool {
	m := c.items(r)
	if !m && c.fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if c.items(f) {
				m = true
				break
			}
		}
	}
	return m != c.neg
}

func (c *charSet) items(r rune) bool {
	for _, rg := range c.ranges {
		if r >= rg.lo && r <= rg.hi {
			return true
		}
	}
	for _, t := range c.tables {
		if t.fn(r) != t.neg {
			return true
		}
	}
	return false
}

// finish precomputes the ASCII bitmap; call it once all items are in.
func (c *charSet) finish() *charSet {
	c.ascii = [2]uint64{}
	for r := rune(0); r < 128; r++ {
		if c.slow(r) {
			c.ascii[r>>6] |= 1 << (uint(r) & 63)
		}
	}
	return c
}

// Oniguruma's Unicode character types.
func isOnigSpace(r rune) bool { return unicode.Is(unicode.White_Space, r) }
func isOnigDigit(r rune) bool { return unicode.Is(unicode.Nd, r) }

// isOnigWord is Oniguruma's \w: Alphabetic, marks, decimal numbers, connector punctuation.
func isOnigWord(r rune) bool {
	if r < 128 {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return unicode.In(r, unicode.L, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Nd, unicode.Pc)
}

// isRustWord is the \w of Rust's regex crate (added-token single_word checks): Oniguruma's
// plus the joiners U+200C and U+200D.
func isRustWord(r rune) bool { return isOnigWord(r) || r == 0x200C || r == 0x200D }

// multiFold lists characters whose full case folding is several characters (ß -> ss): under
// (?i) Oniguruma matches them against those sequences, which this engine does not do.
const multiFold = "ßẞﬀﬁﬂﬃﬄﬅﬆİŉǰΐΰևẖẗẘẙẚ"

// multiFoldPairs are the two-letter sequences that such characters fold to.
var multiFoldPairs = []string{"ss", "st", "ff", "fi", "fl"}

func isHexDigit(r rune) bool {
	return (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'f')
}

// reParser parses one pattern.
type reParser struct {
	pat  string
	pos  int
	fold bool
}

func (p *reParser) errorf(format string, args ...any) error {
	return fmt.Errorf("regex %q at offset %d: %s", p.pat, p.pos, fmt.Sprintf(format, args...))
}

func parseRegex(pat string) (*reNode, error) {
	p := &reParser{pat: pat}
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.pat) {
		return nil, p.errorf("unbalanced )")
	}
	return n, nil
}

func (p *reParser) more() bool { return p.pos < len(p.pat) }

func (p *reParser) peek() rune {
	r, _ := utf8.DecodeRuneInString(p.pat[p.pos:])
	return r
}

func (p *reParser) next() rune {
	r, n := utf8.DecodeRuneInString(p.pat[p.pos:])
	p.pos += n
	return r
}

// alt parses alternatives up to a ) or the end. Inline flags set inside end with it.
func (p *reParser) alt() (*reNode, error) {
	saved := p.fold
	defer func() { p.fold = saved }()
	var alts []*reNode
	for {
		c, err := p.concat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.more() && p.peek() == '|' {
			p.pos++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &reNode{kind: reAlt, subs: alts}, nil
}

func (p *reParser) concat() (*reNode, error) {
	var items []*reNode
	for p.more() {
		c := p.peek()
		if c == '|' || c == ')' {
			break
		}
		atom, err := p.atom()
		if err != nil {
			return nil, err
		}
		if atom == nil { // an inline flag group such as (?i)
			continue
		}
		atom, err = p.quantifier(atom)
		if err != nil {
			return nil, err
		}
		items = append(items, atom)
	}
	if err := p.checkMultiFold(items); err != nil {
		return nil, err
	}
	switch len(items) {
	case 0:
		return &reNode{kind: reEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &reNode{kind: reConcat, subs: items}, nil
}

func (p *reParser) quantifier(atom *reNode) (*reNode, error) {
	for p.more() {
		min, max := -1, -1
		start := p.pos
		switch p.peek() {
		case '?':
			min, max = 0, 1
			p.pos++
		case '*':
			min, max = 0, -1
			p.pos++
		case '+':
			min, max = 1, -1
			p.pos++
		case '{':
			lo, hi, ok := p.braces()
			if !ok {
				return atom, nil // a literal {, as Oniguruma reads an invalid interval
			}
			min, max = lo, hi
		default:
			return atom, nil
		}
		if atom.kind == reAssert || atom.kind == reLook || atom.kind == reEmpty {
			p.pos = start
			return nil, p.errorf("quantifier after an assertion is not supported")
		}
		rep := &reNode{kind: reRepeat, subs: []*reNode{atom}, min: min, max: max, greedy: true}
		if p.more() {
			switch p.peek() {
			case '?':
				p.pos++
				rep.greedy = false
			case '+':
				if p.pat[start] == '{' {
					// In Oniguruma {n,m}+ is not possessive but a repeat of the repeat.
					break
				}
				p.pos++
				rep = &reNode{kind: reAtomic, subs: []*reNode{rep}}
			}
		}
		if max < 0 && nullable(atom) {
			return nil, p.errorf("an unbounded repeat of something that can match empty is not supported")
		}
		atom = rep
	}
	return atom, nil
}

// braces parses {n} {n,} {n,m} {,m} at p.pos; ok false leaves p.pos unchanged.
func (p *reParser) braces() (lo, hi int, ok bool) {
	end := strings.IndexByte(p.pat[p.pos:], '}')
	if end < 0 {
		return 0, 0, false
	}
	body := p.pat[p.pos+1 : p.pos+end]
	a, b, comma := strings.Cut(body, ",")
	num := func(s string, def int) (int, bool) {
		if s == "" {
			return def, true
		}
		v, err := strconv.Atoi(s)
		return v, err == nil && v >= 0 && v <= 100000
	}
	var okA, okB bool
	if !comma {
		if a == "" {
			return 0, 0, false
		}
		lo, okA = num(a, 0)
		hi, okB = lo, okA
	} else {
		if a == "" && b == "" {
			return 0, 0, false
		}
		lo, okA = num(a, 0)
		hi, okB = num(b, -1)
	}
	if !okA || !okB || (hi >= 0 && hi < lo) {
		return 0, 0, false
	}
	p.pos += end + 1
	return lo, hi, true
}

func nullable(n *reNode) bool {
	switch n.kind {
	case reChar:
		return false
	case reConcat:
		for _, s := range n.subs {
			if !nullable(s) {
				return false
			}
		}
		return true
	case reAlt:
		for _, s := range n.subs {
			if nullable(s) {
				return true
			}
		}
		return false
	case reRepeat:
		return n.min == 0 || nullable(n.subs[0])
	case reAtomic:
		return nullable(n.subs[0])
	}
	return true // assertions, lookahead, empty
}

func (p *reParser) atom() (*reNode, error) {
	start := p.pos
	c := p.next()
	switch c {
	case '(':
		return p.group(start)
	case '[':
		set, err := p.class()
		if err != nil {
			return nil, err
		}
		return &reNode{kind: reChar, set: set.finish()}, nil
	case '.':
		return &reNode{kind: reChar, set: (&charSet{ranges: []runeRange{{'\n', '\n'}}, neg: true}).finish()}, nil
	case '^':
		return &reNode{kind: reAssert, assert: '^'}, nil
	case '$':
		return &reNode{kind: reAssert, assert: '$'}, nil
	case '\\':
		return p.escapeAtom()
	case '*', '+', '?':
		p.pos = start
		return nil, p.errorf("quantifier without an operand")
	}
	return p.literal(c), nil
}

func (p *reParser) literal(c rune) *reNode {
	set := &charSet{ranges: []runeRange{{c, c}}, fold: p.fold}
	return &reNode{kind: reChar, set: set.finish(), lit: string(c)}
}

// checkMultiFold rejects case-insensitive literals that Oniguruma would match across a
// multi-character case folding (ß and "ss", ﬁ and "fi").
func (p *reParser) checkMultiFold(items []*reNode) error {
	for i, n := range items {
		if n.kind != reChar || !n.set.fold || n.lit == "" {
			continue
		}
		if strings.Contains(multiFold, n.lit) {
			return p.errorf("case-insensitive %q (a multi-character case folding) is not supported", n.lit)
		}
		if i+1 < len(items) && items[i+1].kind == reChar && items[i+1].lit != "" {
			pair := strings.ToLower(n.lit + items[i+1].lit)
			for _, mp := range multiFoldPairs {
				if pair == mp {
					return p.errorf("case-insensitive %q (matches a ligature or ß) is not supported", n.lit+items[i+1].lit)
				}
			}
		}
	}
	return nil
}

func (p *reParser) group(start int) (*reNode, error) {
	if !(p.more() && p.peek() == '?') {
		return p.groupBody(start, func(n *reNode) *reNode { return n })
	}
	p.pos++
	if !p.more() {
		return nil, p.errorf("unterminated group")
	}
	switch c := p.next(); c {
	case ':':
		return p.groupBody(start, func(n *reNode) *reNode { return n })
	case '=', '!':
		return p.groupBody(start, func(n *reNode) *reNode {
			return &reNode{kind: reLook, subs: []*reNode{n}, neg: c == '!'}
		})
	case '>':
		return p.groupBody(start, func(n *reNode) *reNode { return &reNode{kind: reAtomic, subs: []*reNode{n}} })
	case '<':
		if p.more() && (p.peek() == '=' || p.peek() == '!') {
			p.pos = start
			return nil, p.errorf("lookbehind is not supported")
		}
		end := strings.IndexByte(p.pat[p.pos:], '>')
		if end < 0 {
			return nil, p.errorf("unterminated group name")
		}
		p.pos += end + 1
		return p.groupBody(start, func(n *reNode) *reNode { return n })
	}
	// Inline flags: (?i) (?-i) (?i:...) (?-i:...), and m/x which change nothing here only if off.
	p.pos--
	on := true
	fold := p.fold
	for p.more() {
		switch c := p.next(); c {
		case '-':
			on = false
		case 'i':
			fold = on
		case ')':
			p.fold = fold // until the end of the enclosing group
			return nil, nil
		case ':':
			saved := p.fold
			p.fold = fold
			n, err := p.groupBody(start, func(n *reNode) *reNode { return n })
			p.fold = saved
			return n, err
		default:
			p.pos = start
			return nil, p.errorf("group flag %q is not supported", c)
		}
	}
	return nil, p.errorf("unterminated group")
}

func (p *reParser) groupBody(start int, wrap func(*reNode) *reNode) (*reNode, error) {
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if !p.more() || p.peek() != ')' {
		p.pos = start
		return nil, p.errorf("missing )")
	}
	p.pos++
	return wrap(n), nil
}

// escapeAtom parses an escape outside a class (the backslash is consumed).
func (p *reParser) escapeAtom() (*reNode, error) {
	if !p.more() {
		return nil, p.errorf("trailing backslash")
	}
	switch c := p.peek(); c {
	case 'A', 'z', 'Z', 'b', 'B':
		p.pos++
		return &reNode{kind: reAssert, assert: byte(c)}, nil
	}
	set := &charSet{fold: p.fold}
	if err := p.escapeInto(set); err != nil {
		return nil, err
	}
	return &reNode{kind: reChar, set: set.finish()}, nil
}

// escapeInto adds the escape at p.pos (after the backslash) to set. A single negated type
// such as \S outside a class becomes a negated set.
func (p *reParser) escapeInto(set *charSet) error {
	start := p.pos - 1
	c := p.next()
	add := func(fn func(rune) bool, neg bool) { set.tables = append(set.tables, setTable{fn: fn, neg: neg}) }
	switch c {
	case 's', 'S':
		add(isOnigSpace, c == 'S')
	case 'd', 'D':
		add(isOnigDigit, c == 'D')
	case 'w', 'W':
		add(isOnigWord, c == 'W')
	case 'h', 'H':
		add(isHexDigit, c == 'H')
	case 'p', 'P':
		fn, neg, err := p.property()
		if err != nil {
			return err
		}
		add(fn, neg != (c == 'P'))
	case 't':
		set.ranges = append(set.ranges, runeRange{'\t', '\t'})
	case 'n':
		set.ranges = append(set.ranges, runeRange{'\n', '\n'})
	case 'r':
		set.ranges = append(set.ranges, runeRange{'\r', '\r'})
	case 'f':
		set.ranges = append(set.ranges, runeRange{'\f', '\f'})
	case 'v':
		set.ranges = append(set.ranges, runeRange{'\v', '\v'})
	case 'a':
		set.ranges = append(set.ranges, runeRange{7, 7})
	case 'e':
		set.ranges = append(set.ranges, runeRange{0x1b, 0x1b})
	case 'x', 'u':
		r, err := p.codepoint(c)
		if err != nil {
			return err
		}
		set.ranges = append(set.ranges, runeRange{r, r})
	default:
		if c >= 128 || !isOnigWord(c) {
			set.ranges = append(set.ranges, runeRange{c, c})
			return nil
		}
		p.pos = start
		return p.errorf("escape \\%c is not supported", c)
	}
	return nil
}

// codepoint parses \xHH, \x{H...} or \uHHHH after the letter.
func (p *reParser) codepoint(kind rune) (rune, error) {
	var digits string
	switch {
	case kind == 'x' && p.more() && p.peek() == '{':
		end := strings.IndexByte(p.pat[p.pos:], '}')
		if end < 0 {
			return 0, p.errorf("unterminated \\x{")
		}
		digits = p.pat[p.pos+1 : p.pos+end]
		p.pos += end + 1
	case kind == 'x':
		n := 0
		for n < 2 && p.pos+n < len(p.pat) && isHexDigit(rune(p.pat[p.pos+n])) {
			n++
		}
		digits = p.pat[p.pos : p.pos+n]
		p.pos += n
	default:
		if p.pos+4 > len(p.pat) {
			return 0, p.errorf("short \\u escape")
		}
		digits = p.pat[p.pos : p.pos+4]
		p.pos += 4
	}
	v, err := strconv.ParseUint(digits, 16, 32)
	if err != nil || v > unicode.MaxRune {
		return 0, p.errorf("bad code point %q", digits)
	}
	return rune(v), nil
}

// property parses {Name} or {^Name} after \p.
func (p *reParser) property() (func(rune) bool, bool, error) {
	if !p.more() || p.peek() != '{' {
		return nil, false, p.errorf("\\p needs {Name}")
	}
	end := strings.IndexByte(p.pat[p.pos:], '}')
	if end < 0 {
		return nil, false, p.errorf("unterminated \\p{")
	}
	name := p.pat[p.pos+1 : p.pos+end]
	p.pos += end + 1
	neg := false
	if strings.HasPrefix(name, "^") {
		neg, name = true, name[1:]
	}
	fn := unicodeProperty(name)
	if fn == nil {
		return nil, false, p.errorf("unknown property \\p{%s}", name)
	}
	return fn, neg, nil
}

var propertyAliases = map[string]string{
	"Letter": "L", "Mark": "M", "Number": "N", "Punctuation": "P", "Symbol": "S",
	"Separator": "Z", "Other": "C", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll",
	"Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo",
	"Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me",
	"Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No",
	"Control": "Cc", "Format": "Cf", "Private_Use": "Co", "Surrogate": "Cs",
}

// unicodeProperty maps a property name (general category, script, or one of the POSIX-like
// names Oniguruma accepts) to a membership test, nil when unknown.
func unicodeProperty(name string) func(rune) bool {
	if a, ok := propertyAliases[name]; ok {
		name = a
	}
	if t, ok := unicode.Categories[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }
	}
	if t, ok := unicode.Scripts[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }
	}
	switch strings.ToLower(name) {
	case "cn", "unassigned":
		return func(r rune) bool {
			return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
		}
	case "space", "white_space":
		return isOnigSpace
	case "digit":
		return isOnigDigit
	case "word":
		return isOnigWord
	case "alpha", "alphabetic":
		return func(r rune) bool { return unicode.In(r, unicode.L, unicode.Nl, unicode.Other_Alphabetic) }
	case "any":
		return func(rune) bool { return true }
	}
	return nil
}

// class parses a bracket expression after the [.
func (p *reParser) class() (*charSet, error) {
	start := p.pos - 1
	set := &charSet{fold: p.fold}
	if p.more() && p.peek() == '^' {
		set.neg = true
		p.pos++
	}
	first := true
	for {
		if !p.more() {
			p.pos = start
			return nil, p.errorf("missing ]")
		}
		c := p.next()
		switch {
		case c == ']' && !first:
			return set, nil
		case c == '[':
			p.pos = start
			return nil, p.errorf("nested classes and POSIX brackets are not supported")
		case c == '&' && p.more() && p.peek() == '&':
			p.pos = start
			return nil, p.errorf("class intersection && is not supported")
		}
		first = false
		var lo rune
		if c == '\\' {
			if !p.more() {
				return nil, p.errorf("trailing backslash")
			}
			// Single-character escapes may start a range; type escapes may not.
			sub := &charSet{}
			if err := p.escapeInto(sub); err != nil {
				return nil, err
			}
			if len(sub.tables) > 0 || len(sub.ranges) != 1 {
				set.tables = append(set.tables, sub.tables...)
				set.ranges = append(set.ranges, sub.ranges...)
				continue
			}
			lo = sub.ranges[0].lo
		} else {
			lo = c
		}
		hi := lo
		if p.pos+1 < len(p.pat) && p.pat[p.pos] == '-' && p.pat[p.pos+1] != ']' {
			p.pos++
			c2 := p.next()
			if c2 == '\\' {
				sub := &charSet{}
				if err := p.escapeInto(sub); err != nil {
					return nil, err
				}
				if len(sub.tables) > 0 || len(sub.ranges) != 1 {
					return nil, p.errorf("bad class range end")
				}
				c2 = sub.ranges[0].lo
			} else if c2 == '[' {
				return nil, p.errorf("nested classes are not supported")
			}
			hi = c2
			if hi < lo {
				return nil, p.errorf("empty class range")
			}
		}
		set.ranges = append(set.ranges, runeRange{lo, hi})
	}
}
