package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "eval-before.json", `{"kind":"retrieval","n":3,"bad_lines":0,"train_overlap":0,"recall@1":0.2,"recall@5":0.6}`+"\n")
	out := filepath.Join(dir, "report.html")
	code, stdout, stderr := runForTest(t, "report", "--run", dir, "--out", out)
	if code != 0 || !strings.HasPrefix(stdout, "wrote ") {
		t.Fatalf("exit %d %q %q", code, stdout, stderr)
	}
	html, _ := os.ReadFile(out)
	if !strings.Contains(string(html), `id="plot-recall"`) || !strings.Contains(string(html), "scored.jsonl not found") {
		t.Errorf("report lacks the recall plot or the missing-file note")
	}
	if code, _, stderr := runForTest(t, "report", "--run", filepath.Join(dir, "nope"), "--out", out); code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("missing run dir: exit %d %q", code, stderr)
	}
}
