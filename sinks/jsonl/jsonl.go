package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Options configure a sink.
type Options[T any] struct {
	// Key returns a record's identity. Required.
	Key func(T) string
	// Decode parses an existing line back into a record, to rebuild the key set on open.
	// Lines it rejects are kept in the file and keyed by their content hash.
	Decode func([]byte) (T, error)
	// Encode marshals a record (default json.Marshal).
	Encode func(T) ([]byte, error)
	// Sync makes Flush fsync the file.
	Sync bool
}

// Sink appends JSON lines to one file. Safe for concurrent use.
type Sink[T any] struct {
	mu    sync.Mutex
	f     *os.File
	path  string
	opts  Options[T]
	seen  map[string]struct{}
	dirty bool
}

// Open opens (creating it and its directory if needed) the sink file at path.
func Open[T any](path string, opts Options[T]) (*Sink[T], error) {
	if opts.Key == nil {
		return nil, errors.New("jsonl: Options.Key is required")
	}
	if opts.Encode == nil {
		opts.Encode = func(v T) ([]byte, error) { return json.Marshal(v) }
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	s := &Sink[T]{f: f, path: path, opts: opts, seen: map[string]struct{}{}}
	if err := s.load(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return s, nil
}

// load indexes the existing lines and truncates a torn tail.
func (s *Sink[T]) load() error {
	r := bufio.NewReaderSize(s.f, 1<<20)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // line without '\n' (possibly empty): a torn write, dropped below
		}
		if err != nil {
			return fmt.Errorf("jsonl: reading %s: %w", s.path, err)
		}
		good += int64(len(line))
		s.seen[s.keyOfLine(bytes.TrimSuffix(line, []byte("\n")))] = struct{}{}
	}
	if err := s.f.Truncate(good); err != nil {
		return fmt.Errorf("jsonl: truncating torn tail of %s: %w", s.path, err)
	}
	if _, err := s.f.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

func (s *Sink[T]) keyOfLine(line []byte) string {
	if s.opts.Decode != nil {
		if v, err := s.opts.Decode(line); err == nil {
			return s.opts.Key(v)
		}
	}
	sum := sha256.Sum256(line)
	return "raw:" + string(sum[:])
}

// Write appends rec unless its key is already in the file.
func (s *Sink[T]) Write(_ context.Context, rec T) (bool, error) {
	key := s.opts.Key(rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return false, errors.New("jsonl: sink is closed")
	}
	if _, ok := s.seen[key]; ok {
		return false, nil
	}
	b, err := s.opts.Encode(rec)
	if err != nil {
		return false, fmt.Errorf("jsonl: encode: %w", err)
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		return false, errors.New("jsonl: encoded record contains a newline")
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return false, fmt.Errorf("jsonl: write %s: %w", s.path, err)
	}
	s.seen[key] = struct{}{}
	s.dirty = true
	return true, nil
}

// Has reports whether a record with key is stored.
func (s *Sink[T]) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[key]
	return ok
}

// Len is the number of distinct records stored.
func (s *Sink[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// Flush fsyncs when the sink was opened with Sync; writes already reached the OS.
func (s *Sink[T]) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil || !s.dirty || !s.opts.Sync {
		return nil
	}
	s.dirty = false
	return s.f.Sync()
}

// Close flushes and closes the file.
func (s *Sink[T]) Close() error {
	if err := s.Flush(context.Background()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// ReadAll decodes every line of a JSON-lines file with decode, stopping at the first error.
func ReadAll[T any](path string, decode func([]byte) (T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		v, err := decode(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
