package bm25

import (
	"bufio"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"

	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
)

// Options configures a Writer.
type Options struct {
	Params   Params // BM25 parameters (see DefaultParamsFor)
	Analyzer string // analysis.Plain (when empty), analysis.BM25S or analysis.Lucene
	// QueryAnalyzer is how queries of the index are analyzed (analysis.ForQueries; "" = like
	// the passages). The Step records it in the manifest; the index file does not hold it.
	QueryAnalyzer string
	// TempDir receives the sorted runs spilled during the build ("" = os.TempDir()). They are
	// removed when the build finishes or fails.
	TempDir string
	// RunBytes is how many bytes of compressed postings are buffered before a sorted run is
	// spilled to TempDir (default 128 MiB). It bounds the build's memory, with the vocabulary.
	RunBytes int64
	// Workers is the number of goroutines that analyze passages (default GOMAXPROCS).
	Workers int
}

const (
	defaultRunBytes = 128 << 20
	batchDocs       = 256
	stemCacheMax    = 1 << 18
	idCacheMax      = 1 << 21
)

// Writer builds an index file from passages added in ordinal order, in bounded memory:
// passages are analyzed on Workers goroutines, their postings buffered (delta and varint
// coded) and spilled to disk as runs sorted by term; Finish merges the runs into the file.
// Add and Finish must be called from one goroutine.
type Writer struct {
	o       Options
	an      *analysis.Analyzer
	scoring uint8
	tmpDir  string
	digest  hash.Hash
	n       int
	cur     *batch
	work    chan *batch
	ordered chan *batch
	aggErr  chan error
	workers sync.WaitGroup
	agg     *aggregator
	dict    *dict
	done    bool
}

// dict numbers terms in order of first sight (internal ids; the file orders terms by bytes).
// Workers keep their own cache of it, so the lock is taken only for terms new to a worker.
type dict struct {
	mu    sync.Mutex
	ids   map[string]uint32
	terms []string
}

func (d *dict) id(t string) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[t]; ok {
		return id
	}
	id := uint32(len(d.terms))
	t = cloneString(t)
	d.ids[t] = id
	d.terms = append(d.terms, t)
	return id
}

// snapshot returns the terms numbered so far.
func (d *dict) snapshot() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.terms
}

// batch is a slice of consecutive passages and, once analyzed, their terms.
type batch struct {
	texts []string
	ids   []uint32 // distinct term ids of each doc, back to back
	tfs   []uint32
	ends  []int // end of each doc's terms in ids
	lens  []uint32
	ready chan struct{}
}

// NewWriter starts an index; Finish writes it.
func NewWriter(o Options) (*Writer, error) {
	if o.Analyzer == "" {
		o.Analyzer = analysis.Plain
	}
	an, err := analysis.ByName(o.Analyzer)
	if err != nil {
		return nil, err
	}
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	if o.RunBytes <= 0 {
		o.RunBytes = defaultRunBytes
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if err := os.MkdirAll(o.TempDir, 0o755); err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	tmp, err := os.MkdirTemp(o.TempDir, "bm25-build-")
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	w := &Writer{o: o, an: an, scoring: ScoringFor(o.Analyzer), tmpDir: tmp,
		digest: sha256.New(), work: make(chan *batch, 2*o.Workers), ordered: make(chan *batch, 4*o.Workers),
		aggErr: make(chan error, 1)}
	fmt.Fprintf(w.digest, "bm25 k1=%v b=%v analyzer=%s scoring=%d\n", o.Params.K1, o.Params.B, o.Analyzer, w.scoring)
	w.dict = &dict{ids: map[string]uint32{}}
	w.agg, err = newAggregator(tmp, o.RunBytes, w.dict)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	for range o.Workers {
		w.workers.Add(1)
		go w.analyze()
	}
	go func() { w.aggErr <- w.agg.run(w.ordered) }()
	return w, nil
}

// Add indexes the next passage; its ordinal is the number of passages added before it.
func (w *Writer) Add(id, contents string) error {
	if w.done {
		return errors.New("bm25: Add after Finish or Abort")
	}
	if w.n >= math.MaxUint32-1 {
		return errors.New("bm25: more than 2^32-2 passages")
	}
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], uint64(len(id)))
	binary.LittleEndian.PutUint64(lens[8:], uint64(len(contents)))
	w.digest.Write(lens[:])
	io.WriteString(w.digest, id)
	io.WriteString(w.digest, contents)
	if w.cur == nil {
		w.cur = &batch{texts: make([]string, 0, batchDocs), ready: make(chan struct{})}
	}
	w.cur.texts = append(w.cur.texts, contents)
	w.n++
	if len(w.cur.texts) == batchDocs {
		return w.send()
	}
	return nil
}

