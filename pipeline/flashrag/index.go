package flashrag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/embedders"
	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/bm25"
	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
	"github.com/lsrflow/lsrflow/retrieval/dense"
)

// IndexCacheDir is where lsrflow keeps the index directories it derives from a FlashRAG
// config (docstore, imported FAISS file, BM25), under save_dir, shared by the runs there.
const IndexCacheDir = "lsrflow-index"

// sourceFile records what a derived index was built from; a later run reuses the index only
// when every input is unchanged.
const sourceFile = "flashrag-source.json"

type fileStamp struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

func stamp(p string) (fileStamp, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileStamp{}, err
	}
	abs, _ := filepath.Abs(p)
	return fileStamp{Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

type indexSource struct {
	Corpus   fileStamp       `json:"corpus"`
	FAISS    *fileStamp      `json:"faiss,omitempty"`
	Embedder string          `json:"embedder,omitempty"`
	Encoding *embed.Encoding `json:"encoding,omitempty"`
	Analyzer string          `json:"bm25_analyzer,omitempty"`
	Queries  string          `json:"bm25_query_analyzer,omitempty"`
	K1       float64         `json:"k1,omitempty"`
	B        float64         `json:"b,omitempty"`
}

// Index is the lsrflow index directory a FlashRAG config runs on.
type Index struct {
	Dir    string
	Method string // bm25 or dense
	// Embedder is the spec of the dense model ("" for BM25); Encoding its encoding.
	Embedder string
	Encoding *embed.Encoding
	Built    bool // built (or rebuilt) now rather than reused
	// BM25Analyzer and BM25Queries name how passages and queries become BM25 terms (bm25).
	BM25Analyzer, BM25Queries string
	// Warnings are things the user should know (printed once).
	Warnings []string
}

// EmbedderSpec turns the retrieval model (model2path's value) into an embedder spec: an
// explicit spec (onnx:DIR, model2vec:DIR, openai:URL#MODEL) as it is, a local directory by
// what it holds.
func (s *Settings) EmbedderSpec() (string, error) {
	for _, scheme := range []string{"onnx:", "model2vec:", "openai:"} {
		if strings.HasPrefix(s.ModelPath, scheme) {
			return s.ModelPath, nil
		}
	}
	spec, err := embedders.SpecForDir(s.ModelPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("retrieval_method %s resolves to %q (model2path), which is not a local directory: lsrflow runs retrieval models from disk; set model2path.%s (or retrieval_model_path) to an ONNX export (model.onnx + tokenizer.json) or a Model2Vec directory",
			s.RetrievalMethod, s.ModelPath, s.RetrievalMethod)
	}
	if err != nil {
		return "", fmt.Errorf("retrieval_method %s: %w", s.RetrievalMethod, err)
	}
	return spec, nil
}

// BM25Params are the k1 and b of the backend FlashRAG uses: bm25s' defaults (1.5, 0.75; its
// index builder calls bm25s.BM25 without parameters) or Pyserini's LuceneSearcher defaults
// (0.9, 0.4).
func (s *Settings) BM25Params() bm25.Params {
	an, err := BM25Analyzer(s.BM25Backend)
	if err != nil {
		an = analysis.BM25S
	}
	return bm25.DefaultParamsFor(an)
}

// EnsureIndex returns the lsrflow index directory for the config, building it under
// {save_dir}/lsrflow-index/ when it does not exist or its inputs changed: a docstore of
// corpus_path plus the FAISS file at index_path (row i = corpus row i; a corpus whose
// readable rows do not number the index's vectors is refused) or, for bm25, a BM25 index.
// An index_path that is an lsrflow index directory is used as it is.
func EnsureIndex(ctx context.Context, s *Settings, maxLine int, progress io.Writer) (*Index, error) {
	out := &Index{Method: s.Method()}
	if !s.IsBM25() {
		if _, err := os.Stat(filepath.Join(s.IndexPath, retrieval.ManifestFile)); err == nil && s.IndexPath != "" {
			return useIndexDir(s, out)
		}
	}
	if s.CorpusPath == "" {
		return nil, errors.New("corpus_path is required: the index's rows are corpus rows")
	}
	corpus, err := stamp(s.CorpusPath)
	if err != nil {
		return nil, fmt.Errorf("corpus_path: %w", err)
	}
	src := indexSource{Corpus: corpus}
	var steps []retrieval.BuildStep
	var name string
	// the BM25 step spills its runs inside the index directory, which is named after the inputs
	var bm25Opts *bm25.Options
	if s.IsBM25() {
		an, _ := BM25Analyzer(s.BM25Backend)
		p := s.BM25Params()
		if s.IndexPath != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("index_path %s (a %s index) is not read: lsrflow builds its own BM25 index from corpus_path with the %s analyzer", s.IndexPath, s.BM25Backend, an))
		}
		out.BM25Analyzer, out.BM25Queries = an, s.BM25Queries()
		src.Analyzer, src.Queries, src.K1, src.B = an, s.BM25QueryAnalyzer, p.K1, p.B
		bm25Opts = &bm25.Options{Params: p, Analyzer: an, QueryAnalyzer: s.BM25QueryAnalyzer}
		name = "bm25-" + an
		if s.BM25QueryAnalyzer != "" {
			name = "bm25-" + an + "-q-" + s.BM25QueryAnalyzer
		}
	} else {
		spec, err := s.EmbedderSpec()
		if err != nil {
			return nil, err
		}
		enc := s.Encoding
		if strings.HasPrefix(spec, "model2vec:") && enc.Pooling != "" {
			if enc.Pooling != "mean" {
				out.Warnings = append(out.Warnings, fmt.Sprintf("pooling %s (%s) does not apply to the Model2Vec model %s: static models average token vectors", enc.Pooling, s.RetrievalMethod, s.ModelPath))
			}
			enc.Pooling = ""
		}
		out.Embedder, out.Encoding = spec, &enc
		src.Embedder, src.Encoding = spec, &enc
		opts := dense.StepOptions{Embedder: spec, Name: entryName(s.RetrievalMethod), Progress: progress,
			Embedders: embedders.Options{}.WithEncoding(enc)}
		if s.IndexPath != "" {
			fs, err := stamp(s.IndexPath)
			if err != nil {
				return nil, fmt.Errorf("index_path: %w (FlashRAG's {method}_{faiss_type}.index file)", err)
			}
			src.FAISS = &fs
			opts.Import = s.IndexPath
			name = filepath.Base(s.IndexPath)
		} else {
			opts.Factory = "Flat"
			name = s.RetrievalMethod + "_Flat"
		}
		step, err := dense.NewStep(opts)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step)
	}
	key, _ := json.Marshal(src)
	sum := sha256.Sum256(key)
	out.Dir = filepath.Join(s.SaveDir, IndexCacheDir, name+"-"+hex.EncodeToString(sum[:4]))
	if bm25Opts != nil {
		bm25Opts.TempDir = filepath.Join(out.Dir, bm25.Dir)
		step, err := bm25.NewStepOptions(*bm25Opts)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step)
	}
	if prev, err := os.ReadFile(filepath.Join(out.Dir, sourceFile)); err == nil && string(prev) == string(key) {
		if _, err := retrieval.ReadManifest(out.Dir); err == nil {
			return out, nil
		}
	}
	if err := os.RemoveAll(out.Dir); err != nil {
		return nil, err
	}
	st, err := retrieval.Build(ctx, retrieval.BuildOptions{Corpus: s.CorpusPath, Dir: out.Dir, MaxLineBytes: maxLine, Steps: steps, Progress: progress})
	if err == nil && src.FAISS != nil && st.BadLines > 0 {
		err = fmt.Errorf("corpus_path %s has %d rows lsrflow cannot read (see %s): FAISS row i would no longer be corpus row i",
			s.CorpusPath, st.BadLines, filepath.Join(out.Dir, retrieval.DeadLettersFile))
	}
	if err != nil {
		_ = os.Remove(filepath.Join(out.Dir, retrieval.ManifestFile))
		if src.FAISS != nil && strings.Contains(err.Error(), "vectors of dimension") {
			bad := ""
			if st.BadLines > 0 {
				bad = fmt.Sprintf(", %d rows could not be read (see %s)", st.BadLines, filepath.Join(out.Dir, retrieval.DeadLettersFile))
			}
			msg := err.Error()
			if i := strings.Index(msg, s.IndexPath+": "); i >= 0 {
				msg = msg[i+len(s.IndexPath)+2:]
			}
			return nil, fmt.Errorf("index_path %s and corpus_path %s do not pair up (FAISS row i must be corpus row i): %s%s",
				s.IndexPath, s.CorpusPath, msg, bad)
		}
		return nil, fmt.Errorf("index from %s: %w", s.CorpusPath, err)
	}
	if err := os.WriteFile(filepath.Join(out.Dir, sourceFile), key, 0o644); err != nil {
		return nil, err
	}
	out.Built = true
	return out, nil
}

