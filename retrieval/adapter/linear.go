package adapter

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Format is the checkpoint's "format" metadata value.
const Format = "lsrflow-query-adapter/1"

// Metadata describes a checkpoint: what it was trained on and how, and how it evaluated.
type Metadata struct {
	// Version is the monotone checkpoint number (1, 2, ...; 0 is the untrained identity).
	Version int `json:"version"`
	// BaseEmbedder is the query embedder's Name(); the adapter only fits that embedder.
	BaseEmbedder string `json:"base_embedder"`
	// IndexVersion is the dense index entry's version the passages came from (informative).
	IndexVersion string `json:"index_version,omitempty"`
	Rank         int    `json:"rank"`
	// DataDigest is a digest of the training records (ids, teacher keys, passage ids, scores).
	DataDigest string `json:"data_digest"`
	Records    int    `json:"records"`
	Seed       uint64 `json:"seed"`
	Steps      int    `json:"steps"`
	// Hyper holds the training hyper-parameters (gamma, lr, l2, batch, negatives, ...).
	Hyper map[string]float64 `json:"hyper,omitempty"`
	// Metrics are the evaluation metrics of this checkpoint (gold_recall@k, ...), Baseline
	// those of the untrained retriever on the same set; EvalSet names the set.
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Baseline map[string]float64 `json:"baseline,omitempty"`
	EvalSet  string             `json:"eval_set,omitempty"`
	// EvalOverlap counts evaluation queries that were also training queries (forced runs).
	EvalOverlap int `json:"eval_overlap"`
	// TrainIDs and TrainQuestionHashes identify the training queries (leakage guard);
	// TrainDigest is a digest of both.
	TrainIDs            []string  `json:"train_ids,omitempty"`
	TrainQuestionHashes []string  `json:"train_question_hashes,omitempty"`
	TrainDigest         string    `json:"train_digest,omitempty"`
	Created             time.Time `json:"created,omitzero"`
	// Serving is the retriever the adapter was trained for; retrievers that apply it use
	// these settings unless told otherwise.
	Serving Serving `json:"serving,omitzero"`
}

// Serving names a retriever an adapter is trained for and served by.
type Serving struct {
	// Method is "dense" or "hybrid" ("" in checkpoints that predate it: dense).
	Method string `json:"method,omitempty"`
	// Fusion is the hybrid fusion (rrf, sum, linear) and the weights of its two lists.
	Fusion        string  `json:"fusion,omitempty"`
	LexicalWeight float64 `json:"lexical_weight,omitempty"`
	DenseWeight   float64 `json:"dense_weight,omitempty"`
	// WeightsFrom says which data chose the weights (e.g. "learned on 2,305 training records").
	WeightsFrom string `json:"weights_from,omitempty"`
}

// Linear is an immutable query adapter v -> W v.
type Linear struct {
	dim     int
	w       []float32 // row-major d×d
	version string
	Meta    Metadata
}

// NewLinear returns the adapter for the row-major d×d matrix w (copied) with meta.
func NewLinear(d int, w []float64, meta Metadata) (*Linear, error) {
	if d <= 0 || len(w) != d*d {
		return nil, fmt.Errorf("adapter: %d values do not form a %d×%d matrix", len(w), d, d)
	}
	l := &Linear{dim: d, w: make([]float32, d*d), Meta: meta}
	for i, x := range w {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("adapter: W[%d] = %v is not finite", i, x)
		}
		l.w[i] = float32(x)
	}
	l.version = fmt.Sprintf("v%d-%s", meta.Version, l.digest())
	return l, nil
}

// Identity returns the untrained adapter of dimension d (version v0-...).
func Identity(d int) *Linear {
	w := make([]float64, d*d)
	for i := range d {
		w[i*d+i] = 1
	}
	l, _ := NewLinear(d, w, Metadata{})
	return l
}

