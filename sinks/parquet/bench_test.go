package parquet_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

// BenchmarkSinkWriteFlushCompact writes 1,000 top-20 records (≈ the shape synth produces),
// flushing every 100, then compacts at Close.
func BenchmarkSinkWriteFlushCompact(b *testing.B) {
	text := strings.Repeat("passage words ", 40)
	recs := make([]schemas.Scored, 1000)
	for i := range recs {
		r := schemas.Scored{SchemaVersion: 1, ID: fmt.Sprintf("q%d", i), Query: "a question", TeacherKey: "tk"}
		for j := range 20 {
			r.Pos = append(r.Pos, fmt.Sprintf("%d %s", j, text))
			r.Scores = append(r.Scores, 0.05)
			r.PassageIDs = append(r.PassageIDs, fmt.Sprint(j))
			r.RetrieverScores = append(r.RetrieverScores, float64(j))
			r.TeacherScores = append(r.TeacherScores, 0)
		}
		recs[i] = r
	}
	b.ResetTimer()
	for range b.N {
		dir := b.TempDir()
		s, err := parquet.Open(b.Context(), arrowipc.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range recs {
			if _, err := s.Write(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			if i%100 == 99 {
				if err := s.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}
