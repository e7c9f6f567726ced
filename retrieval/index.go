package retrieval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/progress"
	"github.com/lsrflow/lsrflow/retrieval/docstore"
	"github.com/lsrflow/lsrflow/schemas"
)

// Layout of an index directory.
const (
	ManifestFile    = "manifest.json"
	DocstoreDir     = "docstore"
	DeadLettersFile = "dead-letters.jsonl"
	// ManifestVersion is the current manifest format; OpenIndex reads 1..ManifestVersion.
	ManifestVersion = 1
)

// Manifest describes an index directory. Methods record themselves in their own section;
// a nil BM25 or an empty Dense means that method was not built.
type Manifest struct {
	FormatVersion int          `json:"format_version"`
	Corpus        CorpusInfo   `json:"corpus"`
	NumDocs       int          `json:"num_docs"`
	Created       CreationInfo `json:"created"`
	BM25          *BM25Entry   `json:"bm25,omitempty"`
	Dense         []DenseEntry `json:"dense,omitempty"`
}

// CorpusInfo says which corpus file the index was built from and what reading it found.
type CorpusInfo struct {
	Path         string    `json:"path"`
	Size         int64     `json:"size"`
	ModTime      time.Time `json:"mod_time"`
	Lines        int       `json:"lines"`
	BadLines     int       `json:"bad_lines"`
	DuplicateIDs int       `json:"duplicate_ids"`
}

// CreationInfo records when and by what the index was built.
type CreationInfo struct {
	Time      time.Time `json:"time"`
	Tool      string    `json:"tool"`
	GoVersion string    `json:"go_version,omitempty"`
	Seconds   float64   `json:"seconds"`
}

// BM25Entry is the lexical index section; Path is relative to the index directory.
type BM25Entry struct {
	K1        float64 `json:"k1"`
	B         float64 `json:"b"`
	Tokenizer string  `json:"tokenizer"`
	// QueryAnalyzer is how queries are analyzed when not like the passages (Tokenizer):
	// "bm25s-unstemmed" is FlashRAG's bm25s query path (retrieval/bm25/analysis).
	QueryAnalyzer string  `json:"query_analyzer,omitempty"`
	Path          string  `json:"path"`
	Version       string  `json:"version"`
	NumTerms      int     `json:"num_terms"`
	AvgDocLen     float64 `json:"avg_doc_len"`
}

// DenseEntry is one dense index: an embedder plus a FAISS index over the docstore ordinals.
// Path is relative to the index directory. Extra holds method-specific settings.
type DenseEntry struct {
	Name         string `json:"name"`
	Embedder     string `json:"embedder"`
	IndexFactory string `json:"index_factory"`
	Metric       string `json:"metric"`
	Dim          int    `json:"dim"`
	Path         string `json:"path"`
	Version      string `json:"version,omitempty"`
	// Encoding is how the passages were encoded (prefixes, pooling, normalization, length
	// caps); queries are encoded the same way. Nil for embedders without such settings.
	Encoding *embed.Encoding `json:"encoding,omitempty"`
	Extra    json.RawMessage `json:"extra,omitempty"`
}

// DenseByName returns the dense entry called name; name "" selects the only entry.
func (m *Manifest) DenseByName(name string) (*DenseEntry, bool) {
	if name == "" && len(m.Dense) == 1 {
		return &m.Dense[0], true
	}
	for i := range m.Dense {
		if m.Dense[i].Name == name {
			return &m.Dense[i], true
		}
	}
	return nil, false
}

// SetDense adds e, replacing an entry of the same name.
func (m *Manifest) SetDense(e DenseEntry) {
	for i := range m.Dense {
		if m.Dense[i].Name == e.Name {
			m.Dense[i] = e
			return
		}
	}
	m.Dense = append(m.Dense, e)
}

// ErrNotIndex is wrapped by OpenIndex and ReadManifest when dir has no manifest.
var ErrNotIndex = errors.New("not an index directory")

