package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootHoldsGoMod(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s has no go.mod: %v", root, err)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("LSRFLOW_CACHE", "/x/cache")
	t.Setenv("LSRFLOW_SHARED", "/y/shared")
	if got := CacheDir(t); got != "/x/cache" {
		t.Errorf("CacheDir = %q", got)
	}
	if got := SharedDir(t); got != "/y/shared" {
		t.Errorf("SharedDir = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("LSRFLOW_CACHE", "")
	t.Setenv("LSRFLOW_SHARED", "")
	root := RepoRoot(t)
	if got, want := CacheDir(t), filepath.Join(root, ".cache"); got != want {
		t.Errorf("CacheDir = %q, want %q", got, want)
	}
	if got, want := SharedDir(t), filepath.Join(filepath.Dir(root), "shared"); got != want {
		t.Errorf("SharedDir = %q, want %q", got, want)
	}
}
