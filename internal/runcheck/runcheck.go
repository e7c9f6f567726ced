// Package runcheck reads a synth output directory back for tests that compare runs (crash and
// resume, scale-out): records by id with duplicates as failures, and dead letters as sortable
// keys. It is test support; nothing in the product imports it.
package runcheck

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

// ScoredByID returns the records of a scored.jsonl by id. An undecodable line or an id that
// appears twice fails the test.
func ScoredByID(tb testing.TB, path string) map[string]schemas.Scored {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]schemas.Scored{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		s, err := schemas.DecodeScored(sc.Bytes())
		if err != nil {
			tb.Fatalf("%s: bad line: %v", path, err)
		}
		if _, dup := out[s.ID]; dup {
			tb.Fatalf("%s: id %s appears twice", path, s.ID)
		}
		out[s.ID] = s
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// ParquetByID returns the records of dir/scored.parquet by id; duplicates and part files left
// behind fail the test.
func ParquetByID(tb testing.TB, dir string) map[string]schemas.Scored {
	tb.Helper()
	if ents, _ := filepath.Glob(filepath.Join(dir, ".scored.parquet.parts")); len(ents) != 0 {
		tb.Fatalf("%s: parquet parts left after the final run: %v", dir, ents)
	}
	recs, err := parquet.ReadFile(tb.Context(), filepath.Join(dir, "scored.parquet"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]schemas.Scored{}
	for _, r := range recs {
		if _, dup := out[r.ID]; dup {
			tb.Fatalf("%s/scored.parquet: id %s appears twice", dir, r.ID)
		}
		out[r.ID] = r
	}
	return out
}

// DeadLetterKeys returns "stage/reason/dedup-key" of every dead letter in path, sorted; a
// missing file has none.
func DeadLetterKeys(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var keys []string
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		d, err := schemas.DecodeDeadLetter(l)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		keys = append(keys, d.Stage+"/"+d.Reason+"/"+d.DedupKey())
	}
	sort.Strings(keys)
	return keys
}
