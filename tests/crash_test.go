package tests

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/runcheck"
	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
)

// The crash test of issue 5: `lsrflow synth` (bm25 + answer-match over the QED corpus, NQ-open
// dev questions) is SIGKILLed at random points and restarted each time; the final output must
// equal an uninterrupted run's: the same ids, none missing, none twice, identical records, in
// scored.jsonl and in scored.parquet, and the same dead letters.
//
// Knobs (environment): LSRFLOW_BIN (binary under test; default: build ./cmd/lsrflow into a temp
// dir), LSRFLOW_CRASH_QUERIES (default 300), LSRFLOW_CRASH_KILLS (default 5),
// LSRFLOW_CRASH_SEED (default: time). `make crash-test` runs 2,000 queries and 20 kills.

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// lsrflowBin returns the binary under test: $LSRFLOW_BIN, or ./cmd/lsrflow built once per
// test run into a temp dir (removed by TestMain).
func lsrflowBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("LSRFLOW_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("LSRFLOW_BIN=%s: %v (run `make build`)", b, err)
		}
		return b
	}
	root := testenv.RepoRoot(t)
	faiss := testenv.CachePath(t, "faiss", "faiss", "lib")
	cache := filepath.Dir(filepath.Dir(faiss))
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "lsrflow-tests-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		bin := filepath.Join(dir, "lsrflow")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/lsrflow")
		cmd.Dir = root
		cmd.Env = append(os.Environ(),
			"CGO_CFLAGS=-I"+filepath.Join(cache, "faiss", "include"),
			"CGO_LDFLAGS=-L"+faiss+" -lfaiss_c /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -lgomp -lstdc++ -lm")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/lsrflow: %v\n%s", err, out)
			return
		}
		built.bin = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

type crashEnv struct {
	bin, index, queries string
	n                   int
}

func setupCrash(t *testing.T) crashEnv {
	t.Helper()
	corpus := testenv.SharedFile(t, "data/qed/corpus.jsonl")
	dev := testenv.SharedFile(t, "data/nq-open/dev.jsonl")
	n := envInt(t, "LSRFLOW_CRASH_QUERIES", 300)
	bin := lsrflowBin(t)
	dir := t.TempDir()
	// the first n questions of NQ-open dev (a temp file: shared data is never copied into the repo)
	src, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	if len(lines) < n {
		t.Fatalf("%s has %d lines, want %d", dev, len(lines), n)
	}
	queries := filepath.Join(dir, "queries.jsonl")
	if err := os.WriteFile(queries, bytes.Join(lines[:n], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "index")
	run(t, bin, "index", "--corpus", corpus, "--out", index)
	return crashEnv{bin: bin, index: index, queries: queries, n: n}
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lsrflow %v: %v\n%s", args, err, out)
	}
}

func (e crashEnv) synthArgs(out string, extra ...string) []string {
	return append([]string{"synth", "--index", e.index, "--queries", e.queries, "--teacher", "answer-match",
		"--topk", "20", "--out", out}, extra...)
}

// countLines counts complete lines of path (0 when it does not exist yet).
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// killLoop starts synth again and again, killing it with SIGKILL at kills random points: most
// once scored.jsonl holds a random number of records, some a random few milliseconds after
// start (startup, catch-up of the Parquet sink, resume). It returns the number of real kills
// (processes that died of the signal rather than finishing first).
func killLoop(t *testing.T, bin string, args []string, out string, total, kills int, rng *rand.Rand, env []string) int {
	t.Helper()
	targets := make([]int, kills)
	for i := range targets {
		targets[i] = rng.IntN(total * 95 / 100)
	}
	sort.Ints(targets)
	scoredPath := filepath.Join(out, "scored.jsonl")
	killed := 0
	for i, target := range targets {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		timeBased := rng.IntN(4) == 0
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		start := time.Now()
		deadline := start.Add(120 * time.Second)
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: synth made no progress to %d records in 120 s", i, target)
			}
			if timeBased {
				if time.Since(start) >= delay {
					break
				}
				continue
			}
			if countLines(scoredPath) >= target {
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed++
			t.Logf("kill %2d: %s, %d records in scored.jsonl", i+1, map[bool]string{true: fmt.Sprintf("after %v", delay), false: fmt.Sprintf("at >= %d records", target)}[timeBased], countLines(scoredPath))
		} else {
			t.Logf("kill %2d: synth exited first (%v): %s", i+1, cmd.ProcessState, lastLine(stderr.Bytes()))
		}
	}
	return killed
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// compareOutputs checks the crashed-and-resumed output directory against the reference.
func compareOutputs(t *testing.T, ref, got string) {
	t.Helper()
	for name, read := range map[string]func(*testing.T, string) map[string]schemas.Scored{
		"scored.jsonl": func(t *testing.T, d string) map[string]schemas.Scored {
			return runcheck.ScoredByID(t, filepath.Join(d, "scored.jsonl"))
		},
		"scored.parquet": func(t *testing.T, d string) map[string]schemas.Scored { return runcheck.ParquetByID(t, d) },
	} {
		want, have := read(t, ref), read(t, got)
		missing, extra, differ := 0, 0, 0
		for id, w := range want {
			h, ok := have[id]
			switch {
			case !ok:
				missing++
			case !reflect.DeepEqual(h, w):
				differ++
				if differ == 1 {
					t.Errorf("%s: record %s differs:\n got %+v\nwant %+v", name, id, h, w)
				}
			}
		}
		for id := range have {
			if _, ok := want[id]; !ok {
				extra++
			}
		}
		t.Logf("%s: %d records (uninterrupted %d): %d missing, %d extra, %d differing", name, len(have), len(want), missing, extra, differ)
		if missing+extra+differ > 0 {
			t.Errorf("%s: %d missing, %d extra, %d differing records", name, missing, extra, differ)
		}
	}
	if a, b := runcheck.DeadLetterKeys(t, filepath.Join(ref, "dead-letters.jsonl")), runcheck.DeadLetterKeys(t, filepath.Join(got, "dead-letters.jsonl")); !reflect.DeepEqual(a, b) {
		t.Errorf("dead letters differ:\nuninterrupted %v\nresumed       %v", a, b)
	}
}

