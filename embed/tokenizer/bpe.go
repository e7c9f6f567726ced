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
	merges       map[[2]int]bpeMerge
	unkID        int // -1: no unknown token
	prefix       string
	suffix       string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	mu    sync.RWMutex
	cache map[string][]int
}

type bpeMerge struct{ rank, id int }

const bpeCacheMax = 10000

func (m *bpe) vocab() map[string]int { return m.ids }

func (m *bpe) tokenize(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.ids[word]; ok {
			return append(out, id)
		}
	}
	m.mu.RLock()
	hit, ok := m.cache[word]
	m.mu.RUnlock()
	if ok {
		return append(out, hit...)
	}
	ids := m.merge(m.symbols(word))
	m.mu.Lock()
	if len(m.cache) < bpeCacheMax {
		m.cache[word] = ids
	}
	m.mu.Unlock()
	return append(out, ids...)
}

// symbols is the word's initial symbol ids.
func (m *bpe) symbols(word string) []int {
	syms := make([]int, 0, len(word))
	pendingUnk := false
	for i, r := range word {
		n := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, n = utf8.DecodeRuneInString(word[i:])
		}
		ch := word[i : i+n]
		s := ch
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+n == len(word) && m.suffix != "" {
			s += m.suffix
		}
		if id, ok := m.ids[s]; ok {
			if pendingUnk {
				syms = append(syms, m.unkID)
				pendingUnk = false
			}
			syms = append(syms, id)
			continue
		}
		if m.byteFallback {
			bytesOK := true
			var bs []int
			for j := 0; j < len(ch); j++ {
				id, ok := m.ids[fmt.Sprintf("<0x%02X>", ch[j])]
				if !ok {
					bytesOK = false
					break
				}
				bs = append(bs, id)
			}
			if bytesOK {
				if pendingUnk {
					syms = append(syms, m.unkID)
					pendingUnk = false
				}
				syms = append(syms, bs...)
				continue
			}
		}
		if m.unkID < 0 {
			continue // no unknown token: the character is dropped
		}
		if pendingUnk && !m.fuseUnk {
			syms = append(syms, m.unkID)
		}
		pendingUnk = true
	}
	if pendingUnk {
		syms = append(syms, m.unkID)
	}
	return syms
}

// merge applies merges to syms in place: each round scans the adjacent pairs for the lowest
// rank (leftmost on ties) and merges that one pair.
func (m *bpe) merge(syms []int) []int {
	for len(syms) > 1 {
		best, at := bpeMerge{rank: -1}, -1
		for i := 0; i+1 < len(syms); i++ {
			mg, ok := m.merges[[2]int{syms[i], syms[i+1]}]
			if ok && (at < 0 || mg.rank < best.rank) {
				best, at = mg, i
			}
		}
		if at < 0 {
			break
		}
		syms[at] = best.id
		syms = append(syms[:at+1], syms[at+2:]...)
	}
	return syms
}

func parseBPE(raw json.RawMessage) (*bpe, error) {
	var v struct {
		Vocab        map[string]int    `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
		Unk          *string           `json:"unk_token"`
		Prefix       *string           `json:"continuing_subword_prefix"`
		Suffix       *string           `json:"end_of_word_suffix"`
		FuseUnk      bool              `json:"fuse_unk"`
		ByteFallback bool              `json:"byte_fallback"`
		IgnoreMerges bool              `json:"ignore_merges"`
		Dropout      *float64          `json:"dropout"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model BPE: %w", err)
	}
	if v.Dropout != nil && *v.Dropout > 0 {
		return nil, fmt.Errorf("model BPE: dropout %g is not supported (encoding would be random)", *v.Dropout)
	}
	m := &bpe{ids: v.Vocab, merges: make(map[[2]int]bpeMerge, len(v.Merges)), unkID: -1,
		fuseUnk: v.FuseUnk, byteFallback: v.ByteFallback, ignoreMerges: v.IgnoreMerges,
		cache: make(map[string][]int)}
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
	for rank, r := range v.Merges {
		var pair []string
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			pair = strings.Split(s, " ")
		} else if err := json.Unmarshal(r, &pair); err != nil {
			return nil, fmt.Errorf("model BPE merges[%d]: %w", rank, err)
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("model BPE merges[%d]: %s is not a pair", rank, r)
		}
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
		m.merges[[2]int{a, b}] = bpeMerge{rank: rank, id: id} // a repeated pair keeps its last rank, as in HF

	}
	return m, nil
}
