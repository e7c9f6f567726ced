package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Tokenizer encodes text the way a Hugging Face tokenizer.json describes.
type Tokenizer struct {
	norm   normalizer
	pre    preTokenizer
	model  model
	post   postProcessor
	dec    decoder
	trim   *offsetTrim
	added  *addedMatcher // matched in the raw text (normalized=false)
	nadded *addedMatcher // matched in the normalized text (normalized=true)

	maxLength int // 0: no truncation
	padID     int
	padTypeID int
	unkID     int
	vocabSize int

	idToToken   map[int]string // model vocabulary and added tokens (content)
	addedByText map[string]int // added token content -> id
	decodeAs    map[int]string // added tokens that decode as their normalized form
	special     map[string]bool
	cfg         Config
}

// Config holds the fields of tokenizer_config.json (the transformers side of a tokenizer) that
// matter when talking to a model server. Load reads it from the directory of tokenizer.json
// when the file is there; zero otherwise.
type Config struct {
	BOSToken string `json:"-"` // "" when unset
	EOSToken string `json:"-"`
	// AddBOSToken is the config's add_bos_token (nil when absent). Hugging Face's tokenizers
	// library ignores it; whether Encode adds a BOS is the post-processor's business (AddsBOS).
	AddBOSToken *bool `json:"add_bos_token"`
	// CleanUpTokenizationSpaces is transformers' clean_up_tokenization_spaces: decoders in
	// transformers (and so vLLM's detokenizer) apply CleanUpTokenizationSpaces after Decode.
	CleanUpTokenizationSpaces bool `json:"clean_up_tokenization_spaces"`
}

// Encoding is one encoded text.
type Encoding struct {
	IDs           []int
	TypeIDs       []int
	AttentionMask []int
	// Offsets are the byte ranges of the input that each token came from ([0,0) for the
	// special tokens the post-processor adds). A byte-level token that holds part of a
	// multi-byte character covers the whole character, so neighbours can overlap.
	Offsets []Offset
}

// Offset is a byte range [Start, End) of the encoded text.
type Offset struct{ Start, End int }

// Load reads a tokenizer.json file, and tokenizer_config.json from the same directory when it
// exists (see Config).
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	cb, err := os.ReadFile(cfgPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("tokenizer: %w", err)
	default:
		if t.cfg, err = ParseConfig(cb); err != nil {
			return nil, fmt.Errorf("tokenizer %s: %w", cfgPath, err)
		}
	}
	return t, nil
}

// ParseConfig decodes the JSON text of a tokenizer_config.json file.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("decode tokenizer_config.json: %w", err)
	}
	var toks struct {
		BOS json.RawMessage `json:"bos_token"`
		EOS json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(data, &toks); err != nil {
		return Config{}, fmt.Errorf("decode tokenizer_config.json: %w", err)
	}
	var err error
	if c.BOSToken, err = configToken(toks.BOS); err != nil {
		return Config{}, fmt.Errorf("tokenizer_config.json bos_token: %w", err)
	}
	if c.EOSToken, err = configToken(toks.EOS); err != nil {
		return Config{}, fmt.Errorf("tokenizer_config.json eos_token: %w", err)
	}
	return c, nil
}

// configToken reads a special token given as a string, as {"content": ...}, or null.
func configToken(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", err
	}
	return o.Content, nil
}

// WithConfig returns a copy that uses c as its tokenizer_config.json.
func (t *Tokenizer) WithConfig(c Config) *Tokenizer {
	cp := *t
	cp.cfg = c
	return &cp
}

