package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lsrflow/lsrflow/internal/broker"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// stageProc is one `lsrflow run --stage X` OS process (the test binary acting as lsrflow).
type stageProc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when the process has exited; err is then set
	err    error
}

// wait waits up to timeout for the process to exit and returns its exit error.
func (p *stageProc) wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-p.exited:
		return true, p.err
	case <-time.After(timeout):
		return false, nil
	}
}

func startStageProc(t *testing.T, dir, name string, args ...string) *stageProc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LSRFLOW_TEST_AS_CLI=1")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &stageProc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); lf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill() // only this process, by its pid
			<-p.exited
		}
	})
	return p
}

func (p *stageProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// groupAssignments returns member id -> partitions of topic for a consumer group, and the
// group state. It decodes the members' assignments with franz-go's kmsg, which reads every
// version of the consumer protocol (kafka-go's DescribeGroups cannot decode the v1+
// subscriptions of cooperative-sticky members).
func groupAssignments(t *testing.T, client *kgo.Client, group, topic string) (map[string][]int, string) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), client)
	if err != nil || len(resp.Groups) != 1 {
		return nil, fmt.Sprint("describe error: ", err)
	}
	g := resp.Groups[0]
	out := map[string][]int{}
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.MemberAssignment); err != nil && len(m.MemberAssignment) > 0 {
			return nil, fmt.Sprint("decoding the assignment of ", m.MemberID, ": ", err)
		}
		var parts []int
		for _, tp := range a.Topics {
			if tp.Topic == topic {
				for _, p := range tp.Partitions {
					parts = append(parts, int(p))
				}
			}
		}
		sort.Ints(parts)
		out[m.MemberID] = parts
	}
	return out, g.State
}

