package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/runcheck"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
)

// synthFixture builds a BM25 index over the QED corpus and a query file of n NQ dev questions
// with bad lines mixed in.
func synthFixture(t *testing.T, n int) (index, queries string) {
	t.Helper()
	dir := t.TempDir()
	index = filepath.Join(dir, "index")
	if code, out, errs := cli(t, "index", "--corpus", testenv.SharedFile(t, "data/qed/corpus.jsonl"), "--out", index); code != 0 {
		t.Fatalf("index: %d %s %s", code, out, errs)
	}
	dev, err := os.ReadFile(testenv.SharedFile(t, "data/nq-open/dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(dev), "\n", n+1)[:n]
	bad := []string{`{"id":"broken",`, `{"id":"empty","question":""}`, `[1,2]`, "{\"id\":\"utf\",\"question\":\"\xff\"}", `"just a string"`,
		`{"id":"huge","question":"` + strings.Repeat("x", 5000) + `"}`}
	var all []string
	for i, l := range lines {
		all = append(all, l)
		if i%(n/len(bad)+1) == 7 {
			all = append(all, bad[0])
			bad = bad[1:]
		}
	}
	all = append(all, bad...)
	queries = filepath.Join(dir, "queries.jsonl")
	if err := os.WriteFile(queries, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return index, queries
}

func TestSynthBadInputKeepsGoodLines(t *testing.T) {
	index, queries := synthFixture(t, 60)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := cli(t, "synth", "--index", index, "--queries", queries, "--teacher", "answer-match", "--topk", "7", "--out", out,
		"--max-line-bytes", "4096", "--sinks", "parquet,arrow")
	if code != 0 {
		t.Fatalf("synth exit %d\n%s\n%s", code, stdout, stderr)
	}
	scored := runcheck.ScoredByID(t, filepath.Join(out, "scored.jsonl"))
	// The columnar sinks hold the same records, side by side in one directory.
	if pq := runcheck.ParquetByID(t, out); len(pq) != len(scored) {
		t.Fatalf("scored.parquet has %d records, scored.jsonl %d", len(pq), len(scored))
	}
	if arrow, err := arrowipc.ReadFile(t.Context(), filepath.Join(out, "scored.arrow")); err != nil || len(arrow) != len(scored) {
		t.Fatalf("scored.arrow: %d records, err %v; want %d", len(arrow), err, len(scored))
	}
	dead := runcheck.DeadLetterKeys(t, filepath.Join(out, "dead-letters.jsonl"))
	// Every good line is scored or (no usable answer) dead-lettered by the teach stage.
	var teachDead int
	for _, d := range dead {
		if strings.HasPrefix(d, "teach/") {
			teachDead++
		}
	}
	if len(scored)+teachDead != 60 {
		t.Fatalf("%d scored + %d teach dead letters, want 60 queries accounted for", len(scored), teachDead)
	}
	for id, s := range scored {
		if len(s.Pos) != 7 || len(s.Scores) != 7 {
			t.Fatalf("%s: %d passages, %d scores, want 7", id, len(s.Pos), len(s.Scores))
		}
	}
	wantReasons := []string{"broken_json", "missing_question", "not_an_object", "invalid_utf8", "not_an_object", "line_too_long"}
	var gotIngest []string
	for _, d := range dead {
		if p := strings.Split(d, "/"); p[0] == "ingest" {
			gotIngest = append(gotIngest, p[1])
		}
	}
	sort.Strings(wantReasons)
	sort.Strings(gotIngest)
	if !reflect.DeepEqual(gotIngest, wantReasons) {
		t.Fatalf("ingest dead-letter reasons %v, want %v", gotIngest, wantReasons)
	}
	if !strings.Contains(stdout, "6 bad lines") {
		t.Fatalf("summary does not report the bad lines: %s", stdout)
	}
}

// TestSynthResumesAfterSIGKILL kills `lsrflow synth` at a random moment and runs the same
// command again: the output must equal an uninterrupted run's, with nothing lost or doubled.
func TestSynthResumesAfterSIGKILL(t *testing.T) {
	n := 800
	index, queries := synthFixture(t, n)
	ref := filepath.Join(t.TempDir(), "ref")
	args := func(out string) []string {
		return []string{"synth", "--index", index, "--queries", queries, "--teacher", "answer-match", "--topk", "20", "--out", out, "--max-line-bytes", "4096"}
	}
	if code, stdout, stderr := cli(t, args(ref)...); code != 0 {
		t.Fatalf("reference run: %d\n%s\n%s", code, stdout, stderr)
	}
	want := runcheck.ScoredByID(t, filepath.Join(ref, "scored.jsonl"))

	out := filepath.Join(t.TempDir(), "crash")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	killed := false
	for attempt := 0; attempt < 5 && !killed; attempt++ {
		cmd := exec.Command(os.Args[0], args(out)...)
		cmd.Env = append(os.Environ(), "LSRFLOW_TEST_AS_CLI=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once part of the output exists: somewhere between 5% and 80% of the records.
		target := int64(len(want)) * int64(5+rng.IntN(75)) / 100 * 18000
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if fi, err := os.Stat(filepath.Join(out, "scored.jsonl")); err == nil && fi.Size() >= target {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed = true
		} else {
			t.Logf("attempt %d finished before the kill (%v); retrying on a fresh dir", attempt, err)
			os.RemoveAll(out)
		}
	}
	if !killed {
		t.Fatal("could not kill synth mid-run")
	}
	partial := 0
	if b, err := os.ReadFile(filepath.Join(out, "scored.jsonl")); err == nil {
		partial = strings.Count(string(b), "\n")
	}
	t.Logf("killed with %d of %d records written", partial, len(want))
	if code, stdout, stderr := cli(t, args(out)...); code != 0 {
		t.Fatalf("resumed run: %d\n%s\n%s", code, stdout, stderr)
	}
	got := runcheck.ScoredByID(t, filepath.Join(out, "scored.jsonl"))
	if len(got) != len(want) {
		t.Fatalf("resumed output has %d records, uninterrupted %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("query %s missing after resume", id)
		}
		if !reflect.DeepEqual(g.Scores, w.Scores) || !reflect.DeepEqual(g.PassageIDs, w.PassageIDs) {
			t.Fatalf("query %s differs after resume", id)
		}
	}
	if a, b := runcheck.DeadLetterKeys(t, filepath.Join(ref, "dead-letters.jsonl")), runcheck.DeadLetterKeys(t, filepath.Join(out, "dead-letters.jsonl")); !reflect.DeepEqual(a, b) {
		t.Fatalf("dead letters differ:\nuninterrupted %v\nresumed       %v", a, b)
	}
	// The Parquet sink resumes too: one record per id, the same ids.
	if pq := runcheck.ParquetByID(t, out); len(pq) != len(want) {
		t.Fatalf("parquet has %d records, want %d", len(pq), len(want))
	}
}

// TestSynthSIGINTStopsCleanlyAndResumes: Ctrl-C stops synth within its shutdown deadline with a
// message saying how to resume, and the same command then finishes the job.
func TestSynthSIGINTStopsCleanlyAndResumes(t *testing.T) {
	index, queries := synthFixture(t, 600)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"synth", "--index", index, "--queries", queries, "--teacher", "answer-match", "--topk", "20", "--out", out, "--max-line-bytes", "4096"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LSRFLOW_TEST_AS_CLI=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(filepath.Join(out, "scored.jsonl")); err == nil && fi.Size() > 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("synth did not stop within 30 s of SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code == 0 {
		t.Logf("synth finished before the interrupt took effect (%s)", strings.TrimSpace(stderr.String()))
	} else if !strings.Contains(stderr.String(), "run the same command again to resume") {
		t.Fatalf("exit %d without a resume hint:\n%s", code, stderr.String())
	}
	if code, stdout, errs := cli(t, args...); code != 0 {
		t.Fatalf("resumed run: %d\n%s\n%s", code, stdout, errs)
	}
	got := runcheck.ScoredByID(t, filepath.Join(out, "scored.jsonl"))
	dead := runcheck.DeadLetterKeys(t, filepath.Join(out, "dead-letters.jsonl"))
	teachDead := 0
	for _, d := range dead {
		if strings.HasPrefix(d, "teach/") {
			teachDead++
		}
	}
	if len(got)+teachDead != 600 {
		t.Fatalf("%d scored + %d teach dead letters after resume, want 600", len(got), teachDead)
	}
}
