package bm25

import (
	"container/heap"
	"encoding/binary"
	"math"
	"slices"
	"sort"
)

const noDoc = math.MaxUint32

// cursor walks one query term's postings, block by block.
type cursor struct {
	ix      *Index
	info    termInfo
	idf     float64
	count   int     // repeats of the term in the query
	w       float64 // query weight: model.weight(idf, count)
	slot    int     // position among the query's distinct terms (summation order)
	termID  int
	ub      float64 // count * the term's max score: an upper bound of its contribution
	nBlocks int
	bi      int  // current block
	decoded bool // docs/tfs hold block bi
	n, pos  int
	prev    uint32 // last doc of the block before bi (noDoc before the first)
	doc     uint32 // current doc, noDoc when exhausted
	docs    [blockSize]uint32
	tfs     [blockSize]uint32
}

func (c *cursor) blockEntry(i int) (last uint32, off uint32, max float32, docBits, tfBits uint, n int) {
	e := c.info.blocks[i*blockEntrySize:]
	le := binary.LittleEndian
	return le.Uint32(e), le.Uint32(e[4:]), math.Float32frombits(le.Uint32(e[8:])), uint(e[12]), uint(e[13]), int(e[14]) + 1
}

func (c *cursor) blockLast(i int) uint32 {
	return binary.LittleEndian.Uint32(c.info.blocks[i*blockEntrySize:])
}

func (c *cursor) reset(ix *Index, info termInfo, idf float64, count int, slot int) {
	c.ix, c.info, c.idf, c.slot = ix, info, idf, slot
	c.setCount(count)
	c.nBlocks = len(info.blocks) / blockEntrySize
	c.bi, c.decoded, c.pos, c.n, c.prev = 0, false, 0, 0, noDoc
	c.doc = 0
}

// setCount sets the query count; the upper bound scales with it (to within rounding, which
// canBeat's margin covers).
func (c *cursor) setCount(n int) {
	c.count = n
	c.w = c.ix.model.weight(c.idf, n)
	c.ub = float64(n) * c.info.maxScore
}

// decode unpacks block bi and checks it: ordered docs below N ending at the block's last doc.
func (c *cursor) decode() error {
	last, off, _, docBits, tfBits, n := c.blockEntry(c.bi)
	if docBits > 32 || tfBits > 32 || n > blockSize {
		return corruptf("block widths %d/%d, %d postings", docBits, tfBits, n)
	}
	dl, tl := packedLen(n, docBits), packedLen(n, tfBits)
	if uint64(off)+uint64(dl)+uint64(tl) > uint64(c.info.dataLen) {
		return corruptf("block data outside its term")
	}
	src := c.info.data[off:]
	unpackBits(c.docs[:n], src, docBits)
	unpackBits(c.tfs[:n], src[dl:], tfBits)
	d := uint64(c.prev) + 1 // prev = noDoc wraps to 0
	if c.prev == noDoc {
		d = 0
	}
	for i := 0; i < n; i++ {
		d += uint64(c.docs[i])
		if d >= c.ix.h.numDocs {
			return corruptf("document %d out of range", d)
		}
		c.docs[i] = uint32(d)
		c.tfs[i]++
		if c.tfs[i] == 0 {
			return corruptf("term frequency overflow")
		}
		d++
	}
	if c.docs[n-1] != last {
		return corruptf("block ends at %d, entry says %d", c.docs[n-1], last)
	}
	c.n, c.pos, c.decoded = n, 0, true
	return nil
}

// first positions the cursor on its first posting.
func (c *cursor) first() error {
	if c.nBlocks == 0 {
		c.doc = noDoc
		return nil
	}
	if err := c.decode(); err != nil {
		return err
	}
	c.doc = c.docs[0]
	return nil
}

// next moves to the following posting.
func (c *cursor) next() error {
	c.pos++
	if c.pos < c.n {
		c.doc = c.docs[c.pos]
		return nil
	}
	return c.enterBlock(c.bi + 1)
}

