package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/rag"
)

func ragCmd() *command {
	return &command{name: "rag", summary: "answer retrieved questions with a RAG method over a chat LM", run: runRAG}
}

func runRAG(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "rag", "--retrieval R.jsonl --method naive|replug|iter-retgen|sure --llm URL --model M --out P.jsonl",
		`Answers each question of a retrieval file (lsrflow retrieve output) with a RAG method and
FlashRAG's prompts through an OpenAI-compatible /v1/chat/completions server (vLLM, TGI, SGLang,
llama.cpp, OpenAI), and writes {"id","question","golden_answers","pred","method","steps"}
lines that 'lsrflow eval --predictions' reads. iter-retgen retrieves again: give --index (and
--retriever). The API key is read from $OPENAI_API_KEY when --api-key is not set. A summary
JSON object is printed on the last stdout line.`)
	in := f.String("retrieval", "", "retrieval jsonl")
	method := f.String("method", "naive", "naive, replug, iter-retgen or sure")
	llm := f.String("llm", "", "base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1")
	model := f.String("model", "", "model name sent to the server")
	out := f.String("out", "", "predictions jsonl to write")
	apiKey := f.String("api-key", os.Getenv("OPENAI_API_KEY"), "API key (default $OPENAI_API_KEY)")
	maxTokens := f.Int("max-tokens", 32, "max tokens per generation")
	temp := f.Float64("temperature", 0, "sampling temperature (0: greedy)")
	workers := f.Int("workers", 4, "questions answered concurrently")
	topK := f.Int("topk", 0, "use only the first K passages of each line (0: all)")
	index := f.String("index", "", "index directory (iter-retgen)")
	retriever := f.String("retriever", "bm25", "retrieval method on --index (iter-retgen)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("retrieval", "llm", "model", "out"); err != nil {
		return err
	}
	if err := mustExist("retrieval", *in); err != nil {
		return err
	}
	if *workers <= 0 || *maxTokens <= 0 || *topK < 0 {
		return usagef("--workers and --max-tokens must be positive, --topk non-negative")
	}
	gen, err := rag.NewChat(rag.ChatConfig{BaseURL: *llm, APIKey: *apiKey, Model: *model, MaxTokens: *maxTokens, Temperature: *temp})
	if err != nil {
		return usagef("%v", err)
	}
	var m rag.Method
	switch *method {
	case "naive":
		m = rag.Naive{Gen: gen}
	case "replug":
		m = rag.REPLUG{Gen: gen}
	case "sure":
		m = rag.SuRe{Gen: gen}
	case "iter-retgen":
		if *index == "" {
			return usagef("--method iter-retgen retrieves again: --index is required")
		}
		ix, r, err := openRetriever(ctx, "index", *index, *retriever)
		if err != nil {
			return err
		}
		defer ix.Close()
		m = rag.IterRetGen{Gen: gen, Retriever: r, K: *topK}
	default:
		return usagef("--method %q: want naive, replug, iter-retgen or sure", *method)
	}

	src, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("open %s: %w", *in, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".rag-*.tmp")
	if err != nil {
		return usagef("--out %s: %v", *out, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	st, err := rag.RunFile(ctx, m, src, tmp, *workers, *topK)
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if st.Failed > 0 || st.Bad > 0 {
		fmt.Fprintf(sio.err, "lsrflow rag: %d questions failed, %d bad lines skipped (first failure: %s)\n", st.Failed, st.Bad, st.FirstError)
	}
	b, _ := json.Marshal(st)
	fmt.Fprintln(sio.out, string(b))
	if st.Answered == 0 && st.Failed > 0 {
		return fmt.Errorf("every question failed: %s", st.FirstError)
	}
	return nil
}
