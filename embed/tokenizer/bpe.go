package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is Hugging Face's BPE model. A word starts as one symbol per character (the continuation
// prefix on every character but the first, the end-of-word suffix on the last); characters not
// in the vocabulary become byte-fallback tokens <0xXX> when enabled, else the unknown token
// (consecutive ones fused into one with fuse_unk), else they are dropped. Then the pair with the
// lowest merge rank is merged, leftmost first among equal ranks, until no adjacent pair has a
// merge. With ignore_merges a word that is itself in the vocabulary is one token.
type bpe struct {
	ids          map[string]int
	merges       map[uint64]bpeMerge // pairKey(left, right)
	unkID        int                 // -1: no unknown token
	prefix       string
	suffix       string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	mu    sync.RWMutex
	cache map[string][]token
}

type bpeMerge struct{ rank, id int }

const bpeCacheMax = 10000

// bpeCacheMaxWord is the longest word (bytes) kept in the cache, as Hugging Face's MAX_LENGTH.
const bpeCacheMaxWord = 256

func (m *bpe) vocab() map[string]int { return m.ids }

func (m *bpe) tokenize(word string, out []token) []token {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.ids[word]; ok {
			return append(out, token{id, 0, len(word)})
		}
	}
	m.mu.RLock()
	hit, ok := m.cache[word]
	m.mu.RUnlock()
	if ok {
		return append(out, hit...)
	}
	toks := m.merge(m.symbols(word))
	if len(word) < bpeCacheMaxWord {
		m.mu.Lock()
		if len(m.cache) < bpeCacheMax {
			m.cache[word] = toks
		}
		m.mu.Unlock()
	}
	return append(out, toks...)
}

// symbols is the word's initial symbols: one per character, or its byte-fallback tokens, or
// (fused) unknown tokens. Like Hugging Face, a pending unknown token is only flushed before the
// next known character, so byte-fallback tokens can come before it.
func (m *bpe) symbols(word string) []token {
	syms := make([]token, 0, len(word))
	unk := token{id: -1}
	for i := 0; i < len(word); {
		n := 1
		if word[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(word[i:])
		}
		s := word[i : i+n]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+n == len(word) && m.suffix != "" {
			s += m.suffix
		}
		if id, ok := m.ids[s]; ok {
			if unk.id >= 0 {
				syms = append(syms, unk)
				unk.id = -1
			}
			syms = append(syms, token{id, i, i + n})
			i += n
			continue
		}
		if m.byteFallback {
			mark := len(syms)
			ok := true
			for j := 0; j < len(s); j++ {
				id, found := m.ids[byteTokens[s[j]]]
				if !found {
					ok = false
					break
				}
				// Each byte token covers its byte of the character (one byte of the word
				// per byte token, as Hugging Face counts them).
				syms = append(syms, token{id, min(i+j, i+n-1), min(i+j+1, i+n)})
			}
			if ok {
				i += n
				continue
			}
			syms = syms[:mark]
		}
		if m.unkID >= 0 {
			switch {
			case unk.id >= 0 && m.fuseUnk:
				unk.end = i + n
			case unk.id >= 0:
				syms = append(syms, unk)
				unk = token{m.unkID, i, i + n}
			default:
				unk = token{m.unkID, i, i + n}
			}
		}
		i += n
	}
	if unk.id >= 0 {
		syms = append(syms, unk)
	}
	return syms
}

// byteTokens are the byte-fallback token strings <0x00> ... <0xFF>.
var byteTokens = func() (t [256]string) {
	for b := range t {
		t[b] = fmt.Sprintf("<0x%02X>", b)
	}
	return t
}()

// merge applies the merges: repeatedly the adjacent pair with the lowest rank, leftmost
// among equal ranks, until no pair has a merge. Short words scan for the best pair; long
// ones use a heap over a linked list, which gives the same order (Hugging Face's Word::merge_all).
func (m *bpe) merge(syms []token) []token {
	if len(syms) <= 48 {
		for len(syms) > 1 {
			best, at := bpeMerge{rank: -1}, -1
			for i := 0; i+1 < len(syms); i++ {
				mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]
				if ok && (at < 0 || mg.rank < best.rank) {
					best, at = mg, i
				}
			}
			if at < 0 {
				break
			}
			syms[at] = token{best.id, syms[at].start, syms[at+1].end}
			syms = append(syms[:at+1], syms[at+2:]...)
		}
		return syms
	}
	return m.mergeHeap(syms)
}

type bpeCand struct{ rank, pos, id int }

