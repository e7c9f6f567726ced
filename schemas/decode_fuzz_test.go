package schemas

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every decoder of outside input. Invariants: no panic; every error is a
// *DecodeError with a reason; every decoded record re-encodes to JSON that decodes to the
// same value. Nasty seeds live in testdata/fuzz/<Target>/.

var fuzzSeeds = []string{
	``, ` `, `{}`, `[]`, `null`, `"str"`, `{"question":null}`, `{"question":""}`, `{"question":" \t"}`,
	`{"id":1.5e300,"question":"q","golden_answers":"one"}`, `{"id":{"x":1},"question":"q"}`,
	`{"id":"a","question":"q","golden_answers":[1,2]}`, `{"schema_version":99,"question":"q"}`,
	`{"schema_version":-1,"question":"q"}`, `{"question":"q","time":"not a time"}`,
	"{\"question\":\"\xff\xfe\"}", "\xef\xbb\xbf{\"question\":\"bom\"}", `{"question":"q"} trailing`,
	`{"question":"\u0000\ud800"}`, `{"query":"from log"}`, `{"text":"t","source":"s"}`, `plain text question?`,
	`{"id":"x","query":{"schema_version":1,"id":"x","question":"q"},"docs":[{"id":"","contents":"c"}]}`,
	`{"id":"x","query":"q","pos":["a","b"],"scores":[0.5,0.5],"passage_ids":["1","2"],"retriever_scores":[1,2],"teacher_scores":[0,1]}`,
	`{"id":"x","query":"q","pos":["a"],"scores":[2],"passage_ids":["1"],"retriever_scores":[1],"teacher_scores":[0]}`,
	`{"stage":"retrieve","reason":"broken_json","payload":"e30="}`, `{"stage":"s","reason":"r","payload":"!!"}`,
	`{"id":"d1","contents":"Title\ntext"}`, `{"id":7,"title":"T","text":"x"}`, `{"id":"d","contents":"   "}`,
	`{"question":"q","choices":["a","b"],"golden_answers":[1]}`, `{"question":"q","choices":["a"],"golden_answers":[-5]}`,
	`{"question":"q","choices":null,"golden_answers":[0]}`, `{"question":"q","golden_answers":["a"],"seed_answer":"a"}`,
	strings.Repeat(`{"a":`, 10000) + strings.Repeat(`}`, 10000),
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

func checkReason(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason == "" {
		t.Fatalf("error without a reason: %T %v", err, err)
	}
}

func reencode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("decoded value does not re-encode: %v", err)
	}
	return b
}

// sameQuery compares queries treating nil and empty slices alike and times by instant.
func sameQuery(a, b Query) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	if len(a.GoldenAnswers) == 0 && len(b.GoldenAnswers) == 0 {
		a.GoldenAnswers, b.GoldenAnswers = nil, nil
	}
	if len(a.GoldDocIDs) == 0 && len(b.GoldDocIDs) == 0 {
		a.GoldDocIDs, b.GoldDocIDs = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func FuzzDecodeQuery(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeQuery(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		q2, err := DecodeQuery(reencode(t, q))
		if err != nil || !sameQuery(q, q2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", q, q2, err)
		}
	})
}

func FuzzDecodeLogLine(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeLogLine(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		if strings.TrimSpace(q.Question) == "" || q.ID == "" {
			t.Fatalf("decoded query without question or id: %+v", q)
		}
		q2, err := DecodeLogLine(reencode(t, q))
		if err != nil || !sameQuery(q, q2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", q, q2, err)
		}
	})
}

func FuzzDecodeCandidates(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCandidates(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		c2, err := DecodeCandidates(reencode(t, c))
		if err != nil || !sameQuery(c.Query, c2.Query) {
			t.Fatalf("round trip: %+v -> %+v (%v)", c, c2, err)
		}
		c.Query, c2.Query = Query{}, Query{}
		if len(c.Docs) == 0 && len(c2.Docs) == 0 {
			c.Docs, c2.Docs = nil, nil
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip: %+v -> %+v", c, c2)
		}
	})
}