func crashRNG(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LSRFLOW_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LSRFLOW_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (LSRFLOW_CRASH_SEED to repeat)", seed)
	return rand.New(rand.NewPCG(seed, 5))
}

func TestCrashEmbedded(t *testing.T) {
	e := setupCrash(t)
	kills := envInt(t, "LSRFLOW_CRASH_KILLS", 5)
	rng := crashRNG(t)
	ref := filepath.Join(t.TempDir(), "ref")
	start := time.Now()
	run(t, e.bin, e.synthArgs(ref)...)
	t.Logf("uninterrupted run: %d queries in %v", e.n, time.Since(start).Round(time.Millisecond))

	out := filepath.Join(t.TempDir(), "crash")
	killed := killLoop(t, e.bin, e.synthArgs(out), out, e.n, kills, rng, nil)
	run(t, e.bin, e.synthArgs(out)...) // the final, uninterrupted restart
	t.Logf("%d of %d kill points hit a running synth", killed, kills)
	if killed < kills*3/4 {
		t.Fatalf("only %d of %d kills hit a running process", killed, kills)
	}
	compareOutputs(t, ref, out)
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// broker is a `lsrflow broker` process (kfake, the Kafka wire protocol) that outlives every
// killed synth.
type brokerProc struct {
	addr, logPath string
	exited        chan struct{}
	cmd           *exec.Cmd
}

// state describes whether the broker still runs, with the tail of its log.
func (b *brokerProc) state() string {
	st := "running"
	select {
	case <-b.exited:
		st = "EXITED: " + b.cmd.ProcessState.String()
	default:
	}
	log, _ := os.ReadFile(b.logPath)
	if len(log) > 2000 {
		log = log[len(log)-2000:]
	}
	return fmt.Sprintf("broker %s %s; log tail:\n%s", b.addr, st, log)
}

func startBroker(t *testing.T, bin string) *brokerProc {
	t.Helper()
	b := &brokerProc{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), logPath: filepath.Join(t.TempDir(), "broker.log"), exited: make(chan struct{})}
	logf, err := os.Create(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "broker", "--addr", b.addr)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); logf.Close(); close(b.exited) }()
	t.Cleanup(func() { _ = b.cmd.Process.Kill(); <-b.exited })
	for range 200 {
		if c, err := net.Dial("tcp", b.addr); err == nil {
			c.Close()
			return b
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("broker did not listen: %s", b.state())
	return nil
}

func TestCrashKafka(t *testing.T) {
	e := setupCrash(t)
	// Every restart on Kafka waits for the group coordinator to expire the killed members
	// (session timeout, 10 s), so the short version kills fewer times.
	kills := envInt(t, "LSRFLOW_CRASH_KILLS", 2)
	rng := crashRNG(t)
	ref := filepath.Join(t.TempDir(), "ref")
	run(t, e.bin, e.synthArgs(ref)...)

	b := startBroker(t, e.bin)
	out := filepath.Join(t.TempDir(), "crash")
	args := e.synthArgs(out, "--brokers", b.addr)
	start := time.Now()
	killed := killLoop(t, e.bin, args, out, e.n, kills, rng, nil)
	final := exec.CommandContext(t.Context(), e.bin, args...)
	if outb, err := final.CombinedOutput(); err != nil {
		t.Fatalf("final synth on Kafka: %v\n%s\n%s", err, outb, b.state())
	}
	t.Logf("%d of %d kill points hit a running synth on Kafka; total %v", killed, kills, time.Since(start).Round(time.Millisecond))
	if killed < kills*3/4 {
		t.Fatalf("only %d of %d kills hit a running process", killed, kills)
	}
	compareOutputs(t, ref, out)
}
