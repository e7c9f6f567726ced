package docstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type doc struct{ id, contents string }

func randomDocs(n int, rng *rand.Rand) []doc {
	alphabet := []rune("abcxyz 0129\nÉé漢字—")
	docs := make([]doc, n)
	for i := range docs {
		l := rng.IntN(200)
		rs := make([]rune, l)
		for j := range rs {
			rs[j] = alphabet[rng.IntN(len(alphabet))]
		}
		docs[i] = doc{id: fmt.Sprintf("d%d", rng.IntN(10*n)), contents: string(rs)}
	}
	return docs
}

func write(t *testing.T, dir string, docs []doc) *Writer {
	t.Helper()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		ord, err := w.Add(d.id, d.contents)
		if err != nil {
			t.Fatal(err)
		}
		if ord != i {
			t.Fatalf("Add returned ordinal %d, want %d", ord, i)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	docs := randomDocs(500, rng)
	docs = append(docs, doc{id: "empty", contents: ""}, doc{id: "", contents: "no id"})
	dir := t.TempDir()
	w := write(t, dir, docs)

	first := map[string]int{}
	dups := 0
	for i, d := range docs {
		if _, ok := first[d.id]; ok {
			dups++
			continue
		}
		first[d.id] = i
	}
	if w.DuplicateIDs() != dups {
		t.Errorf("DuplicateIDs = %d, want %d", w.DuplicateIDs(), dups)
	}

	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != len(docs) {
		t.Fatalf("Len = %d, want %d", r.Len(), len(docs))
	}
	for i, d := range docs {
		id, c, err := r.Doc(i)
		if err != nil || id != d.id || c != d.contents {
			t.Fatalf("Doc(%d) = %q,%q,%v; want %q,%q", i, id, c, err, d.id, d.contents)
		}
		p, err := r.Passage(i, 1.5)
		if err != nil || p.ID != d.id || p.Contents != d.contents || p.Score != 1.5 {
			t.Fatalf("Passage(%d) = %+v, %v", i, p, err)
		}
		b, err := r.AppendContents([]byte("x"), i)
		if err != nil || string(b) != "x"+d.contents {
			t.Fatalf("AppendContents(%d) = %q, %v", i, b, err)
		}
	}
	for id, want := range first {
		if got, ok := r.Ordinal(id); !ok || got != want {
			t.Errorf("Ordinal(%q) = %d,%v; want %d", id, got, ok, want)
		}
	}
	for _, id := range []string{"nope", "d", "d-1", "\xff"} {
		if _, ok := first[id]; ok {
			continue
		}
		if got, ok := r.Ordinal(id); ok {
			t.Errorf("Ordinal(%q) = %d, want not found", id, got)
		}
	}
	for _, ord := range []int{-1, len(docs), len(docs) + 10} {
		if _, _, err := r.Doc(ord); err == nil {
			t.Errorf("Doc(%d) succeeded", ord)
		}
	}
}

func TestEmptyStore(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, nil)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 0 {
		t.Fatalf("Len = %d", r.Len())
	}
	if _, ok := r.Ordinal("x"); ok {
		t.Error("found an id in an empty store")
	}
	if _, _, err := r.Doc(0); err == nil {
		t.Error("Doc(0) on an empty store succeeded")
	}
}

func TestConcurrentReadsAndClose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	docs := randomDocs(300, rng)
	dir := t.TempDir()
	write(t, dir, docs)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ord := (i*7 + g) % len(docs)
				_, c, err := r.Doc(ord)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || c != docs[ord].contents {
					errs <- fmt.Errorf("Doc(%d) = %q, %v", ord, c, err)
					return
				}
				r.Ordinal(docs[ord].id)
			}
		}()
	}
	// Close while readers may still run: they must see ErrClosed, never a fault.
	_, kept, _ := r.Doc(0)
	r.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if kept != docs[0].contents {
		t.Error("a string returned before Close changed after it")
	}
	if _, _, err := r.Doc(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Doc after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenRejectsBrokenStores(t *testing.T) {
	docs := []doc{{"a", "alpha"}, {"b", "beta"}, {"c", "gamma"}}
	cases := map[string]func(dir string) error{
		"unfinished": func(dir string) error { return os.Remove(filepath.Join(dir, OffsetsFile)) },
		"truncated offsets": func(dir string) error {
			return os.Truncate(filepath.Join(dir, OffsetsFile), 30)
		},
		"truncated contents": func(dir string) error {
			return os.Truncate(filepath.Join(dir, ContentsFile), 5)
		},
		"bad magic": func(dir string) error {
			b, _ := os.ReadFile(filepath.Join(dir, OffsetsFile))
			b[0] = 'X'
			return os.WriteFile(filepath.Join(dir, OffsetsFile), b, 0o644)
		},
		"offset past end": func(dir string) error {
			b, _ := os.ReadFile(filepath.Join(dir, OffsetsFile))
			b[headerSize+8] = 200 // first content end offset
			return os.WriteFile(filepath.Join(dir, OffsetsFile), b, 0o644)
		},
		"sorted index out of range": func(dir string) error {
			b, _ := os.ReadFile(filepath.Join(dir, OffsetsFile))
			b[len(b)-1] = 0xff
			return os.WriteFile(filepath.Join(dir, OffsetsFile), b, 0o644)
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, docs)
			if err := breakIt(dir); err != nil {
				t.Fatal(err)
			}
			if r, err := Open(dir); err == nil {
				r.Close()
				t.Fatal("Open accepted a broken store")
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open of a missing dir succeeded")
	}
}

func TestRecreateReplaces(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, []doc{{"a", "one"}, {"b", "two"}})
	write(t, dir, []doc{{"z", "three"}})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 1 {
		t.Fatalf("Len = %d after rewrite", r.Len())
	}
	if _, ok := r.Ordinal("a"); ok {
		t.Error("old id still found")
	}
}

// Scan reads the same contents as Doc, for any range, and stops on errors and on Close.
func TestScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	docs := randomDocs(300, rng)
	docs = append(docs, doc{id: "empty", contents: ""})
	dir := t.TempDir()
	write(t, dir, docs)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range [][2]int{{0, len(docs)}, {17, 200}, {5, 5}, {len(docs) - 1, len(docs)}} {
		next := rg[0]
		err := r.Scan(t.Context(), rg[0], rg[1], func(ord int, c []byte) error {
			if ord != next || string(c) != docs[ord].contents {
				t.Fatalf("scan %v: passage %d (want %d) = %q, want %q", rg, ord, next, c, docs[ord].contents)
			}
			next++
			return nil
		})
		if err != nil || next != rg[1] {
			t.Fatalf("scan %v: stopped at %d: %v", rg, next, err)
		}
	}
	for _, rg := range [][2]int{{-1, 3}, {0, len(docs) + 1}, {9, 8}} {
		if err := r.Scan(t.Context(), rg[0], rg[1], func(int, []byte) error { return nil }); err == nil {
			t.Errorf("scan %v accepted", rg)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.Scan(t.Context(), 0, len(docs), func(int, []byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
	r.Close()
	if err := r.Scan(t.Context(), 0, 1, func(int, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("scan after Close: %v", err)
	}
}
