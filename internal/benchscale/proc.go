package benchscale

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Usage is what one child process used.
type Usage struct {
	Seconds float64
	// HWM is the peak resident set (VmHWM, from wait4's ru_maxrss): anonymous memory plus the
	// file pages the process had mapped, page cache included.
	HWM int64
	// Anon and File are the peaks of RssAnon (heap, stacks, C allocations) and RssFile
	// (mapped file pages, which the kernel may drop) seen by sampling /proc/PID/status.
	Anon, File int64
	Stdout     string
}

// sampleInterval is how often /proc/PID/status is read while a child runs.
const sampleInterval = 50 * time.Millisecond

// run starts cmd, samples its memory until it exits and returns its usage. Stdout is
// captured; stderr goes to cmd.Stderr as set by the caller.
func run(ctx context.Context, cmd *exec.Cmd) (Usage, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Usage{}, err
	}
	var u Usage
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		path := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		t := time.NewTicker(sampleInterval)
		defer t.Stop()
		for {
			if s, err := readStatus(path); err == nil {
				u.Anon = max(u.Anon, s["RssAnon"])
				u.File = max(u.File, s["RssFile"]+s["RssShmem"])
				u.HWM = max(u.HWM, s["VmHWM"])
			}
			select {
			case <-done:
				return
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-sampled
	u.Seconds = time.Since(start).Seconds()
	u.Stdout = out.String()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.HWM = max(u.HWM, ru.Maxrss*1024) // kB on Linux
	}
	if err != nil {
		return u, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(out.String(), 2000))
	}
	return u, nil
}

// readStatus parses the "Key:  N kB" lines of /proc/PID/status into bytes.
func readStatus(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n * 1024
		}
	}
	return m, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
