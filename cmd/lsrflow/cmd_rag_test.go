package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestRAGThenEval runs `lsrflow rag` against a replaying chat server and scores its output
// with `lsrflow eval`.
func TestRAGThenEval(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		answer := "Rome"
		if strings.Contains(req.Messages[0].Content, "Paris") {
			answer = "Paris."
		}
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}]}`, answer)
	}))
	defer srv.Close()
	dir := t.TempDir()
	retr := writeFile(t, dir, "r.jsonl",
		`{"id":"a","question":"Where is the Eiffel Tower?","golden_answers":["Paris"],"docs":[{"id":"1","contents":"Eiffel Tower\nIn Paris","score":1}]}
{"id":"b","question":"Capital of Italy?","golden_answers":["Milan"],"docs":[{"id":"2","contents":"Italy\nIts capital","score":1}]}
`)
	preds := filepath.Join(dir, "p.jsonl")
	for _, method := range []string{"naive", "replug"} {
		code, stdout, stderr := runForTest(t, "rag", "--retrieval", retr, "--method", method, "--llm", srv.URL+"/v1", "--model", "m", "--out", preds)
		if code != 0 || lastJSON(t, stdout)["answered"] != 2.0 {
			t.Fatalf("%s: exit %d %q %q", method, code, stdout, stderr)
		}
		code, stdout, stderr = runForTest(t, "eval", "--predictions", preds)
		if agg := lastJSON(t, stdout); code != 0 || agg["em"] != 0.5 || agg["n"] != 2.0 {
			t.Errorf("%s eval: exit %d %v %q", method, code, agg, stderr)
		}
	}
	if code, _, stderr := runForTest(t, "rag", "--retrieval", retr, "--method", "iter-retgen", "--llm", srv.URL, "--model", "m", "--out", preds); code != 2 {
		t.Errorf("iter-retgen without --index: exit %d %q", code, stderr)
	}
	if code, _, _ := runForTest(t, "rag", "--retrieval", retr, "--method", "bogus", "--llm", srv.URL, "--model", "m", "--out", preds); code != 2 {
		t.Errorf("bogus method: exit %d", code)
	}
}
