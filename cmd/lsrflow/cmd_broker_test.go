package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func TestBrokerCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runCLI(ctx, []string{"broker", "--addr", "127.0.0.1:0", "--brokers", "2", "--partitions", "4", "--topics", "seeded"}, stdio{out: pw, err: &stderr})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading bootstrap address: %v (stderr: %s)", err, stderr.String())
	}
	addrs := kafka.ParseBrokers(strings.TrimSpace(line))
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("bootstrap line %q, want two 127.0.0.1 addresses", line)
	}
	go io.Copy(io.Discard, pr)

	tr, err := kafka.New(kafka.Config{Brokers: addrs, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	key := []byte("some-key")
	if err := tr.Publish(ctx, "seeded", streams.Message{Key: key, Value: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Subscribe(ctx, "seeded", "g")
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	m, err := c.Fetch(fctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Value) != "hello" || m.Partition != streams.PartitionFor(key, 4) {
		t.Errorf("got %q on partition %d, want hello on %d of 4", m.Value, m.Partition, streams.PartitionFor(key, 4))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after cancel; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop after its context was cancelled")
	}
}

func TestBrokerUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "10.0.0.1:9092"},
		{"--addr", "nonsense"},
		{"--brokers", "0"},
		{"--partitions", "0"},
		{"--topics", "a b"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := runCLI(t.Context(), append([]string{"broker"}, args...), stdio{out: &out, err: &errb}); code != 2 {
			t.Errorf("broker %v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if lines := strings.Count(strings.TrimSpace(errb.String()), "\n"); lines != 0 {
			t.Errorf("broker %v: usage error spans %d lines: %q", args, lines+1, errb.String())
		}
	}
	var out bytes.Buffer
	if code := runCLI(t.Context(), []string{"broker", "--help"}, stdio{out: &out, err: io.Discard}); code != 0 || !strings.Contains(out.String(), "--partitions") {
		t.Errorf("--help: exit %d, output %q", code, out.String())
	}
}