func (l *Linear) digest() string {
	h := sha256.New()
	var b [4]byte
	for _, x := range l.w {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// Dim is the vector dimension.
func (l *Linear) Dim() int { return l.dim }

// Version is "v<N>-<digest of W>".
func (l *Linear) Version() string { return l.version }

// Matrix returns a copy of W, row-major.
func (l *Linear) Matrix() []float32 { return append([]float32(nil), l.w...) }

// Apply returns W v (a new slice). A vector of the wrong length is returned unchanged, so the
// index rejects it with a dimension error.
func (l *Linear) Apply(v []float32) []float32 {
	if len(v) != l.dim {
		return v
	}
	out := make([]float32, l.dim)
	for i := range l.dim {
		row := l.w[i*l.dim : (i+1)*l.dim]
		var s float64
		for j, x := range row {
			s += float64(x) * float64(v[j])
		}
		out[i] = float32(s)
	}
	return out
}

var versionRE = regexp.MustCompile(`(?:^|\+adapter:)v(\d+)-[0-9a-f]+$`)

// ParseVersion extracts the checkpoint number from an adapter version ("v3-ab12cd34") or a
// retriever version that ends in one ("glove...@Flat/xx+adapter:v3-ab12cd34"). A retriever
// version without an adapter is number 0 with ok true; anything else unparseable is ok false.
func ParseVersion(s string) (n int, ok bool) {
	if m := versionRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		return n, err == nil
	}
	if !bytes.Contains([]byte(s), []byte("+adapter:")) {
		return 0, true
	}
	return 0, false
}

// Marshal encodes the checkpoint as safetensors: tensor "weight" (F32 d×d) plus metadata.
// Extra tensors (the trainer's low-rank factors, optimizer state) are stored beside it.
func (l *Linear) Marshal(extra ...Tensor) ([]byte, error) {
	meta, err := metaStrings(l.Meta)
	if err != nil {
		return nil, err
	}
	meta["adapter_version"] = l.version
	ts := append([]Tensor{{Name: "weight", Shape: []int{l.dim, l.dim}, F32: l.w}}, extra...)
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ts, meta); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func metaStrings(m Metadata) (map[string]string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("adapter: metadata: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	out := map[string]string{"format": Format}
	for k, v := range fields {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s // plain strings stay readable
			continue
		}
		out[k] = string(v)
	}
	return out, nil
}

func parseMeta(meta map[string]string) (Metadata, error) {
	if meta["format"] != Format {
		return Metadata{}, fmt.Errorf("adapter: checkpoint format %q, want %q", meta["format"], Format)
	}
	fields := map[string]json.RawMessage{}
	for k, v := range meta {
		if k == "format" || k == "adapter_version" {
			continue
		}
		if json.Valid([]byte(v)) && v != "" && (v[0] == '{' || v[0] == '[' || v[0] == '-' || (v[0] >= '0' && v[0] <= '9') || v == "true" || v == "false" || v == "null") {
			fields[k] = json.RawMessage(v)
		} else {
			q, _ := json.Marshal(v)
			fields[k] = q
		}
	}
	b, _ := json.Marshal(fields)
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("adapter: metadata: %w", err)
	}
	return m, nil
}

// Unmarshal decodes a checkpoint written by Marshal; it also returns every tensor.
func Unmarshal(b []byte) (*Linear, map[string]Tensor, error) {
	ts, meta, err := ReadSafetensors(b)
	if err != nil {
		return nil, nil, fmt.Errorf("adapter: %w", err)
	}
	m, err := parseMeta(meta)
	if err != nil {
		return nil, nil, err
	}
	w, ok := ts["weight"]
	if !ok || len(w.Shape) != 2 || w.Shape[0] != w.Shape[1] || w.F32 == nil {
		return nil, nil, fmt.Errorf("adapter: checkpoint has no square F32 tensor \"weight\": %w", ErrFormat)
	}
	d := w.Shape[0]
	w64 := make([]float64, len(w.F32))
	for i, x := range w.F32 {
		w64[i] = float64(x)
	}
	l, err := NewLinear(d, w64, m)
	if err != nil {
		return nil, nil, err
	}
	if v := meta["adapter_version"]; v != "" && v != l.version {
		return nil, nil, fmt.Errorf("adapter: checkpoint says version %s but its weights hash to %s: %w", v, l.version, ErrFormat)
	}
	return l, ts, nil
}

// Load reads a checkpoint file.
func Load(path string) (*Linear, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	l, _, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Check returns an error unless the adapter fits an embedder of this name and dimension.
func (l *Linear) Check(embedderName string, dim int) error {
	if dim != l.dim {
		return fmt.Errorf("adapter %s is %d-dimensional, the embedder %s %d-dimensional", l.version, l.dim, embedderName, dim)
	}
	if l.Meta.BaseEmbedder != "" && l.Meta.BaseEmbedder != embedderName {
		return fmt.Errorf("adapter %s was trained for embedder %q, not %q", l.version, l.Meta.BaseEmbedder, embedderName)
	}
	return nil
}

// Save writes the checkpoint to path atomically: a temp file in the same directory, fsync,
// rename, fsync of the directory.
func (l *Linear) Save(path string, extra ...Tensor) error {
	b, err := l.Marshal(extra...)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic writes data to path via a synced temp file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
