package lmemu

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
)

// Tokenizer is a server's tokenizer: encoding from a tokenizer.json, decoding as a Hugging Face
// fast tokenizer with a ByteLevel decoder does.
type Tokenizer struct {
	t *tokenizer.Tokenizer
	// bos is prepended by Encode with special tokens, emulating a TemplateProcessing
	// post-processor "<|begin_of_text|> $A" (the Llama-3 tokenizer.json as Meta revised it)
	// when the file itself adds nothing; -1 for none.
	bos     int
	bosText string
	cleanUp bool
	vocab   int
}

// NewTokenizer wraps t. bos >= 0 adds that id before every text encoded with special tokens
// (always, even before a text that starts with it, as a post-processor does); cleanUp is the
// tokenizer_config.json setting clean_up_tokenization_spaces (true for Meta's Llama-3).
func NewTokenizer(t *tokenizer.Tokenizer, bos int, cleanUp bool) *Tokenizer {
	tk := &Tokenizer{t: t, bos: bos, cleanUp: cleanUp, vocab: t.VocabSize()}
	if bos >= 0 {
		tk.bosText = t.Token(bos)
	}
	return tk
}

// WithBOS returns a copy that adds bos (or nothing, for -1) and cleans up (or not).
func (tk *Tokenizer) WithBOS(bos int, cleanUp bool) *Tokenizer {
	c := *tk
	c.bos, c.cleanUp = bos, cleanUp
	c.bosText = ""
	if bos >= 0 {
		c.bosText = tk.t.Token(bos)
	}
	return &c
}

// VocabSize is the model's vocabulary size.
func (tk *Tokenizer) VocabSize() int { return tk.vocab }

// BOSText is the spelling of the BOS token ("" when none is added).
func (tk *Tokenizer) BOSText() string { return tk.bosText }

// Encode is tokenizer(text, add_special_tokens=special).input_ids. Special-token strings in the
// text become their ids (HF's default split_special_tokens=False), so a text that starts with
// "<|begin_of_text|>" gets a second BOS with special tokens on: the pitfall a client must avoid.
func (tk *Tokenizer) Encode(text string, special bool) []int {
	ids := tk.t.Encode(text, special).IDs
	if special && tk.bos >= 0 {
		ids = append([]int{tk.bos}, ids...)
	}
	return ids
}

// byteOf inverts GPT-2's bytes_to_unicode table (tokenizers' pre_tokenizers/byte_level.rs
// bytes_char): printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 on.
var byteOf = func() map[rune]byte {
	m := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+n)] = byte(b)
			n++
		}
	}
	return m
}()

// tokenBytes is what the ByteLevel decoder makes of one token string (tokenizers'
// byte_level.rs, impl Decoder for ByteLevel, decode_chain): each character mapped back to its
// byte, or, when a character is not in the table (an added token's content), the token's own
// UTF-8 bytes.
func tokenBytes(piece string) []byte {
	out := make([]byte, 0, len(piece))
	for _, r := range piece {
		b, ok := byteOf[r]
		if !ok {
			return []byte(piece)
		}
		out = append(out, b)
	}
	return out
}

// CleanUp is transformers' clean_up_tokenization (tokenization_utils_base.py,
// PreTrainedTokenizerBase.clean_up_tokenization), applied by decode when the tokenizer's
// clean_up_tokenization_spaces is set.
func CleanUp(s string) string { return tokenizer.CleanUpTokenizationSpaces(s) }

// Decode is tokenizer.decode(ids) with skip_special_tokens=False: the pieces' bytes decoded
// lossily as one string, then cleaned up if cleanUp (nil means the tokenizer's setting).
func (tk *Tokenizer) Decode(ids []int, cleanUp *bool) string {
	var b []byte
	for _, id := range ids {
		b = append(b, tokenBytes(tk.t.Token(id))...)
	}
	s := tokenizer.LossyUTF8(b)
	c := tk.cleanUp
	if cleanUp != nil {
		c = *cleanUp
	}
	if c {
		s = CleanUp(s)
	}
	return s
}

// DecodeOne is tokenizer.decode([id]): one token decoded on its own.
func (tk *Tokenizer) DecodeOne(id int, cleanUp *bool) string { return tk.Decode([]int{id}, cleanUp) }

// Bytes is the raw bytes of a token (for offsets).
func (tk *Tokenizer) Bytes(id int) []byte { return tokenBytes(tk.t.Token(id)) }

// Piece is the vocabulary string of a token ("ĠParis").
func (tk *Tokenizer) Piece(id int) string { return tk.t.Token(id) }

// TokenID looks a token string up.
func (tk *Tokenizer) TokenID(s string) (int, bool) { return tk.t.TokenID(s) }

func (tk *Tokenizer) String() string {
	return fmt.Sprintf("tokenizer(vocab=%d, bos=%d, cleanup=%v)", tk.vocab, tk.bos, tk.cleanUp)
}

var (
	yes = true
	no  = false
)

// Bool pointers for Decode's cleanUp argument.
var (
	CleanUpOn  = &yes
	CleanUpOff = &no
)

// ResolveBOS decides the BOS a server adds for a tokenizer.json at path: spec "auto" adds the
// bos_token of the tokenizer_config.json beside it when tokenizer.json itself adds nothing (the
// fix Meta made to Llama-3's tokenizer.json), "none" adds none, anything else is a token
// string. declared is the config's bos_token (what vLLM's /tokenizer_info reports).
func ResolveBOS(t *tokenizer.Tokenizer, path, spec string) (bos int, declared string, err error) {
	if b, rerr := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json")); rerr == nil {
		var cfg struct {
			BOS json.RawMessage `json:"bos_token"`
		}
		if json.Unmarshal(b, &cfg) == nil {
			var s string
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(cfg.BOS, &s) == nil {
				declared = s
			} else if json.Unmarshal(cfg.BOS, &obj) == nil {
				declared = obj.Content
			}
		}
	}
	switch spec {
	case "none":
		return -1, declared, nil
	case "auto", "":
		if len(t.Encode("a", true).IDs) > len(t.Encode("a", false).IDs) || declared == "" {
			return -1, declared, nil // the file adds its own special tokens, or there is no BOS
		}
		id, ok := t.TokenID(declared)
		if !ok {
			return -1, declared, fmt.Errorf("bos_token %q is not in the vocabulary", declared)
		}
		return id, declared, nil
	}
	id, ok := t.TokenID(spec)
	if !ok {
		return -1, declared, fmt.Errorf("token %q is not in the vocabulary", spec)
	}
	if declared == "" {
		declared = spec
	}
	return id, declared, nil
}
