package conventions

import (
	"testing"

	"github.com/lsrflow/lsrflow/embed"
)

func TestFlashRAGByName(t *testing.T) {
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		model, instr  string
		hasInstr      bool
		m2p           []Pooling
		pool          string
		wantQ, wantP  string
		wantPool      string
		wantNormalize bool
	}{
		{model: "e5", wantQ: "query: ", wantP: "passage: ", wantPool: "mean", wantNormalize: true},
		{model: "E5-base-v2", wantQ: "query: ", wantP: "passage: ", wantPool: "mean", wantNormalize: true},
		{model: "bge", wantQ: BGEQuery, wantPool: "cls", wantNormalize: true},
		{model: "bge-small-zh", wantQ: BGEQueryChina, wantPool: "cls", wantNormalize: true},
		// "e5" is checked first in model2pooling order and for prefixes bge only sets the query
		{model: "bge-e5", wantQ: BGEQuery, wantP: "passage: ", wantPool: "mean", wantNormalize: true},
		{model: "contriever", wantPool: "mean", wantNormalize: true},
		{model: "dpr", wantPool: "pooler", wantNormalize: false},
		{model: "DPR-nq", wantPool: "pooler", wantNormalize: false},
		// RAG-Retrieval's config maps dpr to cls
		{model: "dpr", m2p: []Pooling{{"e5", "mean"}, {"dpr", "cls"}}, wantPool: "cls"},
		{model: "my-model", wantPool: "mean", wantNormalize: true},
		{model: "e5", pool: "cls", wantQ: "query: ", wantP: "passage: ", wantPool: "cls", wantNormalize: true},
		// an explicit instruction, Python-stripped, prefixes queries and passages alike
		{model: "e5", instr: "  Search:\u3000", hasInstr: true, wantQ: "Search: ", wantP: "Search: ", wantPool: "mean", wantNormalize: true},
		{model: "bge", instr: "", hasInstr: true, wantQ: " ", wantP: " ", wantPool: "cls", wantNormalize: true},
	} {
		o := Options{Model2Pooling: tc.m2p, Pooling: tc.pool}
		if tc.hasInstr {
			o.Instruction = ptr(tc.instr)
		}
		e, err := FlashRAG(tc.model, o)
		if err != nil {
			t.Fatal(err)
		}
		if e.Prefixes != (embed.Prefixes{Query: tc.wantQ, Passage: tc.wantP}) {
			t.Errorf("%s: prefixes %+v", tc.model, e.Prefixes)
		}
		if e.Pooling != tc.wantPool {
			t.Errorf("%s: pooling %q, want %q", tc.model, e.Pooling, tc.wantPool)
		}
		if tc.m2p == nil && *e.Normalize != tc.wantNormalize {
			t.Errorf("%s: normalize %v", tc.model, *e.Normalize)
		}
		if e.QueryMaxLength != 128 || e.PassageMaxLength != 180 || e.Convention != "flashrag:"+tc.model {
			t.Errorf("%s: %+v", tc.model, e)
		}
	}
	if _, err := FlashRAG("e5", Options{Pooling: "max"}); err == nil {
		t.Error("pooling max accepted")
	}
}
