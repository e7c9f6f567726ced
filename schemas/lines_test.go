package schemas

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, max int) []Line {
	t.Helper()
	lr := NewLineReader(strings.NewReader(in), max)
	var out []Line
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
}

func TestLineReaderLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		max     int
		want    []string
		tooLong []bool
	}{
		{"abcde\n", 5, []string{"abcde"}, []bool{false}},
		{"abcde", 5, []string{"abcde"}, []bool{false}},
		{"abcdef", 5, []string{"abcde"}, []bool{true}}, // no newline at the end: still too long
		{"abcdef\n", 5, []string{"abcde"}, []bool{true}},
		{"abcd\r\n", 5, []string{"abcd"}, []bool{false}},
		{"abcde\r\n", 5, []string{"abcde"}, []bool{true}},               // the CR is a byte of the line
		{"ab\n\n\ncd\n", 5, []string{"ab", "cd"}, []bool{false, false}}, // blank lines skipped
		{"\xef\xbb\xbfab\nxyz123456\nok", 5, []string{"ab", "xyz12", "ok"}, []bool{false, true, false}},
	} {
		got := readAll(t, tc.in, tc.max)
		if len(got) != len(tc.want) {
			t.Fatalf("%q: %d lines, want %d", tc.in, len(got), len(tc.want))
		}
		for i, l := range got {
			if string(l.Bytes) != tc.want[i] || (l.Err != nil) != tc.tooLong[i] {
				t.Fatalf("%q line %d: %q err=%v, want %q tooLong=%v", tc.in, i, l.Bytes, l.Err, tc.want[i], tc.tooLong[i])
			}
			if l.Err != nil && ReasonOf(l.Err) != ReasonTooLong {
				t.Fatalf("reason %q", ReasonOf(l.Err))
			}
		}
	}
}

// A long line spanning many buffer fills is reported once and the next line is intact.
func TestLineReaderLongLineThenGood(t *testing.T) {
	in := strings.Repeat("x", 300<<10) + "\n" + `{"question":"q"}` + "\n"
	got := readAll(t, in, 1000)
	if len(got) != 2 || got[0].Err == nil || len(got[0].Bytes) != 1000 || string(got[1].Bytes) != `{"question":"q"}` || got[1].Number != 2 {
		t.Fatalf("got %d lines: first err=%v len=%d", len(got), got[0].Err, len(got[0].Bytes))
	}
}

func TestDecodeFileCountsBadLinesAndStopsOnCallbackError(t *testing.T) {
	path := t.TempDir() + "/q.jsonl"
	body := `{"id":"a","question":"one"}` + "\n{broken\n" + `{"id":"b","question":"` + strings.Repeat("x", 200) + `"}` + "\n" + `{"id":"c","question":"three"}` + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	bad, err := DecodeFile(t.Context(), path, 100, DecodeQuery, func(q Query) error { ids = append(ids, q.ID); return nil })
	if err != nil || bad != 2 || strings.Join(ids, ",") != "a,c" {
		t.Fatalf("ids %v, bad %d, err %v; want a,c with 2 bad lines", ids, bad, err)
	}
	stop := errors.New("stop")
	ids = nil
	_, err = DecodeFile(t.Context(), path, 100, DecodeQuery, func(q Query) error { ids = append(ids, q.ID); return stop })
	if !errors.Is(err, stop) || len(ids) != 1 {
		t.Fatalf("callback error: err %v after %v", err, ids)
	}
	if _, err := DecodeFile(t.Context(), path+".missing", 0, DecodeQuery, func(Query) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