// Len is the number of passages added.
func (w *Writer) Len() int { return w.n }

func (w *Writer) send() error {
	b := w.cur
	w.cur = nil
	w.ordered <- b // the aggregator takes batches in this order
	w.work <- b
	return nil
}

// analyze runs on each worker goroutine: term ids and their frequencies per passage.
func (w *Writer) analyze() {
	defer w.workers.Done()
	stems := map[string]string{}
	ids := map[string]uint32{} // this worker's cache of w.dict
	var count []uint32         // by term id, zero between documents
	var touched []uint32
	var toks []string
	for b := range w.work {
		for _, text := range b.texts {
			toks = w.an.Terms(toks[:0], text, stems)
			if len(stems) > stemCacheMax {
				clear(stems)
			}
			touched = touched[:0]
			for _, t := range toks {
				id, ok := ids[t]
				if !ok {
					if len(ids) > idCacheMax {
						clear(ids)
					}
					id = w.dict.id(t)
					ids[cloneString(t)] = id
				}
				if int(id) >= len(count) {
					count = append(count, make([]uint32, int(id)+1-len(count)+len(count)/2)...)
				}
				if count[id] == 0 {
					touched = append(touched, id)
				}
				count[id]++
			}
			for _, id := range touched {
				b.ids = append(b.ids, id)
				b.tfs = append(b.tfs, count[id])
				count[id] = 0
			}
			b.ends = append(b.ends, len(b.ids))
			b.lens = append(b.lens, uint32(len(toks)))
		}
		close(b.ready)
	}
}

// Abort stops the build and removes its temporary files.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.stop()
	os.RemoveAll(w.tmpDir)
}

// stop flushes the last batch and waits for the workers and the aggregator.
func (w *Writer) stop() error {
	var err error
	if w.cur != nil && len(w.cur.texts) > 0 {
		err = w.send()
	}
	close(w.work)
	close(w.ordered)
	w.workers.Wait()
	if aerr := <-w.aggErr; err == nil {
		err = aerr
	}
	return err
}

// Stats describes a finished index.
type Stats struct {
	Docs, Terms, Runs int
	Postings          int64
	Bytes             int64
}

// Finish merges the runs into the index file at path (written to a temporary name, synced,
// renamed).
func (w *Writer) Finish(ctx context.Context, path string) (Stats, error) {
	if w.done {
		return Stats{}, errors.New("bm25: Finish called twice")
	}
	w.done = true
	defer os.RemoveAll(w.tmpDir)
	if err := w.stop(); err != nil {
		return Stats{}, err
	}
	if err := w.agg.spill(); err != nil {
		return Stats{}, err
	}
	if err := w.agg.lensW.Flush(); err != nil {
		return Stats{}, fmt.Errorf("bm25: %w", err)
	}
	h := &header{params: w.o.Params, scoring: w.scoring, analyzer: w.o.Analyzer,
		numDocs: uint64(w.n), docsWithTerms: w.agg.docsWithTerms, totalLen: w.agg.totalLen,
		version: hex.EncodeToString(w.digest.Sum(nil)[:8])}
	st, err := merge(ctx, path, h, w.agg, w.tmpDir)
	st.Runs = len(w.agg.runs)
	return st, err
}

// aggregator receives analyzed batches in ordinal order and buffers postings per term.
type aggregator struct {
	dir                     string
	runBytes                int64
	dict                    *dict
	buf                     [][]byte
	last                    []int64 // last doc of the term in the current run, -1 if none
	df                      []uint32
	active                  []uint32
	bytes                   int64
	runs                    []string
	lensF                   *os.File
	lensW                   *bufio.Writer
	n                       uint32
	totalLen, docsWithTerms uint64
}

