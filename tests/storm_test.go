package tests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashStormKafka is issue 17's procedure, in the project: `lsrflow broker` on loopback,
// then `lsrflow synth --brokers` SIGKILLed again and again with kill timings spread over
// start-up (before the groups have joined), the first rebalances and steady state, then one
// final run left alone. The final run must finish within a deadline, scored.jsonl (and
// scored.parquet, and the dead letters) must equal an uninterrupted run's, and the restarts
// must not multiply the work: the queries topic holds each question once and the candidates
// topic at most 1.5 times the number of questions, counted with kcat (a client nobody here
// wrote).
//
// Knobs: LSRFLOW_STORM_QUERIES (default 300), LSRFLOW_STORM_KILLS (default 4),
// LSRFLOW_STORM_TRIALS (default 1), LSRFLOW_STORM_DEADLINE (seconds, default 120),
// LSRFLOW_STORM_LOGDIR (keep each final run's log there), LSRFLOW_STORM_EXACTLY_ONCE=1 (synth
// --exactly-once: the candidates topic's committed view then holds each set once),
// LSRFLOW_STORM_TIMING (mixed: start-up, rebalance and steady state, the default; uniform:
// 2 to 6 s as in issue 17), LSRFLOW_CRASH_SEED. `make storm-test` runs issue 17's procedure
// (1,800 questions, 15 kills at 2 to 6 s, 3 trials) and a mixed-timing storm of 20 kills.
func TestCrashStormKafka(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (%v): run scripts/setup.sh apt", err)
	}
	t.Setenv("LSRFLOW_CRASH_QUERIES", strconv.Itoa(envInt(t, "LSRFLOW_STORM_QUERIES", 300)))
	e := setupCrash(t)
	kills := envInt(t, "LSRFLOW_STORM_KILLS", 4)
	trials := envInt(t, "LSRFLOW_STORM_TRIALS", 1)
	deadline := time.Duration(envInt(t, "LSRFLOW_STORM_DEADLINE", 120)) * time.Second
	uniform := false
	switch v := os.Getenv("LSRFLOW_STORM_TIMING"); v {
	case "", "mixed":
	case "uniform":
		uniform = true
	default:
		t.Fatalf("LSRFLOW_STORM_TIMING=%q: want mixed or uniform", v)
	}
	eos := os.Getenv("LSRFLOW_STORM_EXACTLY_ONCE") == "1"
	rng := crashRNG(t)

	ref := filepath.Join(t.TempDir(), "ref")
	start := time.Now()
	run(t, e.bin, e.synthArgs(ref)...)
	t.Logf("uninterrupted run: %d queries in %v", e.n, time.Since(start).Round(time.Millisecond))

	for trial := 1; trial <= trials; trial++ {
		t.Run(fmt.Sprintf("trial%d", trial), func(t *testing.T) {
			b := startBroker(t, e.bin)
			out := filepath.Join(t.TempDir(), "storm")
			args := e.synthArgs(out, "--brokers", b.addr)
			if eos {
				args = append(args, "--exactly-once")
			}
			killed := stormLoop(t, e.bin, args, out, e.n, kills, rng, uniform)

			final := exec.Command(e.bin, append(args, "--log-level", "info")...)
			var log bytes.Buffer
			final.Stdout, final.Stderr = &log, &log
			start := time.Now()
			if err := final.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- final.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("final run: %v\n%s\n%s", err, tail(log.Bytes()), b.state())
				}
			case <-time.After(deadline):
				_ = final.Process.Signal(syscall.SIGQUIT) // the goroutine dump goes to log
				<-exited
				t.Fatalf("final run did not finish within %v after %d kills\n%s\n%s", deadline, killed, tail(log.Bytes()), b.state())
			}
			took := time.Since(start)
			// What the final run had to say beyond progress: stalls, rejoins, errors.
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.Contains(line, "level=ERROR") || strings.Contains(line, "stall") || strings.Contains(line, "rejoin") {
					t.Logf("final run: %s", line)
				}
			}
			if dir := os.Getenv("LSRFLOW_STORM_LOGDIR"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("final-%s.log", strings.ReplaceAll(t.Name(), "/", "-"))), log.Bytes(), 0o644)
			}
			counts := map[string]int{}
			prefix := topicPrefix(t, kcat, b.addr)
			for _, topic := range []string{"queries", "candidates"} {
				counts[topic] = kcatCount(t, kcat, b.addr, prefix+"."+topic)
			}
			t.Logf("%d kills; final run %v; topics hold %d queries and %d candidate sets for %d questions",
				killed, took.Round(time.Millisecond), counts["queries"], counts["candidates"], e.n)
			// Issue 17's fixed procedure kills at 2-6 s whatever the progress: once a storm has
			// finished the work, later kills find synth gone. The mixed storm must land.
			if killed < kills*3/4 {
				if uniform {
					t.Logf("%d of %d kills hit a running synth (the others came after it had finished)", killed, kills)
				} else {
					t.Errorf("only %d of %d kills hit a running synth", killed, kills)
				}
			}
			compareOutputs(t, ref, out)
			// Restarts never publish a question twice (a killed run's batches are read back),
			// and redone work is bounded by what was in flight at each kill.
			if counts["queries"] != e.n {
				t.Errorf("queries topic holds %d messages for %d questions", counts["queries"], e.n)
			}
			if limit := e.n * 3 / 2; counts["candidates"] > limit {
				t.Errorf("candidates topic holds %d messages, more than 1.5 x %d questions", counts["candidates"], e.n)
			}
			// Exactly-once: kcat reads committed, and retrieve committed each set once.
			if eos && counts["candidates"] > e.n {
				t.Errorf("exactly-once: the candidates topic's committed view holds %d sets for %d questions", counts["candidates"], e.n)
			}
		})
	}
}