// useIndexDir adopts an lsrflow index directory named by index_path; its recorded encoding
// wins, and a difference from the config's conventions is reported.
func useIndexDir(s *Settings, out *Index) (*Index, error) {
	m, err := retrieval.ReadManifest(s.IndexPath)
	if err != nil {
		return nil, err
	}
	out.Dir = s.IndexPath
	e, ok := m.DenseByName(entryName(s.RetrievalMethod))
	if !ok {
		e, ok = m.DenseByName("")
	}
	if !ok {
		return nil, fmt.Errorf("index_path %s is an lsrflow index without a dense index named %s", s.IndexPath, s.RetrievalMethod)
	}
	out.Embedder, out.Encoding = e.Embedder, e.Encoding
	if e.Encoding != nil {
		want := s.Encoding
		got := *e.Encoding
		if got.Prefixes != want.Prefixes || got.Pooling != want.Pooling || (got.Normalize == nil) != (want.Normalize == nil) ||
			got.Normalize != nil && *got.Normalize != *want.Normalize || got.QueryMaxLength != want.QueryMaxLength {
			out.Warnings = append(out.Warnings, fmt.Sprintf("index %s was encoded as [%s]; the config's conventions say [%s]: queries are encoded like the index's passages", s.IndexPath, got, want))
		}
	}
	return out, nil
}

// entryName makes a retrieval method (which FlashRAG allows to be a path) a dense entry name.
func entryName(method string) string {
	n := strings.NewReplacer("/", "_", `\`, "_").Replace(method)
	if n == "" || n == "." || n == ".." {
		return "dense"
	}
	return n
}
