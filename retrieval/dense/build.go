package dense

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/embedders"
	"github.com/lsrflow/lsrflow/embed/static"
	"github.com/lsrflow/lsrflow/internal/progress"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

// Files inside an index directory.
const (
	Dir       = "dense"       // dense/<name>/
	IndexFile = "faiss.index" // the FAISS index
	SIFFile   = "sif.json"    // the fitted SIF state of a glove embedder
)

// StepOptions configure a dense build step.
type StepOptions struct {
	// Embedder is the spec: "glove" (or "glove:VECTORS.lsrv"), "model2vec:DIR", "onnx:DIR",
	// "openai:URL[#MODEL]".
	Embedder string
	// Name names the entry (dense/<Name>/); default: the spec's scheme ("glove", "onnx", ...).
	Name string
	// Factory is the FAISS index_factory description (default "Flat").
	Factory string
	// Metric is the FAISS metric (default inner product).
	Metric faissx.Metric
	// BatchSize is passages per Embed call (default 256).
	BatchSize int
	// TrainSample caps the vectors used to train indexes that need training (default 100,000).
	TrainSample int
	// PCSample caps the passages whose SIF embeddings give glove's principal component
	// (default 100,000; a seeded uniform sample of the corpus, all of it when smaller).
	PCSample int
	// Workers embed batches concurrently (default: GOMAXPROCS for glove, 1 for model
	// embedders, which have threads or a server of their own).
	Workers int
	// Import adopts an existing FAISS index file (e.g. FlashRAG's e5_Flat.index) instead of
	// embedding the corpus; row i must be corpus passage i.
	Import string
	// Embedders are the options for non-glove embedders (prefixes, normalization, ...).
	Embedders embedders.Options
	// Params are FAISS search parameters stored with the index (FAISS serializes efSearch and
	// nprobe). Without them, HNSW indexes get efSearch=128 and IVF indexes nprobe=16 (FAISS's
	// own defaults, 16 and 1, lose too much recall at k=20 and more).
	Params map[string]float64
	// Progress receives progress lines (nil: none).
	Progress io.Writer
}

// extra is the method-specific part of the manifest's dense entry.
type extra struct {
	EmbedderName string             `json:"embedder_name"`
	SIF          string             `json:"sif,omitempty"`
	Vectors      string             `json:"vectors,omitempty"`
	Prefixes     embed.Prefixes     `json:"prefixes,omitzero"`
	Normalize    *bool              `json:"normalize,omitempty"`
	MaxLength    int                `json:"max_length,omitempty"`
	ImportedFrom string             `json:"imported_from,omitempty"`
	Params       map[string]float64 `json:"search_params,omitempty"`
	Seconds      float64            `json:"seconds"`
	Throughput   float64            `json:"passages_per_second,omitempty"`
}

// Step builds a dense index; it implements retrieval.BuildStep.
type Step struct {
	o StepOptions
	// Stats of the finished build.
	Stats StepStats

	vec   *static.Vectors // glove: loaded by the first Add
	stats *static.Stats   // glove: SIF statistics gathered by Add
	added int
}

// StepStats reports what Finish did.
type StepStats struct {
	Passages       int
	EmbedSeconds   float64
	IndexSeconds   float64
	PassagesPerSec float64
}

var _ retrieval.BuildStep = (*Step)(nil)