// ReadManifest reads and checks dir/manifest.json.
func ReadManifest(dir string) (Manifest, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Manifest{}, fmt.Errorf("index %s does not exist; build it with lsrflow index --corpus C.jsonl --out %s", dir, dir)
		}
		return Manifest{}, fmt.Errorf("index %s: %w", dir, err)
	}
	if !st.IsDir() {
		return Manifest{}, fmt.Errorf("index %s is a file, not a directory: %w", dir, ErrNotIndex)
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Manifest{}, fmt.Errorf("index %s has no %s (%w; unfinished build?)", dir, ManifestFile, ErrNotIndex)
		}
		return Manifest{}, fmt.Errorf("index %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("index %s: bad %s: %w", dir, ManifestFile, err)
	}
	if m.FormatVersion < 1 || m.FormatVersion > ManifestVersion {
		return Manifest{}, fmt.Errorf("index %s: manifest format_version %d is not supported (this build reads 1..%d)", dir, m.FormatVersion, ManifestVersion)
	}
	return m, nil
}

// WriteManifest writes dir/manifest.json atomically (temp file, fsync, rename). A zero
// FormatVersion is set to ManifestVersion.
func WriteManifest(dir string, m Manifest) error {
	if m.FormatVersion == 0 {
		m.FormatVersion = ManifestVersion
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ManifestFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("manifest: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("manifest: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("manifest: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ManifestFile)); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// Index is an open index directory: its manifest and passage store.
type Index struct {
	Dir      string
	Manifest Manifest
	Docs     *docstore.Reader
}

// OpenIndex opens dir: reads the manifest and maps the docstore. Close releases it.
func OpenIndex(dir string) (*Index, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	docs, err := docstore.Open(filepath.Join(dir, DocstoreDir))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	if docs.Len() != m.NumDocs {
		docs.Close()
		return nil, fmt.Errorf("index %s: manifest says %d docs, docstore has %d", dir, m.NumDocs, docs.Len())
	}
	return &Index{Dir: dir, Manifest: m, Docs: docs}, nil
}

// Close unmaps the docstore. Retrievers opened on the index must not be used afterwards.
func (ix *Index) Close() error { return ix.Docs.Close() }

// Path resolves a manifest path (relative to the index directory).
func (ix *Index) Path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(ix.Dir, filepath.FromSlash(rel))
}

// NotBuiltError says that an index directory lacks a method.
type NotBuiltError struct {
	Dir, Method, Hint string
}

func (e *NotBuiltError) Error() string {
	s := fmt.Sprintf("index %s has no %s index", e.Dir, e.Method)
	if e.Hint != "" {
		s += "; build it with " + e.Hint
	}
	return s
}

// Opener opens the retriever of one method on an open index. It returns a *NotBuiltError
// when the index lacks that method.
type Opener func(ctx context.Context, ix *Index) (Retriever, error)

// Openers maps method names ("bm25", "dense", ...) to their openers. The caller assembles it
// from the method packages it links; there is no global registry.
type Openers map[string]Opener

// Methods lists the method names, sorted.
func (o Openers) Methods() []string {
	names := make([]string, 0, len(o))
	for n := range o {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownMethodError is returned by Open for a method not in the Openers.
type UnknownMethodError struct {
	Method string
	Known  []string
}

func (e *UnknownMethodError) Error() string {
	return fmt.Sprintf("unknown retrieval method %q (known: %s)", e.Method, strings.Join(e.Known, ", "))
}

// Open opens the retriever for method on ix.
func (o Openers) Open(ctx context.Context, ix *Index, method string) (Retriever, error) {
	op, ok := o[method]
	if !ok {
		return nil, &UnknownMethodError{Method: method, Known: o.Methods()}
	}
	return op(ctx, ix)
}

// BuildStep adds one retrieval method to an index being built.
type BuildStep interface {
	// Name is the method name (for logs and errors).
	Name() string
	// Add sees every passage, in ordinal order, while the corpus is read. Steps that work
	// from the finished docstore (dense embedding in batches) may do nothing here.
	Add(ord int, id, contents string) error
	// Finish runs once the docstore is complete: it writes the step's files under ix.Dir and
	// records its section in m.
	Finish(ctx context.Context, ix *Index, m *Manifest) error
}

// BuildOptions configures Build.
type BuildOptions struct {
	Corpus       string      // FlashRAG corpus jsonl
	Dir          string      // index directory (created; an old manifest is replaced at the end)
	MaxLineBytes int         // line size limit (schemas.DefaultMaxLine when <= 0)
	Steps        []BuildStep // methods to build, in order
	Progress     io.Writer   // progress output (nil: none)
}

// BuildStats summarizes a build.
type BuildStats struct {
	Docs, Lines, BadLines, DuplicateIDs int
	Seconds                             float64
}

// DocsPerSecond is the build throughput.
func (s BuildStats) DocsPerSecond() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Docs) / s.Seconds
}

// Build reads the corpus into a docstore under opts.Dir, feeding each passage to the steps,
// then finishes every step and writes the manifest last. Bad corpus lines do not stop the
// build: they are dead-lettered (stage "index") to Dir/dead-letters.jsonl and counted.
func Build(ctx context.Context, opts BuildOptions) (BuildStats, error) {
	start := time.Now()
	var st BuildStats
	finished := false
	defer func() {
		if !finished {
			abortSteps(opts.Steps)
		}
	}()
	fi, err := os.Stat(opts.Corpus)
	if err != nil {
		return st, fmt.Errorf("corpus: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return st, fmt.Errorf("index dir: %w", err)
	}
	// An old manifest would describe files about to be replaced.
	if err := os.Remove(filepath.Join(opts.Dir, ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("index dir: %w", err)
	}
	f, err := os.Open(opts.Corpus)
	if err != nil {
		return st, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	dlf, err := os.Create(filepath.Join(opts.Dir, DeadLettersFile))
	if err != nil {
		return st, fmt.Errorf("dead letters: %w", err)
	}
	defer dlf.Close()
	w, err := docstore.Create(filepath.Join(opts.Dir, DocstoreDir))
	if err != nil {
		return st, err
	}
	var bar *progress.Bar
	if opts.Progress != nil {
		bar = progress.New(opts.Progress, "index: docs", 0)
	}
	lr := schemas.NewLineReader(f, opts.MaxLineBytes)
	for {
		if st.Lines%1024 == 0 && ctx.Err() != nil {
			w.Abort()
			return st, ctx.Err()
		}
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Abort()
			return st, fmt.Errorf("corpus %s: %w", opts.Corpus, err)
		}
		st.Lines++
		d, derr := decodeLine(line)
		if derr != nil {
			st.BadLines++
			if err := writeDeadLetter(dlf, opts.Corpus, line, derr); err != nil {
				w.Abort()
				return st, err
			}
			continue
		}
		ord, err := w.Add(d.ID, d.Contents)
		if err != nil {
			w.Abort()
			return st, err
		}
		for _, s := range opts.Steps {
			if err := s.Add(ord, d.ID, d.Contents); err != nil {
				w.Abort()
				return st, fmt.Errorf("%s: %w", s.Name(), err)
			}
		}
		st.Docs++
		bar.Add(1)
	}
	if err := w.Finish(); err != nil {
		return st, err
	}
	bar.Done()
	st.DuplicateIDs = w.DuplicateIDs()
	if err := dlf.Sync(); err != nil {
		return st, fmt.Errorf("dead letters: %w", err)
	}
	docs, err := docstore.Open(filepath.Join(opts.Dir, DocstoreDir))
	if err != nil {
		return st, err
	}
	defer docs.Close()
	m := Manifest{
		FormatVersion: ManifestVersion,
		Corpus: CorpusInfo{Path: absPath(opts.Corpus), Size: fi.Size(), ModTime: fi.ModTime().UTC(),
			Lines: st.Lines, BadLines: st.BadLines, DuplicateIDs: st.DuplicateIDs},
		NumDocs: st.Docs,
		Created: creationInfo(start),
	}
	ix := &Index{Dir: opts.Dir, Manifest: m, Docs: docs}
	for _, s := range opts.Steps {
		if err := s.Finish(ctx, ix, &m); err != nil {
			return st, fmt.Errorf("%s: %w", s.Name(), err)
		}
	}
	st.Seconds = time.Since(start).Seconds()
	m.Created.Seconds = st.Seconds
	if err := WriteManifest(opts.Dir, m); err != nil {
		return st, err
	}
	finished = true
	return st, nil
}

// Aborter is implemented by build steps that hold goroutines or temporary files while they
// build; Build calls Abort when it fails or is cancelled (Abort after Finish does nothing).
type Aborter interface{ Abort() }

func abortSteps(steps []BuildStep) {
	for _, s := range steps {
		if a, ok := s.(Aborter); ok {
			a.Abort()
		}
	}
}

func decodeLine(line schemas.Line) (schemas.CorpusDoc, error) {
	if line.Err != nil {
		return schemas.CorpusDoc{}, line.Err
	}
	return schemas.DecodeCorpusDoc(line.Bytes)
}

func writeDeadLetter(w io.Writer, corpus string, line schemas.Line, cause error) error {
	return writeDeadLetterStage(w, "index", corpus, line, cause)
}

// writeDeadLetterStage writes one dead letter; Topic is the input file and Offset its line.
func writeDeadLetterStage(w io.Writer, stage, file string, line schemas.Line, cause error) error {
	reason := schemas.ReasonOf(cause)
	if reason == "" {
		reason = schemas.ReasonInvalid
	}
	b, err := schemas.Encode(schemas.DeadLetter{
		SchemaVersion: schemas.DeadLetterVersion, Stage: stage, Reason: reason, Error: cause.Error(),
		Topic: file, Offset: int64(line.Number), Payload: line.Bytes, Time: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func creationInfo(start time.Time) CreationInfo {
	c := CreationInfo{Time: start.UTC(), Tool: "lsrflow"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		c.Tool = "lsrflow " + bi.Main.Version
		c.GoVersion = bi.GoVersion
	}
	return c
}

// RetrievedRecord is one line of `lsrflow retrieve` output: the query, its gold data when
// known, and its passages best first.
type RetrievedRecord struct {
	ID            string            `json:"id"`
	Question      string            `json:"question"`
	GoldenAnswers []string          `json:"golden_answers"`
	GoldDocIDs    []string          `json:"gold_doc_ids,omitempty"`
	Docs          []schemas.Passage `json:"docs"`
}

// RetrieveFileOptions configures RetrieveFile.
type RetrieveFileOptions struct {
	Queries      string    // FlashRAG dataset jsonl
	Out          string    // output jsonl, written to a temp file and renamed when complete
	DeadLetters  string    // dead-letter jsonl (stage "retrieve")
	TopK         int       // passages per query (> 0)
	Workers      int       // concurrent searches (default 2)
	BatchSize    int       // queries per search call for a BatchRetriever (default 512)
	MaxLineBytes int       // line size limit (schemas.DefaultMaxLine when <= 0)
	Progress     io.Writer // progress output (nil: none)
}

// RetrieveFileStats counts what RetrieveFile did.
type RetrieveFileStats struct {
	Lines, Queries, BadLines int
	Seconds                  float64
}

// RetrieveFile searches every query of a dataset file with r and writes one RetrievedRecord
// per valid query, in input order. Bad query lines are dead-lettered and counted; they do not
// stop the run. Searches run on o.Workers goroutines; a BatchRetriever (dense, hybrid) gets
// o.BatchSize queries per call, which lets FAISS multiply them as one matrix.
func RetrieveFile(ctx context.Context, r Retriever, o RetrieveFileOptions) (RetrieveFileStats, error) {
	start := time.Now()
	var st RetrieveFileStats
	if o.TopK <= 0 {
		return st, fmt.Errorf("retrieve: topk must be > 0, got %d", o.TopK)
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	br, batched := r.(BatchRetriever)
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if !batched {
		o.BatchSize = 1
	}
	in, err := os.Open(o.Queries)
	if err != nil {
		return st, fmt.Errorf("retrieve: %w", err)
	}
	defer in.Close()
	total, err := countLines(in)
	if err != nil {
		return st, fmt.Errorf("retrieve: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return st, fmt.Errorf("retrieve: %w", err)
	}
	out, err := os.CreateTemp(filepath.Dir(o.Out), filepath.Base(o.Out)+".tmp-*")
	if err != nil {
		return st, fmt.Errorf("retrieve: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	dl, err := os.Create(o.DeadLetters)
	if err != nil {
		return st, fmt.Errorf("retrieve: dead letters: %w", err)
	}
	defer dl.Close()
	var bar *progress.Bar
	if o.Progress != nil {
		bar = progress.New(o.Progress, "retrieve: queries", total)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq int
		qs  []schemas.Query
	}
	type result struct {
		seq   int
		lines [][]byte
		err   error
	}
	jobs := make(chan job, 2*o.Workers)
	results := make(chan result, 2*o.Workers)
	readErr := make(chan error, 1)

	// Reader: decodes lines, dead-letters bad ones, hands batches of queries out with a
	// sequence number.
	go func() {
		defer close(jobs)
		lr := schemas.NewLineReader(in, o.MaxLineBytes)
		seq := 0
		batch := make([]schemas.Query, 0, o.BatchSize)
		send := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case jobs <- job{seq: seq, qs: batch}:
				seq++
				batch = make([]schemas.Query, 0, o.BatchSize)
				return true
			case <-ctx.Done():
				readErr <- ctx.Err()
				return false
			}
		}
		for {
			line, err := lr.Next()
			if errors.Is(err, io.EOF) {
				if send() {
					readErr <- nil
				}
				return
			}
			if err != nil {
				readErr <- fmt.Errorf("retrieve: read %s: %w", o.Queries, err)
				return
			}
			st.Lines++
			q, derr := decodeQueryLine(line)
			if derr != nil {
				st.BadLines++
				bar.Add(1)
				if err := writeDeadLetterStage(dl, "retrieve", o.Queries, line, derr); err != nil {
					readErr <- err
					return
				}
				continue
			}
			if batch = append(batch, q); len(batch) == o.BatchSize && !send() {
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lines, err := retrieveLines(ctx, r, br, j.qs, o.TopK)
				select {
				case results <- result{seq: j.seq, lines: lines, err: err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// Writer: restores input order.
	bw := bufio.NewWriterSize(out, 1<<20)
	pending := map[int][][]byte{}
	next := 0
	var firstErr error
	for res := range results {
		if firstErr != nil {
			continue
		}
		if res.err != nil {
			firstErr = res.err
			cancel()
			continue
		}
		pending[res.seq] = res.lines
		for lines, ok := pending[next]; ok && firstErr == nil; lines, ok = pending[next] {
			delete(pending, next)
			next++
			for _, line := range lines {
				bw.Write(line)
				if err := bw.WriteByte('\n'); err != nil {
					firstErr = fmt.Errorf("retrieve: write %s: %w", o.Out, err)
					cancel()
					break
				}
				st.Queries++
				bar.Add(1)
			}
		}
	}
	if err := <-readErr; firstErr == nil && err != nil {
		firstErr = err
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return st, firstErr
	}
	bar.Done()
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("retrieve: write %s: %w", o.Out, err)
	}
	if err := out.Sync(); err != nil {
		return st, fmt.Errorf("retrieve: sync %s: %w", o.Out, err)
	}
	if err := out.Close(); err != nil {
		return st, fmt.Errorf("retrieve: close %s: %w", o.Out, err)
	}
	if err := os.Rename(out.Name(), o.Out); err != nil {
		return st, fmt.Errorf("retrieve: %w", err)
	}
	if err := dl.Sync(); err != nil {
		return st, fmt.Errorf("retrieve: dead letters: %w", err)
	}
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// retrieveLines searches qs (one SearchBatch call when br is not nil, else one Search per
// query) and encodes one RetrievedRecord line per query.
func retrieveLines(ctx context.Context, r Retriever, br BatchRetriever, qs []schemas.Query, k int) ([][]byte, error) {
	var res [][]schemas.Passage
	if br != nil {
		questions := make([]string, len(qs))
		for i, q := range qs {
			questions[i] = q.Question
		}
		var err error
		if res, err = br.SearchBatch(ctx, questions, k); err != nil {
			return nil, fmt.Errorf("retrieve: queries %s..%s: %w", qs[0].ID, qs[len(qs)-1].ID, err)
		}
		if len(res) != len(qs) {
			return nil, fmt.Errorf("retrieve: %d result lists for %d queries", len(res), len(qs))
		}
	} else {
		res = make([][]schemas.Passage, len(qs))
		for i, q := range qs {
			docs, err := r.Search(ctx, q.Question, k)
			if err != nil {
				return nil, fmt.Errorf("retrieve: query %s: %w", q.ID, err)
			}
			res[i] = docs
		}
	}
	lines := make([][]byte, len(qs))
	for i, q := range qs {
		docs := res[i]
		if docs == nil {
			docs = []schemas.Passage{}
		}
		answers := q.GoldenAnswers
		if answers == nil {
			answers = []string{}
		}
		line, err := json.Marshal(RetrievedRecord{ID: q.ID, Question: q.Question,
			GoldenAnswers: answers, GoldDocIDs: q.GoldDocIDs, Docs: docs})
		if err != nil {
			return nil, fmt.Errorf("retrieve: query %s: %w", q.ID, err)
		}
		lines[i] = line
	}
	return lines, nil
}

func decodeQueryLine(line schemas.Line) (schemas.Query, error) {
	if line.Err != nil {
		return schemas.Query{}, line.Err
	}
	return schemas.DecodeQuery(line.Bytes)
}

// countLines counts the non-blank lines of f (for the progress total) and rewinds it.
func countLines(f *os.File) (int, error) {
	lr := schemas.NewLineReader(f, 1)
	n := 0
	for {
		if _, err := lr.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
		n++
	}
	_, err := f.Seek(0, io.SeekStart)
	return n, err
}
