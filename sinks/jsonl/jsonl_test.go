package jsonl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rec struct {
	ID string `json:"id"`
	V  int    `json:"v"`
}

func opts() Options[rec] {
	return Options[rec]{
		Key: func(r rec) string { return r.ID },
		Decode: func(b []byte) (rec, error) {
			var r rec
			err := json.Unmarshal(b, &r)
			return r, err
		},
	}
}

func TestIdempotentAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	s, err := Open(path, opts())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []rec{{"a", 1}, {"b", 2}, {"a", 3}} {
		if _, err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, opts())
	if err != nil {
		t.Fatal(err)
	}
	if isNew, _ := s.Write(ctx, rec{"b", 9}); isNew {
		t.Fatal("b was written again after reopen")
	}
	if isNew, _ := s.Write(ctx, rec{"c", 4}); !isNew {
		t.Fatal("c was not written")
	}
	s.Close()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","v":1}` + "\n" + `{"id":"b","v":2}` + "\n" + `{"id":"c","v":4}` + "\n"
	if string(got) != want {
		t.Fatalf("file =\n%s\nwant\n%s", got, want)
	}
}

func TestTornTailIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":"a","v":1}`+"\n"+`{"id":"b","v`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, opts())
	if err != nil {
		t.Fatal(err)
	}
	if s.Has("b") || !s.Has("a") {
		t.Fatalf("keys after torn tail: a=%v b=%v", s.Has("a"), s.Has("b"))
	}
	if isNew, _ := s.Write(context.Background(), rec{"b", 2}); !isNew {
		t.Fatal("b should be new: its torn line was dropped")
	}
	s.Close()
	got, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); len(lines) != 2 || lines[1] != `{"id":"b","v":2}` {
		t.Fatalf("file = %q", got)
	}
}

func TestUndecodableLinesAreKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(path, []byte("not json\n"), 0o644)
	s, err := Open(path, opts())
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
	s.Close()
	got, _ := os.ReadFile(path)
	if string(got) != "not json\n" {
		t.Fatalf("file changed: %q", got)
	}
}
