package arrowipc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
	"github.com/lsrflow/lsrflow/sinks/parquet"
)

// record builds a varied scored record: unicode text, nil and empty lists, odd floats.
func record(i int) schemas.Scored {
	teacher := schemas.TeacherIdentity{Method: "answer-match", Temperature: 0.1, ScoreTransform: "indicator"}
	s := schemas.Scored{
		SchemaVersion:   schemas.ScoredVersion,
		ID:              fmt.Sprintf("q%04d", i),
		Query:           fmt.Sprintf("who wrote «%d» — Ωmega?\n", i),
		Pos:             []string{"Title\npassage one", "", "naïve 日本語 text"},
		Scores:          []float64{0.5, 0.25, 0.25},
		GoldenAnswers:   []string{"a", "b \"quoted\""},
		PassageIDs:      []string{"d1", "d2", fmt.Sprint(i)},
		RetrieverScores: []float64{12.5, -3e-300, 1e300},
		TeacherScores:   []float64{1, 0, -0.125},
		AnswerMatch:     []bool{true, false, false},
		NumRelevant:     1,
		Teacher:         teacher,
		TeacherKey:      teacher.Key(),
		Retriever:       schemas.RetrieverInfo{Method: "bm25", Version: "v1"},
		Source:          "nq-open",
		Truncated:       i % 3,
	}
	switch i % 4 {
	case 1:
		s.GoldenAnswers, s.AnswerMatch = nil, nil
	case 2:
		s.Pos, s.Scores, s.PassageIDs, s.RetrieverScores, s.TeacherScores = []string{}, []float64{}, []string{}, []float64{}, []float64{}
		s.AnswerMatch = []bool{}
	}
	return s
}

type format struct {
	name string
	open func(context.Context, arrowipc.Config) (*arrowipc.PartSink, error)
	read func(context.Context, string) ([]schemas.Scored, error)
	ext  string
}

var formats = []format{
	{"parquet", parquet.Open, parquet.ReadFile, parquet.Ext},
	{"arrow", arrowipc.Open, arrowipc.ReadFile, arrowipc.Ext},
}

