package tests

// Hostile clients against `lsrflow serve` run as a process (issue 15), with its RSS read from
// /proc while they run: floods of tiny lines, the largest requests the limits let through,
// idle and slow connections (also under a low open-file limit), oversized lines, and a broker
// frozen with SIGSTOP while a client retries every 503. Loopback only; a few hundred
// connections and a few seconds per case. LSRFLOW_HOSTILE_FREEZE (default 6s) sets how long the
// broker stays frozen; `make hostile` runs it with 30s.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/schemas"
)

// serveProc is a running `lsrflow serve`.
type serveProc struct {
	cmd     *exec.Cmd
	base    string // http://host:port
	logPath string
	exited  chan struct{} // closed once the process is reaped (cmd.ProcessState is then set)
}

// startServeProc runs serve against broker addr with the given extra flags; wrap, if set,
// prefixes the command (e.g. prlimit).
func startServeProc(t *testing.T, bin, brokers, prefix string, wrap []string, flags ...string) *serveProc {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "topo.yaml")
	if err := os.WriteFile(cfg, []byte("topic_prefix: "+prefix+"\npartitions: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, wrap...), bin, "serve", "--config", cfg, "--brokers", brokers, "--addr", "127.0.0.1:0", "--drain-delay", "50ms", "--log-level", "info")
	args = append(args, flags...)
	p := &serveProc{cmd: exec.Command(args[0], args[1:]...), logPath: filepath.Join(dir, "serve.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = logf
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := p.exited
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		l, _ := br.ReadString('\n')
		lines <- l
		_, _ = io.Copy(io.Discard, br)
		_ = p.cmd.Wait()
		close(exited)
	}()
	select {
	case l := <-lines:
		m := regexp.MustCompile(`http://(\S+)/v1/queries`).FindStringSubmatch(l)
		if m == nil {
			log, _ := os.ReadFile(p.logPath)
			t.Fatalf("serve printed %q; log:\n%s", l, log)
		}
		p.base = "http://" + m[1]
		t.Logf("%s", strings.TrimSpace(l))
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	return p
}

// rss returns the resident and peak resident set size of pid in bytes (VmRSS, VmHWM).
func rss(pid int) (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return cur, peak
}

// rssPeak samples pid's RSS every 10 ms while f runs and returns the start and the peak.
func rssPeak(pid int, f func()) (start, peak int64) {
	start, _ = rss(pid)
	var p atomic.Int64
	p.Store(start)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if r, _ := rss(pid); r > p.Load() {
				p.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return start, p.Load()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// postConcurrently posts body n times at once and returns the status codes; a 429 is retried
// after its Retry-After (the answer to a full in-flight memory), and counted in busy.
func postConcurrently(url string, body []byte, n int) (codes []int, busy int) {
	codes = make([]int, n)
	var retries atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				resp, err := (&http.Client{Timeout: 60 * time.Second}).Post(url, "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					codes[i] = -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[i] = resp.StatusCode
				if resp.StatusCode != http.StatusTooManyRequests {
					return
				}
				retries.Add(1)
				time.Sleep(time.Second)
			}
		})
	}
	wg.Wait()
	return codes, int(retries.Load())
}

// kcatRead returns the messages of topic as "key\tvalue" lines, read by kcat.
func kcatRead(t *testing.T, brokers, topic string) []string {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not installed: run scripts/setup.sh apt")
	}
	out, err := exec.Command("kcat", "-b", brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C %s: %v", topic, err)
	}
	var msgs []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			msgs = append(msgs, l)
		}
	}
	return msgs
}

