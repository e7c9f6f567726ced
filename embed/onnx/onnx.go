package onnx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/tokenizer"
)

// Pooling turns token states into one vector.
type Pooling string

const (
	// PoolDefault uses the model directory's sentence-transformers config (mean when absent).
	PoolDefault Pooling = ""
	// PoolMean averages the states of attended tokens.
	PoolMean Pooling = "mean"
	// PoolCLS takes the first token's state.
	PoolCLS Pooling = "cls"
	// PoolPooler uses the model's pooled output ("pooler_output", as DPR's encoders give it).
	PoolPooler Pooling = "pooler"
)

// Options configure an Encoder. The zero value follows the model directory.
type Options struct {
	// LibraryPath is libonnxruntime.so.1 (default: DefaultLibraryPath()).
	LibraryPath string
	Pooling     Pooling
	// Normalize overrides the directory's Normalize module when non-nil.
	Normalize *bool
	Prefixes  embed.Prefixes
	// BatchSize is the number of texts per ORT run (default 32).
	BatchSize int
	// MaxLength caps tokens per text, special tokens included.
	MaxLength int
	// QueryMaxLength caps queries when > 0 (default: as MaxLength).
	QueryMaxLength int
	// Threads is ORT's intra-op thread count (0: ORT's default).
	Threads int
	// Name overrides Name() (default "onnx:" + the directory's base name).
	Name string
}

// DefaultLibraryPath is $LSRFLOW_ORT_LIB, else $LSRFLOW_CACHE/ort/libonnxruntime.so.1, else
// .cache/ort/libonnxruntime.so.1 under the working directory or one of its parents when it
// exists, else "libonnxruntime.so.1" (the dynamic loader's search path).
func DefaultLibraryPath() string {
	if p := os.Getenv("LSRFLOW_ORT_LIB"); p != "" {
		return p
	}
	if c := os.Getenv("LSRFLOW_CACHE"); c != "" {
		return filepath.Join(c, "ort", "libonnxruntime.so.1")
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, ".cache", "ort", "libonnxruntime.so.1")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "libonnxruntime.so.1"
}

// runtime guards onnxruntime_go's process-global environment (see the package doc).
var runtime struct {
	once sync.Once
	path string
	err  error
}

func initRuntime(path string) error {
	runtime.once.Do(func() {
		runtime.path = path
		if _, err := os.Stat(path); err != nil && strings.Contains(path, "/") {
			runtime.err = fmt.Errorf("onnx runtime library %s: %w (run `scripts/setup.sh ort`)", path, err)
			return
		}
		if !ort.IsInitialized() {
			ort.SetSharedLibraryPath(path)
			if err := ort.InitializeEnvironment(); err != nil {
				runtime.err = fmt.Errorf("onnx runtime %s: initialize: %w", path, err)
			}
		}
	})
	if runtime.err != nil {
		return runtime.err
	}
	if path != runtime.path {
		return fmt.Errorf("onnx runtime already initialized from %s; cannot also load %s in this process", runtime.path, path)
	}
	return nil
}

// Encoder is an ONNX transformer encoder. It implements embed.Embedder.
type Encoder struct {
	sess       *ort.DynamicAdvancedSession
	tok        *tokenizer.Tokenizer
	qtok       *tokenizer.Tokenizer // queries (QueryMaxLength)
	inputs     []string             // subset of input_ids, attention_mask, token_type_ids, in graph order
	outputRank int
	dim        int
	pooling    Pooling
	normalize  bool
	prefixes   embed.Prefixes
	batch      int
	name       string
}

var _ embed.Embedder = (*Encoder)(nil)