func newAggregator(dir string, runBytes int64, d *dict) (*aggregator, error) {
	f, err := os.Create(filepath.Join(dir, "doclens"))
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	return &aggregator{dir: dir, runBytes: runBytes, dict: d, lensF: f,
		lensW: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (a *aggregator) run(batches <-chan *batch) error {
	var err error
	for b := range batches {
		<-b.ready
		if err != nil {
			continue // drain so that senders never block
		}
		err = a.add(b)
	}
	return err
}

func (a *aggregator) add(b *batch) error {
	start := 0
	var lb [4]byte
	for i, end := range b.ends {
		ord := a.n
		a.n++
		binary.LittleEndian.PutUint32(lb[:], b.lens[i])
		a.lensW.Write(lb[:])
		a.totalLen += uint64(b.lens[i])
		if b.lens[i] > 0 {
			a.docsWithTerms++
		}
		for j := start; j < end; j++ {
			id := b.ids[j]
			if int(id) >= len(a.buf) {
				grow := int(id) + 1 - len(a.buf) + len(a.buf)/4
				a.buf = append(a.buf, make([][]byte, grow)...)
				a.df = append(a.df, make([]uint32, grow)...)
				for range grow {
					a.last = append(a.last, -1)
				}
			}
			if a.last[id] < 0 {
				a.active = append(a.active, id)
			}
			p := a.buf[id]
			c := cap(p)
			p = binary.AppendUvarint(p, uint64(int64(ord)-a.last[id]-1))
			p = binary.AppendUvarint(p, uint64(b.tfs[j]))
			a.bytes += int64(cap(p) - c)
			a.buf[id] = p
			a.last[id] = int64(ord)
			a.df[id]++
		}
		start = end
	}
	if a.bytes >= a.runBytes {
		return a.spill()
	}
	return nil
}

func cloneString(s string) string { return string([]byte(s)) }

// spill writes the buffered postings as a run sorted by term and frees them.
func (a *aggregator) spill() error {
	if len(a.active) == 0 {
		return nil
	}
	terms := a.dict.snapshot()
	sort.Slice(a.active, func(i, j int) bool { return terms[a.active[i]] < terms[a.active[j]] })
	path := filepath.Join(a.dir, fmt.Sprintf("run-%04d", len(a.runs)))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var hdr []byte
	for _, id := range a.active {
		hdr = hdr[:0]
		hdr = binary.AppendUvarint(hdr, uint64(len(terms[id])))
		hdr = append(hdr, terms[id]...)
		hdr = binary.AppendUvarint(hdr, uint64(a.df[id]))
		hdr = binary.AppendUvarint(hdr, uint64(len(a.buf[id])))
		bw.Write(hdr)
		bw.Write(a.buf[id])
		a.buf[id], a.last[id], a.df[id] = nil, -1, 0
	}
	a.active = a.active[:0]
	a.bytes = 0
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("bm25: write run: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bm25: write run: %w", err)
	}
	a.runs = append(a.runs, path)
	return nil
}

// runReader reads one run, term by term.
type runReader struct {
	idx  int
	f    *os.File
	r    *bufio.Reader
	term string
	df   uint64
	size uint64
	eof  bool
}

func (r *runReader) nextTerm() error {
	n, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		r.eof = true
		return nil
	}
	if err != nil {
		return err
	}
	tb := make([]byte, n)
	if _, err := io.ReadFull(r.r, tb); err != nil {
		return err
	}
	r.term = string(tb)
	if r.df, err = binary.ReadUvarint(r.r); err != nil {
		return err
	}
	r.size, err = binary.ReadUvarint(r.r)
	return err
}

type runHeap []*runReader

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if h[i].term != h[j].term {
		return h[i].term < h[j].term
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// countingWriter tracks the offset of a buffered file writer.
type countingWriter struct {
	w   *bufio.Writer
	off uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.off += uint64(n)
	return n, err
}

type tempSection struct {
	f  *os.File
	cw *countingWriter
}

func newTempSection(dir, name string) (*tempSection, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	return &tempSection{f: f, cw: &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}}, nil
}

