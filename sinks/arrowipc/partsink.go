package arrowipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks"
)

// BatchWriter writes record batches into one columnar file. Close writes the footer; it must
// not close the underlying writer (the part sink syncs and renames the file itself).
type BatchWriter interface {
	Write(rec arrow.RecordBatch) error
	Close() error
}

// Format is a columnar file format the part sink can roll: Arrow IPC (this package) or
// Parquet (sinks/parquet).
type Format interface {
	// Ext is the file name extension, with the dot (".arrow", ".parquet").
	Ext() string
	// NewWriter starts a file on w; batchRows is the sink's batch (row group) size.
	NewWriter(w io.Writer, batchRows int) (BatchWriter, error)
	// Read streams the scored records of a finished file to fn, batch by batch.
	Read(ctx context.Context, path string, fn func([]schemas.Scored) error) error
	// ReadKeys returns the DedupKey of every record of a finished file.
	ReadKeys(ctx context.Context, path string) ([]string, error)
}

// Config configures a part sink.
type Config struct {
	// Dir is the output directory; Name the base name of the compacted file ("scored").
	Dir, Name string
	// BatchRows records are buffered in memory before they are written as one batch (Arrow
	// IPC record batch, Parquet row group). Default 256.
	BatchRows int
	// PartRows rolls to a new part file after this many rows. Default 50,000.
	PartRows int
	// NoCompact leaves the parts as they are at Close instead of merging them into one file.
	NoCompact bool
}

