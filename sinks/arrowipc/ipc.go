package arrowipc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lsrflow/lsrflow/schemas"
)

// Ext is the extension of Arrow IPC files written by this package.
const Ext = ".arrow"

// IPC is the Arrow IPC file format ("Feather v2"), uncompressed so that every Arrow reader
// opens it.
type IPC struct{}

var _ Format = IPC{}

// Ext implements Format.
func (IPC) Ext() string { return Ext }

// NewWriter implements Format.
func (IPC) NewWriter(w io.Writer, _ int) (BatchWriter, error) {
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("arrow ipc writer: %w", err)
	}
	return fw, nil
}

// Read implements Format.
func (IPC) Read(ctx context.Context, path string, fn func([]schemas.Scored) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readIPC(ctx, f, fn)
}

// ReadKeys implements Format.
func (x IPC) ReadKeys(ctx context.Context, path string) ([]string, error) {
	var keys []string
	err := x.Read(ctx, path, func(recs []schemas.Scored) error {
		for _, r := range recs {
			keys = append(keys, r.DedupKey())
		}
		return nil
	})
	return keys, err
}

// ReadFile reads every scored record of an Arrow IPC file.
func ReadFile(ctx context.Context, path string) ([]schemas.Scored, error) {
	var out []schemas.Scored
	err := IPC{}.Read(ctx, path, func(recs []schemas.Scored) error {
		out = append(out, recs...)
		return nil
	})
	return out, err
}

// ReadBytes reads every scored record of an Arrow IPC file held in memory. Malformed input is
// an error, never a panic.
func ReadBytes(ctx context.Context, data []byte) ([]schemas.Scored, error) {
	var out []schemas.Scored
	err := readIPC(ctx, bytes.NewReader(data), func(recs []schemas.Scored) error {
		out = append(out, recs...)
		return nil
	})
	return out, err
}

func readIPC(ctx context.Context, r ipc.ReadAtSeeker, fn func([]schemas.Scored) error) (err error) {
	defer recoverInto(&err)
	fr, err := ipc.NewFileReader(r, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return schemas.Errorf(schemas.ReasonInvalid, "not an Arrow IPC file: %v", err)
	}
	defer fr.Close()
	md := fr.Schema().Metadata()
	if _, err := CheckVersion(metaValue(md, MetaSchemaVersion)); err != nil {
		return err
	}
	for i := range fr.NumRecords() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := fr.RecordBatch(i)
		if err != nil {
			return schemas.Errorf(schemas.ReasonInvalid, "record batch %d: %v", i, err)
		}
		recs, err := Decode(rec)
		if err != nil {
			return err
		}
		if err := fn(recs); err != nil {
			return err
		}
	}
	return nil
}

func metaValue(md arrow.Metadata, key string) (string, bool) {
	i := md.FindKey(key)
	if i < 0 {
		return "", false
	}
	return md.Values()[i], true
}

// Open opens (or resumes) an idempotent Arrow IPC part sink; the compacted file is
// cfg.Dir/cfg.Name + ".arrow".
func Open(ctx context.Context, cfg Config) (*PartSink, error) {
	return OpenPartSink(ctx, IPC{}, cfg)
}
