package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets tests run the test binary itself as the lsrflow command (for SIGKILL tests that
// need a separate process) without building a second binary: with LSRFLOW_TEST_AS_CLI=1 the
// binary behaves exactly like `lsrflow ARGS...`.
func TestMain(m *testing.M) {
	if os.Getenv("LSRFLOW_TEST_AS_CLI") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// cli runs one lsrflow command in-process and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCLI(t.Context(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// Every command answers --help on stdout with exit 0, and a bad flag with one line on stderr
// and exit 2.
func TestEveryCommandHelpAndUsageError(t *testing.T) {
	for _, c := range commands() {
		code, out, errs := cli(t, c.name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: lsrflow "+c.name) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", c.name, code, out, errs)
		}
		if c.name == "model" || c.name == "bench" || c.name == "deadletters" || c.name == "topics" || c.name == "vectors" {
			continue // these take a subcommand first
		}
		code, out, errs = cli(t, c.name, "--no-such-flag")
		if code != 2 || out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want exit 2 and one line", c.name, code, out, errs)
		}
	}
}
