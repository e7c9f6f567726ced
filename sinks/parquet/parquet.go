package parquet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
)

// Ext is the extension of the files this package writes.
const Ext = ".parquet"

// Format is zstd-compressed Parquet with one row group per written batch. It implements
// arrowipc.Format, so arrowipc.PartSink rolls and compacts Parquet parts.
type Format struct {
	// ZstdLevel is the zstd level (0: the library default).
	ZstdLevel int
}

var _ arrowipc.Format = Format{}

// Ext implements arrowipc.Format.
func (Format) Ext() string { return Ext }

// NewWriter implements arrowipc.Format.
func (f Format) NewWriter(w io.Writer, batchRows int) (arrowipc.BatchWriter, error) {
	opts := []pq.WriterProperty{
		pq.WithCompression(compress.Codecs.Zstd),
		pq.WithMaxRowGroupLength(int64(max(batchRows, 1))),
		pq.WithCreatedBy("lsrflow"),
	}
	if f.ZstdLevel != 0 {
		opts = append(opts, pq.WithCompressionLevel(f.ZstdLevel))
	}
	fw, err := pqarrow.NewFileWriter(arrowipc.Schema(), w, pq.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	if err := fw.AppendKeyValueMetadata(arrowipc.MetaSchemaVersion, strconv.Itoa(schemas.ScoredVersion)); err != nil {
		return nil, err
	}
	if err := fw.AppendKeyValueMetadata(arrowipc.MetaRecord, arrowipc.RecordScored); err != nil {
		return nil, err
	}
	return fw, nil
}

// Read implements arrowipc.Format.
func (f Format) Read(ctx context.Context, path string, fn func([]schemas.Scored) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return read(ctx, fh, nil, fn)
}

// ReadKeys implements arrowipc.Format; it reads only the id and teacher_key columns.
func (f Format) ReadKeys(ctx context.Context, path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var keys []string
	err = read(ctx, fh, []string{arrowipc.ColID, arrowipc.ColQuery, arrowipc.ColTeacherKey}, func(recs []schemas.Scored) error {
		for _, r := range recs {
			keys = append(keys, r.DedupKey())
		}
		return nil
	})
	return keys, err
}

// ReadFile reads every scored record of a Parquet file written by this package (or by an
// older version of it).
func ReadFile(ctx context.Context, path string) ([]schemas.Scored, error) {
	var out []schemas.Scored
	err := Format{}.Read(ctx, path, func(recs []schemas.Scored) error {
		out = append(out, recs...)
		return nil
	})
	return out, err
}

// ReadBytes reads every scored record of a Parquet file held in memory. Malformed input is an
// error, never a panic.
func ReadBytes(ctx context.Context, data []byte) ([]schemas.Scored, error) {
	var out []schemas.Scored
	err := read(ctx, bytes.NewReader(data), nil, func(recs []schemas.Scored) error {
		out = append(out, recs...)
		return nil
	})
	return out, err
}

// read streams the records of a Parquet file, row group by row group; cols limits the
// top-level columns read (nil: all).
func read(ctx context.Context, r pq.ReaderAtSeeker, cols []string, fn func([]schemas.Scored) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = schemas.Errorf(schemas.ReasonInvalid, "malformed parquet data: %v", p)
		}
	}()
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return schemas.Errorf(schemas.ReasonInvalid, "not a parquet file: %v", err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	var ver string
	found := false
	if v := kv.FindValue(arrowipc.MetaSchemaVersion); v != nil {
		ver, found = *v, true
	}
	if _, err := arrowipc.CheckVersion(ver, found); err != nil {
		return err
	}
	// pqarrow trusts the serialized Arrow schema that writers embed under "ARROW:schema": a
	// corrupt length in it makes arrow-go allocate hundreds of GiB and the runtime abort, which
	// no recover catches (found by FuzzReadBytes). Columns are matched by name here, so the
	// schema is derived from the Parquet schema alone: hide the embedded one from pqarrow.
	for _, e := range kv {
		if e.Key == "ARROW:schema" {
			e.Key = "lsrflow:ignored:ARROW:schema"
		}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		return schemas.Errorf(schemas.ReasonInvalid, "parquet schema: %v", err)
	}
	var leaves []int
	if cols != nil {
		sc := pf.MetaData().Schema
		for _, c := range cols {
			if i := sc.ColumnIndexByName(c); i >= 0 {
				leaves = append(leaves, i)
			}
		}
	}
	if pf.NumRowGroups() == 0 {
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return schemas.Errorf(schemas.ReasonInvalid, "parquet columns: %v", err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, err := arrowipc.Decode(rr.RecordBatch())
		if err != nil {
			return err
		}
		if err := fn(recs); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return schemas.Errorf(schemas.ReasonInvalid, "parquet read: %v", err)
	}
	return nil
}

// Open opens (or resumes) an idempotent Parquet part sink; the compacted file is
// cfg.Dir/cfg.Name + ".parquet" (scored.parquet by default).
func Open(ctx context.Context, cfg arrowipc.Config) (*arrowipc.PartSink, error) {
	return arrowipc.OpenPartSink(ctx, Format{}, cfg)
}
