package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Option configures a Bar.
type Option func(*Bar)

// Terminal forces terminal (live line) or non-terminal (summary only) output.
func Terminal(on bool) Option { return func(b *Bar) { b.tty = on } }

// Clock replaces time.Now (tests).
func Clock(now func() time.Time) Option { return func(b *Bar) { b.now = now } }

// Interval sets the minimum time between two redraws on a terminal (default 200ms).
func Interval(d time.Duration) Option { return func(b *Bar) { b.every = d } }

// Bar counts work done out of total (total <= 0: unknown, no ETA).
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int
	done  int
	tty   bool
	now   func() time.Time
	every time.Duration
	start time.Time
	last  time.Time
	ended bool
}

// New starts a Bar writing to w. Output is live only when w is a terminal.
func New(w io.Writer, label string, total int, opts ...Option) *Bar {
	if w == nil {
		w = io.Discard // no writer: count silently
	}
	b := &Bar{w: w, label: label, total: total, tty: isTerminal(w), now: time.Now, every: 200 * time.Millisecond}
	for _, o := range opts {
		o(b)
	}
	b.start = b.now()
	b.last = b.start
	return b
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Add records n more units of work.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if !b.tty || b.ended {
		return
	}
	t := b.now()
	if t.Sub(b.last) < b.every && b.done != b.total {
		return
	}
	b.last = t
	fmt.Fprintf(b.w, "\r\x1b[K%s", b.line(t))
}

// Count returns the units recorded so far.
func (b *Bar) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// Done ends the Bar and prints the summary line (on a terminal it replaces the live line).
// Calls after the first do nothing.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	t := b.now()
	el := t.Sub(b.start)
	prefix := ""
	if b.tty {
		prefix = "\r\x1b[K"
	}
	fmt.Fprintf(b.w, "%s%s: %s in %s (%s/s)\n", prefix, b.label, b.counts(), round(el), rate(b.done, el))
}

func (b *Bar) counts() string {
	if b.total > 0 {
		return fmt.Sprintf("%d/%d", b.done, b.total)
	}
	return fmt.Sprint(b.done)
}

func (b *Bar) line(t time.Time) string {
	el := t.Sub(b.start)
	s := fmt.Sprintf("%s: %s", b.label, b.counts())
	if b.total > 0 {
		s += fmt.Sprintf(" (%.0f%%)", 100*float64(b.done)/float64(b.total))
	}
	s += fmt.Sprintf(" %s/s", rate(b.done, el))
	if b.total > 0 && b.done > 0 && b.done < b.total {
		eta := time.Duration(float64(el) * float64(b.total-b.done) / float64(b.done))
		s += " ETA " + round(eta).String()
	}
	return s
}

func rate(n int, el time.Duration) string {
	if el <= 0 {
		return "-"
	}
	r := float64(n) / el.Seconds()
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}
