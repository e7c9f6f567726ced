package embedders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/httpembed"
	"github.com/lsrflow/lsrflow/embed/model2vec"
	"github.com/lsrflow/lsrflow/embed/onnx"
)

// Opener opens the embedder of one scheme; arg is the spec after "scheme:" ("" for a bare
// scheme).
type Opener func(ctx context.Context, arg string, opts Options) (embed.Embedder, error)

// Options are shared by all backends; each uses the fields that apply to it.
type Options struct {
	// Prefixes for queries and passages (e5: "query: ", "passage: ").
	Prefixes embed.Prefixes
	// Normalize overrides the model's own normalization setting when non-nil (openai: default
	// false).
	Normalize *bool
	// BatchSize is texts per model run or HTTP request (0: backend default).
	BatchSize int
	// MaxLength caps tokens per text (0: backend default).
	MaxLength int
	// QueryMaxLength caps tokens per query (0: as MaxLength). onnx and model2vec.
	QueryMaxLength int
	// Pooling is mean, cls or pooler for onnx ("": the model directory's setting).
	Pooling string
	// Convention names where the settings above came from (e.g. "flashrag:e5"); recorded only.
	Convention string
	// ORTLibrary is libonnxruntime.so.1 for onnx: (default onnx.DefaultLibraryPath()).
	ORTLibrary string
	// Threads is the ONNX Runtime intra-op thread count (0: ORT default).
	Threads int
	// APIKey, Concurrency and Timeout are for openai:.
	APIKey      string
	Concurrency int
	Timeout     time.Duration
	// Openers add or replace schemes (e.g. "glove").
	Openers map[string]Opener
}

var builtin = map[string]Opener{
	"model2vec": openModel2Vec,
	"onnx":      openONNX,
	"openai":    openOpenAI,
}

var forms = map[string]string{
	"model2vec": "model2vec:DIR",
	"onnx":      "onnx:DIR",
	"openai":    "openai:URL[#MODEL]",
}

// Open parses spec and opens its embedder.
func Open(ctx context.Context, spec string, opts Options) (embed.Embedder, error) {
	scheme, arg, _ := strings.Cut(strings.TrimSpace(spec), ":")
	op, ok := opts.Openers[scheme]
	if !ok {
		op, ok = builtin[scheme]
	}
	if !ok || scheme == "" {
		return nil, fmt.Errorf("unknown embedder spec %q: want one of %s", spec, strings.Join(accepted(opts), ", "))
	}
	e, err := op(ctx, arg, opts)
	if err != nil {
		return nil, fmt.Errorf("embedder %q: %w", spec, err)
	}
	return e, nil
}

func accepted(opts Options) []string {
	var out []string
	for s := range builtin {
		if _, over := opts.Openers[s]; !over {
			out = append(out, forms[s])
		}
	}
	for s := range opts.Openers {
		out = append(out, s+"[:ARG]")
	}
	slices.Sort(out)
	return out
}

// Close releases e's resources when it holds any (ONNX sessions).
func Close(e embed.Embedder) error {
	if c, ok := e.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

var errNoArg = errors.New("missing argument after the scheme")

func openModel2Vec(_ context.Context, dir string, o Options) (embed.Embedder, error) {
	if dir == "" {
		return nil, fmt.Errorf("model2vec: %w (model2vec:DIR)", errNoArg)
	}
	return model2vec.Open(dir, model2vec.Options{Normalize: o.Normalize, Prefixes: o.Prefixes, MaxTokens: o.MaxLength,
		QueryMaxTokens: o.QueryMaxLength})
}

func openONNX(_ context.Context, dir string, o Options) (embed.Embedder, error) {
	if dir == "" {
		return nil, fmt.Errorf("onnx: %w (onnx:DIR)", errNoArg)
	}
	return onnx.Open(dir, onnx.Options{LibraryPath: o.ORTLibrary, Normalize: o.Normalize, Prefixes: o.Prefixes,
		BatchSize: o.BatchSize, MaxLength: o.MaxLength, QueryMaxLength: o.QueryMaxLength,
		Pooling: onnx.Pooling(o.Pooling), Threads: o.Threads})
}

func openOpenAI(ctx context.Context, arg string, o Options) (embed.Embedder, error) {
	if arg == "" {
		return nil, fmt.Errorf("openai: %w (openai:URL[#MODEL])", errNoArg)
	}
	url, model, _ := strings.Cut(arg, "#")
	hopts := httpembed.Options{URL: url, Model: model, APIKey: o.APIKey, Prefixes: o.Prefixes,
		BatchSize: o.BatchSize, Concurrency: o.Concurrency, Timeout: o.Timeout}
	if o.Normalize != nil {
		hopts.Normalize = *o.Normalize
	}
	return httpembed.Open(ctx, hopts)
}

// Encoding returns the encoding settings of o.
func (o Options) Encoding() embed.Encoding {
	return embed.Encoding{Convention: o.Convention, Prefixes: o.Prefixes, Pooling: o.Pooling, Normalize: o.Normalize,
		QueryMaxLength: o.QueryMaxLength, PassageMaxLength: o.MaxLength}
}

// WithEncoding returns o with the settings of e filled in where o leaves them unset.
func (o Options) WithEncoding(e embed.Encoding) Options {
	if o.Prefixes == (embed.Prefixes{}) {
		o.Prefixes = e.Prefixes
	}
	if o.Convention == "" {
		o.Convention = e.Convention
	}
	if o.Pooling == "" {
		o.Pooling = e.Pooling
	}
	if o.Normalize == nil {
		o.Normalize = e.Normalize
	}
	if o.QueryMaxLength == 0 {
		o.QueryMaxLength = e.QueryMaxLength
	}
	if o.MaxLength == 0 {
		o.MaxLength = e.PassageMaxLength
	}
	return o
}

// SpecForDir turns a local model directory into an embedder spec: "onnx:DIR" when it holds
// model.onnx, "model2vec:DIR" when it holds a Model2Vec model.safetensors (config.json with
// model_type "model2vec", or a StaticEmbedding module in modules.json). Anything else is an
// error saying what the directory lacks.
func SpecForDir(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err == nil {
		return "onnx:" + dir, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		var cfg struct {
			ModelType string `json:"model_type"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil && json.Unmarshal(b, &cfg) == nil && cfg.ModelType == "model2vec" {
			return "model2vec:" + dir, nil
		}
		if b, err := os.ReadFile(filepath.Join(dir, "modules.json")); err == nil && strings.Contains(string(b), "StaticEmbedding") {
			return "model2vec:" + dir, nil
		}
	}
	return "", fmt.Errorf("%s holds neither an ONNX encoder (model.onnx + tokenizer.json) nor a Model2Vec model (model.safetensors + config.json with model_type model2vec)", dir)
}
