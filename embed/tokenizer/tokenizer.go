package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Tokenizer encodes text the way a Hugging Face tokenizer.json describes.
type Tokenizer struct {
	norm   normalizer
	pre    preTokenizer
	model  model
	post   postProcessor
	added  []addedToken // matched in the raw text (normalized=false), longest first
	nadded []addedToken // matched in the normalized text (normalized=true), longest first

	maxLength int // 0: no truncation
	padID     int
	padTypeID int
	unkID     int
	idToToken map[int]string
}

type addedToken struct {
	content string
	id      int
}

// Encoding is one encoded text.
type Encoding struct {
	IDs           []int
	TypeIDs       []int
	AttentionMask []int
}

// Load reads a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes the JSON text of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	var f struct {
		Truncation *struct {
			MaxLength int    `json:"max_length"`
			Direction string `json:"direction"`
		} `json:"truncation"`
		Padding *struct {
			PadID     int `json:"pad_id"`
			PadTypeID int `json:"pad_type_id"`
		} `json:"padding"`
		AddedTokens []struct {
			ID         int    `json:"id"`
			Content    string `json:"content"`
			Normalized bool   `json:"normalized"`
		} `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Model         json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode tokenizer.json: %w", err)
	}
	t := &Tokenizer{}
	var err error
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if f.Truncation != nil {
		if f.Truncation.Direction != "" && f.Truncation.Direction != "Right" {
			return nil, fmt.Errorf("truncation direction %q is not supported", f.Truncation.Direction)
		}
		t.maxLength = f.Truncation.MaxLength
	}
	vocab := t.model.vocab()
	t.idToToken = make(map[int]string, len(vocab)+len(f.AddedTokens))
	for tok, id := range vocab {
		t.idToToken[id] = tok
	}
	for _, a := range f.AddedTokens {
		t.idToToken[a.ID] = a.Content
		if a.Content == "" {
			continue
		}
		if a.Normalized {
			t.nadded = append(t.nadded, addedToken{a.Content, a.ID})
		} else {
			t.added = append(t.added, addedToken{a.Content, a.ID})
		}
	}
	for _, l := range [][]addedToken{t.added, t.nadded} {
		sort.SliceStable(l, func(i, j int) bool { return len(l[i].content) > len(l[j].content) })
	}
	switch {
	case f.Padding != nil:
		t.padID, t.padTypeID = f.Padding.PadID, f.Padding.PadTypeID
	default:
		if id, ok := t.TokenID("[PAD]"); ok {
			t.padID = id
		} else if id, ok := t.TokenID("<pad>"); ok {
			t.padID = id
		}
	}
	switch m := t.model.(type) {
	case *wordPiece:
		t.unkID = m.unkID
	case *unigram:
		t.unkID = m.unkID
	case *bpe:
		t.unkID = m.unkID
	}
	return t, nil
}

// WithMaxLength returns a copy that truncates encodings to n tokens, special tokens included
// (n <= 0 disables truncation). It overrides the truncation of tokenizer.json.
func (t *Tokenizer) WithMaxLength(n int) *Tokenizer {
	c := *t
	c.maxLength = max(n, 0)
	return &c
}

// MaxLength is the truncation length (0: none).
func (t *Tokenizer) MaxLength() int { return t.maxLength }

// PadID is the id used to pad batches.
func (t *Tokenizer) PadID() int { return t.padID }

// UnkID is the model's unknown-token id, -1 for a BPE model without one (byte-level BPE).
func (t *Tokenizer) UnkID() int { return t.unkID }

// VocabSize is one more than the largest token id.
func (t *Tokenizer) VocabSize() int {
	n := 0
	for id := range t.idToToken {
		n = max(n, id+1)
	}
	return n
}

// TokenID returns the id of a token string (vocabulary or added token).
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	for _, l := range [][]addedToken{t.added, t.nadded} {
		for _, a := range l {
			if a.content == tok {
				return a.id, true
			}
		}
	}
	id, ok := t.model.vocab()[tok]
	return id, ok
}

// Token returns the string of an id ("" when unknown).
func (t *Tokenizer) Token(id int) string { return t.idToToken[id] }

// Encode tokenizes one text. addSpecial adds the post-processor's special tokens ([CLS] ...
// [SEP]); truncation (WithMaxLength or tokenizer.json) keeps the first tokens so that the result,
// special tokens included, fits.
func (t *Tokenizer) Encode(text string, addSpecial bool) Encoding {
	ids := t.encodeIDs(text)
	var nSpecial int
	if addSpecial && t.post != nil {
		nSpecial = t.post.added()
	}
	if t.maxLength > 0 && len(ids)+nSpecial > t.maxLength {
		ids = ids[:max(t.maxLength-nSpecial, 0)]
	}
	var typeIDs []int
	if addSpecial && t.post != nil {
		ids, typeIDs = t.post.apply(ids)
	} else {
		typeIDs = make([]int, len(ids))
	}
	mask := make([]int, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	return Encoding{IDs: ids, TypeIDs: typeIDs, AttentionMask: mask}
}

// encodeIDs runs added-token extraction, normalization, pre-tokenization and the model.
func (t *Tokenizer) encodeIDs(text string) []int {
	var ids []int
	first := true
	splitAdded(text, t.added, func(seg string, id int) {
		if id >= 0 {
			ids = append(ids, id)
			first = false
			return
		}
		if t.norm != nil {
			seg = t.norm.normalize(seg)
		}
		splitAdded(seg, t.nadded, func(s string, id int) {
			if id >= 0 {
				ids = append(ids, id)
				first = false
				return
			}
			words := []string{s}
			if t.pre != nil {
				words = t.pre.split(words, first)
			}
			first = false
			for _, w := range words {
				if w != "" {
					ids = t.model.tokenize(w, ids)
				}
			}
		})
	})
	return ids
}

// splitAdded calls fn for each piece of s in order: added tokens (leftmost, longest first) with
// their id, and the text between them with id -1. Empty text pieces are skipped.
func splitAdded(s string, added []addedToken, fn func(string, int)) {
	if len(added) == 0 {
		if s != "" {
			fn(s, -1)
		}
		return
	}
	for len(s) > 0 {
		at, which := -1, -1
		for i, a := range added {
			if j := strings.Index(s, a.content); j >= 0 && (at < 0 || j < at) {
				at, which = j, i // longest first: a shorter token at the same place never wins
			}
		}
		if at < 0 {
			fn(s, -1)
			return
		}
		if at > 0 {
			fn(s[:at], -1)
		}
		fn(added[which].content, added[which].id)
		s = s[at+len(added[which].content):]
	}
}

// Batch is a padded batch in row-major [rows][cols] layout, ready for an encoder.
type Batch struct {
	Rows, Cols    int
	IDs           []int64
	AttentionMask []int64
	TypeIDs       []int64
}

// EncodeBatch encodes texts and pads them to the longest (right padding with PadID, mask 0).
func (t *Tokenizer) EncodeBatch(texts []string, addSpecial bool) Batch {
	encs := make([]Encoding, len(texts))
	cols := 0
	for i, s := range texts {
		encs[i] = t.Encode(s, addSpecial)
		cols = max(cols, len(encs[i].IDs))
	}
	b := Batch{Rows: len(texts), Cols: cols,
		IDs: make([]int64, len(texts)*cols), AttentionMask: make([]int64, len(texts)*cols), TypeIDs: make([]int64, len(texts)*cols)}
	for i, e := range encs {
		row := i * cols
		for j := 0; j < cols; j++ {
			if j < len(e.IDs) {
				b.IDs[row+j] = int64(e.IDs[j])
				b.AttentionMask[row+j] = 1
				b.TypeIDs[row+j] = int64(e.TypeIDs[j])
			} else {
				b.IDs[row+j] = int64(t.padID)
				b.TypeIDs[row+j] = int64(t.padTypeID)
			}
		}
	}
	return b
}
