package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/lsrflow/lsrflow/embed/conventions"
	"github.com/lsrflow/lsrflow/embed/embedders"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

func indexCmd() *command {
	return &command{name: "index", summary: "build a retrieval index (docstore + BM25 [+ dense]) from a corpus", run: runIndex}
}

func runIndex(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "index", "--corpus C.jsonl --out DIR [--embedder glove|model2vec:DIR|onnx:DIR|openai:URL [--index-factory F]] [--max-line-bytes N] [--bm25-k1 K1 --bm25-b B]",
		`Builds an index directory from a FlashRAG corpus ({"id","contents"} lines, contents =
"title\ntext"): DIR/docstore (passage ids and texts), DIR/bm25 and DIR/manifest.json.
Bad corpus lines are written to DIR/dead-letters.jsonl, counted and skipped.
With --embedder it also embeds every passage and builds a FAISS index (any index_factory
string: Flat, HNSW32,Flat, IVF1024,SQ8, ...) under DIR/dense/NAME for --method dense/hybrid.
"glove" fits SIF weights on this corpus (vectors from 'scripts/setup.sh glove').
--import-faiss adopts a FAISS file written by faiss-python for this corpus (FlashRAG's
{method}_{type}.index, row i = corpus line i) instead of embedding.`)
	corpus := f.String("corpus", "", "corpus jsonl (FlashRAG format)")
	out := f.String("out", "", "index directory to write")
	maxLine := f.Int("max-line-bytes", 1<<20, "longest accepted corpus line; longer ones are dead-lettered")
	def := bm25.DefaultParams()
	k1 := f.Float64("bm25-k1", def.K1, "BM25 k1")
	b := f.Float64("bm25-b", def.B, "BM25 b")
	embSpec := f.String("embedder", "", "dense embedder: glove[:VECTORS.lsrv] | model2vec:DIR | onnx:DIR | openai:URL[#MODEL] (default: no dense index)")
	factory := f.String("index-factory", "Flat", "FAISS index_factory description for the dense index")
	metric := f.String("metric", "ip", "FAISS metric: ip or l2")
	denseName := f.String("dense-name", "", "name of the dense index (default: the embedder scheme)")
	importFaiss := f.String("import-faiss", "", "adopt this FAISS index file instead of embedding (needs --embedder for queries)")
	qPrefix := f.String("query-prefix", "", `prefix for queries (e5: "query: "); overrides --model`)
	pPrefix := f.String("passage-prefix", "", `prefix for passages (e5: "passage: "); overrides --model`)
	model := f.String("model", "", "apply FlashRAG's conventions for this model name (e5, bge, dpr, contriever, ...): prefixes, pooling, normalization, length caps")
	pooling := f.String("pooling", "", "onnx pooling: mean, cls or pooler (default: --model's, else the model directory's)")
	instruction := f.String("instruction", "", "FlashRAG instruction put before queries and passages (replaces --model's prefixes)")
	qMax := f.Int("query-max-length", 0, "token cap for queries (default: --model's 128, else the model's)")
	pMax := f.Int("max-length", 0, "token cap for passages (default: --model's 180, else the model's)")
	batch := f.Int("batch-size", 256, "passages per embedding call")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("corpus", "out"); err != nil {
		return err
	}
	if err := mustExist("corpus", *corpus); err != nil {
		return err
	}
	if *maxLine <= 0 {
		return usagef("--max-line-bytes must be > 0")
	}
	params := bm25.Params{K1: *k1, B: *b}
	if err := params.Validate(); err != nil {
		return usagef("%v", err)
	}
	step, err := bm25.NewStep(params)
	if err != nil {
		return err
	}
	steps := []retrieval.BuildStep{step}
	var dstep *dense.Step
	if *embSpec != "" {
		m, err := faissx.ParseMetric(*metric)
		if err != nil {
			return usagef("--metric: %v", err)
		}
		if *importFaiss != "" {
			if err := mustExist("import-faiss", *importFaiss); err != nil {
				return err
			}
		}
		if *batch <= 0 {
			return usagef("--batch-size must be > 0")
		}
		eo, err := encodingFlags(f, *model, *pooling, *instruction, *qPrefix, *pPrefix, *qMax, *pMax)
		if err != nil {
			return err
		}
		dstep, err = dense.NewStep(dense.StepOptions{Embedder: *embSpec, Name: *denseName, Factory: *factory,
			Metric: m, BatchSize: *batch, Import: *importFaiss, Progress: sio.err, Embedders: eo})
		if err != nil {
			return usagef("--embedder: %v", err)
		}
		steps = append(steps, dstep)
	} else if *importFaiss != "" {
		return usagef("--import-faiss needs --embedder (the model that embeds the queries)")
	}
	st, err := retrieval.Build(ctx, retrieval.BuildOptions{
		Corpus: *corpus, Dir: *out, MaxLineBytes: *maxLine, Steps: steps, Progress: sio.err,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "index %s: %d docs, %d bad lines, %d duplicate ids, %.1f s, %.0f docs/s\n",
		*out, st.Docs, st.BadLines, st.DuplicateIDs, st.Seconds, st.DocsPerSecond())
	if dstep != nil && dstep.Stats.Passages > 0 {
		fmt.Fprintf(sio.out, "dense %s: %d passages embedded in %.1f s (%.0f passages/s), FAISS %s %.1f s\n",
			*embSpec, dstep.Stats.Passages, dstep.Stats.EmbedSeconds, dstep.Stats.PassagesPerSec, *factory, dstep.Stats.IndexSeconds)
	}
	if dstep != nil {
		if e := dstep.Encoding(); e != nil {
			fmt.Fprintf(sio.out, "encoding: %s\n", e)
		}
	}
	if st.BadLines > 0 {
		fmt.Fprintf(sio.err, "lsrflow index: %d bad corpus lines dead-lettered to %s\n", st.BadLines, filepath.Join(*out, retrieval.DeadLettersFile))
	}
	return nil
}

// encodingFlags turns the encoding flags of `lsrflow index` into embedder options: FlashRAG's
// conventions for --model first, then each explicit flag on top.
func encodingFlags(f *flags, model, pooling, instruction, qPrefix, pPrefix string, qMax, pMax int) (embedders.Options, error) {
	var o embedders.Options
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if model != "" {
		co := conventions.Options{Pooling: pooling, QueryMaxLength: qMax, PassageMaxLength: pMax}
		if set["instruction"] {
			co.Instruction = &instruction
		}
		e, err := conventions.FlashRAG(model, co)
		if err != nil {
			return o, usagef("--model/--pooling: %v", err)
		}
		o = o.WithEncoding(e)
	} else {
		if pooling != "" {
			if err := conventions.ValidPooling(pooling); err != nil {
				return o, usagef("--pooling: %v", err)
			}
		}
		o.Pooling, o.QueryMaxLength, o.MaxLength = pooling, qMax, pMax
		if set["instruction"] {
			o.Prefixes = conventions.Prefixes("", &instruction)
		}
	}
	if qMax < 0 || pMax < 0 {
		return o, usagef("--query-max-length and --max-length must be >= 0")
	}
	if set["query-prefix"] {
		o.Prefixes.Query = qPrefix
	}
	if set["passage-prefix"] {
		o.Prefixes.Passage = pPrefix
	}
	return o, nil
}
