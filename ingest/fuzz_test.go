package ingest

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams/memory"
)

// FuzzPost: any body is answered 200 or 413, never panics, and every line is accounted for
// exactly once (accepted, duplicate or dead-lettered) with matching messages on the topics.
func FuzzPost(f *testing.F) {
	for _, s := range []string{
		"who wrote hamlet\n", `{"question":"q","golden_answers":["a"]}`, `{"question": broken`, "\xff\xfe\n", "a\r\nb\r\n\r\n",
		"\xef\xbb\xbfq\n", `[1]`, `{"query":"x","id":7}`, "x\n" + string(bytes.Repeat([]byte("y"), 300)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := memory.New()
		defer tr.Close()
		h, err := New(Options{Publisher: tr, QueriesTopic: qTopic, DeadLettersTopic: dTopic, MaxBody: 4096, MaxLineBytes: 256})
		if err != nil {
			t.Fatal(err)
		}
		rec, res := post(t, h, string(body))
		if rec.Code == http.StatusRequestEntityTooLarge {
			if len(body) <= 4096 {
				t.Fatalf("413 for %d bytes", len(body))
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		lr := schemas.NewLineReader(bytes.NewReader(body), 256)
		lines := 0
		for {
			if _, err := lr.Next(); err != nil {
				break
			}
			lines++
		}
		if res.Accepted+res.Duplicates+res.DeadLettered != lines {
			t.Fatalf("%+v does not account for %d lines", res, lines)
		}
		if len(tr.Messages(qTopic)) != res.Accepted || len(tr.Messages(dTopic)) != res.DeadLettered {
			t.Fatalf("%+v but %d queries and %d dead letters published", res, len(tr.Messages(qTopic)), len(tr.Messages(dTopic)))
		}
	})
}
