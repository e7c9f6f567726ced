package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/report"
)

func reportCmd() *command {
	return &command{name: "report", summary: "render a run directory as one self-contained HTML page", run: runReport}
}

func runReport(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "report", "--run DIR --out report.html",
		`Renders one self-contained HTML page (inline SVG, no network) from a run directory:
recall@k before/after training (eval-*.json), teacher score distributions (scored.jsonl),
throughput over time (metrics.jsonl) and dead-letter reasons (dead-letters.jsonl). Missing
files leave a note in their section. See 'go doc github.com/lsrflow/lsrflow/report'.`)
	run := f.String("run", "", "run directory")
	out := f.String("out", "report.html", "HTML file to write")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("run", "out"); err != nil {
		return err
	}
	if err := mustExist("run", *run); err != nil {
		return err
	}
	d, err := report.Load(ctx, *run)
	if err != nil {
		return usagef("--run %s: %v", *run, err)
	}
	var b bytes.Buffer
	if err := report.Render(&b, d); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return usagef("--out %s: %v", *out, err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(sio.out, "wrote %s (%d bytes)\n", *out, b.Len())
	return nil
}
