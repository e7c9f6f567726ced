package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// startServe runs 'lsrflow serve' in-process and returns its base URL.
func startServe(t *testing.T, args ...string) (string, context.CancelFunc, <-chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runCLI(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), stdio{out: pw, err: &stderr})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve did not start: %v (stderr: %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`http://(\S+)/v1/queries`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("serve printed %q", line)
	}
	return "http://" + m[1], cancel, done
}

func httpDo(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// kcatConsume reads every message of a topic with kcat (a client nobody here wrote).
func kcatConsume(t *testing.T, brokers, topic string) [][]byte {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not installed: run scripts/setup.sh apt")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kcat", "-b", brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C %s: %v", topic, err)
	}
	var msgs [][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) > 0 {
			msgs = append(msgs, l)
		}
	}
	return msgs
}

func TestServeIngestsOntoKafka(t *testing.T) {
	b := startTestBroker(t)
	cfg := kafkaTestConfig(t, "sv")
	t.Setenv("LSRFLOW_INGEST_TOKEN", "tok")
	base, cancel, done := startServe(t, "--config", cfg, "--brokers", b.Bootstrap(), "--max-body", "2KiB", "--drain-delay", "100ms")
	defer cancel()

	if code, _ := httpDo(t, http.MethodGet, base+"/healthz", ""); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := httpDo(t, http.MethodGet, base+"/readyz", ""); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	lines := "who wrote hamlet\n" +
		`{"id":"q2","question":"capital of france","golden_answers":["Paris"]}` + "\n" +
		"Who wrote Hamlet?\n" + // duplicate after normalization
		`{"question": oops` + "\n"
	if code, _ := httpDo(t, http.MethodPost, base+"/v1/queries", lines); code != http.StatusUnauthorized {
		t.Fatalf("without token: %d, want 401", code)
	}
	code, body := httpDo(t, http.MethodPost, base+"/v1/queries", lines, "Authorization", "Bearer tok", "Content-Type", "application/x-ndjson")
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	var res struct{ Accepted, Duplicates, Dead_lettered int }
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Accepted != 2 || res.Duplicates != 1 || res.Dead_lettered != 1 {
		t.Fatalf("answer %s (%v)", body, err)
	}
	if code, _ := httpDo(t, http.MethodPost, base+"/v1/queries", strings.Repeat("x", 3000), "Authorization", "Bearer tok"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("3000-byte body with --max-body 2KiB: %d, want 413", code)
	}

	var ids []string
	for _, m := range kcatConsume(t, b.Bootstrap(), "sv.queries") {
		q, err := schemas.DecodeQuery(m)
		if err != nil {
			t.Fatalf("queries topic holds %q: %v", m, err)
		}
		ids = append(ids, q.ID)
	}
	sort.Strings(ids)
	if want := []string{"q2", schemas.QueryIDFor("who wrote hamlet")}; strings.Join(ids, ",") != strings.Join(sortedCopy(want), ",") {
		t.Errorf("queries topic ids %v, want %v", ids, sortedCopy(want))
	}
	dls := kcatConsume(t, b.Bootstrap(), "sv.dead-letters")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	if d, err := schemas.DecodeDeadLetter(dls[0]); err != nil || d.Stage != "ingest" || string(d.Payload) != `{"question": oops` {
		t.Errorf("dead letter %+v (%v)", d, err)
	}
	if code, metrics := httpDo(t, http.MethodGet, base+"/metrics", ""); code != 200 || !strings.Contains(metrics, `lsrflow_ingest_lines_total{result="accepted"} 2`) {
		t.Errorf("/metrics %d lacks the ingest counters", code)
	}

	// Readiness follows the cluster.
	b.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := httpDo(t, http.MethodGet, base+"/readyz", "")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after the broker stopped", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Fatalf("serve exited %d after cancel", c)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func TestServeUsage(t *testing.T) {
	cfg := kafkaTestConfig(t, "x")
	dir := t.TempDir()
	noPrefix := filepath.Join(dir, "noprefix.yaml")
	badTransport := filepath.Join(dir, "bad.yaml")
	emptyToken := filepath.Join(dir, "empty-token")
	for p, body := range map[string]string{noPrefix: "partitions: 3\n", badTransport: "topic_prefix: x\ntransport: nats\n", emptyToken: "\n"} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("LSRFLOW_INGEST_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--config is required"},
		{[]string{"serve", "--config", cfg}, "--brokers is required"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--max-body", "lots"}, "max-body"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--max-lines", "0"}, "--max-lines"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--token", "s3cret"}, "/proc"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--addr", "0.0.0.0:0"}, "beyond loopback without a token"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--addr", ":0"}, "beyond loopback without a token"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--token-file", emptyToken}, "want one token"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--token-file", filepath.Join(dir, "none")}, "--token-file"},
		{[]string{"serve", "--config", noPrefix, "--brokers", "127.0.0.1:1"}, "topic_prefix"},
		{[]string{"serve", "--config", badTransport, "--brokers", "127.0.0.1:1"}, "transport"},
		{[]string{"serve", "--config", cfg, "--brokers", "127.0.0.1:1", "--max-message", "1KiB"}, "max message bytes"},
	} {
		code, _, stderr := cli(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line mentioning %q", c.args, code, stderr, c.want)
		}
	}
}

// serve needs only the keys it uses: a file with just topic_prefix and `transport: kafka`
// without brokers (given by --brokers) serves; the token may come from a file; a non-loopback
// address is accepted with a token.
func TestServeMinimalConfigAndTokenFile(t *testing.T) {
	b := startTestBroker(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "topo.yaml")
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(cfg, []byte("topic_prefix: mini\ntransport: kafka\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LSRFLOW_INGEST_TOKEN", "")
	base, cancel, done := startServe(t, "--config", cfg, "--brokers", b.Bootstrap(), "--token-file", tokFile, "--drain-delay", "10ms")
	if code, _ := httpDo(t, http.MethodPost, base+"/v1/queries", "q\n", "Authorization", "Bearer file-token"); code != 200 {
		t.Fatalf("POST with the file's token: %d", code)
	}
	if code, _ := httpDo(t, http.MethodPost, base+"/v1/queries", "q\n"); code != http.StatusUnauthorized {
		t.Fatalf("POST without a token: %d", code)
	}
	if n := len(kcatConsume(t, b.Bootstrap(), "mini.queries")); n != 1 {
		t.Fatalf("%d messages on mini.queries, want 1", n)
	}
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("serve exited %d", c)
	}
	// Beyond loopback with a token: allowed (the port is free, nothing else listens there).
	t.Setenv("LSRFLOW_INGEST_TOKEN", "env-token")
	ctx, stop := context.WithCancel(t.Context())
	stop() // checks only: a cancelled serve returns after start-up
	var out, errb bytes.Buffer
	if code := runCLI(ctx, []string{"serve", "--config", cfg, "--brokers", b.Bootstrap(), "--addr", "0.0.0.0:0", "--drain-delay", "1ms"}, stdio{out: &out, err: &errb}); code == 2 {
		t.Fatalf("0.0.0.0 with a token refused: %s", errb.String())
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "2MB": 2_000_000, "65536": 65536, "10B": 10, "1 GiB": 1 << 30} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}
