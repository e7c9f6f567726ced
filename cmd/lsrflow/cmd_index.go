package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/conventions"
	"github.com/lsrflow/lsrflow/embed/embedders"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

func indexCmd() *command {
	return &command{name: "index", summary: "build a retrieval index (docstore + BM25 [+ dense]) from a corpus", run: runIndex}
}

func runIndex(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "index", "--corpus C.jsonl --out DIR [--embedder glove|model2vec:DIR|onnx:DIR|openai:URL [--index-factory F]] [--max-line-bytes N] [--bm25-analyzer plain|bm25s|lucene [--bm25-query-analyzer NAME]] [--bm25-k1 K1 --bm25-b B]",
		`Builds an index directory from a FlashRAG corpus ({"id","contents"} lines, contents =
"title\ntext"): DIR/docstore (passage ids and texts), DIR/bm25 and DIR/manifest.json.
Bad corpus lines are written to DIR/dead-letters.jsonl, counted and skipped.
--bm25-analyzer picks how passages and queries become BM25 terms (stored in the index):
plain (default; lowercase letter/digit runs), bm25s (FlashRAG's default bm25s backend:
stopwords + Snowball stemmer, k1 1.5, b 0.75) or lucene (Pyserini's Lucene English analyzer:
StandardTokenizer, stopwords, Porter stemmer, Lucene's BM25 scoring, k1 0.9, b 0.4).
Queries are analyzed like the passages unless --bm25-query-analyzer says otherwise (stored
in the manifest): bm25s-unstemmed, for a bm25s index, is what FlashRAG's bm25s retriever
does to queries (bm25s.tokenize's defaults: stopwords removed, no stemming).
With --embedder it also embeds every passage and builds a FAISS index (any index_factory
string: Flat, HNSW32,Flat, IVF1024,SQ8, ...) under DIR/dense/NAME for --method dense/hybrid.
"glove" fits SIF weights on this corpus (vectors from 'scripts/setup.sh glove').
--import-faiss adopts a FAISS file written by faiss-python for this corpus (FlashRAG's
{method}_{type}.index, row i = corpus line i) instead of embedding.`)
	corpus := f.String("corpus", "", "corpus jsonl (FlashRAG format)")
	out := f.String("out", "", "index directory to write")
	maxLine := f.Int("max-line-bytes", 1<<20, "longest accepted corpus line; longer ones are dead-lettered")
	analyzer := f.String("bm25-analyzer", analysis.Plain, "BM25 analyzer: "+strings.Join(analysis.Names, ", "))
	queryAnalyzer := f.String("bm25-query-analyzer", "", "BM25 query analyzer (default: the --bm25-analyzer); bm25s-unstemmed for a bm25s index reproduces FlashRAG's bm25s queries")
	k1 := f.Float64("bm25-k1", 0, "BM25 k1 (default: the analyzer's, 0.9 or 1.5 for bm25s)")
	b := f.Float64("bm25-b", 0, "BM25 b (default: the analyzer's, 0.4 or 0.75 for bm25s)")
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
	if _, err := analysis.ByName(*analyzer); err != nil {
		return usagef("--bm25-analyzer: %v", err)
	}
	if _, err := analysis.ForQueries(*analyzer, *queryAnalyzer); err != nil {
		return usagef("--bm25-query-analyzer: %v", err)
	}
	params := bm25.DefaultParamsFor(*analyzer)
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "bm25-k1":
			params.K1 = *k1
		case "bm25-b":
			params.B = *b
		}
	})
	if err := params.Validate(); err != nil {
		return usagef("%v", err)
	}
	step, err := bm25.NewStepOptions(bm25.Options{Params: params, Analyzer: *analyzer, QueryAnalyzer: *queryAnalyzer, TempDir: filepath.Join(*out, bm25.Dir)})
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
		if strings.HasPrefix(*embSpec, "glove") && (eo.Encoding() != embed.Encoding{}) {
			return usagef("--model, --pooling, --instruction, the prefixes and the length caps apply to model2vec, onnx and openai embedders, not glove")
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
	qa := *queryAnalyzer
	if qa == "" {
		qa = *analyzer
	}
	fmt.Fprintf(sio.out, "bm25 %s (k1 %g, b %g, queries %s): %d terms, %d postings, %d sorted runs, %d bytes (%.0f per passage)\n",
		*analyzer, params.K1, params.B, qa, step.Stats.Terms, step.Stats.Postings, step.Stats.Runs, step.Stats.Bytes,
		float64(step.Stats.Bytes)/float64(max(1, st.Docs)))
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
