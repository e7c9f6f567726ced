package flashrag

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Run is one prepared run of a FlashRAG config.
type Run struct {
	// Dir is the run directory {save_dir}/{dataset_name}_{timestamp}_{save_note}/.
	Dir     string
	Resumed bool
	// Queries is the file of the rows this run reads (Dir/queries.jsonl).
	Queries     string
	Splits      []SplitFile
	Missing     []string // listed splits without a dataset file
	Fingerprint string
	Stats       MaterializeStats
}

// QueriesFile is the name of the materialized queries inside the run directory.
const QueriesFile = "queries.jsonl"

// Prepare picks (or resumes) the run directory, keeps a copy of the config there as
// config.yaml (FlashRAG does the same), writes the rows to read to queries.jsonl and marks
// the run as running. seedAnswers adds each row's seed_answer (see Materialize).
func Prepare(ctx context.Context, s *Settings, now time.Time, seedAnswers bool) (*Run, error) {
	splits, missing, err := s.FindSplits()
	if err != nil {
		return nil, err
	}
	r := &Run{Missing: missing, Fingerprint: s.Fingerprint(splits)}
	if seedAnswers {
		r.Fingerprint += "-seed"
	}
	r.Dir, r.Resumed, err = s.RunDir(now, r.Fingerprint)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "config.yaml"), s.ConfigBytes, 0o644); err != nil {
		return nil, err
	}
	r.Queries = filepath.Join(r.Dir, QueriesFile)
	if r.Stats, err = Materialize(ctx, s, splits, r.Queries, seedAnswers); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	r.Splits = r.Stats.Splits
	if err := WriteState(r.Dir, RunState{Status: "running", Fingerprint: r.Fingerprint, Config: s.ConfigPath, Splits: r.Splits}); err != nil {
		return nil, err
	}
	return r, nil
}

// Complete marks the run finished: a later run of the same config starts a new directory.
func (r *Run) Complete(s *Settings) error {
	return WriteState(r.Dir, RunState{Status: "complete", Fingerprint: r.Fingerprint, Config: s.ConfigPath, Splits: r.Splits})
}