// scoredIDs reads scored.jsonl: every query id with its number of records.
func scoredIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return map[string]int{}
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s, err := schemas.DecodeScored(line)
		if err != nil {
			continue // a line being written; the final read checks strictly
		}
		out[s.ID]++
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s\n%s", timeout, what, diag())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScaleOutTeachSurvivesSIGKILL is issue 8's done-when test: a Kafka-protocol broker, three
// teach processes in one consumer group plus one process each for retrieve, sink-scored and
// sink-dead-letters; queries arrive by batch ingest and by HTTP (lsrflow serve); one teach
// process is SIGKILLed mid-stream; the two others take over its partitions and scored.jsonl
// ends with every query exactly once.
func TestScaleOutTeachSurvivesSIGKILL(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	const nQueries, wave1, partitions = 300, 100, 6

	// nq-open/dev questions (distinct after normalization, so HTTP de-duplication keeps all)
	// over the QED corpus; BM25 + answer-match keeps the LM out.
	var lines []string
	seen := map[string]bool{}
	f, err := os.Open(testenv.SharedFile(t, "data/nq-open/dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(lines) < nQueries {
		q, err := schemas.DecodeQuery(sc.Bytes())
		// Skip repeats (HTTP de-duplication would drop them) and queries whose answers all
		// normalize to "" (answer-match dead-letters those by design: no_gold_answers).
		if err != nil || seen[textnorm.Normalize(q.Question)] || len(textnorm.NormalizeAll(q.GoldenAnswers)) == 0 {
			continue
		}
		seen[textnorm.Normalize(q.Question)] = true
		lines = append(lines, sc.Text())
	}
	f.Close()
	if len(lines) != nQueries {
		t.Fatalf("only %d usable queries", len(lines))
	}
	wantIDs := make([]string, len(lines))
	for i, l := range lines {
		q, _ := schemas.DecodeQuery([]byte(l))
		wantIDs[i] = q.ID
	}
	if err := os.WriteFile(filepath.Join(dir, "wave1.jsonl"), []byte(strings.Join(lines[:wave1], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "scaleout.yaml")
	yaml := fmt.Sprintf(`dataset_path: wave1.jsonl
corpus_path: %s
index_path: index
retrieval_method: bm25
retrieval_topk: 10
save_dir: out
teacher: {method: answer-match, temperature: 0.1}
partitions: %d
topic_prefix: scaleout
stages:
  teach: {concurrency: 2}
`, testenv.SharedFile(t, "data/qed/corpus.jsonl"), partitions)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	b, err := broker.Start(broker.Config{Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := b.Bootstrap()
	if code, out, errOut := cli(t, "topics", "ensure", "--config", cfg, "--brokers", brokers); code != 0 {
		t.Fatalf("topics ensure: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, "index", "--corpus", testenv.SharedFile(t, "data/qed/corpus.jsonl"), "--out", filepath.Join(dir, "index")); code != 0 {
		t.Fatalf("index: %d %s %s", code, out, errOut)
	}

	run := func(stage string) []string {
		return []string{"run", "--config", cfg, "--brokers", brokers, "--stage", stage, "--log-level", "info"}
	}
	procs := map[string]*stageProc{}
	for _, name := range []string{"sink-scored", "sink-dead-letters", "retrieve", "teach-1", "teach-2", "teach-3"} {
		stage := strings.TrimRight(name, "-123")
		procs[name] = startStageProc(t, dir, name, run(stage)...)
	}
	diag := func() string {
		var sb strings.Builder
		for _, name := range []string{"teach-1", "teach-2", "teach-3", "retrieve", "sink-scored"} {
			fmt.Fprintf(&sb, "--- %s:\n%s\n", name, procs[name].tail())
		}
		return sb.String()
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var before map[string][]int
	waitFor(t, "three teach members with partitions", 45*time.Second, func() bool {
		a, state := groupAssignments(t, client, "lsrflow-teach", "scaleout.candidates")
		n := 0
		for _, p := range a {
			n += len(p)
		}
		before = a
		return state == "Stable" && len(a) == 3 && n == partitions
	}, diag)
	t.Logf("%.1fs: teach group stable: %v", time.Since(start).Seconds(), before)

	// Wave 1: batch ingest (lsrflow run --stage ingest), processed by all three teachers.
	if code, out, errOut := cli(t, run("ingest")[:7]...); code != 0 {
		t.Fatalf("ingest: %d %s %s", code, out, errOut)
	}
	scored := filepath.Join(dir, "out", "scored.jsonl")
	waitFor(t, "wave 1 scored", 45*time.Second, func() bool { return len(scoredIDs(t, scored)) >= wave1 }, diag)
	t.Logf("%.1fs: wave 1 (%d queries) scored", time.Since(start).Seconds(), wave1)

	// Wave 2 over HTTP while teach-2 is SIGKILLed after the first chunks.
	base, stopServe, _ := startServe(t, "--config", cfg, "--brokers", brokers)
	defer stopServe()
	rest := lines[wave1:]
	const chunk = 20
	killedAt := -1
	for i := 0; i < len(rest); i += chunk {
		body := strings.Join(rest[i:min(i+chunk, len(rest))], "\n") + "\n"
		code, resp := httpDo(t, http.MethodPost, base+"/v1/queries", body, "Content-Type", "application/x-ndjson")
		var res struct{ Accepted, Duplicates, Dead_lettered int }
		if code != 200 || json.Unmarshal([]byte(resp), &res) != nil || res.Accepted != min(chunk, len(rest)-i) {
			t.Fatalf("POST chunk %d: %d %s", i/chunk, code, resp)
		}
		if i/chunk == 2 {
			if err := procs["teach-2"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killedAt = i + chunk
			t.Logf("%.1fs: SIGKILL teach-2 after %d of %d wave-2 queries were posted", time.Since(start).Seconds(), killedAt, len(rest))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, err := procs["teach-2"].wait(10 * time.Second); !ok || err == nil {
		t.Fatalf("teach-2 after SIGKILL: exited %v, err %v", ok, err)
	}

	// The survivors take over every partition of the candidates topic.
	var after map[string][]int
	waitFor(t, "two teach members owning all partitions", 60*time.Second, func() bool {
		a, state := groupAssignments(t, client, "lsrflow-teach", "scaleout.candidates")
		n := 0
		for _, p := range a {
			n += len(p)
		}
		after = a
		return state == "Stable" && len(a) == 2 && n == partitions
	}, diag)
	var killedParts []int
	for id, parts := range before {
		if _, ok := after[id]; !ok {
			killedParts = parts
		}
	}
	t.Logf("%.1fs: rebalanced: %v (killed member had partitions %v)", time.Since(start).Seconds(), after, killedParts)
	if len(killedParts) == 0 {
		t.Fatalf("cannot tell the killed member: before %v after %v", before, after)
	}
	for _, p := range killedParts {
		owned := false
		for _, parts := range after {
			owned = owned || slices.Contains(parts, p)
		}
		if !owned {
			t.Errorf("partition %d of the killed member has no owner: %v", p, after)
		}
	}

	waitFor(t, "all queries scored", 60*time.Second, func() bool { return len(scoredIDs(t, scored)) >= nQueries }, diag)
	t.Logf("%.1fs: %d queries scored", time.Since(start).Seconds(), nQueries)
	time.Sleep(time.Second) // late redeliveries, if any, would land now

	// Stop everything gracefully, then check the output strictly.
	stopServe()
	for name, p := range procs {
		if name != "teach-2" {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for name, p := range procs {
		if name == "teach-2" {
			continue
		}
		ok, err := p.wait(30 * time.Second)
		if !ok {
			t.Errorf("%s did not stop after SIGTERM", name)
		} else if err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", name, err, p.tail())
		}
	}
	raw, err := os.ReadFile(scored)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		s, err := schemas.DecodeScored(l)
		if err != nil {
			t.Fatalf("scored.jsonl line %q: %v", l, err)
		}
		got[s.ID]++
		n++
	}
	var missing, dup []string
	for _, id := range wantIDs {
		switch got[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			dup = append(dup, id)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || n != nQueries || len(got) != nQueries {
		t.Fatalf("scored.jsonl: %d lines, %d ids; missing %d %v; duplicated %d %v", n, len(got), len(missing), missing, len(dup), dup)
	}
	if dl, err := os.ReadFile(filepath.Join(dir, "out", "dead-letters.jsonl")); err == nil && len(bytes.TrimSpace(dl)) > 0 {
		t.Errorf("dead letters written: %s", dl)
	}
	t.Logf("%.1fs: scored.jsonl has each of the %d queries exactly once", time.Since(start).Seconds(), nQueries)
}