// Config is the tokenizer_config.json Load found (zero if none).
func (t *Tokenizer) Config() Config { return t.cfg }

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
			Special    bool   `json:"special"`
			SingleWord bool   `json:"single_word"`
			LStrip     bool   `json:"lstrip"`
			RStrip     bool   `json:"rstrip"`
		} `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Decoder       json.RawMessage `json:"decoder"`
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
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	if t.trim, err = parseOffsetTrim(f.PostProcessor); err != nil {
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
	t.addedByText = make(map[string]int, len(f.AddedTokens))
	t.decodeAs = map[int]string{}
	t.special = map[string]bool{}
	var raw, normed []addedToken
	// Like Hugging Face, ignore the ids written in added_tokens: a token already in the
	// vocabulary (or added before) keeps that id, a new one takes the next free id after the
	// model vocabulary. Consistent files get the ids they list.
	nextID := len(vocab)
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			continue
		}
		id, ok := t.addedByText[a.Content]
		if !ok {
			id, ok = vocab[a.Content]
		}
		if !ok {
			id = nextID
			nextID++
		}
		a.ID = id
		t.idToToken[a.ID] = a.Content
		t.addedByText[a.Content] = a.ID
		if a.Special {
			t.special[a.Content] = true
		}
		at := addedToken{content: a.Content, id: a.ID, special: a.Special, singleWord: a.SingleWord,
			lstrip: a.LStrip, rstrip: a.RStrip}
		if !a.Normalized {
			raw = append(raw, at)
			continue
		}
		// A normalized token is matched, and decoded, as its normalized form.
		if t.norm != nil {
			if n := t.norm.normalize(newNstr(a.Content, 0)).s; n != "" {
				if n != a.Content {
					t.decodeAs[a.ID] = n
				}
				at.content = n
			}
		}
		normed = append(normed, at)
	}
	t.added, t.nadded = newAddedMatcher(raw), newAddedMatcher(normed)
	for id := range t.idToToken {
		t.vocabSize = max(t.vocabSize, id+1)
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

// VocabSize is one more than the largest token id (model vocabulary and added tokens).
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// TokenID returns the id of a token string: an added token, else a model vocabulary entry.
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.addedByText[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab()[tok]
	return id, ok
}

// Token returns the string of an id as the vocabulary spells it (byte-level "Ġthe", "▁the",
// "##ing", "<0x0A>"; added tokens as written), "" when unknown.
func (t *Tokenizer) Token(id int) string { return t.idToToken[id] }

// IsSpecial reports whether id is an added token marked special (what Decode skips).
func (t *Tokenizer) IsSpecial(id int) bool {
	s, ok := t.idToToken[id]
	return ok && t.special[s]
}

// BOS is the id of the beginning-of-sequence token: tokenizer_config.json's bos_token, else
// the first special token the post-processor puts before the text.
func (t *Tokenizer) BOS() (int, bool) {
	if t.cfg.BOSToken != "" {
		return t.TokenID(t.cfg.BOSToken)
	}
	if tp, ok := t.post.(template); ok {
		if ids := tp.prefix(); len(ids) > 0 {
			return ids[0], true
		}
	}
	return 0, false
}

// EOS is the id of tokenizer_config.json's eos_token.
func (t *Tokenizer) EOS() (int, bool) {
	if t.cfg.EOSToken == "" {
		return 0, false
	}
	return t.TokenID(t.cfg.EOSToken)
}

// AddsBOS reports whether Encode with addSpecial puts BOS first: the post-processor's
// template starts with the BOS token.
func (t *Tokenizer) AddsBOS() bool {
	bos, ok := t.BOS()
	if !ok {
		return false
	}
	if tp, isTemplate := t.post.(template); isTemplate {
		ids := tp.prefix()
		return len(ids) > 0 && ids[0] == bos
	}
	return false
}

// Encode tokenizes one text. addSpecial adds the post-processor's special tokens ([CLS] ...
// [SEP], Llama's BOS); truncation (WithMaxLength or tokenizer.json) keeps the first tokens so
// that the result, special tokens included, fits. Added tokens written in the text
// ("<|eot_id|>", "[SEP]") become their ids whatever addSpecial says, as in Hugging Face.
func (t *Tokenizer) Encode(text string, addSpecial bool) Encoding {
	toks, addedMark := t.encodeTokens(text)
	var nSpecial int
	if addSpecial && t.post != nil {
		nSpecial = t.post.added()
	}
	if t.maxLength > 0 && len(toks)+nSpecial > t.maxLength {
		toks = toks[:max(t.maxLength-nSpecial, 0)]
	}
	ids := make([]int, len(toks))
	offs := make([]Offset, len(toks))
	for i, tk := range toks {
		ids[i] = tk.id
		offs[i] = Offset{tk.start, tk.end}
	}
	if t.trim != nil {
		// A model token is trimmed by its vocabulary string, an added token by the text it
		// matched (stripped whitespace included), as Hugging Face's Token values are.
		t.trim.apply(func(i int) string {
			if addedMark[i] {
				return text[toks[i].start:toks[i].end]
			}
			return t.idToToken[ids[i]]
		}, offs)
	}
	var typeIDs []int
	if addSpecial && t.post != nil {
		ids, typeIDs, offs = t.post.apply(ids, offs)
	} else {
		typeIDs = make([]int, len(ids))
	}
	mask := make([]int, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	return Encoding{IDs: ids, TypeIDs: typeIDs, AttentionMask: mask, Offsets: offs}
}

// encodeTokens runs added-token extraction, normalization, pre-tokenization and the model;
// token ranges are offsets into text. added marks the tokens that are added tokens.
func (t *Tokenizer) encodeTokens(text string) (out []token, added []bool) {
	mark := func() {
		for len(added) < len(out)-1 {
			added = append(added, false)
		}
		added = append(added, true)
	}
	var splits, nsplits []addedSplit
	whole := newNstr(text, 0)
	splits = t.added.find(text, splits)
	for _, sp := range splits {
		if sp.end <= sp.start {
			continue
		}
		if sp.id >= 0 {
			out = append(out, token{sp.id, sp.start, sp.end})
			mark()
			continue
		}
		seg := whole.slice(sp.start, sp.end)
		if t.norm != nil {
			seg = t.norm.normalize(seg)
		}
		nsplits = t.nadded.find(seg.s, nsplits[:0])
		for _, ns := range nsplits {
			if ns.end <= ns.start {
				continue
			}
			piece := seg.slice(ns.start, ns.end)
			if ns.id >= 0 {
				o := piece.origin(0, len(piece.s))
				out = append(out, token{ns.id, int(o.start), int(o.end)})
				mark()
				continue
			}
			words := []nstr{piece}
			if t.pre != nil {
				words = t.pre.split(words)
			}
			for _, w := range words {
				if w.s == "" {
					continue
				}
				mark := len(out)
				out = t.model.tokenize(w.s, out)
				for i := mark; i < len(out); i++ {
					o := w.origin(out[i].start, out[i].end)
					out[i].start, out[i].end = int(o.start), int(o.end)
				}
			}
		}
	}
	for len(added) < len(out) {
		added = append(added, false)
	}
	return out, added
}

// Decode turns ids back into text as Hugging Face's decode does: ids map to their token
// strings (unknown ids are dropped, special tokens too when skipSpecial), then the decoder
// chain runs over them (without a decoder the tokens are joined with spaces). Byte-level
// tokens that split a character decode to U+FFFD when the character is not complete within ids.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		s, ok := t.decodeAs[id]
		if !ok {
			if s, ok = t.idToToken[id]; !ok {
				continue
			}
		}
		if skipSpecial && t.special[s] {
			continue
		}
		toks = append(toks, s)
	}
	return t.DecodeTokens(toks)
}

// DecodeTokens runs the decoder over token strings (as transformers' convert_tokens_to_string
// does for a fast tokenizer).
func (t *Tokenizer) DecodeTokens(toks []string) string {
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	if len(toks) == 0 {
		return ""
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// CleanUpTokenizationSpaces is transformers' clean_up_tokenization: it removes the space
// before . ? ! , and English contractions (" n't" "'m" "'s" "'ve" "'re", " ' "), the way
// tokenizers with clean_up_tokenization_spaces (Llama-3's config) post-process decoded text.
func CleanUpTokenizationSpaces(s string) string { return transformersCleanup.Replace(s) }

var transformersCleanup = sequentialReplacer{
	" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m",
	" 's", "'s", " 've", "'ve", " 're", "'re",
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
