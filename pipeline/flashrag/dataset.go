package flashrag

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/lsrflow/lsrflow/internal/pyrandom"
	"github.com/lsrflow/lsrflow/schemas"
)

// SplitFile is one dataset split found on disk.
type SplitFile struct {
	Split string `json:"split"`
	Path  string `json:"path"`
	// Rows is the split's non-blank lines; Selected how many of them the run reads.
	Rows     int `json:"rows"`
	Selected int `json:"selected"`
}

// sampled reports whether test_sample_num applies to a split (flashrag/utils/utils.py,
// get_dataset: only test, val, dev and train are sampled).
func sampled(split string) bool {
	return split == "test" || split == "val" || split == "dev" || split == "train"
}

// FindSplits locates {data_dir}/{dataset_name}/{split}.jsonl (or .json) for every split, in
// order, as get_dataset does. Splits without a file are returned in missing; a parquet file
// is an error (lsrflow reads JSON lines only).
func (s *Settings) FindSplits() (found []SplitFile, missing []string, err error) {
	dir := filepath.Join(s.DataDir, s.DatasetName)
	for _, sp := range s.Splits {
		var path string
		for _, ext := range []string{"jsonl", "json", "parquet"} {
			p := filepath.Join(dir, sp+"."+ext)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		switch {
		case path == "":
			missing = append(missing, sp)
		case filepath.Ext(path) == ".parquet":
			return nil, nil, fmt.Errorf("dataset %s is Parquet; lsrflow reads JSON lines: convert it to %s", path, filepath.Join(dir, sp+".jsonl"))
		default:
			found = append(found, SplitFile{Split: sp, Path: path})
		}
	}
	if len(found) == 0 {
		return nil, missing, fmt.Errorf("no dataset file for split(s) %v under %s (want {data_dir}/{dataset_name}/{split}.jsonl)", s.Splits, dir)
	}
	return found, missing, nil
}

// line is one non-blank line of a split file.
type line struct {
	off int64
	n   int
}

// scanLines returns the offsets of the non-blank lines of path.
func scanLines(path string) ([]line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var out []line
	var off int64
	for {
		b, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			var more []byte
			more, err = br.ReadSlice('\n')
			b = append(append([]byte(nil), b...), more...)
		}
		if len(b) > 0 {
			if len(trimEOL(b)) > 0 && !blank(b) {
				out = append(out, line{off, len(b)})
			}
			off += int64(len(b))
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// MaterializeStats counts what Materialize wrote.
type MaterializeStats struct {
	Splits []SplitFile
	// Rows written; SeedAnswers of them carry a seed_answer.
	Rows, SeedAnswers int
}

// Materialize writes the rows this run reads to out, split after split: each split's first
// test_sample_num rows, or random.sample of them with Python's generator seeded by seed, in
// the order Python returns them. Every row gets "source": "{dataset_name}/{split}" unless it
// has a source. With seedAnswers, rows also get "seed_answer": the gold answer the
// experiment's get_lm_probs_dataset.py scores, drawn after all sampling with the same
// generator (its only answer, or random.choice of several). Rows that are not JSON objects are
// copied as they are: the ingest stage dead-letters them. A query id that an earlier split
// already used is an error (the pipeline keys records by id).
func Materialize(ctx context.Context, s *Settings, splits []SplitFile, out string, seedAnswers bool) (MaterializeStats, error) {
	st := MaterializeStats{}
	rng := pyrandom.New(s.Seed)
	type chosen struct {
		sf   *SplitFile
		rows []line
	}
	var all []chosen
	for i := range splits {
		sf := &splits[i]
		rows, err := scanLines(sf.Path)
		if err != nil {
			return st, err
		}
		sf.Rows = len(rows)
		if s.SampleNum != nil && sampled(sf.Split) {
			k := *s.SampleNum
			if s.RandomSample {
				idx, err := rng.Sample(len(rows), k)
				if err != nil {
					return st, fmt.Errorf("test_sample_num %d with random_sample: split %s has %d rows (Python's random.sample fails too)", k, sf.Split, len(rows))
				}
				picked := make([]line, len(idx))
				for j, x := range idx {
					picked[j] = rows[x]
				}
				rows = picked
			} else if k < len(rows) {
				rows = rows[:k]
			}
		}
		sf.Selected = len(rows)
		all = append(all, chosen{sf, rows})
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return st, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return st, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := bufio.NewWriterSize(tmp, 1<<20)
	seen := map[string]string{}
	for _, c := range all {
		f, err := os.Open(c.sf.Path)
		if err != nil {
			return st, err
		}
		err = func() error {
			defer f.Close()
			buf := make([]byte, 0, 4096)
			for _, l := range c.rows {
				if st.Rows%1024 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				buf = slices.Grow(buf[:0], l.n)[:l.n]
				if _, err := f.ReadAt(buf, l.off); err != nil {
					return fmt.Errorf("read %s: %w", c.sf.Path, err)
				}
				row, seeded, err := annotate(trimEOL(buf), s.DatasetName+"/"+c.sf.Split, seedAnswers, rng)
				if err != nil {
					return err
				}
				if id := rowID(row); id != "" {
					if prev, dup := seen[id]; dup && prev != c.sf.Split {
						return fmt.Errorf("query id %q is in split %s and in split %s: ids must be unique across the splits of a run", id, prev, c.sf.Split)
					}
					seen[id] = c.sf.Split
				}
				if seeded {
					st.SeedAnswers++
				}
				w.Write(row)
				if err := w.WriteByte('\n'); err != nil {
					return err
				}
				st.Rows++
			}
			return nil
		}()
		if err != nil {
			return st, err
		}
		st.Splits = append(st.Splits, *c.sf)
	}
	if err := w.Flush(); err != nil {
		return st, err
	}
	if err := tmp.Sync(); err != nil {
		return st, err
	}
	if err := tmp.Close(); err != nil {
		return st, err
	}
	return st, os.Rename(tmp.Name(), out)
}

// annotate adds source (and seed_answer) to a JSON-object row; other rows pass unchanged.
func annotate(b []byte, source string, seedAnswer bool, rng *pyrandom.Rand) ([]byte, bool, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return append([]byte(nil), b...), false, nil
	}
	if _, ok := m["source"]; !ok {
		m["source"], _ = json.Marshal(source)
	}
	seeded := false
	if seedAnswer {
		// get_lm_probs_dataset.py: answer[0] if len(answer) == 1 else random.choice(answer);
		// an empty list draws nothing (random.choice raises before drawing).
		var answers []json.RawMessage
		var bare string
		if json.Unmarshal(m["golden_answers"], &bare) == nil {
			// a bare string is a sequence of characters to Python's len and random.choice
			for _, r := range bare {
				c, _ := json.Marshal(string(r))
				answers = append(answers, c)
			}
		}
		if answers != nil || json.Unmarshal(m["golden_answers"], &answers) == nil && len(answers) > 0 {
			i := 0
			if len(answers) > 1 {
				i, _ = rng.Choice(len(answers))
			}
			var a string
			if json.Unmarshal(answers[i], &a) == nil {
				m["seed_answer"], _ = json.Marshal(a)
				seeded = true
			}
		}
	}
	out, err := json.Marshal(m)
	return out, seeded, err
}

func rowID(b []byte) string {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &r) != nil || len(r.ID) == 0 {
		return ""
	}
	q, err := schemas.DecodeQuery(b)
	if err != nil {
		return ""
	}
	return q.ID
}