func (m *bpe) mergeHeap(syms []token) []token {
	n := len(syms)
	prev := make([]int, n)
	next := make([]int, n)
	alive := make([]bool, n)
	for i := range syms {
		prev[i], next[i], alive[i] = i-1, i+1, true
	}
	next[n-1] = -1
	var h candHeap
	push := func(pos int) {
		if pos < 0 || next[pos] < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(syms[pos].id, syms[next[pos]].id)]; ok {
			h.push(bpeCand{mg.rank, pos, mg.id})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for len(h) > 0 {
		c := h.pop()
		if !alive[c.pos] || next[c.pos] < 0 {
			continue
		}
		r := next[c.pos]
		mg, ok := m.merges[pairKey(syms[c.pos].id, syms[r].id)]
		if !ok || mg.id != c.id {
			continue // stale: the pair changed since it was queued
		}
		syms[c.pos] = token{c.id, syms[c.pos].start, syms[r].end}
		alive[r] = false
		next[c.pos] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = c.pos
		}
		push(prev[c.pos])
		push(c.pos)
	}
	out := syms[:0]
	for i := 0; i >= 0 && i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// candHeap is a binary min-heap by (rank, pos).
type candHeap []bpeCand

func (h candHeap) less(i, j int) bool {
	return h[i].rank < h[j].rank || (h[i].rank == h[j].rank && h[i].pos < h[j].pos)
}

func (h *candHeap) push(c bpeCand) {
	*h = append(*h, c)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *candHeap) pop() bpeCand {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		l, r, s := 2*i+1, 2*i+2, i
		if l < len(a) && a.less(l, s) {
			s = l
		}
		if r < len(a) && a.less(r, s) {
			s = r
		}
		if s == i {
			break
		}
		a[i], a[s] = a[s], a[i]
		i = s
	}
	*h = a
	return top
}

func parseBPE(raw json.RawMessage) (*bpe, error) {
	var v struct {
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		Unk          *string         `json:"unk_token"`
		Prefix       *string         `json:"continuing_subword_prefix"`
		Suffix       *string         `json:"end_of_word_suffix"`
		FuseUnk      bool            `json:"fuse_unk"`
		ByteFallback bool            `json:"byte_fallback"`
		IgnoreMerges bool            `json:"ignore_merges"`
		Dropout      *float64        `json:"dropout"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model BPE: %w", err)
	}
	if v.Dropout != nil && *v.Dropout > 0 {
		return nil, fmt.Errorf("model BPE: dropout %g is not supported (encoding would be random)", *v.Dropout)
	}
	m := &bpe{ids: v.Vocab, unkID: -1,
		fuseUnk: v.FuseUnk, byteFallback: v.ByteFallback, ignoreMerges: v.IgnoreMerges,
		cache: make(map[string][]token)}
	if m.ids == nil {
		m.ids = map[string]int{}
	}
	if v.Prefix != nil {
		m.prefix = *v.Prefix
	}
	if v.Suffix != nil {
		m.suffix = *v.Suffix
	}
	if v.Unk != nil {
		id, ok := m.ids[*v.Unk]
		if !ok {
			return nil, fmt.Errorf("model BPE: unk_token %q is not in the vocabulary", *v.Unk)
		}
		m.unkID = id
	}
	pairs, err := parseMerges(v.Merges)
	if err != nil {
		return nil, err
	}
	m.merges = make(map[uint64]bpeMerge, len(pairs))
	for rank, pair := range pairs {
		a, ok := m.ids[pair[0]]
		if !ok {
			return nil, fmt.Errorf("model BPE merges[%d]: %q is not in the vocabulary", rank, pair[0])
		}
		b, ok := m.ids[pair[1]]
		if !ok {
			return nil, fmt.Errorf("model BPE merges[%d]: %q is not in the vocabulary", rank, pair[1])
		}
		merged := pair[0] + strings.TrimPrefix(pair[1], m.prefix)
		id, ok := m.ids[merged]
		if !ok {
			return nil, fmt.Errorf("model BPE merges[%d]: merged token %q is not in the vocabulary", rank, merged)
		}
		m.merges[pairKey(a, b)] = bpeMerge{rank: rank, id: id} // a repeated pair keeps its last rank, as in HF
	}
	return m, nil
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// parseMerges reads merges written as "a b" strings or as [a, b] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("model BPE merges[%d]: %q is not a pair", i, s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var lists [][]string
	if err := json.Unmarshal(raw, &lists); err != nil {
		return nil, fmt.Errorf("model BPE merges: %w", err)
	}
	out := make([][2]string, len(lists))
	for i, l := range lists {
		if len(l) != 2 {
			return nil, fmt.Errorf("model BPE merges[%d]: %q is not a pair", i, l)
		}
		out[i] = [2]string{l[0], l[1]}
	}
	return out, nil
}