// Open loads the encoder in dir.
func Open(dir string, opts Options) (*Encoder, error) {
	lib := opts.LibraryPath
	if lib == "" {
		lib = DefaultLibraryPath()
	}
	if err := initRuntime(lib); err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("onnx %s: %w", dir, err)
	}
	var cfg struct {
		MaxPos int `json:"max_position_embeddings"`
		Hidden int `json:"hidden_size"`
	}
	if err := readJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
		return nil, fmt.Errorf("onnx %s: %w", dir, err)
	}
	pooling, normalize, err := sentenceTransformersConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("onnx %s: %w", dir, err)
	}
	if opts.Pooling != PoolDefault {
		pooling = opts.Pooling
	}
	if pooling != PoolMean && pooling != PoolCLS && pooling != PoolPooler {
		return nil, fmt.Errorf("onnx %s: pooling %q: want mean, cls or pooler", dir, pooling)
	}
	if opts.Normalize != nil {
		normalize = *opts.Normalize
	}
	switch {
	case opts.MaxLength > 0:
		tok = tok.WithMaxLength(opts.MaxLength)
	case tok.MaxLength() > 0:
	case cfg.MaxPos > 0:
		tok = tok.WithMaxLength(cfg.MaxPos)
	default:
		tok = tok.WithMaxLength(512)
	}

	modelPath := filepath.Join(dir, "model.onnx")
	ins, outs, err := ort.GetInputOutputInfo(modelPath)
	if err != nil {
		return nil, fmt.Errorf("onnx %s: inspect model: %w", dir, err)
	}
	// a cap beyond the model's positions would make ONNX Runtime fail on long texts
	if cfg.MaxPos > 0 && tok.MaxLength() > cfg.MaxPos {
		tok = tok.WithMaxLength(cfg.MaxPos)
	}
	qtok := tok
	if opts.QueryMaxLength > 0 && (opts.QueryMaxLength < tok.MaxLength() || tok.MaxLength() <= 0) {
		qtok = tok.WithMaxLength(opts.QueryMaxLength)
	}
	e := &Encoder{tok: tok, qtok: qtok, pooling: pooling, normalize: normalize, prefixes: opts.Prefixes,
		batch: opts.BatchSize, name: opts.Name}
	for _, in := range ins {
		switch in.Name {
		case "input_ids", "attention_mask", "token_type_ids":
			if in.DataType != ort.TensorElementDataTypeInt64 {
				return nil, fmt.Errorf("onnx %s: input %s is %v, want int64", dir, in.Name, in.DataType)
			}
			e.inputs = append(e.inputs, in.Name)
		default:
			return nil, fmt.Errorf("onnx %s: unsupported model input %q", dir, in.Name)
		}
	}
	if !slices.Contains(e.inputs, "input_ids") {
		return nil, fmt.Errorf("onnx %s: model has no input_ids input", dir)
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("onnx %s: model has no outputs", dir)
	}
	out := outs[0]
	for _, o := range outs {
		if o.Name == "last_hidden_state" || o.Name == "sentence_embedding" {
			out = o
			break
		}
	}
	if pooling == PoolPooler {
		i := slices.IndexFunc(outs, func(o ort.InputOutputInfo) bool { return o.Name == "pooler_output" })
		if i < 0 {
			return nil, fmt.Errorf("onnx %s: pooling pooler needs a pooler_output output; the model has none", dir)
		}
		out = outs[i]
	}
	if out.DataType != ort.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("onnx %s: output %s is %v, want float32", dir, out.Name, out.DataType)
	}
	e.outputRank = len(out.Dimensions)
	if e.outputRank != 2 && e.outputRank != 3 {
		return nil, fmt.Errorf("onnx %s: output %s has rank %d, want 2 or 3", dir, out.Name, e.outputRank)
	}
	e.dim = int(out.Dimensions[e.outputRank-1])
	if e.dim <= 0 {
		e.dim = cfg.Hidden
	}
	if e.dim <= 0 {
		return nil, fmt.Errorf("onnx %s: output %s has a dynamic width and config.json has no hidden_size", dir, out.Name)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx %s: session options: %w", dir, err)
	}
	defer func() { _ = so.Destroy() }()
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			return nil, fmt.Errorf("onnx %s: threads: %w", dir, err)
		}
	}
	e.sess, err = ort.NewDynamicAdvancedSession(modelPath, e.inputs, []string{out.Name}, so)
	if err != nil {
		return nil, fmt.Errorf("onnx %s: session: %w", dir, err)
	}
	if e.batch <= 0 {
		e.batch = 32
	}
	if e.name == "" {
		e.name = "onnx:" + filepath.Base(filepath.Clean(dir))
	}
	return e, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// sentenceTransformersConfig reads modules.json and the Pooling module's config. Without them
