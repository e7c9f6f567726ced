package adapter

import (
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
)

// FusionOptions turns a Serving's hybrid settings into fusion options.
func FusionOptions(sv Serving) (hybrid.Options, error) {
	f, err := hybrid.ParseFusion(sv.Fusion)
	if err != nil {
		return hybrid.Options{}, err
	}
	return hybrid.Options{Fusion: f, LexicalWeight: sv.LexicalWeight, DenseWeight: sv.DenseWeight}, nil
}

// Serve returns the retriever that applies a (nil: none) to base: the dense Retriever when
// lex is nil, else a hybrid of lex and it, fused as a was trained for when its checkpoint
// names a hybrid (Meta.Serving), else with fallback. The result is immutable: a new version
// is served by a new retriever.
func Serve(base *dense.Retriever, lex retrieval.Retriever, a *Linear, fallback hybrid.Options) (retrieval.Retriever, error) {
	d, err := NewRetriever(base, a)
	if err != nil {
		return nil, err
	}
	if lex == nil {
		return d, nil
	}
	o := fallback
	if a != nil && a.Meta.Serving.Method == hybrid.Method {
		if o, err = FusionOptions(a.Meta.Serving); err != nil {
			return nil, err
		}
	}
	return hybrid.New(lex, d, o)
}
