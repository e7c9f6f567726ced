package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := New(&buf, "retrieve", 100, Clock(clk.now))
	for i := 0; i < 100; i++ {
		clk.t = clk.t.Add(10 * time.Millisecond)
		b.Add(1)
	}
	if buf.Len() != 0 {
		t.Fatalf("printed before Done off a terminal: %q", buf.String())
	}
	b.Done()
	b.Done()
	want := "retrieve: 100/100 in 1s (100/s)\n"
	if buf.String() != want {
		t.Fatalf("summary = %q, want %q", buf.String(), want)
	}
}

func TestTerminalThrottledWithETA(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := New(&buf, "index", 1000, Clock(clk.now), Terminal(true), Interval(time.Second))
	for i := 0; i < 500; i++ {
		clk.t = clk.t.Add(10 * time.Millisecond) // 100 units/s
		b.Add(1)
	}
	// 5 s elapsed, redraw at most once per second: 5 redraws.
	if n := strings.Count(buf.String(), "\r"); n != 5 {
		t.Errorf("%d redraws in 5 s, want 5: %q", n, buf.String())
	}
	last := buf.String()[strings.LastIndex(buf.String(), "\r"):]
	if !strings.Contains(last, "index: 500/1000 (50%) 100/s ETA 5s") {
		t.Errorf("last line %q lacks count, rate and ETA", last)
	}
	b.Done()
	if !strings.HasSuffix(buf.String(), "\r\x1b[Kindex: 500/1000 in 5s (100/s)\n") {
		t.Errorf("terminal summary: %q", buf.String())
	}
}

func TestUnknownTotalAndConcurrentAdd(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "x", 0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				b.Add(1)
			}
		}()
	}
	wg.Wait()
	if b.Count() != 1000 {
		t.Fatalf("Count = %d", b.Count())
	}
	b.Done()
	if !strings.HasPrefix(buf.String(), "x: 1000 in ") {
		t.Fatalf("summary %q", buf.String())
	}
}

func TestNilBarIsNoop(t *testing.T) {
	var b *Bar
	b.Add(1)
	b.Done()
}

func TestNilWriterIsSilent(t *testing.T) {
	b := New(nil, "x", 3)
	b.Add(3)
	b.Done()
	if b.Count() != 3 {
		t.Fatalf("Count = %d", b.Count())
	}
}
