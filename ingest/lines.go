package ingest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
)

// rawLine is one line of a request body, without its terminator.
type rawLine struct {
	num int // physical line number, 1-based (blank lines count)
	// data is the whole line, or its first keep bytes when tooLong.
	data    []byte
	size    int64    // length of the whole line in bytes
	sum     [32]byte // sha256 of the whole line; set only when tooLong
	tooLong bool
}

// lineSplitter splits a body into lines ended by LF, CRLF or a lone CR (old Mac logs, some
// log shippers), so CR-only files do not merge into one line. It keeps at most max bytes of
// a line; a longer one is reported tooLong with its first keep bytes, its length and digest,
// without ever holding it whole. A UTF-8 byte order mark at the start is dropped; blank
// lines (only white space, within the limit) are skipped (their numbers are still counted).
type lineSplitter struct {
	r         io.Reader
	buf       []byte
	start     int
	end       int
	err       error
	max, keep int
	num       int
	first     bool
	skipLF    bool // the previous line ended in CR: a leading LF belongs to it
	busy      bool // grow refused
	line      []byte
	h         hash.Hash
	// grow, when set, is asked before the line buffer grows by n bytes; false stops the
	// splitter with errBusy.
	grow func(n int) bool
}

func newLineSplitter(r io.Reader, max, keep int) *lineSplitter {
	return &lineSplitter{r: r, buf: make([]byte, 32<<10), max: max, keep: min(keep, max), first: true}
}

// fill reads more input into buf; it returns false at the end of input or on error (in s.err).
func (s *lineSplitter) fill() bool {
	if s.err != nil {
		return false
	}
	if s.start == s.end {
		s.start, s.end = 0, 0
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if err != nil {
		s.err = err
	}
	return n > 0 || err == nil
}

// next returns the next non-blank line, io.EOF at the end, or the reader's error.
func (s *lineSplitter) next() (rawLine, error) {
	for {
		l, ok, err := s.read()
		if err != nil {
			return rawLine{}, err
		}
		if !ok {
			return rawLine{}, io.EOF
		}
		if l.tooLong || len(bytes.TrimSpace(l.data)) > 0 {
			return l, nil
		}
	}
}

// read returns the next physical line; ok is false at the end of input.
func (s *lineSplitter) read() (rawLine, bool, error) {
	if s.first {
		s.first = false
		for s.end-s.start < 3 && s.fill() {
		}
		if bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xef\xbb\xbf")) {
			s.start += 3
		}
	}
	s.line = s.line[:0]
	s.h = nil
	var size int64
	seen := false // any byte (or terminator) of this line consumed
	for {
		if s.busy {
			return rawLine{}, false, errBusy
		}
		if s.start == s.end && !s.fill() {
			if s.err != nil && !errors.Is(s.err, io.EOF) {
				return rawLine{}, false, s.err
			}
			if !seen {
				return rawLine{}, false, nil
			}
			return s.finish(size), true, nil
		}
		chunk := s.buf[s.start:s.end]
		if s.skipLF {
			s.skipLF = false
			if chunk[0] == '\n' {
				s.start++
				continue
			}
		}
		seen = true
		i := bytes.IndexAny(chunk, "\r\n")
		part := chunk
		if i >= 0 {
			part = chunk[:i]
		}
		size += int64(len(part))
		s.add(part, size)
		if i < 0 {
			s.start = s.end
			continue
		}
		s.start += i + 1
		if chunk[i] == '\r' {
			s.skipLF = true
		}
		return s.finish(size), true, nil
	}
}

// add appends part (the line now being size bytes long) to the kept bytes, switching to
// hashing once the line exceeds max.
func (s *lineSplitter) add(part []byte, size int64) {
	if s.h == nil && size <= int64(s.max) {
		s.append(part)
		return
	}
	if s.h == nil {
		s.h = sha256.New()
		s.h.Write(s.line)
		if len(s.line) > s.keep {
			s.line = s.line[:s.keep]
		}
	}
	s.h.Write(part)
	if room := s.keep - len(s.line); room > 0 {
		s.append(part[:min(room, len(part))])
	}
}

// append adds b to the line buffer, asking grow for any new capacity.
func (s *lineSplitter) append(b []byte) {
	before := cap(s.line)
	s.line = append(s.line, b...)
	if c := cap(s.line); c > before && s.grow != nil && !s.grow(c-before) {
		s.busy = true
	}
}

func (s *lineSplitter) finish(size int64) rawLine {
	s.num++
	l := rawLine{num: s.num, size: size, data: bytes.Clone(s.line)}
	if s.h != nil {
		l.tooLong = true
		s.h.Sum(l.sum[:0])
	}
	return l
}