func TestServeHostileProcess(t *testing.T) {
	bin := lsrflowBin(t)
	b := startBroker(t, bin)
	s := startServeProc(t, bin, b.addr, "hostile", nil)
	pid := s.cmd.Process.Pid
	post := s.base + "/v1/queries"
	idle, _ := rss(pid)
	t.Logf("serve RSS at rest: %s", mib(idle))

	t.Run(`four 1 MiB bodies of "{\n"`, func(t *testing.T) {
		var codes []int
		start, peak := rssPeak(pid, func() { codes, _ = postConcurrently(post, bytes.Repeat([]byte("{\n"), 1<<19), 4) })
		t.Logf("RSS %s -> peak %s; answers %v", mib(start), mib(peak), codes)
		for _, c := range codes {
			if c != http.StatusRequestEntityTooLarge {
				t.Errorf("answer %d, want 413 (over the line cap)", c)
			}
		}
		if peak > 300<<20 {
			t.Errorf("RSS peaked at %s, over 300 MB", mib(peak))
		}
	})

	t.Run("largest requests the limits let through", func(t *testing.T) {
		// 10,000 distinct questions of ~100 bytes (1 MiB) and 10,000 distinct bad lines, four
		// of each at once: all published, each once.
		var good, bad bytes.Buffer
		for i := range 10_000 {
			fmt.Fprintf(&good, "{\"id\":\"big-%d\",\"question\":\"largest request question %d %s\"}\n", i, i, strings.Repeat("<&>", 13))
			fmt.Fprintf(&bad, "{broken line %d %s\n", i, strings.Repeat("x", 60))
		}
		var codes []int
		var busy1, busy2 int
		start, peak := rssPeak(pid, func() {
			var wg sync.WaitGroup
			var c1, c2 []int
			wg.Go(func() { c1, busy1 = postConcurrently(post, good.Bytes(), 4) })
			wg.Go(func() { c2, busy2 = postConcurrently(post, bad.Bytes(), 4) })
			wg.Wait()
			codes = append(c1, c2...)
		})
		t.Logf("RSS %s -> peak %s; answers %v after %d answers 429 (in-flight memory full) and retries", mib(start), mib(peak), codes, busy1+busy2)
		for _, c := range codes {
			if c != http.StatusOK {
				t.Errorf("answer %d, want 200", c)
			}
		}
		if peak > 300<<20 {
			t.Errorf("RSS peaked at %s, over 300 MB", mib(peak))
		}
		perKey := map[string]int{}
		for _, m := range kcatRead(t, b.addr, "hostile.queries") {
			if k, _, _ := strings.Cut(m, "\t"); strings.HasPrefix(k, "big-") {
				perKey[k]++
			}
		}
		dead := map[string]int{}
		for _, m := range kcatRead(t, b.addr, "hostile.dead-letters") {
			_, v, _ := strings.Cut(m, "\t")
			if d, err := schemas.DecodeDeadLetter([]byte(v)); err == nil && strings.HasPrefix(string(d.Payload), "{broken line") {
				dead[string(d.Payload)]++
			}
		}
		once := func(m map[string]int) bool {
			for _, n := range m {
				if n != 1 {
					return false
				}
			}
			return len(m) == 10_000
		}
		if !once(perKey) || !once(dead) {
			t.Errorf("%d distinct questions and %d distinct dead letters on the topics, want 10,000 of each, once each", len(perKey), len(dead))
		}
	})

	t.Run("control characters over the request budget", func(t *testing.T) {
		var body bytes.Buffer
		for i := range 10 {
			fmt.Fprintf(&body, "%d%s\n", i, strings.Repeat("\x01", 100_000))
		}
		var codes []int
		start, peak := rssPeak(pid, func() { codes, _ = postConcurrently(post, body.Bytes(), 4) })
		t.Logf("RSS %s -> peak %s; answers %v", mib(start), mib(peak), codes)
		for _, c := range codes {
			if c != http.StatusRequestEntityTooLarge {
				t.Errorf("answer %d, want 413 (6 MB of escaped text over the 4 MiB budget)", c)
			}
		}
	})

	t.Run("oversized line", func(t *testing.T) {
		body := "oversized neighbour one\n" + strings.Repeat("<", 1<<20+10) + "\noversized neighbour two\n"
		resp, err := http.Post(post, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		ans, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The body is over --max-body (1 MiB): 413. Within it, a line over the line limit:
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s, want 413 for a body over 1 MiB", resp.StatusCode, ans)
		}
		big := "{\"question\":\"" + strings.Repeat(`\"`, 500_000) + "\"}"
		body = "oversized neighbour one\n" + big + "\noversized neighbour two\n"
		resp, err = http.Post(post, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		ans, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var res struct {
			Accepted          int               `json:"accepted"`
			DeadLetteredLines map[string]string `json:"dead_lettered_lines"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(ans, &res) != nil || res.Accepted != 2 || res.DeadLetteredLines["message_too_large"] != "2" {
			t.Fatalf("%d %s, want 200 with line 2 dead-lettered as message_too_large", resp.StatusCode, ans)
		}
		var found bool
		for _, m := range kcatRead(t, b.addr, "hostile.dead-letters") {
			_, v, _ := strings.Cut(m, "\t")
			d, err := schemas.DecodeDeadLetter([]byte(v))
			if err != nil || d.Reason != "message_too_large" {
				continue
			}
			found = true
			if len(v) > 16<<10 || !d.Truncated() || d.PayloadSize != int64(len(big)) || len(d.PayloadSHA256) != 64 {
				t.Errorf("dead letter of %d bytes: payload %d of %d bytes, sha %q", len(v), len(d.Payload), d.PayloadSize, d.PayloadSHA256)
			}
		}
		if !found {
			t.Fatal("no message_too_large dead letter on hostile.dead-letters")
		}
		qs := kcatRead(t, b.addr, "hostile.queries")
		n := 0
		for _, m := range qs {
			if strings.Contains(m, "oversized neighbour") {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d neighbour lines on the queries topic, want 2", n)
		}
	})
	_, hwm := rss(pid)
	t.Logf("serve peak RSS over the whole run (VmHWM): %s", mib(hwm))
}

// holdHostileConns opens n idle keep-alive connections, n slowloris header senders and n slow
// body uploaders against base, checks that a new client is served while they are open and
// that all of them are closed within the server's timeouts (at most limit plus slack).
func holdHostileConns(t *testing.T, base string, n int, limit time.Duration) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	closed := make(chan time.Duration, 3*n)
	stop := make(chan struct{})
	var writers sync.WaitGroup
	defer func() { close(stop); writers.Wait() }()
	open := func(first, trickle string, readResponse bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		start := time.Now()
		_, _ = io.WriteString(c, first)
		if readResponse {
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		if trickle != "" {
			writers.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
					}
					if _, err := io.WriteString(c, trickle); err != nil {
						return
					}
				}
			})
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			closed <- time.Since(start)
			c.Close()
		}()
	}
	for range n {
		open("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "", true)
		open("GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: y\r\n", false)
		open("POST /v1/queries HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nslow", strings.Repeat("q", 100), false)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	resp, err := client.Post(base+"/v1/queries", "text/plain", strings.NewReader(fmt.Sprintf("new client %d\n", time.Now().UnixNano())))
	if err != nil {
		t.Fatalf("a new client beside %d hostile connections: %v", 3*n, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a new client beside %d hostile connections: %d", 3*n, resp.StatusCode)
	}
	t.Logf("a new client was answered in %v beside %d hostile connections", time.Since(t0).Round(time.Millisecond), 3*n)
	var worst time.Duration
	for range 3 * n {
		select {
		case d := <-closed:
			worst = max(worst, d)
		case <-time.After(limit + 15*time.Second):
			t.Fatalf("hostile connections still open %v after the longest timeout (%v)", 15*time.Second, limit)
		}
	}
	t.Logf("all %d hostile connections closed, the last %v after it opened (longest timeout %v)", 3*n, worst.Round(time.Millisecond), limit)
}

// TestServeHostileConnections: 200 idle, 200 slow-header and 200 slow-body connections are
// closed within the configured timeouts and do not block a new client; also under an
// open-file limit of 256, where serve caps connections below the limit and evicts idle ones.
func TestServeHostileConnections(t *testing.T) {
	bin := lsrflowBin(t)
	b := startBroker(t, bin)
	timeouts := []string{"--header-timeout", "2s", "--idle-timeout", "2s", "--read-timeout", "3s"}
	t.Run("default limits", func(t *testing.T) {
		s := startServeProc(t, bin, b.addr, "conns", nil, timeouts...)
		start, peak := rssPeak(s.cmd.Process.Pid, func() { holdHostileConns(t, s.base, 200, 3*time.Second) })
		t.Logf("serve RSS %s -> peak %s", mib(start), mib(peak))
	})
	t.Run("open-file limit 256", func(t *testing.T) {
		if _, err := exec.LookPath("prlimit"); err != nil {
			t.Fatal("prlimit (util-linux) not installed")
		}
		s := startServeProc(t, bin, b.addr, "lowfd", []string{"prlimit", "--nofile=256:256"}, timeouts...)
		start, peak := rssPeak(s.cmd.Process.Pid, func() { holdHostileConns(t, s.base, 200, 3*time.Second) })
		t.Logf("serve RSS %s -> peak %s", mib(start), mib(peak))
		log, _ := os.ReadFile(s.logPath)
		if !strings.Contains(string(log), "open-file limit caps connections") {
			t.Errorf("serve did not lower its connection cap under the file limit; log:\n%s", log)
		}
	})
}

// TestServeHostileBrokerFrozen: the broker process is frozen (SIGSTOP) while a client posts
// 300 lines and retries every 503 (and 429) until 200; the broker is resumed after
// LSRFLOW_HOSTILE_FREEZE. Every line must be on the queries topic exactly once.
func TestServeHostileBrokerFrozen(t *testing.T) {
	freeze := 6 * time.Second
	if v := os.Getenv("LSRFLOW_HOSTILE_FREEZE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("LSRFLOW_HOSTILE_FREEZE=%q: want a duration such as 30s", v)
		}
		freeze = d
	}
	bin := lsrflowBin(t)
	b := startBroker(t, bin)
	s := startServeProc(t, bin, b.addr, "frozen", nil, "--request-timeout", "2s")
	pid := s.cmd.Process.Pid
	post := s.base + "/v1/queries"
	var body bytes.Buffer
	for i := range 300 {
		fmt.Fprintf(&body, "{\"id\":\"frozen-%d\",\"question\":\"question number %d\"}\n", i, i)
	}
	// A first request while the broker is up, so that the producer is connected.
	if codes, _ := postConcurrently(post, []byte("warm-up question\n"), 1); codes[0] != http.StatusOK {
		t.Fatalf("warm-up: %d", codes[0])
	}
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	thawed := make(chan struct{})
	go func() {
		time.Sleep(freeze)
		_ = b.cmd.Process.Signal(syscall.SIGCONT)
		close(thawed)
	}()
	t.Cleanup(func() { _ = b.cmd.Process.Signal(syscall.SIGCONT) })
	var answers []string
	var final string
	start, peak := rssPeak(pid, func() {
		client := &http.Client{Timeout: 60 * time.Second}
		for attempt := 1; ; attempt++ {
			if time.Since(frozenAt) > freeze+3*time.Minute {
				t.Fatalf("no 200 %v after the broker was resumed; answers %v", 3*time.Minute, answers)
			}
			resp, err := client.Post(post, "application/x-ndjson", bytes.NewReader(body.Bytes()))
			if err != nil {
				answers = append(answers, "error")
				time.Sleep(time.Second)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers = append(answers, strconv.Itoa(resp.StatusCode))
			if resp.StatusCode == http.StatusOK {
				final = string(b)
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("attempt %d: %d %s", attempt, resp.StatusCode, b)
			}
			time.Sleep(time.Second) // Retry-After
		}
	})
	<-thawed
	t.Logf("broker frozen %v; the client's answers: %s; final: %s", freeze, strings.Join(answers, " "), strings.TrimSpace(final))
	t.Logf("serve RSS %s -> peak %s during the freeze and retries", mib(start), mib(peak))
	if len(answers) < 2 {
		t.Errorf("the client got 200 at once: the freeze (%v) did not outlast the request timeout", freeze)
	}
	perID := map[string]int{}
	for _, m := range kcatRead(t, b.addr, "frozen.queries") {
		k, _, _ := strings.Cut(m, "\t")
		perID[k]++
	}
	var missing, twice []string
	for i := range 300 {
		id := fmt.Sprintf("frozen-%d", i)
		switch perID[id] {
		case 1:
		case 0:
			missing = append(missing, id)
		default:
			twice = append(twice, fmt.Sprintf("%s x%d", id, perID[id]))
		}
	}
	total := 0
	for _, n := range perID {
		total += n
	}
	t.Logf("queries topic: %d messages for %d keys (300 lines + the warm-up)", total, len(perID))
	if len(missing) > 0 || len(twice) > 0 {
		// Tell the two possible culprits apart: serve publishing a line again (a failed publish
		// freed it for a retry) or the transport writing one publish twice on its own retries.
		failures := metricValue(t, s.base, "lsrflow_ingest_publish_failures_total")
		t.Fatalf("%d lines missing (%v), %d more than once (%v); serve saw %v failed publishes (0: each line was handed to the transport once, in one Publish call, and the duplicates come from the transport's own retries)",
			len(missing), head(missing), len(twice), head(twice), failures)
	}
}

// metricValue reads one unlabelled metric from serve's /metrics.
func metricValue(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return "?"
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// TestServeSIGTERMDrains: on SIGTERM serve answers /readyz 503 while it still takes requests
// for --drain-delay, then exits 0.
func TestServeSIGTERMDrains(t *testing.T) {
	bin := lsrflowBin(t)
	b := startBroker(t, bin)
	s := startServeProc(t, bin, b.addr, "drain", nil, "--drain-delay", "3s")
	get := func(path string) int {
		resp, err := http.Get(s.base + path)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/readyz"); c != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: %d", c)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for get("/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if codes, _ := postConcurrently(s.base+"/v1/queries", []byte("asked during the drain\n"), 1); codes[0] != http.StatusOK {
		t.Fatalf("POST during the drain: %d, want 200", codes[0])
	}
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			log, _ := os.ReadFile(s.logPath)
			t.Fatalf("serve exited %d after SIGTERM; log:\n%s", code, log)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30 s after SIGTERM")
	}
	if n := len(kcatRead(t, b.addr, "drain.queries")); n != 1 {
		t.Fatalf("%d messages on drain.queries, want the one posted during the drain", n)
	}
}
