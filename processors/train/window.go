package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/schemas"
)

// windowLog is the stage's own log of the records it admitted (JSON lines, newest last): a
// restarted stage rebuilds its dataset from it. When it holds more than twice as many lines
// as live records (those the dataset or the held-out set still hold) plus a slack, it is
// rewritten with the live ones only, so its size follows the windows, not the stream.
type windowLog struct {
	path  string
	sync  bool
	live  func(key string) bool
	slack int // the log is never compacted below this many lines
	lines int
	f     *os.File
	w     *bufio.Writer
}

func openWindowLog(path string, sync bool, slack int, live func(string) bool) (*windowLog, error) {
	n := 0
	if _, err := os.Stat(path); err == nil {
		if _, err := schemas.DecodeFile(context.Background(), path, 0, func(b []byte) ([]byte, error) { return nil, nil },
			func([]byte) error { n++; return nil }); err != nil {
			return nil, fmt.Errorf("train stage: %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &windowLog{path: path, sync: sync, slack: slack, live: live, lines: n, f: f, w: bufio.NewWriter(f)}, nil
}

func (l *windowLog) append(r schemas.Scored) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	l.lines++
	_, err = l.w.Write(append(b, '\n'))
	return err
}

// flush writes buffered records (fsynced when sync) and compacts an oversized log.
func (l *windowLog) flush() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	if l.sync {
		if err := l.f.Sync(); err != nil {
			return err
		}
	}
	if l.lines > l.slack && l.lines > 2*l.liveLines() {
		return l.compact()
	}
	return nil
}

// liveLines counts the live records (a cheap pass: the log is at most twice the windows).
func (l *windowLog) liveLines() int {
	n := 0
	_, _ = schemas.DecodeFile(context.Background(), l.path, 0, schemas.DecodeScored, func(r schemas.Scored) error {
		if l.live(r.DedupKey()) {
			n++
		}
		return nil
	})
	return n
}

// compact rewrites the log with its live records, in order (temp file, fsync, rename).
func (l *windowLog) compact() error {
	tmp, err := os.CreateTemp(filepath.Dir(l.path), filepath.Base(l.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	kept := 0
	_, err = schemas.DecodeFile(context.Background(), l.path, 0, schemas.DecodeScored, func(r schemas.Scored) error {
		if !l.live(r.DedupKey()) {
			return nil
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		kept++
		_, err = w.Write(append(b, '\n'))
		return err
	})
	if err := errors.Join(err, w.Flush(), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	l.f, l.w, l.lines = f, bufio.NewWriter(f), kept
	return nil
}

func (l *windowLog) close() error {
	if l.f == nil {
		return nil
	}
	err := errors.Join(l.flush(), l.f.Close())
	l.f = nil
	return err
}
