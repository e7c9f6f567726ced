package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
	"github.com/lsrflow/lsrflow/internal/runcheck"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// TestLMCheckExitCodes: lm check exits 0 on a correct emulated server and 1, naming the reason,
// on one with stale prefix-cache values and on one whose tokenizer adds no BOS.
func TestLMCheckExitCodes(t *testing.T) {
	withBOS, noBOS := emutest.Load(t)
	bosPath, _ := emutest.Paths(t)
	good, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(withBOS, -1, true)})
	stale, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(withBOS, -1, true), StalePrefixCache: true})
	bosless, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(noBOS, -1, true), TokenizerInfo: true, DeclaredBOS: "<|begin_of_text|>"})
	for _, tc := range []struct {
		name, url string
		extra     []string
		code      int
		want      string
	}{
		{"good", good.URL, nil, 0, "trustworthy"},
		{"stale-prefix-cache", stale.URL, nil, 1, "--no-enable-prefix-caching"},
		{"no-bos-local-tokenizer", bosless.URL, []string{"--tokenizer", bosPath}, 1, "tokenizer mismatch"},
		{"no-bos-server-tokenizer", bosless.URL, nil, 1, "does not add it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"lm", "check", "--lm", tc.url + "/v1", "--throughput-pairs", "8"}, tc.extra...)
			code, out, errs := cli(t, args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s\n%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
	if code, _, errs := cli(t, "lm", "check"); code != 2 || !strings.Contains(errs, "--lm") {
		t.Errorf("lm check without --lm: exit %d, %q", code, errs)
	}
}

// TestLMScorePrintsTargetTokens: lm score prints each target token with its id, text and
// log-probability; the sum is the recomputed log-likelihood.
func TestLMScorePrintsTargetTokens(t *testing.T) {
	raw, _ := emutest.Load(t)
	// vLLM's /detokenize renders the tokens (no local tokenizer to load); clean-up off, as
	// the command shows the pieces as they are.
	ts, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, false)})
	prompt, target := "Doc: Zürich , the largest city of Switzerland .\nQuestion: which city?\nAnswer:", " Zürich , Switzerland"
	code, out, errs := cli(t, "lm", "score", "--lm", ts.URL+"/v1", "--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--prompt", prompt, "--target", target)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, piece := range []string{`" Switzerland"`, `" ,"`, "sum "} {
		if !strings.Contains(out, piece) {
			t.Errorf("output lacks %s:\n%s", piece, out)
		}
	}
	want, _ := emutest.Expected(raw, "<|begin_of_text|>", prompt, target)
	f := strings.Fields(out[strings.LastIndex(out, "sum "):])
	got, err := strconv.ParseFloat(f[1], 64)
	if err != nil || math.Abs(got-want) > 1e-5 {
		t.Errorf("printed sum %q, recomputed %.6f", f[1], want)
	}
}

// TestLMScoreSeparateLayout: --layout separate scores the seed teacher's layout (prompt and
// answer encoded each on its own): the target has the answer's own tokens and the printed sum
// is the recomputation over the separately encoded ids; an unknown layout is a usage error.
func TestLMScoreSeparateLayout(t *testing.T) {
	raw, _ := emutest.Load(t)
	ts, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, false)})
	prompt, target := "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhich city?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "Zürich"
	code, out, errs := cli(t, "lm", "score", "--lm", ts.URL+"/v1", "--prompt", prompt, "--target", target, "--layout", "separate")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ids, ctx := emutest.SeparateIDs(raw, prompt, target)
	want := 0.0
	for _, l := range emutest.TokenLogprobs(ids, ctx, raw.VocabSize()) {
		want += l
	}
	if !strings.Contains(out, "layout separate") || !strings.Contains(out, fmt.Sprintf("%d in the target", len(ids)-ctx)) {
		t.Errorf("output does not show the separate layout's %d target tokens:\n%s", len(ids)-ctx, out)
	}
	f := strings.Fields(out[strings.LastIndex(out, "sum "):])
	if got, err := strconv.ParseFloat(f[1], 64); err != nil || math.Abs(got-want) > 1e-5 {
		t.Errorf("printed sum %q, recomputed %.6f", f[1], want)
	}
	if code, _, errs := cli(t, "lm", "score", "--lm", ts.URL+"/v1", "--prompt", "p", "--target", "t", "--layout", "joint"); code != 2 || !strings.Contains(errs, "--layout") {
		t.Errorf("--layout joint: exit %d, %s", code, errs)
	}
}