// merge streams the runs, term by term, into block-compressed postings and writes the file.
func merge(ctx context.Context, path string, h *header, a *aggregator, tmpDir string) (Stats, error) {
	var st Stats
	mod, err := newModel(h.scoring, h.params, h.numDocs, h.docsWithTerms, h.totalLen)
	if err != nil {
		return st, err
	}
	var docLens []byte
	if h.numDocs > 0 {
		docLens, err = syscall.Mmap(int(a.lensF.Fd()), 0, int(4*h.numDocs), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return st, fmt.Errorf("bm25: mmap document lengths: %w", err)
		}
		defer syscall.Munmap(docLens)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	out, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	if _, err := out.Write(make([]byte, headerSize)); err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	post := &countingWriter{w: bufio.NewWriterSize(out, 4<<20)}
	blocks, err := newTempSection(tmpDir, "blocks")
	if err != nil {
		return st, err
	}
	terms, err := newTempSection(tmpDir, "terms")
	if err != nil {
		return st, err
	}
	vocabOff, err := newTempSection(tmpDir, "vocaboff")
	if err != nil {
		return st, err
	}
	vocab, err := newTempSection(tmpDir, "vocab")
	if err != nil {
		return st, err
	}
	defer func() {
		for _, s := range []*tempSection{blocks, terms, vocabOff, vocab} {
			s.f.Close()
		}
	}()

	var rh runHeap
	for i, p := range a.runs {
		f, err := os.Open(p)
		if err != nil {
			return st, fmt.Errorf("bm25: %w", err)
		}
		defer f.Close()
		r := &runReader{idx: i, f: f, r: bufio.NewReaderSize(f, 1<<20)}
		if err := r.nextTerm(); err != nil {
			return st, fmt.Errorf("bm25: read run: %w", err)
		}
		if !r.eof {
			rh = append(rh, r)
		}
	}
	heap.Init(&rh)
	enc := &blockEncoder{mod: mod, docLens: docLens, numDocs: uint32(h.numDocs), post: post, blocks: blocks.cw}
	var group []*runReader
	var pbuf []byte
	var u64 [8]byte
	for rh.Len() > 0 {
		if st.Terms%4096 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		term := rh[0].term
		group = group[:0]
		var df uint64
		for rh.Len() > 0 && rh[0].term == term {
			r := heap.Pop(&rh).(*runReader)
			group = append(group, r)
			df += r.df
		}
		if df > math.MaxUint32 {
			return st, fmt.Errorf("bm25: term %q in %d documents", term, df)
		}
		enc.startTerm(mod.weight(mod.idf(uint32(df)), 1))
		for _, r := range group {
			if uint64(cap(pbuf)) < r.size {
				pbuf = make([]byte, r.size)
			}
			pbuf = pbuf[:r.size]
			if _, err := io.ReadFull(r.r, pbuf); err != nil {
				return st, fmt.Errorf("bm25: read run: %w", err)
			}
			if err := enc.addRun(pbuf, r.df); err != nil {
				return st, err
			}
			if err := r.nextTerm(); err != nil {
				return st, fmt.Errorf("bm25: read run: %w", err)
			}
			if !r.eof {
				heap.Push(&rh, r)
			}
		}
		if err := enc.finishTerm(); err != nil {
			return st, err
		}
		var te [termEntrySize]byte
		binary.LittleEndian.PutUint32(te[0:], uint32(df))
		binary.LittleEndian.PutUint32(te[4:], math.Float32bits(enc.termMax))
		binary.LittleEndian.PutUint64(te[8:], enc.termFirstBlock)
		binary.LittleEndian.PutUint64(te[16:], enc.termStart)
		terms.cw.Write(te[:])
		binary.LittleEndian.PutUint64(u64[:], vocab.cw.off)
		vocabOff.cw.Write(u64[:])
		io.WriteString(vocab.cw, term)
		st.Terms++
		st.Postings += int64(df)
	}
	binary.LittleEndian.PutUint64(u64[:], vocab.cw.off)
	vocabOff.cw.Write(u64[:])
	post.Write(make([]byte, postingsPad))
	h.numTerms, h.numPostings, h.numBlocks = uint64(st.Terms), uint64(st.Postings), enc.numBlocks
	off := uint64(headerSize)
	h.sections[secPostings] = [2]uint64{off, post.off}
	off += post.off
	for i, s := range []*tempSection{blocks, terms, vocabOff, vocab} {
		if err := s.cw.w.Flush(); err != nil {
			return st, fmt.Errorf("bm25: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return st, fmt.Errorf("bm25: %w", err)
		}
		n, err := io.Copy(post, bufio.NewReaderSize(s.f, 1<<20))
		if err != nil {
			return st, fmt.Errorf("bm25: %w", err)
		}
		h.sections[secBlocks+i] = [2]uint64{off, uint64(n)}
		off += uint64(n)
	}
	if _, err := a.lensF.Seek(0, io.SeekStart); err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	n, err := io.Copy(post, bufio.NewReaderSize(a.lensF, 1<<20))
	if err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	h.sections[secDocLens] = [2]uint64{off, uint64(n)}
	off += uint64(n)
	if err := post.w.Flush(); err != nil {
		return st, fmt.Errorf("bm25: write %s: %w", path, err)
	}
	if _, err := out.WriteAt(h.encode(), 0); err != nil {
		return st, fmt.Errorf("bm25: write %s: %w", path, err)
	}
	if err := out.Sync(); err != nil {
		return st, fmt.Errorf("bm25: sync %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return st, fmt.Errorf("bm25: close %s: %w", path, err)
	}
	if err := os.Rename(out.Name(), path); err != nil {
		return st, fmt.Errorf("bm25: %w", err)
	}
	st.Docs = int(h.numDocs)
	st.Bytes = int64(off)
	return st, nil
}

// blockEncoder turns one term's postings, in doc order, into blocks.
type blockEncoder struct {
	mod            *model
	docLens        []byte
	numDocs        uint32
	post           *countingWriter
	blocks         *countingWriter
	numBlocks      uint64
	idf            float64
	termStart      uint64
	termFirstBlock uint64
	termMax        float32
	prevLast       int64
	docs, tfs      [blockSize]uint32
	vals           [blockSize]uint32
	n              int
	scratch        []byte
}

func (e *blockEncoder) startTerm(idf float64) {
	e.idf, e.termStart, e.termFirstBlock, e.termMax, e.prevLast, e.n = idf, e.post.off, e.numBlocks, 0, -1, 0
}

// addRun decodes one run's postings of the current term (varint doc gaps and tfs).
func (e *blockEncoder) addRun(p []byte, df uint64) error {
	doc := int64(-1)
	for i := uint64(0); i < df; i++ {
		gap, n := binary.Uvarint(p)
		if n <= 0 {
			return errors.New("bm25: damaged run file")
		}
		p = p[n:]
		tf, n := binary.Uvarint(p)
		if n <= 0 {
			return errors.New("bm25: damaged run file")
		}
		p = p[n:]
		doc += int64(gap) + 1
		if doc <= e.lastAdded() || doc >= int64(e.numDocs) || tf == 0 || tf > math.MaxUint32 {
			return errors.New("bm25: damaged or misordered run file")
		}
		e.docs[e.n], e.tfs[e.n] = uint32(doc), uint32(tf)
		e.n++
		if e.n == blockSize {
			if err := e.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *blockEncoder) lastAdded() int64 {
	if e.n > 0 {
		return int64(e.docs[e.n-1])
	}
	return e.prevLast
}

func (e *blockEncoder) finishTerm() error {
	if e.n > 0 {
		return e.flush()
	}
	return nil
}

func (e *blockEncoder) flush() error {
	n := e.n
	maxScore := 0.0
	maxGap, maxTf := uint32(0), uint32(0)
	prev := e.prevLast
	for i := 0; i < n; i++ {
		d := e.docs[i]
		s := e.mod.score(e.idf, e.tfs[i], binary.LittleEndian.Uint32(e.docLens[4*int(d):]))
		maxScore = math.Max(maxScore, s)
		gap := uint32(int64(d) - prev - 1)
		e.vals[i] = gap
		maxGap = max(maxGap, gap)
		maxTf = max(maxTf, e.tfs[i]-1)
		prev = int64(d)
	}
	ub := float32(maxScore)
	if float64(ub) < maxScore {
		ub = math.Nextafter32(ub, float32(math.Inf(1)))
	}
	e.termMax = max(e.termMax, ub)
	docBits, tfBits := bitsFor(maxGap), bitsFor(maxTf)
	rel := e.post.off - e.termStart
	if rel > math.MaxUint32 {
		return errors.New("bm25: a term's postings exceed 4 GiB")
	}
	e.scratch = packBits(e.scratch[:0], e.vals[:n], docBits)
	for i := 0; i < n; i++ {
		e.vals[i] = e.tfs[i] - 1
	}
	e.scratch = packBits(e.scratch, e.vals[:n], tfBits)
	if _, err := e.post.Write(e.scratch); err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	var be [blockEntrySize]byte
	binary.LittleEndian.PutUint32(be[0:], e.docs[n-1])
	binary.LittleEndian.PutUint32(be[4:], uint32(rel))
	binary.LittleEndian.PutUint32(be[8:], math.Float32bits(ub))
	be[12], be[13], be[14] = byte(docBits), byte(tfBits), byte(n-1)
	if _, err := e.blocks.Write(be[:]); err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	e.numBlocks++
	e.prevLast = int64(e.docs[n-1])
	e.n = 0
	return nil
}