func FuzzDecodeScored(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeScored(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		s2, err := DecodeScored(reencode(t, s))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normScored(s), normScored(s2)) {
			t.Fatalf("round trip: %+v -> %+v", s, s2)
		}
	})
}

// normScored maps empty slices of omitempty fields to nil.
func normScored(s Scored) Scored {
	if len(s.GoldenAnswers) == 0 {
		s.GoldenAnswers = nil
	}
	if len(s.AnswerMatch) == 0 {
		s.AnswerMatch = nil
	}
	return s
}

func FuzzDecodeDeadLetter(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDeadLetter(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		d2, err := DecodeDeadLetter(reencode(t, d))
		if err != nil || !d.Time.Equal(d2.Time) || d.DedupKey() != d2.DedupKey() || !bytes.Equal(d.Payload, d2.Payload) {
			t.Fatalf("round trip: %+v -> %+v (%v)", d, d2, err)
		}
		d.Time, d2.Time = time.Time{}, time.Time{}
		d.Payload, d2.Payload = nil, nil
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip: %+v -> %+v", d, d2)
		}
	})
}

func FuzzDecodeCorpusDoc(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeCorpusDoc(b)
		if err != nil {
			checkReason(t, err)
			return
		}
		d2, err := DecodeCorpusDoc(reencode(t, d))
		if err != nil || d != d2 {
			t.Fatalf("round trip: %+v -> %+v (%v)", d, d2, err)
		}
	})
}

// FuzzLineReader checks LineReader against a plain split of the input: the same non-blank
// lines in order, '\r\n' endings trimmed, a leading BOM dropped, and lines longer than max
// reported (not returned whole) without stopping the reader.
func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"", "\n", "a\nb\n", "a\r\nb", "\xef\xbb\xbfx\n", " \n\t\n", "toolongline\nok\n", "abcd\r\n", "abcdef", "\r\r\n\n", "x\n\xef\xbb\xbfy"} {
		f.Add([]byte(s), uint8(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, max8 uint8) {
		max := int(max8%64) + 1
		lr := NewLineReader(bytes.NewReader(data), max)
		parts := bytes.Split(data, []byte("\n"))
		if len(parts) > 0 && len(parts[len(parts)-1]) == 0 {
			parts = parts[:len(parts)-1]
		}
		want := parts
		var got []Line
		for {
			l, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got = append(got, l)
			if len(got) > len(data)+1 {
				t.Fatal("reader does not terminate")
			}
		}
		// reference: number each raw line, drop blank ones
		j := 0
		for i, raw := range want {
			content := bytes.TrimSuffix(raw, []byte("\r"))
			if i == 0 {
				content = bytes.TrimPrefix(content, []byte("\xef\xbb\xbf")) // the BOM counts towards the limit
			}
			rawLen := len(raw)
			tooLong := rawLen > max
			if !tooLong && len(bytes.TrimSpace(content)) == 0 {
				continue
			}
			if j >= len(got) {
				t.Fatalf("line %d (%q) missing; got %d lines", i+1, raw, len(got))
			}
			l := got[j]
			j++
			if l.Number != i+1 {
				t.Fatalf("line %q numbered %d, want %d", raw, l.Number, i+1)
			}
			if tooLong {
				if ReasonOf(l.Err) != ReasonTooLong || len(l.Bytes) > max || !bytes.HasPrefix(raw, l.Bytes) && !bytes.HasPrefix(raw[min(3, len(raw)):], l.Bytes) {
					t.Fatalf("line %d of %d bytes (max %d): got %q err %v", i+1, len(raw), max, l.Bytes, l.Err)
				}
				continue
			}
			if l.Err != nil || !bytes.Equal(l.Bytes, content) {
				t.Fatalf("line %d: got %q err %v, want %q", i+1, l.Bytes, l.Err, content)
			}
		}
		if j != len(got) {
			t.Fatalf("reader returned %d lines, reference %d", len(got), j)
		}
	})
}
