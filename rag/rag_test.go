package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// chatRequest is the part of an OpenAI chat-completion request the tests check.
type chatRequest struct {
	Model       string   `json:"model"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	Messages    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// replay is an OpenAI-compatible server: it records each request and answers with a
// chat-completion body whose content the test's script chooses.
type replay struct {
	mu       sync.Mutex
	requests []chatRequest
	auth     []string
	script   func(req chatRequest) (status int, content string)
}

func (r *replay) ServeHTTP(w http.ResponseWriter, h *http.Request) {
	if h.URL.Path != "/v1/chat/completions" || h.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	var req chatRequest
	if err := json.NewDecoder(h.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.auth = append(r.auth, h.Header.Get("Authorization"))
	r.mu.Unlock()
	status, content := r.script(req)
	w.Header().Set("Content-Type", "application/json")
	if status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error","code":null}}`, content)
		return
	}
	body, _ := json.Marshal(content)
	fmt.Fprintf(w, `{"id":"chatcmpl-test","object":"chat.completion","created":1767225600,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%s},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":50,"completion_tokens":3,"total_tokens":53}}`, req.Model, body)
}

func newReplay(t *testing.T, script func(chatRequest) (int, string)) (*replay, *Chat) {
	t.Helper()
	rp := &replay{script: script}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	gen, err := NewChat(ChatConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "llama-3-8b-instruct", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return rp, gen
}

func ok(s string) func(chatRequest) (int, string) {
	return func(chatRequest) (int, string) { return 200, s }
}

var docs = []schemas.Passage{
	{ID: "1", Contents: "Eiffel Tower\nThe tower is in Paris.", Score: 2},
	{ID: "2", Contents: "Rome\nCapital of Italy.\nSecond line.", Score: 3},
	{ID: "3", Contents: "Paris\nCity of light.", Score: 1.5},
}

func TestNaiveRequest(t *testing.T) {
	rp, gen := newReplay(t, ok("Paris"))
	res, err := Naive{Gen: gen}.Answer(t.Context(), Input{Question: "where is the eiffel tower?", Docs: docs[:2]})
	if err != nil || res.Pred != "Paris" {
		t.Fatalf("Answer = %+v, %v", res, err)
	}
	if len(rp.requests) != 1 {
		t.Fatalf("%d requests", len(rp.requests))
	}
	req := rp.requests[0]
	wantSystem := "Answer the question based on the given document.Only give me the answer and do not output any other words.\n" +
		"The following are given documents.\n\n" +
		"Doc 1(Title: Eiffel Tower) The tower is in Paris.\n" +
		"Doc 2(Title: Rome) Capital of Italy.\nSecond line.\n"
	if req.Model != "llama-3-8b-instruct" || req.MaxTokens != 32 || len(req.Messages) != 2 ||
		req.Messages[0].Role != "system" || req.Messages[0].Content != wantSystem ||
		req.Messages[1].Role != "user" || req.Messages[1].Content != "Question: where is the eiffel tower?" {
		t.Errorf("request %+v", req)
	}
	if req.Temperature == nil || *req.Temperature != 0 {
		t.Errorf("temperature %v, want 0 sent explicitly (TGI treats only 0 as greedy)", req.Temperature)
	}
	if rp.auth[0] != "Bearer sk-test" {
		t.Errorf("auth header %q", rp.auth[0])
	}
}

func TestREPLUGEnsemble(t *testing.T) {
	answers := map[string]string{"Eiffel Tower": "Paris", "Rome": "Rome", "Paris": "paris."}
	rp, gen := newReplay(t, func(req chatRequest) (int, string) {
		for title, a := range answers {
			if strings.Contains(req.Messages[0].Content, "Document(Title: "+title+"):") {
				return 200, a
			}
		}
		return 200, "?"
	})
	// weights 2/6.5, 3/6.5, 1.5/6.5: "Paris"+"paris." = 3.5 beats "Rome" = 3.
	res, err := REPLUG{Gen: gen}.Answer(t.Context(), Input{Question: "q", Docs: docs})
	if err != nil || res.Pred != "Paris" || len(res.Steps) != 3 {
		t.Fatalf("Answer = %+v, %v", res, err)
	}
	if len(rp.requests) != 3 {
		t.Fatalf("%d requests", len(rp.requests))
	}
	want := "Answer the question based on the given document.Only give me the answer and do not output any other words.\n" +
		"The following are given documents.\n\nDocument(Title: Rome): Capital of Italy.\nSecond line."
	found := false
	for _, r := range rp.requests {
		found = found || r.Messages[0].Content == want
	}
	if !found {
		t.Errorf("no request with the single-document prompt %q", want)
	}
	// Drop the third passage: Rome (3) now beats Paris (2).
	res, _ = REPLUG{Gen: gen}.Answer(t.Context(), Input{Question: "q", Docs: docs[:2]})
	if res.Pred != "Rome" {
		t.Errorf("two passages: pred %q, want Rome", res.Pred)
	}
}

func TestDocWeights(t *testing.T) {
	w := DocWeights([]float64{1, 3})
	if w[0] != 0.25 || w[1] != 0.75 {
		t.Errorf("positive scores: %v", w)
	}
	w = DocWeights([]float64{0, -1e9})
	if w[0] != 1 || w[1] != 0 {
		t.Errorf("softmax fallback: %v", w)
	}
}

type fakeRetriever struct {
	mu      sync.Mutex
	queries []string
}

func (f *fakeRetriever) Search(_ context.Context, q string, k int) ([]schemas.Passage, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return []schemas.Passage{{ID: "r", Contents: "Retrieved\nfor " + q}}, nil
}

func TestIterRetGen(t *testing.T) {
	n := 0
	rp, gen := newReplay(t, func(chatRequest) (int, string) { n++; return 200, fmt.Sprintf("gen%d", n) })
	fr := &fakeRetriever{}
	res, err := IterRetGen{Gen: gen, Retriever: fr, K: 5}.Answer(t.Context(), Input{Question: "who?", Docs: docs[:1]})
	if err != nil || res.Pred != "gen3" || strings.Join(res.Steps, ",") != "gen1,gen2,gen3" {
		t.Fatalf("Answer = %+v, %v", res, err)
	}
	if strings.Join(fr.queries, "|") != "who? gen1|who? gen2" {
		t.Errorf("retrieval queries %q", fr.queries)
	}
	if !strings.Contains(rp.requests[2].Messages[0].Content, "Doc 1(Title: Retrieved) for who? gen2\n") ||
		rp.requests[2].Messages[1].Content != "Question: who?" {
		t.Errorf("third prompt %+v", rp.requests[2])
	}
}

func TestSuRe(t *testing.T) {
	rp, gen := newReplay(t, func(req chatRequest) (int, string) {
		c := req.Messages[0].Content
		switch {
		case strings.HasPrefix(c, "Below are 2 passages"):
			return 200, "(a) Paris, France\n(b) Lyon"
		case strings.HasPrefix(c, "Reference:"):
			if strings.Contains(c, "Prediction: Paris France\n") {
				return 200, "Paris is where the tower stands. [DONE]"
			}
			return 200, "Lyon is a city. [DONE]"
		case strings.HasPrefix(c, "Question: Given the following passages"):
			if strings.Contains(c, "Passage 1: Lyon") {
				return 200, "Passage 2"
			}
			return 200, "Passage 1 is better"
		case strings.HasPrefix(c, "Question: q\nPrediction: Paris France"):
			return 200, " True"
		case strings.HasPrefix(c, "Question: q\nPrediction: Lyon"):
			return 200, "False."
		}
		return 200, "?"
	})
	res, err := SuRe{Gen: gen}.Answer(t.Context(), Input{Question: "q", Docs: docs[:2]})
	if err != nil || res.Pred != "Paris France" {
		t.Fatalf("Answer = %+v, %v", res, err)
	}
	if len(rp.requests) != 7 {
		t.Errorf("%d requests, want 1 + 2 summaries + 2 validations + 2 rankings", len(rp.requests))
	}
	first := rp.requests[0]
	want := "Below are 2 passages related to the question at the end. After readingthe passages, provide two correct candidates for the answer to thequestion at the end. Each answer should be in the form: (a) xx, (b)yy, and should not exceed 3 words for each candidate.\n\n" +
		"Passage #1 Title: Eiffel Tower\nPassage #1 Text: The tower is in Paris.\n\n" +
		"Passage #2 Title: Rome\nPassage #2 Text: Capital of Italy.\nSecond line.\n\n" +
		"Question: q\nAnswer:"
	if len(first.Messages) != 1 || first.Messages[0].Role != "user" || first.Messages[0].Content != want {
		t.Errorf("candidate prompt:\n%q\nwant\n%q", first.Messages[0].Content, want)
	}
}

// TestParseCandidatesAgainstPython compares the candidate parser with FlashRAG's regex run
// by CPython.
func TestParseCandidatesAgainstPython(t *testing.T) {
	inputs := []string{"(a) Paris, (b) Lyon", "\n(a) New York City\n(b) Boston, MA\n", "(1)x(2)  y ,z", "no candidates",
		"(é) café (_) b", "(a)\u00a0Tokyo\n(b)\u3000Kyoto", "((a)) nested (b)", "(a) one\ntwo (b) three"}
	in, _ := json.Marshal(inputs)
	py := `import json,re,sys
out=[]
for r in json.load(sys.stdin):
    r=r.strip("\n").strip()
    c=[m[1].split("\n")[0].strip() for m in re.findall(r"\((\w+)\)\s*([^()]+)", r)]
    out.append([x.replace(",", "").strip() for x in c])
json.dump(out, sys.stdout)`
	cmd := exec.CommandContext(t.Context(), "/usr/bin/python3", "-c", py)
	cmd.Stdin = bytes.NewReader(in)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("/usr/bin/python3 (run `scripts/setup.sh apt`): %v", err)
	}
	var want [][]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i, s := range inputs {
		got := ParseCandidates(s)
		if fmt.Sprint(got) != fmt.Sprint(want[i]) || len(got) != len(want[i]) {
			t.Errorf("ParseCandidates(%q) = %q, python %q", s, got, want[i])
		}
	}
}

