package tokenizer

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// hfRegex is a compiled pattern (see regex.go for the supported syntax). It is safe for
// concurrent use: each search takes a machine from a pool.
type hfRegex struct {
	pattern string
	insts   []reInst
	pool    sync.Pool
}

type reOp uint8

const (
	opSet    reOp = iota // one character of set
	opRun                // a greedy run of set characters, min..max of them
	opSplit              // try x, on failure y
	opJmp                // go to x
	opMatch              // success
	opLook               // lookahead: sub-program at x, neg inverts
	opAtomic             // sub-program at x, then continue after its first match, no backtracking into it
	opAssert             // zero-width assertion
)

type reInst struct {
	op       reOp
	set      *charSet
	x, y     int
	min, max int
	neg      bool
	assert   byte
}

// compileRegex parses and compiles an Oniguruma-style pattern.
func compileRegex(pattern string) (*hfRegex, error) {
	n, err := parseRegex(pattern)
	if err != nil {
		return nil, err
	}
	re := &hfRegex{pattern: pattern}
	c := &reCompiler{}
	c.emit(n)
	c.add(reInst{op: opMatch})
	// Sub-programs (lookahead and atomic bodies) go after the main program; each can queue more.
	for len(c.subs) > 0 {
		s := c.subs[0]
		c.subs = c.subs[1:]
		c.insts[s.at].x = len(c.insts)
		c.emit(s.body)
		c.add(reInst{op: opMatch})
	}
	re.insts = c.insts
	re.pool.New = func() any { return &reMachine{re: re} }
	return re, nil
}

type reCompiler struct {
	insts []reInst
	subs  []struct {
		at   int
		body *reNode
	}
}

func (c *reCompiler) add(in reInst) int {
	c.insts = append(c.insts, in)
	return len(c.insts) - 1
}

func (c *reCompiler) emit(n *reNode) {
	switch n.kind {
	case reEmpty:
	case reChar:
		c.add(reInst{op: opSet, set: n.set})
	case reConcat:
		for _, s := range n.subs {
			c.emit(s)
		}
	case reAlt:
		var jumps []int
		for i, s := range n.subs {
			if i < len(n.subs)-1 {
				split := c.add(reInst{op: opSplit})
				c.insts[split].x = len(c.insts)
				c.emit(s)
				jumps = append(jumps, c.add(reInst{op: opJmp}))
				c.insts[split].y = len(c.insts)
			} else {
				c.emit(s)
			}
		}
		for _, j := range jumps {
			c.insts[j].x = len(c.insts)
		}
	case reRepeat:
		body := n.subs[0]
		if body.kind == reChar && n.greedy {
			c.add(reInst{op: opRun, set: body.set, min: n.min, max: n.max})
			return
		}
		for i := 0; i < n.min; i++ {
			c.emit(body)
		}
		if n.max < 0 {
			loop := c.add(reInst{op: opSplit})
			c.emit(body)
			c.add(reInst{op: opJmp, x: loop})
			c.setSplit(loop, loop+1, len(c.insts), n.greedy)
			return
		}
		// Optional copies nest: a copy is only tried when the one before it matched.
		var splits []int
		for i := n.min; i < n.max; i++ {
			s := c.add(reInst{op: opSplit})
			splits = append(splits, s)
			c.emit(body)
		}
		for _, s := range splits {
			c.setSplit(s, s+1, len(c.insts), n.greedy)
		}
	case reLook, reAtomic:
		op := opLook
		if n.kind == reAtomic {
			op = opAtomic
		}
		at := c.add(reInst{op: op, neg: n.neg})
		c.subs = append(c.subs, struct {
			at   int
			body *reNode
		}{at, n.subs[0]})
	case reAssert:
		c.add(reInst{op: opAssert, assert: n.assert})
	default:
		panic(fmt.Sprintf("tokenizer regex: unknown node kind %d", n.kind))
	}
}

// setSplit points a split at body and exit, preferring body when greedy.
func (c *reCompiler) setSplit(at, body, exit int, greedy bool) {
	if greedy {
		c.insts[at].x, c.insts[at].y = body, exit
	} else {
		c.insts[at].x, c.insts[at].y = exit, body
	}
}

// reFrame is a backtracking point: resume at pc with pos. For a run (min >= 0) the frame
// gives back one more character each time it is resumed, down to min.
type reFrame struct {
	pc, pos, min int
}

type reMachine struct {
	re    *hfRegex
	s     string
	stack []reFrame
}

