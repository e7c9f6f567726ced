package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/streams"
)

// TestExactlyOnceSurvivesSIGKILL: an exactly-once pass-through stage, a separate process, is
// SIGKILLed again and again while it copies 3,000 messages, then runs to the end. Read
// committed, the output topic holds every input exactly once: outputs of transactions a kill
// interrupted are never visible, and no input is lost. kcat (librdkafka, read_committed) counts
// the output as a client nobody here wrote.
func TestExactlyOnceSurvivesSIGKILL(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t, 1)
	brokers := b.Addrs()
	ctx := t.Context()
	tr := newTransport(t, brokers)
	defer tr.Close()
	const in, out, group, n, kills = "eos-in", "eos-out", "eos-group", 3000, 5
	if err := tr.EnsureTopics(ctx, streams.TopicSpec{Name: in, Partitions: 3}, streams.TopicSpec{Name: out, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	msgs := make([]streams.Message, n)
	for i := range msgs {
		v := fmt.Sprintf("m%05d", i)
		msgs[i] = streams.Message{Key: []byte(v), Value: []byte(v)}
	}
	if err := tr.Publish(ctx, in, msgs...); err != nil {
		t.Fatal(err)
	}
	spec := memberEnv + "=" + strings.Join(brokers, ",") + "|" + in + "|" + out + "|" + group + "|eos"
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), spec)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for i := range kills {
		cmd := start()
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		committed := 0
		_ = tr.ReadTopic(ctx, out, func(streams.Message) error { committed++; return nil })
		t.Logf("kill %d: %d outputs committed so far", i+1, committed)
	}
	final := start()
	defer func() {
		_ = final.Process.Signal(syscall.SIGTERM)
		_ = final.Wait()
	}()

	// Read committed until every input's output is there, then check nothing is there twice.
	seen := map[string]int{}
	deadline := time.Now().Add(90 * time.Second)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d outputs committed after 90 s", len(seen), n)
		}
		time.Sleep(500 * time.Millisecond)
		seen = map[string]int{}
		if err := tr.ReadTopic(ctx, out, func(m streams.Message) error {
			seen[string(m.Value)]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	if dups > 0 {
		t.Errorf("read committed, %d outputs appear more than once", dups)
	}
	kctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	kc := exec.CommandContext(kctx, kcat, "-b", brokers[0], "-C", "-t", out, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%s\n")
	raw, err := kc.Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	if lines := bytes.Count(raw, []byte("\n")); lines != n {
		t.Errorf("kcat reads %d committed outputs, want exactly %d", lines, n)
	}
	uncommitted := exec.CommandContext(kctx, kcat, "-b", brokers[0], "-C", "-t", out, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_uncommitted", "-f", "%s\n")
	if all, err := uncommitted.Output(); err == nil {
		t.Logf("%d kills: %d outputs committed, exactly once; the log also holds %d records of aborted transactions",
			kills, n, bytes.Count(all, []byte("\n"))-n)
	}
}
