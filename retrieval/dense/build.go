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
	return &Step{o: o}, nil
}

// Encoding is the encoding the step records in the manifest (nil for glove, which has none).
func (s *Step) Encoding() *embed.Encoding {
	if ok, _ := isGlove(s.o.Embedder); ok {
		return nil
	}
	e := s.o.Embedders.Encoding()
	return &e
}

// Name is "dense".
func (s *Step) Name() string { return "dense:" + s.o.Name }

// Add does nothing: the step embeds the finished docstore.
func (s *Step) Add(int, string, string) error { return nil }

func isGlove(spec string) (bool, string) {
	scheme, arg, _ := strings.Cut(spec, ":")
	return scheme == "glove", arg
}

// corpusSeq streams the docstore's contents in ordinal order.
func corpusSeq(ix *retrieval.Index) func(func(string) error) error {
	return func(yield func(string) error) error {
		var buf []byte
		for i := range ix.Docs.Len() {
			var err error
			buf, err = ix.Docs.AppendContents(buf[:0], i)
			if err != nil {
				return err
			}
			if err := yield(string(buf)); err != nil {
				return err
			}
		}
		return nil
	}
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
		vec, err := static.LoadBinary(vpath)
		if err != nil {
			return fmt.Errorf("dense: %w", err)
		}
		sif, err := static.FitSeq(ctx, vec, corpusSeq(ix), static.FitOptions{VectorsName: static.GloveName})
		if err != nil {
			return fmt.Errorf("dense: fit SIF: %w", err)
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
	if s.o.Import != "" {
		idx, err = faissx.Load(s.o.Import, false)
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
	if err := idx.Save(filepath.Join(dir, IndexFile)); err != nil {
		return err
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
		Dim: idx.Dim(), Path: rel, Version: s.o.Factory + "/" + hex.EncodeToString(h[:4]), Encoding: s.Encoding(), Extra: raw,
	})
	return nil
}

// build embeds the docstore in batches and fills a new FAISS index, training it on the first
// TrainSample vectors when it needs training.
func (s *Step) build(ctx context.Context, ix *retrieval.Index, emb embed.Embedder) (*faissx.Index, error) {
	idx, err := faissx.New(emb.Dim(), s.o.Factory, s.o.Metric)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*faissx.Index, error) { idx.Close(); return nil, err }
	n := ix.Docs.Len()
	var bar *progress.Bar
	if s.o.Progress != nil {
		bar = progress.New(s.o.Progress, "index: embed "+s.o.Name, n)
	}
	var pending []float32 // vectors waiting for training
	var embedDur, indexDur time.Duration
	texts := make([]string, 0, s.o.BatchSize)
	for lo := 0; lo < n; lo += s.o.BatchSize {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		hi := min(n, lo+s.o.BatchSize)
		texts = texts[:0]
		for i := lo; i < hi; i++ {
			_, c, err := ix.Docs.Doc(i)
			if err != nil {
				return fail(err)
			}
			texts = append(texts, c)
		}
		t0 := time.Now()
		vecs, err := emb.Embed(ctx, texts, embed.Passage)
		if err != nil {
			return fail(fmt.Errorf("dense: embed passages %d..%d: %w", lo, hi-1, err))
		}
		if len(vecs) != len(texts) {
			return fail(fmt.Errorf("dense: embedder returned %d vectors for %d passages", len(vecs), len(texts)))
		}
		embedDur += time.Since(t0)
		flat := make([]float32, 0, len(vecs)*emb.Dim())
		for i, v := range vecs {
			if len(v) != emb.Dim() {
				return fail(fmt.Errorf("dense: passage %d: vector of %d dimensions, want %d", lo+i, len(v), emb.Dim()))
			}
			flat = append(flat, v...)
		}
		t1 := time.Now()
		if !idx.IsTrained() {
			pending = append(pending, flat...)
			if len(pending) >= s.o.TrainSample*emb.Dim() || hi == n {
				if err := idx.Train(pending); err != nil {
					return fail(err)
				}
				if err := idx.Add(pending); err != nil {
					return fail(err)
				}
				pending = nil
			}
		} else if err := idx.Add(flat); err != nil {
			return fail(err)
		}
		indexDur += time.Since(t1)
		bar.Add(hi - lo)
	}
	bar.Done()
	if idx.Len() != n {
		return fail(fmt.Errorf("dense: index holds %d vectors for %d passages", idx.Len(), n))
	}
	s.Stats = StepStats{Passages: n, EmbedSeconds: embedDur.Seconds(), IndexSeconds: indexDur.Seconds()}
	if embedDur > 0 {
		s.Stats.PassagesPerSec = float64(n) / embedDur.Seconds()
	}
	return idx, nil
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
	// Mmap memory-maps the FAISS index where its type allows.
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
	idx, err := faissx.Load(ix.Path(path.Join(e.Path, IndexFile)), o.Mmap)
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
	if e.Encoding != nil {
		eo = eo.WithEncoding(*e.Encoding)
	}
	// manifests written before the encoding section kept these in extra
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