// run executes the program from pc at pos and returns the end of the first match in
// priority order.
func (m *reMachine) run(pc, pos int) (int, bool) {
	base := len(m.stack)
	s := m.s
	insts := m.re.insts
	for {
		in := &insts[pc]
		switch in.op {
		case opSet:
			if pos < len(s) {
				r, n := rune(s[pos]), 1
				if r >= utf8.RuneSelf {
					r, n = utf8.DecodeRuneInString(s[pos:])
				}
				if in.set.has(r) {
					pos += n
					pc++
					continue
				}
			}
			goto fail
		case opRun:
			count, minPos := 0, -1
			if in.min == 0 {
				minPos = pos
			}
			for (in.max < 0 || count < in.max) && pos < len(s) {
				r, n := rune(s[pos]), 1
				if r >= utf8.RuneSelf {
					r, n = utf8.DecodeRuneInString(s[pos:])
				}
				if !in.set.has(r) {
					break
				}
				pos += n
				count++
				if count == in.min {
					minPos = pos
				}
			}
			if count < in.min {
				goto fail
			}
			if pos > minPos {
				m.stack = append(m.stack, reFrame{pc: pc + 1, pos: pos, min: minPos})
			}
			pc++
			continue
		case opSplit:
			m.stack = append(m.stack, reFrame{pc: in.y, pos: pos, min: -1})
			pc = in.x
			continue
		case opJmp:
			pc = in.x
			continue
		case opMatch:
			m.stack = m.stack[:base]
			return pos, true
		case opLook:
			if _, ok := m.run(in.x, pos); ok != in.neg {
				pc++
				continue
			}
			goto fail
		case opAtomic:
			if end, ok := m.run(in.x, pos); ok {
				pos = end
				pc++
				continue
			}
			goto fail
		case opAssert:
			if m.assert(in.assert, pos) {
				pc++
				continue
			}
			goto fail
		}
	fail:
		if len(m.stack) == base {
			return 0, false
		}
		f := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		if f.min >= 0 {
			_, n := utf8.DecodeLastRuneInString(s[f.min:f.pos])
			np := f.pos - n
			if np > f.min {
				m.stack = append(m.stack, reFrame{pc: f.pc, pos: np, min: f.min})
			}
			pc, pos = f.pc, np
			continue
		}
		pc, pos = f.pc, f.pos
	}
}

func (m *reMachine) assert(kind byte, pos int) bool {
	s := m.s
	switch kind {
	case '^':
		return pos == 0 || s[pos-1] == '\n'
	case '$':
		return pos == len(s) || s[pos] == '\n'
	case 'A':
		return pos == 0
	case 'z':
		return pos == len(s)
	case 'Z':
		return pos == len(s) || (pos == len(s)-1 && s[pos] == '\n')
	case 'b', 'B':
		before, after := false, false
		if pos > 0 {
			r, _ := utf8.DecodeLastRuneInString(s[:pos])
			before = isOnigWord(r)
		}
		if pos < len(s) {
			r, _ := utf8.DecodeRuneInString(s[pos:])
			after = isOnigWord(r)
		}
		return (before != after) == (kind == 'b')
	}
	return false
}

// findAll calls fn with the byte range of every match in s, left to right and
// non-overlapping, the way the onig crate's find_iter walks a string: each search starts
// where the last match ended, and an empty match right where the previous match ended is
// skipped by moving on one character.
func (re *hfRegex) findAll(s string, fn func(start, end int)) {
	m := re.pool.Get().(*reMachine)
	m.s = s
	lastEnd, lastMatch := 0, -1
	for lastEnd <= len(s) {
		start, end, ok := m.search(lastEnd)
		if !ok {
			break
		}
		if start == end && end == lastMatch {
			if lastEnd >= len(s) {
				break
			}
			_, n := utf8.DecodeRuneInString(s[lastEnd:])
			lastEnd += n
			continue
		}
		lastEnd, lastMatch = end, end
		fn(start, end)
	}
	m.s = ""
	m.stack = m.stack[:0]
	re.pool.Put(m)
}

// search finds the leftmost match starting at or after from.
func (m *reMachine) search(from int) (start, end int, ok bool) {
	for pos := from; pos <= len(m.s); {
		if e, ok := m.run(0, pos); ok {
			return pos, e, true
		}
		if pos == len(m.s) {
			break
		}
		if m.s[pos] < utf8.RuneSelf {
			pos++
		} else {
			_, n := utf8.DecodeRuneInString(m.s[pos:])
			pos += n
		}
	}
	return 0, 0, false
}
