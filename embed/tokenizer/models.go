package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// model turns one pre-tokenized word into tokens.
type model interface {
	tokenize(word string, out []token) []token
	vocab() map[string]int
}

// token is a model output: an id and the byte range of the word it covers.
type token struct {
	id         int
	start, end int
}

// wordPiece is greedy longest-match-first subword tokenization: the first piece of a word is
// looked up as is, the following ones with the continuation prefix (##). A word with a
// character sequence no piece covers, or longer than maxChars characters, becomes unk.
type wordPiece struct {
	ids      map[string]int
	unkID    int
	prefix   string
	maxChars int
}

func (m *wordPiece) vocab() map[string]int { return m.ids }

func (m *wordPiece) tokenize(word string, out []token) []token {
	if utf8.RuneCountInString(word) > m.maxChars {
		return append(out, token{m.unkID, 0, len(word)})
	}
	mark := len(out)
	for start := 0; start < len(word); {
		end := len(word)
		found := -1
		for start < end {
			sub := word[start:end]
			if start > 0 {
				sub = m.prefix + sub
			}
			if id, ok := m.ids[sub]; ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return append(out[:mark], token{m.unkID, 0, len(word)})
		}
		out = append(out, token{found, start, end})
		start = end
	}
	return out
}

// unigram segments a word into the pieces whose summed log-probabilities (scores) are highest,
// by Viterbi over all vocabulary pieces that match at each character position. A character no
// piece starts with costs min(score) - 10 and maps to unk; runs of unknown pieces are fused into
// one unk token. Ties keep the earliest-found path (the one whose last piece starts first).
type unigram struct {
	ids      map[string]int
	scores   []float64
	unkID    int
	unkScore float64
	maxLen   int // longest piece in bytes
	fuseUnk  bool
	trie     byteTrie
}

// byteTrie walks the pieces byte by byte so that the prefix search at a position stops as soon
// as no piece continues, instead of hashing every substring up to the longest piece.
type byteTrie struct {
	next  map[uint64]int32 // node<<8 | byte -> child node
	piece []int32          // node -> piece id, or -1
}

func newByteTrie(ids map[string]int) byteTrie {
	t := byteTrie{next: make(map[uint64]int32, len(ids)*4), piece: []int32{-1}}
	for s, id := range ids {
		node := int32(0)
		for i := 0; i < len(s); i++ {
			k := uint64(node)<<8 | uint64(s[i])
			child, ok := t.next[k]
			if !ok {
				child = int32(len(t.piece))
				t.piece = append(t.piece, -1)
				t.next[k] = child
			}
			node = child
		}
		t.piece[node] = int32(id)
	}
	return t
}

const unigramUnkPenalty = 10.0

func (m *unigram) vocab() map[string]int { return m.ids }

type viterbiNode struct {
	score float64
	start int // -1 when no path reaches this position
	id    int
}

func (m *unigram) tokenize(word string, out []token) []token {
	n := len(word)
	if n == 0 {
		return out
	}
	best := make([]viterbiNode, n+1)
	for i := range best {
		best[i].start = -1
	}
	best[0].start = 0
	for pos := 0; pos < n; {
		_, mblen := utf8.DecodeRuneInString(word[pos:])
		base := best[pos].score
		single := false
		node := int32(0)
		for end := pos; end < n; end++ {
			child, ok := m.trie.next[uint64(node)<<8|uint64(word[end])]
			if !ok {
				break
			}
			node = child
			id := int(m.trie.piece[node])
			if id < 0 {
				continue
			}
			cand := m.scores[id] + base
			if nd := &best[end+1]; nd.start < 0 || cand > nd.score {
				*nd = viterbiNode{score: cand, start: pos, id: id}
			}
			if end+1-pos == mblen {
				single = true
			}
		}
		if !single {
			cand := m.unkScore + base
			if node := &best[pos+mblen]; node.start < 0 || cand > node.score {
				*node = viterbiNode{score: cand, start: pos, id: m.unkID}
			}
		}
		pos += mblen
	}
	// Backtrack, then reverse.
	mark := len(out)
	prevUnk := false
	for end := n; end > 0; {
		node := best[end]
		isUnk := node.id == m.unkID
		if isUnk && prevUnk && m.fuseUnk {
			out[len(out)-1].start = node.start
		} else {
			out = append(out, token{node.id, node.start, end})
		}
		prevUnk = isUnk
		end = node.start
	}
	for i, j := mark, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func parseModel(raw json.RawMessage) (model, error) {
	var head rawComponent
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	switch head.Type {
	case "WordPiece":
		var v struct {
			Vocab    map[string]int `json:"vocab"`
			Unk      string         `json:"unk_token"`
			Prefix   *string        `json:"continuing_subword_prefix"`
			MaxChars int            `json:"max_input_chars_per_word"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("model WordPiece: %w", err)
		}
		m := &wordPiece{ids: v.Vocab, prefix: "##", maxChars: v.MaxChars}
		if v.Prefix != nil {
			m.prefix = *v.Prefix
		}
		if m.maxChars <= 0 {
			m.maxChars = 100
		}
		if v.Unk == "" {
			v.Unk = "[UNK]"
		}
		id, ok := v.Vocab[v.Unk]
		if !ok {
			return nil, fmt.Errorf("model WordPiece: unk_token %q is not in the vocabulary", v.Unk)
		}
		m.unkID = id
		return m, nil
	case "Unigram":
		var v struct {
			Vocab       [][2]json.RawMessage `json:"vocab"`
			UnkID       *int                 `json:"unk_id"`
			ByteFallbck bool                 `json:"byte_fallback"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("model Unigram: %w", err)
		}
		if v.ByteFallbck {
			return nil, fmt.Errorf("model Unigram: byte_fallback is not supported")
		}
		if v.UnkID == nil {
			return nil, fmt.Errorf("model Unigram: unk_id is required")
		}
		m := &unigram{ids: make(map[string]int, len(v.Vocab)), scores: make([]float64, len(v.Vocab)),
			unkID: *v.UnkID, fuseUnk: true}
		minScore := math.Inf(1)
		for i, e := range v.Vocab {
			var piece string
			var score float64
			if err := json.Unmarshal(e[0], &piece); err != nil {
				return nil, fmt.Errorf("model Unigram vocab[%d] piece: %w", i, err)
			}
			if err := json.Unmarshal(e[1], &score); err != nil {
				return nil, fmt.Errorf("model Unigram vocab[%d] score: %w", i, err)
			}
			m.ids[piece] = i
			m.scores[i] = score
			minScore = min(minScore, score)
			m.maxLen = max(m.maxLen, len(piece))
		}
		if m.unkID < 0 || m.unkID >= len(v.Vocab) {
			return nil, fmt.Errorf("model Unigram: unk_id %d out of range", m.unkID)
		}
		m.unkScore = minScore - unigramUnkPenalty
		m.trie = newByteTrie(m.ids)
		return m, nil
	case "BPE":
		return parseBPE(raw)
	}
	return nil, fmt.Errorf("model type %q is not supported", head.Type)
}