// startEmulatorProcess runs `lsrflow lm emulate` as its own process (this test binary acting as
// the CLI) and returns its base URL.
func startEmulatorProcess(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"lm", "emulate", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "LSRFLOW_TEST_AS_CLI=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("emulator said %q", line)
	}
	return strings.Fields(line[i:])[0]
}

// TestSynthLSRAgainstEmulatorProcess: `synth --teacher lsr` end to end against an emulated vLLM
// running as a separate process: every query is scored or dead-lettered for a reason a real
// server would share (no answer), teacher identities name the tokenizer, and each record's
// teacher scores are the recomputed log-likelihoods.
func TestSynthLSRAgainstEmulatorProcess(t *testing.T) {
	raw, _ := emutest.Load(t)
	bosPath, _ := emutest.Paths(t)
	url := startEmulatorProcess(t, "--kind", "vllm", "--tokenizer", bosPath)
	index, queries := synthFixture(t, 12)
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	code, stdout, stderr := cli(t, "synth", "--index", index, "--queries", queries, "--teacher", "lsr", "--lm", url+"/v1",
		"--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--topk", "3", "--out", out, "--sinks", "none", "--teacher-opt", "tokenizer="+bosPath)
	if code != 0 {
		t.Fatalf("synth exit %d\n%s\n%s", code, stdout, stderr)
	}
	scored := runcheck.ScoredByID(t, filepath.Join(out, "scored.jsonl"))
	dead := runcheck.DeadLetterKeys(t, filepath.Join(out, "dead-letters.jsonl"))
	teachDead := 0
	for _, d := range dead {
		// The fixture's "huge" line (5000 x's) retrieves nothing: no-candidates, not the LM.
		if strings.HasPrefix(d, "teach/") && !(strings.Contains(d, "no-candidates") && strings.Contains(d, "huge")) {
			teachDead++
		}
	}
	t.Logf("synth --teacher lsr against the emulator process: %d scored, %d teach dead letters, %d dead letters in all (%v), %v", len(scored), teachDead, len(dead), dead, time.Since(start))
	if len(scored) != 12 || teachDead != 0 {
		t.Fatalf("%d scored, %d dead-lettered by the teacher: want all 12 good queries scored", len(scored), teachDead)
	}
	corpus := qedCorpus(t)
	for _, s := range scored {
		if s.Teacher.Tokenizer == "" || !strings.HasPrefix(s.Teacher.Tokenizer, "tokenizer.json@sha256:") {
			t.Errorf("%s: identity %+v does not name the tokenizer file", s.ID, s.Teacher)
		}
		checkRecord(t, raw, corpus, s)
	}
}

// checkRecord recomputes one scored record's teacher scores from its passages and answers
// (FlashRAG's plain QA prompt, target " "+answer, max over answers).
func checkRecord(t *testing.T, raw *tokenizer.Tokenizer, corpus map[string]string, s schemas.Scored) {
	t.Helper()
	tmpl := prompt.Default(prompt.ChatPlain)
	for i, id := range s.PassageIDs {
		d := schemas.Passage{ID: id, Contents: corpus[id]}
		best := math.Inf(-1)
		for _, a := range s.GoldenAnswers {
			if a = strings.TrimSpace(a); a != "" {
				v, _ := emutest.Expected(raw, "<|begin_of_text|>", tmpl.QA(s.Query, []schemas.Passage{d}), tmpl.TargetPrefix()+a)
				best = math.Max(best, v)
			}
		}
		if math.Abs(s.TeacherScores[i]-best) > 1e-6 {
			t.Errorf("%s passage %s: teacher score %.9f, recomputed %.9f", s.ID, id, s.TeacherScores[i], best)
		}
	}
}

func qedCorpus(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(testenv.SharedFile(t, "data/qed/corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p struct{ ID, Contents string }
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		out[p.ID] = p.Contents
	}
	return out
}