func TestRoundTripAndCompaction(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s, err := f.open(ctx, arrowipc.Config{Dir: dir, BatchRows: 7, PartRows: 20})
			if err != nil {
				t.Fatal(err)
			}
			var want []schemas.Scored
			for i := range 53 {
				r := record(i)
				isNew, err := s.Write(ctx, r)
				if err != nil || !isNew {
					t.Fatalf("write %d: new=%v err=%v", i, isNew, err)
				}
				want = append(want, r)
				if i%17 == 16 {
					if err := s.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			// duplicates are no-ops
			if isNew, err := s.Write(ctx, record(3)); err != nil || isNew {
				t.Fatalf("duplicate write: new=%v err=%v", isNew, err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			parts, _ := filepath.Glob(filepath.Join(dir, ".scored"+f.ext+".parts", "part-*"+f.ext))
			if len(parts) < 4 {
				t.Fatalf("want several rolled parts, got %d", len(parts))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 || ents[0].Name() != "scored"+f.ext {
				t.Fatalf("after Close dir holds %v, want only scored%s", names(ents), f.ext)
			}
			got, err := f.read(ctx, filepath.Join(dir, "scored"+f.ext))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", got[:2], want[:2])
			}
		})
	}
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestRestartIsIdempotent simulates a crash: records written but not flushed are lost (their
// inputs were never committed), a garbage temp part is left behind, and a restarted sink that
// sees everything again writes each record exactly once.
func TestRestartIsIdempotent(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s, err := f.open(ctx, arrowipc.Config{Dir: dir, BatchRows: 4})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if _, err := s.Write(ctx, record(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for i := 10; i < 19; i++ { // 2 batches reach the temp part, 1 stays buffered
				if _, err := s.Write(ctx, record(i)); err != nil {
					t.Fatal(err)
				}
			}
			tmps, _ := filepath.Glob(filepath.Join(dir, ".scored"+f.ext+".parts", "*.tmp"))
			if len(tmps) != 1 {
				t.Fatalf("want one unfinished part, got %v", tmps)
			}
			// crash: s is abandoned without Flush/Close.

			s2, err := f.open(ctx, arrowipc.Config{Dir: dir, BatchRows: 4})
			if err != nil {
				t.Fatal(err)
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, ".scored"+f.ext+".parts", "*.tmp")); len(tmps) != 0 {
				t.Fatalf("unfinished parts not discarded: %v", tmps)
			}
			if s2.Len() != 10 {
				t.Fatalf("restarted sink holds %d keys, want 10", s2.Len())
			}
			newCount := 0
			for i := range 25 { // redelivery of everything plus new records
				isNew, err := s2.Write(ctx, record(i))
				if err != nil {
					t.Fatal(err)
				}
				if isNew {
					newCount++
				}
			}
			if newCount != 15 {
				t.Fatalf("%d records reported new after restart, want 15", newCount)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			// a third run over a compacted file: everything is already there
			s3, err := f.open(ctx, arrowipc.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if isNew, _ := s3.Write(ctx, record(24)); isNew {
				t.Fatal("record in compacted file reported new")
			}
			if isNew, _ := s3.Write(ctx, record(25)); !isNew {
				t.Fatal("new record reported duplicate")
			}
			if err := s3.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := f.read(ctx, filepath.Join(dir, "scored"+f.ext))
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]int{}
			for _, r := range got {
				ids[r.ID]++
			}
			if len(got) != 26 || len(ids) != 26 {
				t.Fatalf("got %d records with %d distinct ids, want 26", len(got), len(ids))
			}
			for i := range 26 {
				if !reflect.DeepEqual(got[i], record(i)) {
					t.Fatalf("record %d differs: %+v", i, got[i])
				}
			}
		})
	}
}

// TestCrashDuringCompaction: the new compacted file was renamed into place but the parts were
// not yet removed. Reopening and compacting again must not duplicate anything.
func TestCrashDuringCompaction(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s, _ := f.open(ctx, arrowipc.Config{Dir: dir, BatchRows: 3, NoCompact: true})
			for i := range 8 {
				_, _ = s.Write(ctx, record(i))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			parts, _ := filepath.Glob(filepath.Join(dir, ".scored"+f.ext+".parts", "part-*"))
			if len(parts) != 1 {
				t.Fatalf("parts: %v", parts)
			}
			data, _ := os.ReadFile(parts[0])
			if err := os.WriteFile(filepath.Join(dir, "scored"+f.ext), data, 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := f.open(ctx, arrowipc.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if s2.Len() != 8 {
				t.Fatalf("keys %d, want 8", s2.Len())
			}
			_, _ = s2.Write(ctx, record(8))
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := f.read(ctx, filepath.Join(dir, "scored"+f.ext))
			if err != nil || len(got) != 9 {
				t.Fatalf("got %d records, err %v; want 9", len(got), err)
			}
		})
	}
}

// TestOlderVersionFiles: a file from an older writer with fewer columns and no version
// metadata reads with zero values; a file from a newer version is refused with a reason.
func TestOlderVersionFiles(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "query", Type: arrow.BinaryTypes.String},
		{Name: "pos", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "scores", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
		{Name: "extra_future_column", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	b.Field(0).(*array.StringBuilder).Append("old-1")
	b.Field(1).(*array.StringBuilder).Append("old question")
	lb := b.Field(2).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"p1", "p2"}, nil)
	sb := b.Field(3).(*array.ListBuilder)
	sb.Append(true)
	sb.ValueBuilder().(*array.Float64Builder).AppendValues([]float64{0.75, 0.25}, nil)
	b.Field(4).(*array.Int64Builder).Append(7)
	rec := b.NewRecordBatch()
	defer rec.Release()

	want := []schemas.Scored{{SchemaVersion: 1, ID: "old-1", Query: "old question", Pos: []string{"p1", "p2"}, Scores: []float64{0.75, 0.25}}}

	pqPath := filepath.Join(dir, "old.parquet")
	fh, _ := os.Create(pqPath)
	w, err := pqarrow.NewFileWriter(sc, fh, pq.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := parquet.ReadFile(ctx, pqPath)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("old parquet: got %+v err %v", got, err)
	}

	ipcPath := filepath.Join(dir, "old.arrow")
	fh2, _ := os.Create(ipcPath)
	iw, err := ipc.NewFileWriter(fh2, ipc.WithSchema(sc))
	if err != nil {
		t.Fatal(err)
	}
	if err := iw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	fh2.Close()
	got, err = arrowipc.ReadFile(ctx, ipcPath)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("old arrow: got %+v err %v", got, err)
	}

	// newer version: refused
	md := arrow.NewMetadata([]string{arrowipc.MetaSchemaVersion}, []string{"99"})
	future := arrow.NewSchema(sc.Fields(), &md)
	fh3, _ := os.Create(filepath.Join(dir, "new.arrow"))
	fw, _ := ipc.NewFileWriter(fh3, ipc.WithSchema(future))
	rec2 := array.NewRecordBatch(future, rec.Columns(), rec.NumRows())
	if err := fw.Write(rec2); err != nil {
		t.Fatal(err)
	}
	_ = fw.Close()
	fh3.Close()
	_, err = arrowipc.ReadFile(ctx, filepath.Join(dir, "new.arrow"))
	if schemas.ReasonOf(err) != schemas.ReasonVersion {
		t.Fatalf("future version: err %v, want reason %s", err, schemas.ReasonVersion)
	}
}

func TestGarbageIsAnError(t *testing.T) {
	ctx := t.Context()
	for _, in := range [][]byte{nil, []byte("PAR1"), []byte("PAR1xxxxPAR1"), []byte("ARROW1\x00\x00garbageARROW1"), []byte(strings.Repeat("\xff", 64))} {
		if _, err := parquet.ReadBytes(ctx, in); err == nil || schemas.ReasonOf(err) == "" {
			t.Errorf("parquet %q: err %v, want a decode reason", in, err)
		}
		if _, err := arrowipc.ReadBytes(ctx, in); err == nil || schemas.ReasonOf(err) == "" {
			t.Errorf("arrow %q: err %v, want a decode reason", in, err)
		}
	}
}

func TestClosedAndCancelled(t *testing.T) {
	ctx := t.Context()
	s, err := arrowipc.Open(ctx, arrowipc.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, schemas.Scored{Query: "no id"}); schemas.ReasonOf(err) != schemas.ReasonInvalid {
		t.Fatalf("record without id: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if isNew, err := s.Write(cctx, record(1)); err == nil || isNew {
		t.Fatalf("write on a cancelled context: new=%v err=%v", isNew, err)
	}
	if isNew, err := s.Write(ctx, record(1)); err != nil || !isNew {
		t.Fatalf("the cancelled write must not have been recorded: new=%v err=%v", isNew, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, record(2)); err == nil {
		t.Fatal("write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := arrowipc.OpenPartSink(ctx, arrowipc.IPC{}, arrowipc.Config{}); err == nil {
		t.Fatal("empty Dir accepted")
	}
}
