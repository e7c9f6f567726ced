package ingest

import (
	"bytes"
	"net/http"
	"regexp"
	"testing"

	"github.com/lsrflow/lsrflow/streams/memory"
)

// refLines is an independent line splitter (regexp over the whole body) for the tests: the
// non-blank lines with their 1-based numbers. A line longer than limit counts as non-blank
// whatever it holds.
func refLines(body []byte, limit int) (nums []int, lines [][]byte) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if len(body) == 0 {
		return nil, nil
	}
	parts := regexp.MustCompile(`\r\n|\r|\n`).Split(string(body), -1)
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	for i, p := range parts {
		if len(p) > limit || len(bytes.TrimSpace([]byte(p))) > 0 {
			nums = append(nums, i+1)
			lines = append(lines, []byte(p))
		}
	}
	return nums, lines
}

// FuzzPost: any body is answered 200 or 413, never panics, and every non-blank line is
// accounted for exactly once (accepted, duplicate or dead-lettered) with matching messages on
// the topics and listed line numbers that exist.
func FuzzPost(f *testing.F) {
	for _, s := range []string{
		"who wrote hamlet\n", `{"question":"q","golden_answers":["a"]}`, `{"question": broken`, "\xff\xfe\n", "a\r\nb\r\n\r\n",
		"\xef\xbb\xbfq\n", `[1]`, `{"query":"x","id":7}`, "x\n" + string(bytes.Repeat([]byte("y"), 300)), "a\rb\r\rc", "1\n2\n\"s\"\nnull\n",
		"x\x00y\n", "C++\nC#\nc++\n", "\r\n\n\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := memory.New()
		defer tr.Close()
		h, err := New(Options{Publisher: tr, QueriesTopic: qTopic, DeadLettersTopic: dTopic,
			Limits: Limits{MaxBody: 4096, MaxLineBytes: 256, DeadLetterPayload: 64}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		rec, res := post(t, h, string(body))
		switch rec.Code {
		case http.StatusRequestEntityTooLarge:
			if len(body) <= 4096 {
				t.Fatalf("413 for %d bytes", len(body))
			}
			return
		case http.StatusUnsupportedMediaType:
			if !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				t.Fatalf("415 for a body not starting with the gzip magic: %q", body)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		nums, _ := refLines(body, 256)
		if res.Lines != len(nums) || res.Accepted+res.Duplicates+res.DeadLettered != len(nums) {
			t.Fatalf("%+v does not account for %d lines", res, len(nums))
		}
		if len(tr.Messages(qTopic)) != res.Accepted || len(tr.Messages(dTopic)) > res.DeadLettered {
			t.Fatalf("%+v but %d queries and %d dead letters published", res, len(tr.Messages(qTopic)), len(tr.Messages(dTopic)))
		}
		exists := map[int]bool{}
		for _, n := range nums {
			exists[n] = true
		}
		listed := map[int]bool{}
		check := func(s string) int {
			ns := parseLineRanges(t, s)
			for _, n := range ns {
				if !exists[n] || listed[n] {
					t.Fatalf("line %d listed in %+v: blank, absent or listed twice (lines %v)", n, res, nums)
				}
				listed[n] = true
			}
			return len(ns)
		}
		if check(res.DuplicateLines) != res.Duplicates {
			t.Fatalf("duplicate lines %q, count %d", res.DuplicateLines, res.Duplicates)
		}
		dead := 0
		for _, s := range res.DeadLetteredLines {
			dead += check(s)
		}
		if dead != res.DeadLettered {
			t.Fatalf("dead-lettered lines %v, count %d", res.DeadLetteredLines, res.DeadLettered)
		}
	})
}

// FuzzLineSplitter compares the splitter with refLines, for line limits that cut lines.
func FuzzLineSplitter(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb\r\n", "a\rb\r", "\r\n\r\n", "\xef\xbb\xbfx\ry", "\xef\xbb", "long line here\nx", " \t\n\vx"} {
		f.Add([]byte(s), uint8(4))
	}
	f.Fuzz(func(t *testing.T, body []byte, max uint8) {
		limit := int(max%32) + 1
		keep := limit / 2
		nums, lines := refLines(body, limit)
		// Small reads exercise every chunk boundary.
		sp := newLineSplitter(&oneByteReader{b: body}, limit, keep)
		for i := 0; ; i++ {
			l, err := sp.next()
			if err != nil {
				if i != len(nums) {
					t.Fatalf("%d lines, want %d (%q)", i, len(nums), body)
				}
				return
			}
			if i >= len(nums) {
				t.Fatalf("extra line %+v", l)
			}
			want := lines[i]
			if l.num != nums[i] || l.size != int64(len(want)) || l.tooLong != (len(want) > limit) {
				t.Fatalf("line %d: %+v, want number %d, %q", i, l, nums[i], want)
			}
			if l.tooLong {
				if !bytes.Equal(l.data, want[:keep]) || l.sum != sha256Sum(want) {
					t.Fatalf("long line %d: kept %q, want %q and its digest", i, l.data, want[:keep])
				}
			} else if !bytes.Equal(l.data, want) {
				t.Fatalf("line %d: %q, want %q", i, l.data, want)
			}
		}
	})
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, ioEOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}
