package scorecache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Key identifies one scored pair.
type Key struct {
	Model     string // model name and backend
	Prompt    string // prompt template hash (and scoring kind, e.g. "lsr"/"upr")
	PassageID string
	// Passage is the passage text actually scored (after any truncation); its digest is part
	// of the key so that an edited passage under the same id is scored again.
	Passage  string
	Question string
	Target   string
}

// ID is the key's digest, as stored on disk.
func (k Key) ID() string {
	h := sha256.New()
	for _, s := range []string{k.Model, k.Prompt, k.PassageID, k.Passage, k.Question, k.Target} {
		fmt.Fprintf(h, "%d:%s\x00", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Stats are the cache's counters since Open.
type Stats struct {
	Hits, Misses int64
	Entries      int
	// Loaded is how many entries were read from disk on Open.
	Loaded int
}

// HitRate is Hits / (Hits + Misses), 0 when nothing was asked.
func (s Stats) HitRate() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Cache maps keys to token log-probabilities.
type Cache struct {
	mu     sync.RWMutex
	m      map[string][]float64
	f      *os.File
	w      *bufio.Writer
	loaded int
	hits   atomic.Int64
	misses atomic.Int64
}

type line struct {
	K  string    `json:"k"`
	LP []float64 `json:"lp"`
}

// Open opens (creating) the cache file at path; path "" gives a memory-only cache.
func Open(path string) (*Cache, error) {
	c := &Cache{m: map[string][]float64{}}
	if path == "" {
		return c, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("scorecache: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			var l line
			if json.Unmarshal(bytes.TrimSpace(b), &l) == nil && l.K != "" {
				c.m[l.K] = l.LP
				c.loaded++
			}
			good += int64(len(b))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("scorecache: read %s: %w", path, err)
		}
	}
	// Drop a torn last line so that appends start on a line boundary.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("scorecache: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("scorecache: %w", err)
	}
	c.f = f
	c.w = bufio.NewWriter(f)
	return c, nil
}

// Get returns the cached log-probabilities of k and counts a hit or a miss.
func (c *Cache) Get(k Key) ([]float64, bool) {
	c.mu.RLock()
	v, ok := c.m[k.ID()]
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

// Put stores entries and makes them durable before returning.
func (c *Cache) Put(keys []Key, values [][]float64) error {
	if len(keys) != len(values) {
		return fmt.Errorf("scorecache: %d keys, %d values", len(keys), len(values))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		id := k.ID()
		c.m[id] = append([]float64(nil), values[i]...)
		if c.w != nil {
			b, err := json.Marshal(line{K: id, LP: values[i]})
			if err != nil {
				return fmt.Errorf("scorecache: encode: %w", err) // NaN or Inf
			}
			c.w.Write(b)
			c.w.WriteByte('\n')
		}
	}
	if c.w == nil {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("scorecache: write: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("scorecache: sync: %w", err)
	}
	return nil
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	n := len(c.m)
	c.mu.RUnlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n, Loaded: c.loaded}
}

// Close flushes and closes the file.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.w.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	c.w = nil
	return err
}
