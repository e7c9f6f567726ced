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
