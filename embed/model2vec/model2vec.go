package model2vec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/tokenizer"
)

// Options tune a Model. The zero value follows the model's config.
type Options struct {
	// Normalize overrides config.json's "normalize" when non-nil.
	Normalize *bool
	// Prefixes are prepended to queries and passages (none by default).
	Prefixes embed.Prefixes
	// MaxTokens caps the tokens per text (default 512, as Model2Vec's encode).
	MaxTokens int
	// QueryMaxTokens caps queries when > 0 (default MaxTokens).
	QueryMaxTokens int
	// Name overrides Name() (default "model2vec:" + the directory's base name).
	Name string
}

// Model is a loaded Model2Vec model. It implements embed.Embedder.
type Model struct {
	tok        *tokenizer.Tokenizer
	emb        []float32 // rows x dim
	dim        int
	mapping    []int32   // token id -> row (nil: identity)
	weights    []float64 // token id -> weight (nil: 1)
	normalize  bool
	prefixes   embed.Prefixes
	maxTokens  int
	maxChars   int
	qTokens    int // token cap of queries
	qChars     int
	name       string
	vocabLimit int // number of token ids with an embedding
}

var _ embed.Embedder = (*Model)(nil)

// Open loads the model in dir.
func Open(dir string, opts Options) (*Model, error) {
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("model2vec %s: %w", dir, err)
	}
	var cfg struct {
		Normalize bool `json:"normalize"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("model2vec %s: config.json: %w", dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("model2vec %s: %w", dir, err)
	}
	ts, err := readSafetensors(filepath.Join(dir, "model.safetensors"), "embeddings", "mapping", "weights")
	if err != nil {
		return nil, fmt.Errorf("model2vec %s: %w", dir, err)
	}
	e := ts["embeddings"]
	if e == nil || len(e.shape) != 2 || e.f == nil {
		return nil, fmt.Errorf("model2vec %s: model.safetensors needs a 2-d float tensor \"embeddings\"", dir)
	}
	m := &Model{tok: tok, dim: e.shape[1], normalize: cfg.Normalize, prefixes: opts.Prefixes,
		maxTokens: opts.MaxTokens, name: opts.Name}
	if opts.Normalize != nil {
		m.normalize = *opts.Normalize
	}
	if m.maxTokens <= 0 {
		m.maxTokens = 512
	}
	if m.name == "" {
		m.name = "model2vec:" + filepath.Base(filepath.Clean(dir))
	}
	m.emb = make([]float32, len(e.f))
	for i, v := range e.f {
		m.emb[i] = float32(v)
	}
	rows := e.shape[0]
	m.vocabLimit = rows
	if mp := ts["mapping"]; mp != nil {
		if mp.i == nil || len(mp.shape) != 1 {
			return nil, fmt.Errorf("model2vec %s: \"mapping\" must be a 1-d integer tensor", dir)
		}
		m.mapping = make([]int32, len(mp.i))
		for i, r := range mp.i {
			if r < 0 || int(r) >= rows {
				return nil, fmt.Errorf("model2vec %s: mapping[%d] = %d outside %d rows", dir, i, r, rows)
			}
			m.mapping[i] = int32(r)
		}
		m.vocabLimit = len(mp.i)
	}
	if w := ts["weights"]; w != nil {
		if w.f == nil || len(w.shape) != 1 || len(w.f) != m.vocabLimit {
			return nil, fmt.Errorf("model2vec %s: \"weights\" must be a float vector of %d token weights", dir, m.vocabLimit)
		}
		m.weights = w.f
	}
	if n := tok.VocabSize(); n > m.vocabLimit {
		return nil, fmt.Errorf("model2vec %s: tokenizer has %d ids but the model covers %d", dir, n, m.vocabLimit)
	}
	med := medianTokenLength(tok)
	m.maxChars = m.maxTokens * med
	m.qTokens, m.qChars = m.maxTokens, m.maxChars
	if opts.QueryMaxTokens > 0 {
		m.qTokens, m.qChars = opts.QueryMaxTokens, opts.QueryMaxTokens*med
	}
	return m, nil
}

// medianTokenLength is int(median) of the character lengths of all token strings, which
// Model2Vec multiplies by the token cap to pre-cut long texts.
func medianTokenLength(tok *tokenizer.Tokenizer) int {
	n := tok.VocabSize()
	lens := make([]int, 0, n)
	for id := range n {
		lens = append(lens, utf8.RuneCountInString(tok.Token(id)))
	}
	if len(lens) == 0 {
		return 1
	}
	slices.Sort(lens)
	if len(lens)%2 == 1 {
		return lens[len(lens)/2]
	}
	return (lens[len(lens)/2-1] + lens[len(lens)/2]) / 2
}

// Dim implements embed.Embedder.
func (m *Model) Dim() int { return m.dim }

// Name implements embed.Embedder.
func (m *Model) Name() string { return m.name }

// TokenIDs returns the ids a text contributes to its embedding (after truncation and with
// unknown tokens dropped).
func (m *Model) TokenIDs(text string) []int {
	return m.tokenIDs(text, m.maxTokens, m.maxChars)
}

func (m *Model) tokenIDs(text string, maxTokens, maxChars int) []int {
	if utf8.RuneCountInString(text) > maxChars {
		n := 0
		for i := range text {
			if n == maxChars {
				text = text[:i]
				break
			}
			n++
		}
	}
	ids := m.tok.Encode(text, false).IDs
	unk := m.tok.UnkID()
	kept := ids[:0]
	for _, id := range ids {
		if id != unk {
			kept = append(kept, id)
		}
	}
	if len(kept) > maxTokens {
		kept = kept[:maxTokens]
	}
	return kept
}

// Embed implements embed.Embedder.
func (m *Model) Embed(ctx context.Context, texts []string, kind embed.Kind) ([][]float32, error) {
	out := make([][]float32, len(texts))
	acc := make([]float64, m.dim)
	for i, text := range texts {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("model2vec embed: %w", err)
			}
		}
		ids := m.TokenIDs(m.prefixes.Apply(text, kind))
		if kind == embed.Query {
			ids = m.tokenIDs(m.prefixes.Apply(text, kind), m.qTokens, m.qChars)
		}
		clear(acc)
		for _, id := range ids {
			row := id
			if m.mapping != nil {
				row = int(m.mapping[id])
			}
			w := 1.0
			if m.weights != nil {
				w = m.weights[id]
			}
			vec := m.emb[row*m.dim : (row+1)*m.dim]
			for k, x := range vec {
				acc[k] += w * float64(x)
			}
		}
		v := make([]float32, m.dim)
		if len(ids) > 0 {
			inv := 1 / float64(len(ids))
			for k := range v {
				v[k] = float32(acc[k] * inv)
			}
		}
		if m.normalize {
			embed.Normalize(v)
		}
		out[i] = v
	}
	return out, nil
}
