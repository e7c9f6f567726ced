package rag

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/schemas"
)

// Prediction is one output line: what `lsrflow eval --predictions` reads, plus audit fields.
type Prediction struct {
	ID            string   `json:"id"`
	Question      string   `json:"question"`
	GoldenAnswers []string `json:"golden_answers"`
	Pred          string   `json:"pred"`
	Method        string   `json:"method"`
	Steps         []string `json:"steps,omitempty"`
}

// FileStats counts what RunFile did.
type FileStats struct {
	Answered int `json:"answered"`
	Failed   int `json:"failed"`    // generation failed after retries: no output line
	Bad      int `json:"bad_lines"` // input lines that are not retrieval records
	// FirstError is the first failure, for the user.
	FirstError string `json:"first_error,omitempty"`
}

// RunFile answers every retrieval line of r (`lsrflow retrieve` output) with m, using up to
// workers concurrent questions, and writes one Prediction line per answered question to w in
// input order. TopK > 0 keeps only the first TopK passages of each line. Bad lines and failed
// questions are counted and skipped; only a write error or cancellation stops it.
func RunFile(ctx context.Context, m Method, r io.Reader, w io.Writer, workers, topK int) (FileStats, error) {
	if workers <= 0 {
		workers = 2
	}
	type job struct {
		seq  int
		line evaluate.RetrievalLine
	}
	type done struct {
		seq  int
		pred *Prediction
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	results := make(chan done)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				docs := j.line.Docs
				if topK > 0 && len(docs) > topK {
					docs = docs[:topK]
				}
				res, err := m.Answer(ctx, Input{Question: j.line.Question, Docs: docs})
				d := done{seq: j.seq, err: err}
				if err == nil {
					d.pred = &Prediction{ID: j.line.ID, Question: j.line.Question, GoldenAnswers: j.line.GoldenAnswers,
						Pred: res.Pred, Method: m.Name(), Steps: res.Steps}
					if d.pred.GoldenAnswers == nil {
						d.pred.GoldenAnswers = []string{}
					}
				}
				select {
				case results <- d:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var st FileStats
	readErr := make(chan error, 1)
	wg.Add(1) // the reader sends bad lines on results too: close results only after it ends
	go func() {
		defer wg.Done()
		defer close(jobs)
		lr := schemas.NewLineReader(r, 0)
		seq := 0
		for {
			line, err := lr.Next()
			if err == io.EOF {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- fmt.Errorf("read input: %w", err)
				return
			}
			var l evaluate.RetrievalLine
			if line.Err == nil {
				l, err = evaluate.DecodeRetrievalLine(line.Bytes)
			} else {
				err = line.Err
			}
			if err != nil {
				// Bad lines are reported through the result stream so that counting stays
				// in one goroutine.
				select {
				case results <- done{seq: -1, err: err}:
				case <-ctx.Done():
					readErr <- ctx.Err()
					return
				}
				continue
			}
			select {
			case jobs <- job{seq: seq, line: l}:
				seq++
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	pending := map[int]done{}
	next := 0
	var werr error
	for d := range results {
		if d.seq < 0 {
			st.Bad++
			continue
		}
		pending[d.seq] = d
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if p.err != nil {
				st.Failed++
				if st.FirstError == "" {
					st.FirstError = p.err.Error()
				}
				continue
			}
			if werr == nil {
				b, _ := json.Marshal(p.pred)
				if _, err := w.Write(append(b, '\n')); err != nil {
					werr = fmt.Errorf("write prediction: %w", err)
					cancel()
				}
			}
			st.Answered++
		}
	}
	if werr != nil {
		return st, werr
	}
	if err := <-readErr; err != nil {
		return st, err
	}
	return st, ctx.Err()
}