// stormLoop starts synth kills times and SIGKILLs each. Mixed timing, by turns: in start-up
// (50-500 ms, before the consumer groups have joined), as soon as the first new record reaches
// scored.jsonl (joins and the first rebalances just done), and in steady state (at a random
// later count of records). Kills in the last two are tied to progress, not to the clock, so
// they land however fast the machine is. With uniform timing every kill comes 2 to 6 s after
// start, as in issue 17. It returns how many processes died of the signal rather than
// finishing first.
func stormLoop(t *testing.T, bin string, args []string, out string, n, kills int, rng *rand.Rand, uniform bool) int {
	t.Helper()
	scoredPath := filepath.Join(out, "scored.jsonl")
	killed := 0
	for i := range kills {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		before := countLines(scoredPath)
		// when reports whether to kill now, given the time since start.
		var when func(time.Duration) bool
		var what string
		switch {
		case uniform:
			d := time.Duration(2000+rng.IntN(4000)) * time.Millisecond
			when, what = func(e time.Duration) bool { return e >= d }, fmt.Sprintf("after %v", d)
		case i%3 == 0:
			d := time.Duration(50+rng.IntN(450)) * time.Millisecond
			when, what = func(e time.Duration) bool { return e >= d }, fmt.Sprintf("in start-up after %v", d)
		case i%3 == 1:
			when, what = func(time.Duration) bool { return countLines(scoredPath) > before }, "at the first new record"
		default:
			target := before + 1 + rng.IntN(max((n-before)/3, 1))
			when, what = func(time.Duration) bool { return countLines(scoredPath) >= target }, fmt.Sprintf("in steady state at %d records", target)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
			if when(time.Since(start)) {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				break
			}
			if time.Since(start) > 120*time.Second {
				t.Fatalf("kill %d: synth made no progress in 120 s", i+1)
			}
		}
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed++
			t.Logf("kill %2d %s (%d records in scored.jsonl)", i+1, what, countLines(scoredPath))
		} else {
			t.Logf("kill %2d (%s): synth exited first (%v): %s", i+1, what, cmd.ProcessState, lastLine(stderr.Bytes()))
		}
	}
	return killed
}

// topicPrefix finds the run's topic prefix (synth names topics after its output directory)
// in the broker's topic list.
func topicPrefix(t *testing.T, kcat, addr string) string {
	t.Helper()
	out := kcatRun(t, kcat, "-b", addr, "-L")
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, `topic "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok && strings.HasSuffix(name, ".queries") {
				return strings.TrimSuffix(name, ".queries")
			}
		}
	}
	t.Fatalf("no queries topic on %s:\n%s", addr, out)
	return ""
}

// kcatCount counts the messages of topic, read from the beginning to the end with kcat.
func kcatCount(t *testing.T, kcat, addr, topic string) int {
	t.Helper()
	out := kcatRun(t, kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n")
	return bytes.Count(out, []byte("\n"))
}

func kcatRun(t *testing.T, kcat string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