func (c *cursor) enterBlock(bi int) error {
	if bi > c.bi {
		c.prev = c.blockLast(bi - 1)
	}
	c.bi, c.decoded = bi, false
	if bi >= c.nBlocks {
		c.doc = noDoc
		return nil
	}
	if err := c.decode(); err != nil {
		return err
	}
	if c.n > 0 && c.prev != noDoc && c.docs[0] <= c.prev {
		return corruptf("blocks out of order")
	}
	c.doc = c.docs[0]
	return nil
}

// advance moves to the first posting with doc >= target.
func (c *cursor) advance(target uint32) error {
	if c.doc >= target {
		return nil
	}
	if c.blockLast(c.bi) < target {
		// Skip whole blocks: gallop, then binary search over the block entries.
		lo, step := c.bi+1, 1
		hi := lo
		for hi < c.nBlocks && c.blockLast(hi) < target {
			lo = hi + 1
			hi += step
			step *= 2
		}
		if hi > c.nBlocks {
			hi = c.nBlocks
		}
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if c.blockLast(mid) < target {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if err := c.enterBlock(lo); err != nil || c.doc == noDoc {
			return err
		}
	}
	for c.pos < c.n && c.docs[c.pos] < target {
		c.pos++
	}
	if c.pos >= c.n { // only with a damaged block whose last doc lies
		return corruptf("block ends before its last doc")
	}
	c.doc = c.docs[c.pos]
	return nil
}

// contribution is the term's score for the current doc (query repeats included).
func (c *cursor) contribution() float64 {
	return c.ix.model.score(c.w, c.tfs[c.pos], c.ix.docLen(c.doc))
}

// searchState is per-query scratch, pooled.
type searchState struct {
	cursors []cursor
	order   []*cursor
	parts   []float64
	has     []bool
	acc     []float64 // exhaustive scorer
	touched []uint32
	terms   []string
}

func (ix *Index) state() *searchState {
	if s, ok := ix.pool.Get().(*searchState); ok {
		return s
	}
	return &searchState{}
}

// prepare analyzes the query and opens one cursor per distinct known term, in order of first
// occurrence (the order in which a document's contributions are summed).
func (ix *Index) prepare(s *searchState, query string) error {
	s.terms = ix.qa.Terms(s.terms[:0], query, nil)
	s.cursors = s.cursors[:0]
	for _, t := range s.terms {
		id, ok := ix.lookup(t)
		if !ok {
			continue
		}
		dup := false
		for i := range s.cursors {
			if c := &s.cursors[i]; c.termID == id {
				c.setCount(c.count + 1)
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		info, err := ix.termInfo(id)
		if err != nil {
			return err
		}
		s.cursors = append(s.cursors, cursor{})
		c := &s.cursors[len(s.cursors)-1]
		c.reset(ix, info, ix.model.idf(info.df), 1, len(s.cursors)-1)
		c.termID = id
	}
	return nil
}

// begin analyzes the query into pooled per-query state; nil state means no result (k <= 0,
// an empty index).
func (ix *Index) begin(query string, k int) (*searchState, error) {
	if k <= 0 || ix.h.numDocs == 0 {
		return nil, nil
	}
	s := ix.state()
	if err := ix.prepare(s, query); err != nil {
		ix.pool.Put(s)
		return nil, err
	}
	return s, nil
}

// Search returns the top-k documents for query, best first: exactly what SearchExhaustive
// returns (same documents, same order, the same scores), found with MaxScore dynamic pruning
// over the block-compressed postings. Equal scores are ordered by ordinal. Only documents
// sharing at least one term with the query are returned.
func (ix *Index) Search(query string, k int) ([]Hit, error) {
	s, err := ix.begin(query, k)
	if s == nil || err != nil {
		return nil, err
	}
	defer ix.pool.Put(s)
	m := len(s.cursors)
	if m == 0 {
		return nil, nil
	}
	// Terms by ascending upper bound; ubSum[i] bounds the sum of the first i of them.
	s.order = s.order[:0]
	for i := range s.cursors {
		if err := s.cursors[i].first(); err != nil {
			return nil, err
		}
		s.order = append(s.order, &s.cursors[i])
	}
	sort.SliceStable(s.order, func(a, b int) bool { return s.order[a].ub < s.order[b].ub })
	ubSum := make([]float64, m+1)
	for i, c := range s.order {
		ubSum[i+1] = ubSum[i] + c.ub
	}
	s.parts = slices.Grow(s.parts[:0], m)[:m]
	s.has = slices.Grow(s.has[:0], m)[:m]

	h := make(hitHeap, 0, k)
	theta := math.Inf(-1)
	// essential: order[ess:] must be looked at for every candidate; order[:ess] are only
	// looked up for candidates that could still beat theta.
	ess := 0
	for {
		d := uint32(noDoc)
		for _, c := range s.order[ess:] {
			if c.doc < d {
				d = c.doc
			}
		}
		if d == noDoc {
			break
		}
		clear(s.has)
		partial := 0.0
		for _, c := range s.order[ess:] {
			if c.doc == d {
				v := c.contribution()
				s.parts[c.slot], s.has[c.slot] = v, true
				partial += v
				if err := c.next(); err != nil {
					return nil, err
				}
			}
		}
		pruned := false
		for j := ess - 1; j >= 0; j-- {
			if !canBeat(partial+ubSum[j+1], theta) {
				pruned = true
				break
			}
			c := s.order[j]
			if err := c.advance(d); err != nil {
				return nil, err
			}
			if c.doc == d {
				v := c.contribution()
				s.parts[c.slot], s.has[c.slot] = v, true
				partial += v
			}
		}
		if pruned {
			continue
		}
		sum := 0.0
		for i := 0; i < m; i++ {
			if s.has[i] {
				sum += s.parts[i]
			}
		}
		if !h.offer(Hit{Ord: int(d), Score: ix.model.finish(sum)}, k) {
			continue
		}
		if len(h) == k && h[0].Score > theta {
			theta = h[0].Score
			for ess < m && !canBeat(ubSum[ess+1], theta) {
				ess++
			}
		}
	}
	return h.sorted(), nil
}

// canBeat reports whether a document whose score is at most bound (computed with a different
// summation order) might still score above theta. Later documents lose ties to the ones in
// the heap, so a bound equal to theta cannot win; the margin covers rounding (and Lucene's
// float32 rounding of the final score).
func canBeat(bound, theta float64) bool {
	return bound+math.Abs(bound)*1e-6 > theta
}

// SearchExhaustive scores every document containing a query term (term at a time, one
// accumulator per document) and keeps the top k: the reference that Search must match.
func (ix *Index) SearchExhaustive(query string, k int) ([]Hit, error) {
	s, err := ix.begin(query, k)
	if s == nil || err != nil {
		return nil, err
	}
	defer ix.pool.Put(s)
	if len(s.acc) < int(ix.h.numDocs) {
		s.acc = make([]float64, ix.h.numDocs)
	}
	seen := make([]bool, ix.h.numDocs)
	s.touched = s.touched[:0]
	for i := range s.cursors {
		c := &s.cursors[i]
		if err := c.first(); err != nil {
			return nil, err
		}
		for c.doc != noDoc {
			if !seen[c.doc] {
				seen[c.doc] = true
				s.touched = append(s.touched, c.doc)
			}
			s.acc[c.doc] += c.contribution()
			if err := c.next(); err != nil {
				return nil, err
			}
		}
	}
	h := make(hitHeap, 0, k)
	for _, d := range s.touched {
		h.offer(Hit{Ord: int(d), Score: ix.model.finish(s.acc[d])}, k)
		s.acc[d] = 0
	}
	return h.sorted(), nil
}

// better orders hits: higher score first, then lower ordinal.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Ord < b.Ord
}

// hitHeap is a min-heap: the worst kept hit at the root.
type hitHeap []Hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(Hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// offer keeps hit if it is among the best k so far and reports whether it was kept.
func (h *hitHeap) offer(hit Hit, k int) bool {
	if len(*h) < k {
		heap.Push(h, hit)
		return true
	}
	if better(hit, (*h)[0]) {
		(*h)[0] = hit
		heap.Fix(h, 0)
		return true
	}
	return false
}

func (h hitHeap) sorted() []Hit {
	out := make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(Hit)
	}
	return out
}
