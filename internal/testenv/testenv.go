package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FindRoot walks up from the working directory to the first directory holding go.mod.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RepoRoot returns the repository root or fails the test.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := FindRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// CacheDir returns the setup cache: $LSRFLOW_CACHE, else <root>/.cache. It may not exist yet.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	if c := os.Getenv("LSRFLOW_CACHE"); c != "" {
		return c
	}
	return filepath.Join(RepoRoot(tb), ".cache")
}

// CachePath returns a path inside the cache that setup step `step` creates, failing the test
// with a hint to run that step when it is missing.
func CachePath(tb testing.TB, step string, rel ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{CacheDir(tb)}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s is missing (%v): run `scripts/setup.sh %s`", p, err, step)
	}
	return p
}

// SharedDir returns the shared data directory: $LSRFLOW_SHARED, else <root>/../shared.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	if s := os.Getenv("LSRFLOW_SHARED"); s != "" {
		return s
	}
	return filepath.Join(filepath.Dir(RepoRoot(tb)), "shared")
}

// SharedFile returns a file under the shared directory (e.g. "data/qed/test.jsonl"), failing
// the test when it is absent. Shared files are read-only: never write or copy them.
func SharedFile(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(SharedDir(tb), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared file %s is missing (%v): set LSRFLOW_SHARED to the shared folder", p, err)
	}
	return p
}