func TestRetriesAndErrors(t *testing.T) {
	calls := 0
	_, gen := newReplay(t, func(chatRequest) (int, string) {
		calls++
		if calls < 3 {
			return 503, "overloaded"
		}
		return 200, "fine"
	})
	out, err := gen.Generate(t.Context(), []Message{{Role: "user", Content: "x"}})
	if err != nil || out != "fine" || calls != 3 {
		t.Fatalf("Generate = %q, %v after %d calls", out, err, calls)
	}
	calls = 0
	_, gen = newReplay(t, func(chatRequest) (int, string) { calls++; return 400, "bad request" })
	if _, err := gen.Generate(t.Context(), []Message{{Role: "user", Content: "x"}}); err == nil || calls != 1 {
		t.Fatalf("400: err %v after %d calls, want one call and an error", err, calls)
	}
}

func TestRunFile(t *testing.T) {
	_, gen := newReplay(t, func(req chatRequest) (int, string) {
		q := strings.TrimPrefix(req.Messages[1].Content, "Question: ")
		if q == "fail" {
			return 400, "nope"
		}
		time.Sleep(time.Duration(len(q)%3) * time.Millisecond)
		return 200, "answer to " + q
	})
	var in strings.Builder
	for i := range 12 {
		q := fmt.Sprintf("question %d", i)
		if i == 4 {
			q = "fail"
		}
		fmt.Fprintf(&in, `{"id":"q%d","question":%q,"golden_answers":["a"],"docs":[{"id":"d","contents":"T\nx","score":1}]}`+"\n", i, q)
		if i == 6 {
			in.WriteString("{not json\n")
		}
	}
	var out bytes.Buffer
	st, err := RunFile(t.Context(), Naive{Gen: gen}, strings.NewReader(in.String()), &out, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Answered != 11 || st.Failed != 1 || st.Bad != 1 || st.FirstError == "" {
		t.Errorf("stats %+v", st)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, l := range lines {
		var p Prediction
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		want := i
		if i >= 4 {
			want++
		}
		if p.ID != fmt.Sprintf("q%d", want) || p.Pred != "answer to "+p.Question || p.Method != "naive" {
			t.Errorf("line %d: %+v", i, p)
		}
	}
}
