package ingest

import (
	"crypto/sha256"
	"io"
	"strings"
	"testing"
)

var ioEOF = io.EOF

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func TestLineSplitter(t *testing.T) {
	type want struct {
		num  int
		data string
		long bool
		size int64
	}
	for _, c := range []struct {
		name string
		body string
		max  int
		want []want
	}{
		{"LF", "a\nbb\n", 10, []want{{1, "a", false, 1}, {2, "bb", false, 2}}},
		{"CRLF and lone CR", "a\r\nb\rc\n\rd", 10, []want{{1, "a", false, 1}, {2, "b", false, 1}, {3, "c", false, 1}, {5, "d", false, 1}}},
		{"blank lines counted, skipped", "\n \n\t\nx", 10, []want{{4, "x", false, 1}}},
		{"BOM", "\xef\xbb\xbfq\n", 10, []want{{1, "q", false, 1}}},
		{"too long keeps a prefix", "0123456789abc\nok", 10, []want{{1, "0123", true, 13}, {2, "ok", false, 2}}},
		{"exactly max", "0123456789\n", 10, []want{{1, "0123456789", false, 10}}},
		{"no final newline", "x\ny", 10, []want{{1, "x", false, 1}, {2, "y", false, 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := newLineSplitter(strings.NewReader(c.body), c.max, 4)
			var got []want
			for {
				l, err := sp.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, want{l.num, string(l.data), l.tooLong, l.size})
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("line %d: %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// A line far beyond the limit is never held whole: the splitter's memory stays at its buffer.
func TestLineSplitterLongLineMemory(t *testing.T) {
	const size = 64 << 20
	sp := newLineSplitter(io.LimitReader(zeroReader{}, size), 1024, 16)
	l, err := sp.next()
	if err != nil || !l.tooLong || l.size != size || len(l.data) != 16 {
		t.Fatalf("%v: long %v size %d kept %d", err, l.tooLong, l.size, len(l.data))
	}
	if c := cap(sp.line); c > 4096 {
		t.Fatalf("the splitter grew its line buffer to %d bytes for a %d-byte line", c, size)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}
