package embed

import (
	"context"
	"math"
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
