package embed

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// Kind says what a text is, so that asymmetric models can prefix it.
type Kind int

const (
	// Query is a question or search text.
	Query Kind = iota
	// Passage is a corpus document.
	Passage
)

func (k Kind) String() string {
	if k == Passage {
		return "passage"
	}
	return "query"
}

// Embedder turns texts into vectors of Dim() float32s.
type Embedder interface {
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string, kind Kind) ([][]float32, error)
	// Dim is the vector length.
	Dim() int
	// Name identifies the model (stamped into index manifests and retriever versions).
	Name() string
}

// Prefixes are the strings prepended to queries and passages (e5: "query: ", "passage: ").
type Prefixes struct {
	Query   string `json:"query,omitempty"`
	Passage string `json:"passage,omitempty"`
}

// Apply returns text with the prefix of kind.
func (p Prefixes) Apply(text string, kind Kind) string {
	if kind == Passage {
		return p.Passage + text
	}
	return p.Query + text
}

// Normalize scales v to unit L2 norm in place (a zero vector stays zero).
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// Encoding is how a model's inputs and outputs are prepared: the prefixes put before queries
// and passages, the pooling of token states, L2 normalization and the token caps. An index
// records the Encoding its passages were embedded with, so that queries are always encoded
// the same way. Zero fields mean "the model's own default".
type Encoding struct {
	// Convention names the rule set the settings came from (e.g. "flashrag:e5"); "" when they
	// were given one by one.
	Convention string   `json:"convention,omitempty"`
	Prefixes   Prefixes `json:"prefixes,omitzero"`
	// Pooling is mean, cls or pooler (the model's pooled output); "" follows the model
	// directory.
	Pooling          string `json:"pooling,omitempty"`
	Normalize        *bool  `json:"normalize,omitempty"`
	QueryMaxLength   int    `json:"query_max_length,omitempty"`
	PassageMaxLength int    `json:"passage_max_length,omitempty"`
}

// String describes the encoding in one line, for `lsrflow index` and `lsrflow retrieve`.
func (e Encoding) String() string {
	var parts []string
	if e.Convention != "" {
		parts = append(parts, e.Convention)
	}
	parts = append(parts, fmt.Sprintf("query prefix %q", e.Prefixes.Query), fmt.Sprintf("passage prefix %q", e.Prefixes.Passage))
	pool := e.Pooling
	if pool == "" {
		pool = "model default"
	}
	parts = append(parts, "pooling "+pool)
	switch {
	case e.Normalize == nil:
		parts = append(parts, "normalization: model default")
	case *e.Normalize:
		parts = append(parts, "L2-normalized")
	default:
		parts = append(parts, "not normalized")
	}
	if e.QueryMaxLength > 0 {
		parts = append(parts, fmt.Sprintf("queries cut at %d tokens", e.QueryMaxLength))
	}
	if e.PassageMaxLength > 0 {
		parts = append(parts, fmt.Sprintf("passages cut at %d tokens", e.PassageMaxLength))
	}
	return strings.Join(parts, ", ")
}
