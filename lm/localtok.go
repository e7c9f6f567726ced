package lm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
)

// LocalTokenizer encodes with a Hugging Face tokenizer.json file, in process.
type LocalTokenizer struct {
	tok    *tokenizer.Tokenizer
	prefix []int
	source string
}

// LoadTokenizer reads a tokenizer.json file. It fails when the file's post-processor appends
// special tokens after the text (an encoder's [SEP], not a causal LM's tokenizer).
func LoadTokenizer(path string) (*LocalTokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lm: tokenizer: %w", err)
	}
	t, err := tokenizer.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("lm: tokenizer %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	return newLocal(t, "tokenizer.json@sha256:"+hex.EncodeToString(sum[:6]))
}

// NewLocalTokenizer wraps a loaded tokenizer; source names it in identities.
func NewLocalTokenizer(t *tokenizer.Tokenizer, source string) (*LocalTokenizer, error) {
	return newLocal(t, source)
}

func newLocal(t *tokenizer.Tokenizer, source string) (*LocalTokenizer, error) {
	with := t.Encode("a", true).IDs
	without := t.Encode("a", false).IDs
	if len(with) < len(without) || !slices.Equal(with[len(with)-len(without):], without) {
		return nil, fmt.Errorf("lm: tokenizer %s adds special tokens after the text (%v for %v): not a causal LM tokenizer", source, with, without)
	}
	return &LocalTokenizer{tok: t, prefix: slices.Clip(with[:len(with)-len(without)]), source: source}, nil
}

// Encode returns the ids of text without special tokens added.
func (l *LocalTokenizer) Encode(_ context.Context, text string) ([]int, error) {
	return l.tok.Encode(text, false).IDs, nil
}

// Prefix returns the special tokens added before a text (BOS).
func (l *LocalTokenizer) Prefix(context.Context) ([]int, error) { return l.prefix, nil }

// PrefixText is the text of the prefix tokens ("<|begin_of_text|>"), for servers that only
// take text and always add the prefix themselves.
func (l *LocalTokenizer) PrefixText() string {
	s := ""
	for _, id := range l.prefix {
		s += l.tok.Token(id)
	}
	return s
}

// Source names the file by content hash.
func (l *LocalTokenizer) Source() string { return l.source }

// Raw returns the underlying tokenizer.
func (l *LocalTokenizer) Raw() *tokenizer.Tokenizer { return l.tok }
