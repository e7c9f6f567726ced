package parquet_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

// validFile writes a small Parquet file with the sink and returns its bytes.
func validFile(f *testing.F, n int) []byte {
	f.Helper()
	dir := f.TempDir()
	s, err := parquet.Open(f.Context(), arrowipc.Config{Dir: dir, BatchRows: 2})
	if err != nil {
		f.Fatal(err)
	}
	for i := range n {
		r := schemas.Scored{ID: string(rune('a' + i)), Query: "q", Pos: []string{"p"}, Scores: []float64{1},
			PassageIDs: []string{"d"}, RetrieverScores: []float64{0.5}, TeacherScores: []float64{1}, AnswerMatch: []bool{i%2 == 0}}
		if _, err := s.Write(f.Context(), r); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "scored.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzReadBytes: no input crashes the reader; errors carry a reason; whatever decodes
// re-encodes through the sink and reads back to the same records.
func FuzzReadBytes(f *testing.F) {
	good := validFile(f, 5)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append([]byte("PAR1"), good[len(good)-64:]...))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0xff
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		recs, err := parquet.ReadBytes(ctx, data)
		if err != nil {
			if schemas.ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(recs) == 0 {
			return
		}
		// re-encode in memory (no fsyncs: keeps the fuzzer fast)
		var buf bytes.Buffer
		w, err := parquet.Format{}.NewWriter(&buf, 64)
		if err != nil {
			t.Fatal(err)
		}
		b := arrowipc.NewBuilder(nil)
		defer b.Release()
		for _, r := range recs {
			b.Append(r)
		}
		batch := b.NewBatch()
		defer batch.Release()
		if err := w.Write(batch); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := parquet.ReadBytes(ctx, buf.Bytes())
		if err != nil || !sameRecords(got, recs) {
			t.Fatalf("re-encode round trip: %v\n got %+v\nwant %+v", err, got, recs)
		}
	})
}

// sameRecords compares records as their JSON encodings would (NaN equals NaN).
func sameRecords(a, b []schemas.Scored) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) && fmt.Sprintf("%#v", a[i]) != fmt.Sprintf("%#v", b[i]) {
			return false
		}
	}
	return true
}