func (c *Config) defaults() error {
	if c.Dir == "" {
		return errors.New("config: Dir is empty")
	}
	if c.Name == "" {
		c.Name = "scored"
	}
	if strings.ContainsAny(c.Name, `/\`) {
		return fmt.Errorf("config: Name %q must be a plain file name", c.Name)
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 256
	}
	if c.PartRows <= 0 {
		c.PartRows = 50_000
	}
	if c.PartRows < c.BatchRows {
		c.PartRows = c.BatchRows
	}
	return nil
}

// PartSink is an idempotent sink of scored records over rolling columnar part files.
//
// Layout under Dir: finished parts in ".NAME.EXT.parts/part-NNNNNN.EXT", each finished by fsync +
// atomic rename; the part being written is "part-NNNNNN.EXT.tmp". Close (unless NoCompact)
// merges every part and an existing NAME.EXT into a new NAME.EXT, atomically, and removes the
// parts. Open discards *.tmp files (their inputs were never committed, so they will be
// redelivered) and rebuilds the set of keys from the finished files, so records are unique by
// Scored.DedupKey across restarts. Not safe for concurrent use.
type PartSink struct {
	format Format
	cfg    Config
	seen   map[string]struct{}
	b      *Builder

	part     *os.File
	partW    BatchWriter
	partRows int
	nextPart int

	err    error // sticky: a failed write leaves the sink unusable
	closed bool
}

var _ sinks.Sink[schemas.Scored] = (*PartSink)(nil)

// OpenPartSink opens (or resumes) a part sink in cfg.Dir.
func OpenPartSink(ctx context.Context, format Format, cfg Config) (*PartSink, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &PartSink{format: format, cfg: cfg, seen: map[string]struct{}{}, nextPart: 1}
	if err := os.MkdirAll(s.partsDir(), 0o755); err != nil {
		return nil, fmt.Errorf("open sink: %w", err)
	}
	_ = os.Remove(s.finalPath() + ".tmp")
	parts, err := s.listParts(true)
	if err != nil {
		return nil, err
	}
	files := parts
	if _, err := os.Stat(s.finalPath()); err == nil {
		files = append([]string{s.finalPath()}, parts...)
	}
	for _, f := range files {
		keys, err := format.ReadKeys(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("open sink: rebuild keys from %s: %w", f, err)
		}
		for _, k := range keys {
			s.seen[k] = struct{}{}
		}
	}
	for _, p := range parts {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(p), "part-%06d", &n); err == nil && n >= s.nextPart {
			s.nextPart = n + 1
		}
	}
	s.b = NewBuilder(nil)
	return s, nil
}

// partsDir is per format, so that a Parquet and an Arrow sink of the same Name can share Dir.
func (s *PartSink) partsDir() string {
	return filepath.Join(s.cfg.Dir, "."+s.cfg.Name+s.format.Ext()+".parts")
}
func (s *PartSink) finalPath() string { return filepath.Join(s.cfg.Dir, s.cfg.Name+s.format.Ext()) }

// Path is the compacted file's path (it exists after Close or Compact).
func (s *PartSink) Path() string { return s.finalPath() }

// Len is the number of distinct records the sink holds (durable or buffered).
func (s *PartSink) Len() int { return len(s.seen) }

// listParts returns the finished parts in order; with clean it deletes unfinished temp files.
func (s *PartSink) listParts(clean bool) ([]string, error) {
	ents, err := os.ReadDir(s.partsDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list parts: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			if clean {
				if err := os.Remove(filepath.Join(s.partsDir(), name)); err != nil {
					return nil, fmt.Errorf("discard unfinished part: %w", err)
				}
			}
		case strings.HasPrefix(name, "part-") && strings.HasSuffix(name, s.format.Ext()):
			out = append(out, filepath.Join(s.partsDir(), name))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *PartSink) usable() error {
	if s.closed {
		return errors.New("sink is closed")
	}
	return s.err
}

// Write buffers rec unless a record with its DedupKey is already held; it reports whether rec
// was new. Records with an empty id are rejected.
func (s *PartSink) Write(ctx context.Context, rec schemas.Scored) (bool, error) {
	if err := s.usable(); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if rec.ID == "" {
		return false, schemas.Errorf(schemas.ReasonInvalid, "scored record has no id")
	}
	k := rec.DedupKey()
	if _, ok := s.seen[k]; ok {
		return false, nil
	}
	s.seen[k] = struct{}{}
	if rec.SchemaVersion == 0 {
		rec.SchemaVersion = schemas.ScoredVersion
	}
	s.b.Append(rec)
	if s.b.Len() >= s.cfg.BatchRows {
		if err := s.writeBatch(); err != nil {
			return true, err
		}
		if s.partRows >= s.cfg.PartRows {
			if err := s.finishPart(); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

func (s *PartSink) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

func (s *PartSink) writeBatch() error {
	if s.b.Len() == 0 {
		return nil
	}
	if s.part == nil {
		name := filepath.Join(s.partsDir(), fmt.Sprintf("part-%06d%s.tmp", s.nextPart, s.format.Ext()))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return s.fail(fmt.Errorf("create part: %w", err))
		}
		w, err := s.format.NewWriter(plainWriter{f}, s.cfg.BatchRows)
		if err != nil {
			f.Close()
			return s.fail(fmt.Errorf("start part: %w", err))
		}
		s.part, s.partW, s.partRows = f, w, 0
	}
	n := s.b.Len()
	batch := s.b.NewBatch()
	defer batch.Release()
	if err := s.partW.Write(batch); err != nil {
		return s.fail(fmt.Errorf("write batch to %s: %w", s.part.Name(), err))
	}
	s.partRows += n
	return nil
}

// finishPart writes the footer, syncs and renames the current part into place.
func (s *PartSink) finishPart() error {
	if s.part == nil {
		return nil
	}
	f := s.part
	s.part = nil
	if err := s.partW.Close(); err != nil {
		f.Close()
		return s.fail(fmt.Errorf("finish part: %w", err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return s.fail(fmt.Errorf("sync part: %w", err))
	}
	if err := f.Close(); err != nil {
		return s.fail(fmt.Errorf("close part: %w", err))
	}
	final := strings.TrimSuffix(f.Name(), ".tmp")
	if err := os.Rename(f.Name(), final); err != nil {
		return s.fail(fmt.Errorf("rename part: %w", err))
	}
	if err := syncDir(s.partsDir()); err != nil {
		return s.fail(err)
	}
	s.nextPart++
	return nil
}

// Flush writes the buffered records and finishes the current part, so that everything
// written so far is durable in finished files.
func (s *PartSink) Flush(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.writeBatch(); err != nil {
		return err
	}
	return s.finishPart()
}

// Close flushes, compacts (unless NoCompact) and releases the sink.
func (s *PartSink) Close() error {
	if s.closed {
		return nil
	}
	ctx := context.Background()
	err := s.Flush(ctx)
	if err == nil && !s.cfg.NoCompact {
		err = s.Compact(ctx)
	}
	s.closed = true
	s.b.Release()
	return err
}

// Compact merges the existing compacted file and every finished part, first occurrence of a
// key winning, into a new compacted file (written to a temp file, synced, renamed), then
// removes the parts. Buffered records are not included: call Flush first. A crash at any point
// leaves either the old or the new compacted file, and parts that a later open or Compact
// de-duplicates against it.
func (s *PartSink) Compact(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	parts, err := s.listParts(false)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return os.RemoveAll(s.partsDir())
	}
	final := s.finalPath()
	sources := parts
	if _, err := os.Stat(final); err == nil {
		sources = append([]string{final}, parts...)
	}
	if len(sources) == 1 {
		if err := os.Rename(sources[0], final); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	} else if err := mergeFiles(ctx, s.format, sources, final, s.cfg.BatchRows); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		return err
	}
	if err := os.RemoveAll(s.partsDir()); err != nil {
		return fmt.Errorf("compact: remove parts: %w", err)
	}
	return syncDir(s.cfg.Dir)
}

// mergeFiles writes the distinct records of sources (in order) to dst via dst.tmp + rename.
func mergeFiles(ctx context.Context, format Format, sources []string, dst string, batchRows int) error {
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	w, err := format.NewWriter(plainWriter{f}, batchRows)
	if err != nil {
		f.Close()
		return err
	}
	b := NewBuilder(nil)
	defer b.Release()
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		batch := b.NewBatch()
		defer batch.Release()
		return w.Write(batch)
	}
	seen := map[string]struct{}{}
	for _, src := range sources {
		err := format.Read(ctx, src, func(recs []schemas.Scored) error {
			for _, r := range recs {
				k := r.DedupKey()
				if _, ok := seen[k]; ok {
					continue
				}
				seen[k] = struct{}{}
				b.Append(r)
				if b.Len() >= batchRows {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			f.Close()
			return fmt.Errorf("read %s: %w", src, err)
		}
	}
	if err := flush(); err != nil {
		f.Close()
		return err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// plainWriter hides Close from writers that would otherwise close the file before it is synced.
type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
