package schemas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// DefaultMaxLine is the default limit on one input line (1 MiB).
const DefaultMaxLine = 1 << 20

// Line is one line of an input file, without its newline. Err is set (a *DecodeError with
// ReasonTooLong) when the line exceeded the limit; Bytes then holds its first MaxLine bytes.
type Line struct {
	Number int // 1-based
	Bytes  []byte
	Err    error
}

// LineReader reads newline-separated records with a size limit. Unlike bufio.Scanner it does
// not stop at a long line: it reports it and goes on with the next one.
type LineReader struct {
	r       *bufio.Reader
	max     int
	n       int
	skipBOM bool
}

// NewLineReader reads lines of at most max bytes (DefaultMaxLine when max <= 0).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max, skipBOM: true}
}

// Next returns the next line, or io.EOF. Blank lines are skipped.
func (lr *LineReader) Next() (Line, error) {
	for {
		line, tooLong, err := lr.read()
		if err != nil && (err != io.EOF || (len(line) == 0 && !tooLong)) {
			return Line{}, err
		}
		lr.n++
		if lr.skipBOM {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			lr.skipBOM = false
		}
		if tooLong {
			return Line{Number: lr.n, Bytes: line, Err: Errorf(ReasonTooLong, "line %d is longer than %d bytes", lr.n, lr.max)}, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return Line{}, io.EOF
			}
			continue
		}
		return Line{Number: lr.n, Bytes: line}, nil
	}
}

// read returns one line (at most max bytes kept), whether it was longer than max, and io.EOF
// after the last line.
func (lr *LineReader) read() ([]byte, bool, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		content := len(chunk)
		if content > 0 && chunk[content-1] == '\n' {
			content-- // the newline itself does not count toward the limit (a CR does)
		}
		if len(buf)+content > lr.max {
			tooLong = true
			if room := lr.max - len(buf); room > 0 {
				buf = append(buf, chunk[:min(room, len(chunk))]...)
			}
		} else if !tooLong {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			return trimEOL(buf), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return trimEOL(buf), tooLong, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// CorpusDoc is one FlashRAG corpus line.
type CorpusDoc struct {
	ID       string `json:"id"`
	Contents string `json:"contents"`
}

// DecodeCorpusDoc decodes a corpus line. A line without "contents" uses its "text" alone, as
// FlashRAG's load_corpus does (flashrag/retriever/utils.py: the "text" column becomes
// "contents"; a "title" is not added).
func DecodeCorpusDoc(b []byte) (CorpusDoc, error) {
	var raw struct {
		ID       json.RawMessage `json:"id"`
		Contents string          `json:"contents"`
		Text     string          `json:"text"`
	}
	if err := decodeObject(b, &raw); err != nil {
		return CorpusDoc{}, err
	}
	id, err := flexibleID(raw.ID)
	if err != nil {
		return CorpusDoc{}, err
	}
	d := CorpusDoc{ID: id, Contents: raw.Contents}
	if d.ID == "" {
		return CorpusDoc{}, Errorf(ReasonInvalid, "corpus line has no id")
	}
	if d.Contents == "" {
		d.Contents = raw.Text
	}
	if strings.TrimSpace(d.Contents) == "" {
		return CorpusDoc{}, Errorf(ReasonInvalid, "corpus line %q has no contents", d.ID)
	}
	return d, nil
}

// DecodeFile streams the records of a JSON-lines file: each line is decoded with decode and
// handed to fn. Over-long and undecodable lines are counted in bad and skipped; ctx is checked
// between lines; an error from fn stops the read and is returned. maxLine <= 0 means
// DefaultMaxLine.
func DecodeFile[T any](ctx context.Context, path string, maxLine int, decode func([]byte) (T, error), fn func(T) error) (bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lr := NewLineReader(f, maxLine)
	for {
		if err := ctx.Err(); err != nil {
			return bad, err
		}
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			return bad, fmt.Errorf("read %s: %w", path, err)
		}
		if line.Err != nil {
			bad++
			continue
		}
		rec, err := decode(line.Bytes)
		if err != nil {
			bad++
			continue
		}
		if err := fn(rec); err != nil {
			return bad, err
		}
	}
}