// NewStep validates o and returns a step.
func NewStep(o StepOptions) (*Step, error) {
	o.Embedder = strings.TrimSpace(o.Embedder)
	scheme, _, _ := strings.Cut(o.Embedder, ":")
	if scheme == "" {
		return nil, errors.New("dense: an embedder spec is required (glove, model2vec:DIR, onnx:DIR, openai:URL)")
	}
	if o.Name == "" {
		o.Name = scheme
	}
	if strings.ContainsAny(o.Name, `/\`) || o.Name == "." || o.Name == ".." {
		return nil, fmt.Errorf("dense: bad entry name %q", o.Name)
	}
	if ok, vpath := isGlove(o.Embedder); ok && vpath == "" && o.Import == "" {
		// fail before the corpus is read, not after
		p, err := static.DefaultGlovePath()
		if err != nil {
			return nil, err
		}
		o.Embedder = "glove:" + p
	} else if ok && vpath != "" {
		if _, err := os.Stat(vpath); err != nil {
			return nil, fmt.Errorf("dense: glove vectors: %w", err)
		}
	}
	if o.Factory == "" {
		o.Factory = "Flat"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.TrainSample <= 0 {
		o.TrainSample = 100_000
	}
	if o.PCSample <= 0 {
		o.PCSample = 100_000
	}
	if o.Workers <= 0 {
		o.Workers = 1
		if ok, _ := isGlove(o.Embedder); ok {
			o.Workers = runtime.GOMAXPROCS(0)
		}
	}
	return &Step{o: o}, nil
}

// Name is "dense".
func (s *Step) Name() string { return "dense:" + s.o.Name }

// Add gathers glove's SIF statistics while the corpus is read (one streaming pass: word counts
// and a sample of passages for the principal component); the embedding itself runs on the
// finished docstore. It does nothing for other embedders and for imports.
func (s *Step) Add(ord int, _, contents string) error {
	ok, vpath := isGlove(s.o.Embedder)
	if !ok || s.o.Import != "" {
		return nil
	}
	if s.stats == nil {
		if ord != 0 {
			return nil // joined mid-corpus: Finish counts the docstore instead
		}
		vec, err := static.LoadBinary(vpath)
		if err != nil {
			return fmt.Errorf("dense: %w", err)
		}
		if s.stats, err = static.NewStats(vec, s.o.PCSample, 1); err != nil {
			return err
		}
		s.vec = vec
	}
	if ord != s.added {
		return fmt.Errorf("dense: passage %d added after %d passages", ord, s.added)
	}
	s.stats.Add(contents)
	s.added++
	return nil
}

func isGlove(spec string) (bool, string) {
	scheme, arg, _ := strings.Cut(spec, ":")
	return scheme == "glove", arg
}

// fitSIF fits the glove embedder: on the statistics Add gathered when it saw the whole
// corpus, else (a reindex of an existing store) on one scan of the docstore.
func (s *Step) fitSIF(ctx context.Context, ix *retrieval.Index, vpath string) (*static.SIF, error) {
	st, vec := s.stats, s.vec
	s.stats, s.vec = nil, nil // the sample is not needed after the fit
	if st == nil || st.Texts() != int64(ix.Docs.Len()) {
		var err error
		if vec == nil {
			if vec, err = static.LoadBinary(vpath); err != nil {
				return nil, fmt.Errorf("dense: %w", err)
			}
		}
		if st, err = static.NewStats(vec, s.o.PCSample, 1); err != nil {
			return nil, err
		}
		err = ix.Docs.Scan(ctx, 0, ix.Docs.Len(), func(_ int, c []byte) error {
			st.Add(string(c))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dense: fit SIF: %w", err)
		}
	}
	sif, err := st.Fit(ctx, static.FitOptions{VectorsName: static.GloveName})
	if err != nil {
		return nil, fmt.Errorf("dense: fit SIF: %w", err)
	}
	return sif, nil
}

// Finish embeds the corpus, builds and saves the FAISS index and records the dense entry.
func (s *Step) Finish(ctx context.Context, ix *retrieval.Index, m *retrieval.Manifest) error {
	start := time.Now()
	rel := path.Join(Dir, s.o.Name)
	dir := ix.Path(rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dense: %w", err)
	}
	ex := extra{Prefixes: s.o.Embedders.Prefixes, Normalize: s.o.Embedders.Normalize, MaxLength: s.o.Embedders.MaxLength}
	var emb embed.Embedder
	if ok, vpath := isGlove(s.o.Embedder); ok {
		if vpath == "" {
			p, err := static.DefaultGlovePath()
			if err != nil {
				return err
			}
			vpath = p
		}
		sif, err := s.fitSIF(ctx, ix, vpath)
		if err != nil {
			return err
		}
		if err := sif.Save(filepath.Join(dir, SIFFile)); err != nil {
			return err
		}
		emb, ex.SIF, ex.Vectors = sif, SIFFile, absPath(vpath)
	} else {
		e, err := embedders.Open(ctx, s.o.Embedder, s.o.Embedders)
		if err != nil {
			return fmt.Errorf("dense: %w", err)
		}
		defer embedders.Close(e)
		emb = e
	}
	ex.EmbedderName = emb.Name()

	var (
		idx *faissx.Index
		err error
	)
	indexPath := filepath.Join(dir, IndexFile)
	streamed := false
	if s.o.Import != "" {
		// Mapped when it is a Flat file: adopting FlashRAG's 65 GB e5_Flat.index copies the
		// file instead of loading it.
		idx, err = faissx.Load(s.o.Import, faissx.IsFlatFile(s.o.Import))
		if err != nil {
			return fmt.Errorf("dense: import: %w", err)
		}
		defer idx.Close()
		if idx.Dim() != emb.Dim() || idx.Len() != ix.Docs.Len() {
			return fmt.Errorf("dense: import %s: %d vectors of dimension %d, but the corpus has %d passages and %s embeds in %d dimensions",
				s.o.Import, idx.Len(), idx.Dim(), ix.Docs.Len(), emb.Name(), emb.Dim())
		}
		ex.ImportedFrom = absPath(s.o.Import)
		s.o.Factory, s.o.Metric = "(imported)", idx.Metric()
	} else if isFlat(s.o.Factory) {
		// Streamed to disk as embedded, then mapped: memory does not grow with the corpus.
		if err := s.buildFlat(ctx, ix, emb, indexPath); err != nil {
			return err
		}
		if idx, err = faissx.Load(indexPath, true); err != nil {
			return err
		}
		defer idx.Close()
		streamed = true
	} else {
		idx, err = s.build(ctx, ix, emb)
		if err != nil {
			return err
		}
		defer idx.Close()
	}
	params := s.o.Params
	if params == nil && s.o.Import == "" {
		params = map[string]float64{}
		if strings.Contains(s.o.Factory, "HNSW") {
			params["efSearch"] = 128
		}
		if strings.Contains(s.o.Factory, "IVF") {
			params["nprobe"] = 16
		}
	}
	for name, v := range params {
		if err := idx.SetParam(name, v); err != nil {
			return fmt.Errorf("dense: %w", err)
		}
	}
	if len(params) > 0 {
		ex.Params = params
	}
	if !streamed {
		if err := idx.Save(indexPath); err != nil {
			return err
		}
	}
	ex.Seconds = time.Since(start).Seconds()
	ex.Throughput = s.Stats.PassagesPerSec
	raw, err := json.Marshal(ex)
	if err != nil {
		return fmt.Errorf("dense: %w", err)
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d|%s", ex.EmbedderName, s.o.Factory, s.o.Metric, idx.Len(), start.UTC().Format(time.RFC3339Nano)))
	m.SetDense(retrieval.DenseEntry{
		Name: s.o.Name, Embedder: s.o.Embedder, IndexFactory: s.o.Factory, Metric: s.o.Metric.String(),
		Dim: idx.Dim(), Path: rel, Version: s.o.Factory + "/" + hex.EncodeToString(h[:4]), Extra: raw,
	})
	return nil
}

// isFlat reports whether an index_factory description is a plain Flat index.
func isFlat(factory string) bool { return strings.EqualFold(strings.TrimSpace(factory), "Flat") }

// buildFlat embeds the docstore into a Flat index file written as it goes.
func (s *Step) buildFlat(ctx context.Context, ix *retrieval.Index, emb embed.Embedder, path string) error {
	w, err := faissx.CreateFlat(path, emb.Dim(), s.o.Metric)
	if err != nil {
		return err
	}
	if err := s.embedCorpus(ctx, ix, emb, w.Add); err != nil {
		w.Abort()
		return err
	}
	if w.Len() != ix.Docs.Len() {
		w.Abort()
		return fmt.Errorf("dense: index holds %d vectors for %d passages", w.Len(), ix.Docs.Len())
	}
	return w.Close()
}

// build embeds the docstore into a new in-memory FAISS index, training it on the first
// TrainSample vectors when it needs training.
func (s *Step) build(ctx context.Context, ix *retrieval.Index, emb embed.Embedder) (*faissx.Index, error) {
	idx, err := faissx.New(emb.Dim(), s.o.Factory, s.o.Metric)
	if err != nil {
		return nil, err
	}
	n := ix.Docs.Len()
	var pending []float32 // vectors waiting for training
	err = s.embedCorpus(ctx, ix, emb, func(flat []float32) error {
		if idx.IsTrained() {
			return idx.Add(flat)
		}
		pending = append(pending, flat...)
		if len(pending) >= s.o.TrainSample*emb.Dim() || idx.Len()+len(pending)/emb.Dim() == n {
			if err := idx.Train(pending); err != nil {
				return err
			}
			if err := idx.Add(pending); err != nil {
				return err
			}
			pending = nil
		}
		return nil
	})
	if err == nil && idx.Len() != n {
		err = fmt.Errorf("dense: index holds %d vectors for %d passages", idx.Len(), n)
	}
	if err != nil {
		idx.Close()
		return nil, err
	}
	return idx, nil
}

// embedCorpus embeds every passage of the docstore, BatchSize at a time on Workers goroutines,
// and hands the vectors (row-major) to add in ordinal order. The docstore is read with one
// sequential scan; at most 2*Workers batches are in flight, so memory does not depend on the
// corpus size. It fills s.Stats.
func (s *Step) embedCorpus(ctx context.Context, ix *retrieval.Index, emb embed.Embedder, add func(flat []float32) error) error {
	start := time.Now()
	n, d := ix.Docs.Len(), emb.Dim()
	var bar *progress.Bar
	if s.o.Progress != nil {
		bar = progress.New(s.o.Progress, "index: embed "+s.o.Name, n)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		flat []float32
		err  error
	}
	order := make(chan chan result, 2*s.o.Workers)
	sem := make(chan struct{}, s.o.Workers)
	scanErr := make(chan error, 1)
	go func() {
		defer close(order)
		texts := make([]string, 0, s.o.BatchSize)
		lo := 0
		flush := func() error {
			ch := make(chan result, 1)
			select {
			case order <- ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch, first := texts, lo
			go func() {
				defer func() { <-sem }()
				flat, err := embedBatch(ctx, emb, batch, first, d)
				ch <- result{flat, err}
			}()
			texts, lo = make([]string, 0, s.o.BatchSize), lo+len(batch)
			return nil
		}
		err := ix.Docs.Scan(ctx, 0, n, func(_ int, c []byte) error {
			texts = append(texts, string(c))
			if len(texts) == s.o.BatchSize {
				return flush()
			}
			return nil
		})
		if err == nil && len(texts) > 0 {
			err = flush()
		}
		scanErr <- err
	}()
	var addDur time.Duration
	var firstErr error
	for ch := range order {
		var res result
		select {
		case res = <-ch:
		case <-ctx.Done():
			res.err = ctx.Err()
		}
		if firstErr != nil {
			continue // drain until the scanner stops
		}
		if res.err != nil {
			firstErr = res.err
			cancel()
			continue
		}
		t0 := time.Now()
		if err := add(res.flat); err != nil {
			firstErr = err
			cancel()
			continue
		}
		addDur += time.Since(t0)
		bar.Add(len(res.flat) / d)
	}
	if err := <-scanErr; firstErr == nil && err != nil {
		firstErr = err
	}
	if firstErr != nil {
		return firstErr
	}
	bar.Done()
	wall := time.Since(start)
	s.Stats = StepStats{Passages: n, EmbedSeconds: wall.Seconds(), IndexSeconds: addDur.Seconds()}
	if wall > 0 {
		s.Stats.PassagesPerSec = float64(n) / wall.Seconds()
	}
	return nil
}

// embedBatch embeds the passages first.. of texts and checks the vectors' count and size.
func embedBatch(ctx context.Context, emb embed.Embedder, texts []string, first, d int) ([]float32, error) {
	vecs, err := emb.Embed(ctx, texts, embed.Passage)
	if err != nil {
		return nil, fmt.Errorf("dense: embed passages %d..%d: %w", first, first+len(texts)-1, err)
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("dense: embedder returned %d vectors for %d passages", len(vecs), len(texts))
	}
	flat := make([]float32, 0, len(vecs)*d)
	for i, v := range vecs {
		if len(v) != d {
			return nil, fmt.Errorf("dense: passage %d: vector of %d dimensions, want %d", first+i, len(v), d)
		}
		flat = append(flat, v...)
	}
	return flat, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// OpenOptions configure Opener.
type OpenOptions struct {
	// Name selects the dense entry ("" selects the only one).
	Name string
	// Embedders are options for non-glove embedders; prefixes, normalization and max length
	// recorded at build time are used unless set here.
	Embedders embedders.Options
	// GloveVectors overrides the vectors file recorded for a glove entry.
	GloveVectors string
	// Mmap memory-maps IVF inverted lists (FAISS's on-disk lists). Flat indexes are always
	// mapped and searched in place (faissx.Load).
	Mmap bool
	// Params are FAISS search parameters (e.g. {"efSearch": 128} or {"nprobe": 16}).
	Params map[string]float64
}

// Opener returns the retrieval.Opener of method "dense".
func Opener(o OpenOptions) retrieval.Opener {
	return func(ctx context.Context, ix *retrieval.Index) (retrieval.Retriever, error) {
		return Open(ctx, ix, o)
	}
}

// Open opens the dense retriever of an index directory.
func Open(ctx context.Context, ix *retrieval.Index, o OpenOptions) (*Retriever, error) {
	hint := "lsrflow index --corpus C.jsonl --embedder glove --out " + ix.Dir
	e, ok := ix.Manifest.DenseByName(o.Name)
	if !ok {
		method := Method
		if o.Name != "" {
			method += " (" + o.Name + ")"
		}
		return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: method, Hint: hint}
	}
	var ex extra
	if len(e.Extra) > 0 {
		if err := json.Unmarshal(e.Extra, &ex); err != nil {
			return nil, fmt.Errorf("dense: index %s: entry %s: %w", ix.Dir, e.Name, err)
		}
	}
	emb, err := openEmbedder(ctx, ix, e, ex, o)
	if err != nil {
		return nil, err
	}
	if ex.EmbedderName != "" && emb.Name() != ex.EmbedderName {
		embedders.Close(emb)
		return nil, fmt.Errorf("dense: index %s was built with embedder %q, %q opened %q", ix.Dir, ex.EmbedderName, e.Embedder, emb.Name())
	}
	p := ix.Path(path.Join(e.Path, IndexFile))
	idx, err := faissx.Load(p, o.Mmap || faissx.IsFlatFile(p))
	if err != nil {
		embedders.Close(emb)
		if errors.Is(err, os.ErrNotExist) {
			return nil, &retrieval.NotBuiltError{Dir: ix.Dir, Method: Method, Hint: hint}
		}
		return nil, err
	}
	for name, v := range o.Params {
		if err := idx.SetParam(name, v); err != nil {
			idx.Close()
			embedders.Close(emb)
			return nil, err
		}
	}
	r, err := New(emb, idx, ix.Docs, e.Version)
	if err != nil {
		idx.Close()
		embedders.Close(emb)
		return nil, fmt.Errorf("dense: index %s: %w", ix.Dir, err)
	}
	r.ownsEmb = true
	return r, nil
}

func openEmbedder(ctx context.Context, ix *retrieval.Index, e *retrieval.DenseEntry, ex extra, o OpenOptions) (embed.Embedder, error) {
	if ok, _ := isGlove(e.Embedder); ok {
		vpath := o.GloveVectors
		if vpath == "" {
			vpath = ex.Vectors
			if _, err := os.Stat(vpath); err != nil {
				p, derr := static.DefaultGlovePath()
				if derr != nil {
					return nil, fmt.Errorf("dense: vectors %s: %w (and %v)", ex.Vectors, err, derr)
				}
				vpath = p
			}
		}
		vec, err := static.LoadBinary(vpath)
		if err != nil {
			return nil, fmt.Errorf("dense: %w", err)
		}
		sifName := ex.SIF
		if sifName == "" {
			sifName = SIFFile
		}
		return static.LoadSIF(ix.Path(path.Join(e.Path, sifName)), vec)
	}
	eo := o.Embedders
	if eo.Prefixes == (embed.Prefixes{}) {
		eo.Prefixes = ex.Prefixes
	}
	if eo.Normalize == nil {
		eo.Normalize = ex.Normalize
	}
	if eo.MaxLength == 0 {
		eo.MaxLength = ex.MaxLength
	}
	emb, err := embedders.Open(ctx, e.Embedder, eo)
	if err != nil {
		return nil, fmt.Errorf("dense: %w", err)
	}
	return emb, nil
}
