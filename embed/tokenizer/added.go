package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	content    string // what is matched: the content, or its normalized form when normalized
	id         int
	special    bool
	singleWord bool
	lstrip     bool
	rstrip     bool
}

// addedMatcher finds added tokens in text the way Hugging Face's AddedVocabulary does: an
// Aho-Corasick walk with leftmost-longest semantics (at the leftmost position where some
// token starts, the longest one), non-overlapping, then per token: single_word drops a match
// glued to a word character on either side (the walk still resumes after it), lstrip and
// rstrip widen the match over the whitespace before and after it.
type addedMatcher struct {
	toks  []addedToken
	trie  byteTrie // piece = index into toks
	first [256]bool
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	if len(toks) == 0 {
		return nil
	}
	m := &addedMatcher{toks: toks}
	idx := make(map[string]int, len(toks))
	for i, a := range toks {
		idx[a.content] = i // a later duplicate wins, as in a map insert
		m.first[a.content[0]] = true
	}
	m.trie = newByteTrie(idx)
	return m
}

// longestAt is the index of the longest token starting at s[i:], -1 if none, and its length.
func (m *addedMatcher) longestAt(s string, i int) (int, int) {
	best, blen := -1, 0
	node := int32(0)
	for j := i; j < len(s); j++ {
		child, ok := m.trie.next[uint64(node)<<8|uint64(s[j])]
		if !ok {
			break
		}
		node = child
		if p := m.trie.piece[node]; p >= 0 {
			best, blen = int(p), j+1-i
		}
	}
	return best, blen
}

// addedSplit is a piece of text: an added token (id >= 0) or text between them (id -1),
// as a byte range of the string that was searched.
type addedSplit struct {
	start, end int
	id         int
}

// find splits s into added tokens and the text between them.
func (m *addedMatcher) find(s string, out []addedSplit) []addedSplit {
	if m == nil {
		return append(out, addedSplit{0, len(s), -1})
	}
	startOffset := 0
	for pos := 0; pos < len(s); {
		if !m.first[s[pos]] {
			pos++
			continue
		}
		k, n := m.longestAt(s, pos)
		if k < 0 {
			pos++
			continue
		}
		start, stop := pos, pos+n
		pos = stop
		a := &m.toks[k]
		if a.singleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if a.lstrip {
			start = max(len(strings.TrimRightFunc(s[:start], isWhitespace)), startOffset)
		}
		if a.rstrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], isWhitespace))
		}
		if startOffset < start {
			out = append(out, addedSplit{startOffset, start, -1})
		}
		out = append(out, addedSplit{start, stop, a.id})
		startOffset = stop
	}
	if startOffset < len(s) || len(out) == 0 {
		out = append(out, addedSplit{startOffset, len(s), -1})
	}
	return out
}

func endsWithWord(s string) bool {
	if s == "" {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return isRustWord(r)
}

func startsWithWord(s string) bool {
	for _, r := range s {
		return isRustWord(r)
	}
	return false
}
