package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/train"
)

// stateMeta reads the metadata of a train stage's trainer-state file.
func stateMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := adapter.ReadSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

// trainableInLog counts the records of a window log that the stage trains on (not held out,
// with a teacher preference).
func trainableInLog(t *testing.T, path string, holdout float64) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		r, err := schemas.DecodeScored(sc.Bytes())
		if err != nil || seen[r.DedupKey()] || train.HeldOut(r.ID, holdout) {
			continue
		}
		seen[r.DedupKey()] = true
		if _, ok := train.HeldOutQuery(r); ok { // non-uniform: an example
			n++
		}
	}
	return n
}

// TestTrainStageSurvivesKill runs the whole topology (hybrid retrieval, answer-match, the
// train stage) as a process, kills it with SIGKILL once the train stage has published a
// version, and runs it again: the restarted stage rebuilds the same dataset (every trainable
// record its log held), continues from the same trainer state and version, and the versions it
// publishes afterwards carry on from that number.
func TestTrainStageSurvivesKill(t *testing.T) {
	bin := lsrflowBin(t)
	testenv.CachePath(t, "glove", "glove", "glove.6B.100d.lsrv")
	dir := t.TempDir()
	src, err := os.ReadFile(testenv.SharedFile(t, "data/qed/train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// the first run streams 300 questions; the second run streams 300 more after them (the
	// first 300 are already done), so the restarted stage has new records to train on
	lines := bytes.SplitAfter(src, []byte("\n"))
	queries := filepath.Join(dir, "queries.jsonl")
	if err := os.WriteFile(queries, bytes.Join(lines[:300], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	const holdout = 0.2
	cfg := filepath.Join(dir, "run.yaml")
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `dataset_path: %s
corpus_path: %s
index_path: %s
index_embedder: glove
retrieval_method: hybrid
fusion: rrf
retrieval_topk: 20
save_dir: %s
sinks: []
stages:
  retrieve: {concurrency: 1}
train:
  every: 40
  steps_per_round: 40
  holdout: %g
  min_heldout: 5
`, queries, testenv.SharedFile(t, "data/qed/corpus.jsonl"), filepath.Join(dir, "index"), out, holdout), 0o644); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(out, "checkpoints")
	state := filepath.Join(ck, "trainer-state.safetensors")

	// first run: killed once a version is published
	cmd := exec.Command(bin, "run", "--config", cfg)
	var stderr1 bytes.Buffer
	cmd.Stderr = &stderr1
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if _, err := os.Stat(state); err == nil {
			if v, _ := strconv.Atoi(stateMeta(t, state)["version"]); v >= 1 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("the run ended before the train stage published a version:\n%s", stderr1.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no version published in 4 minutes:\n%s", stderr1.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	before := stateMeta(t, state)
	versionBefore, _ := strconv.Atoi(before["version"])
	stepsBefore, _ := strconv.Atoi(before["steps"])
	logged := trainableInLog(t, filepath.Join(ck, "window.jsonl"), holdout)
	t.Logf("killed at version %d, step %d, %d trainable records logged", versionBefore, stepsBefore, logged)

	// second run: resumes the synth and the train stage, and the stream goes on
	if err := os.WriteFile(queries, bytes.Join(lines[:600], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd2 := exec.Command(bin, "run", "--config", cfg, "--log-level", "info")
	var stderr2 bytes.Buffer
	cmd2.Stderr = &stderr2
	if err := cmd2.Run(); err != nil {
		t.Fatalf("restarted run: %v\n%s", err, stderr2.String())
	}
	m := regexp.MustCompile(`train stage restored"? version=(\d+) steps=(\d+) examples=(\d+)`).FindStringSubmatch(stderr2.String())
	if m == nil {
		t.Fatalf("the restarted stage did not restore:\n%s", stderr2.String())
	}
	if v, _ := strconv.Atoi(m[1]); v != versionBefore {
		t.Errorf("restored version %d, killed at %d", v, versionBefore)
	}
	if s, _ := strconv.Atoi(m[2]); s != stepsBefore {
		t.Errorf("restored at step %d, killed at %d", s, stepsBefore)
	}
	// the dataset holds every trainable record of the log, plus any the scored file had
	// that the stage had not seen before the kill
	if n, _ := strconv.Atoi(m[3]); n < logged {
		t.Errorf("restored %d examples, the log held %d trainable records", n, logged)
	}
	// every round after the restart continues the version numbers
	b, err := os.ReadFile(filepath.Join(ck, "rounds.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	after := 0
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r struct {
			Time      time.Time `json:"time"`
			Candidate int       `json:"candidate_version"`
			Published bool      `json:"published"`
			Version   int       `json:"version"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("rounds line %q: %v", line, err)
		}
		if r.Version < last {
			t.Errorf("version went back from %d to %d", last, r.Version)
		}
		if r.Candidate > versionBefore {
			after++
			if r.Published && r.Candidate != r.Version {
				t.Errorf("published candidate %d, version %d", r.Candidate, r.Version)
			}
		}
		last = r.Version
	}
	if after == 0 {
		t.Errorf("no round after the restart:\n%s", b)
	}
	final := stateMeta(t, state)
	if v, _ := strconv.Atoi(final["version"]); v < versionBefore {
		t.Errorf("final version %d < %d", v, versionBefore)
	}
}