// the defaults are mean pooling, no normalization.
func sentenceTransformersConfig(dir string) (Pooling, bool, error) {
	var modules []struct {
		Path string `json:"path"`
		Type string `json:"type"`
	}
	if err := readJSON(filepath.Join(dir, "modules.json"), &modules); err != nil {
		return "", false, err
	}
	pooling, normalize := PoolMean, false
	for _, m := range modules {
		switch {
		case strings.HasSuffix(m.Type, ".Pooling"):
			var pc struct {
				CLS  bool `json:"pooling_mode_cls_token"`
				Mean bool `json:"pooling_mode_mean_tokens"`
				Max  bool `json:"pooling_mode_max_tokens"`
			}
			if err := readJSON(filepath.Join(dir, m.Path, "config.json"), &pc); err != nil {
				return "", false, err
			}
			switch {
			case pc.CLS && !pc.Mean && !pc.Max:
				pooling = PoolCLS
			case pc.Mean && !pc.CLS && !pc.Max:
				pooling = PoolMean
			default:
				return "", false, fmt.Errorf("pooling config %+v: only one of cls or mean is supported", pc)
			}
		case strings.HasSuffix(m.Type, ".Normalize"):
			normalize = true
		}
	}
	return pooling, normalize, nil
}

// Dim implements embed.Embedder.
func (e *Encoder) Dim() int { return e.dim }

// Name implements embed.Embedder.
func (e *Encoder) Name() string { return e.name }

// Close releases the ORT session.
func (e *Encoder) Close() error {
	if e.sess == nil {
		return nil
	}
	err := e.sess.Destroy()
	e.sess = nil
	if err != nil {
		return fmt.Errorf("onnx close: %w", err)
	}
	return nil
}

// Embed implements embed.Embedder. Texts run in batches of BatchSize; ctx is checked between
// batches (an ORT run itself is not interruptible).
func (e *Encoder) Embed(ctx context.Context, texts []string, kind embed.Kind) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("onnx embed: %w", err)
		}
		end := min(start+e.batch, len(texts))
		vecs, err := e.embedBatch(texts[start:end], kind)
		if err != nil {
			return nil, fmt.Errorf("onnx embed texts %d-%d: %w", start, end-1, err)
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (e *Encoder) embedBatch(texts []string, kind embed.Kind) ([][]float32, error) {
	prefixed := make([]string, len(texts))
	for i, t := range texts {
		prefixed[i] = e.prefixes.Apply(t, kind)
	}
	tok := e.tok
	if kind == embed.Query {
		tok = e.qtok
	}
	b := tok.EncodeBatch(prefixed, true)
	shape := ort.NewShape(int64(b.Rows), int64(b.Cols))
	inputs := make([]ort.Value, 0, len(e.inputs))
	defer func() {
		for _, v := range inputs {
			_ = v.Destroy()
		}
	}()
	for _, name := range e.inputs {
		data := map[string][]int64{"input_ids": b.IDs, "attention_mask": b.AttentionMask, "token_type_ids": b.TypeIDs}[name]
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		inputs = append(inputs, t)
	}
	outputs := []ort.Value{nil}
	if err := e.sess.Run(inputs, outputs); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	defer func() { _ = outputs[0].Destroy() }()
	ot, ok := outputs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("output is %T, want a float32 tensor", outputs[0])
	}
	data := ot.GetData()
	want := b.Rows * e.dim
	if e.outputRank == 3 {
		want *= b.Cols
	}
	if len(data) != want {
		return nil, fmt.Errorf("output has %d values, want %d (shape %v)", len(data), want, ot.GetShape())
	}
	vecs := make([][]float32, b.Rows)
	for i := range vecs {
		v := make([]float32, e.dim)
		switch {
		case e.outputRank == 2:
			copy(v, data[i*e.dim:(i+1)*e.dim])
		case e.pooling == PoolCLS:
			copy(v, data[i*b.Cols*e.dim:i*b.Cols*e.dim+e.dim])
		default:
			acc := make([]float64, e.dim)
			n := 0
			for j := range b.Cols {
				if b.AttentionMask[i*b.Cols+j] == 0 {
					continue
				}
				n++
				row := data[(i*b.Cols+j)*e.dim : (i*b.Cols+j+1)*e.dim]
				for k, x := range row {
					acc[k] += float64(x)
				}
			}
			for k := range v {
				v[k] = float32(acc[k] / math.Max(float64(n), 1e-9))
			}
		}
		if e.normalize {
			embed.Normalize(v)
		}
		vecs[i] = v
	}
	return vecs, nil
}
