package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/pipeline/flashrag"
)

// Config is a topology file for `lsrflow run --config FILE`. Keys that mean the same as one of
// FlashRAG's config keys use FlashRAG's name (dataset_path, corpus_path, index_path,
// retrieval_method, retrieval_topk, save_dir).
type Config struct {
	// DatasetPath is the query file (FlashRAG dataset jsonl or a raw query log).
	DatasetPath   string `yaml:"dataset_path"`
	QueriesFormat string `yaml:"queries_format"`
	// CorpusPath is used to build the index when IndexPath has none yet.
	CorpusPath string `yaml:"corpus_path"`
	IndexPath  string `yaml:"index_path"`
	// IndexEmbedder and IndexFactory add a dense index when the index is built from
	// corpus_path (as `lsrflow index --embedder --index-factory`); needed for dense/hybrid.
	IndexEmbedder   string `yaml:"index_embedder"`
	IndexFactory    string `yaml:"index_factory"`
	RetrievalMethod string `yaml:"retrieval_method"`
	RetrievalTopK   int    `yaml:"retrieval_topk"`
	// Fusion is the hybrid fusion (rrf, sum, linear; default rrf); Adapter a query adapter
	// checkpoint applied to the dense side of dense or hybrid retrieval (a checkpoint trained
	// for a hybrid brings its own fusion).
	Fusion  string `yaml:"fusion"`
	Adapter string `yaml:"adapter"`
	// BM25QueryAnalyzer (FlashRAG configs with bm25_backend bm25s) is how BM25 queries are
	// analyzed: bm25s-unstemmed, FlashRAG's own query path (the default there), or bm25s,
	// stemmed like the passages. An lsrflow index records its own (lsrflow index
	// --bm25-query-analyzer), so native configs do not take it.
	BM25QueryAnalyzer string `yaml:"bm25_query_analyzer"`
	// SaveDir is the output directory (FlashRAG's save_dir; output_dir is accepted too).
	SaveDir   string `yaml:"save_dir"`
	OutputDir string `yaml:"output_dir"`

	Teacher TeacherConfig `yaml:"teacher"`

	// Transport is "embedded" (default) or "kafka"; Brokers are host:port addresses.
	Transport  string   `yaml:"transport"`
	Brokers    []string `yaml:"brokers"`
	Partitions int      `yaml:"partitions"`
	// TopicPrefix prefixes every topic name (default on Kafka: a run id from the output dir).
	TopicPrefix string `yaml:"topic_prefix"`
	// ExactlyOnce makes the retrieve, teach and evaluate stages commit their outputs and
	// input offsets in Kafka transactions (synth on Kafka only).
	ExactlyOnce bool `yaml:"exactly_once"`

	Stages       map[string]StageConfig `yaml:"stages"`
	MaxLineBytes int                    `yaml:"max_line_bytes"`
	MetricsAddr  string                 `yaml:"metrics_addr"`
	// Sinks lists extra outputs beside scored.jsonl: "parquet" (scored.parquet), "arrow"
	// (scored.arrow, Arrow IPC).
	Sinks []string `yaml:"sinks"`
	Sync  bool     `yaml:"sync"`
	// Train, when set, adds the train stage (live retriever refresh; needs retrieval_method
	// dense or hybrid).
	Train *TrainConfig `yaml:"train"`

	// FlashRAG is set when the file is a FlashRAG config (it has keys only FlashRAG knows):
	// its keys are then read with FlashRAG's meaning (see package pipeline/flashrag).
	FlashRAG *flashrag.Settings `yaml:"-"`
	// Warnings are notes for the user from loading the file (printed once).
	Warnings []string `yaml:"-"`

	dir string // directory of the config file: relative paths resolve against it
}

// TeacherConfig selects and parameterizes the teacher.
type TeacherConfig struct {
	Method      string            `yaml:"method"` // answer-match (default), lsr, upr, gen-lsr, seed
	Temperature float64           `yaml:"temperature"`
	LM          string            `yaml:"lm"`    // http://host:port/v1 or gguf:PATH
	Model       string            `yaml:"model"` // model name sent to HTTP servers
	Backend     string            `yaml:"backend"`
	Options     map[string]string `yaml:"options"`
}

// TrainConfig configures the train stage: a query-side adapter learned from the scored stream
// for the retriever that serves (dense, or hybrid with a learned lexical weight), checked on
// held-out training queries and published as a new retriever version when not worse.
type TrainConfig struct {
	// EvalPath holds evaluation questions (FlashRAG jsonl with gold_doc_ids), optional: they
	// are never trained on and are reported per version (recall over time), never used to
	// decide what is published.
	EvalPath      string  `yaml:"eval_path"`
	Every         int     `yaml:"every"`           // records per training round (default 256)
	Interval      string  `yaml:"interval"`        // also train when records wait this long (e.g. 30s; default off)
	StepsPerRound int     `yaml:"steps_per_round"` // optimizer steps per round (default 500)
	Window        int     `yaml:"window"`          // newest training records kept (default 10000)
	HoldOut       float64 `yaml:"holdout"`         // share of queries held out for the publish check (default 0.1)
	MinHeldOut    int     `yaml:"min_heldout"`     // held-out queries needed before publishing (default 10)
	CheckpointDir string  `yaml:"checkpoint_dir"`  // default save_dir/checkpoints; a restart continues from it
	Force         bool    `yaml:"force"`           // train on evaluation questions anyway (reported)
	Gamma         float64 `yaml:"gamma"`
	L2            float64 `yaml:"l2"`
	LR            float64 `yaml:"lr"`
	Negatives     int     `yaml:"negatives"`
	Seed          uint64  `yaml:"seed"`
}

// StageConfig tunes one stage.
type StageConfig struct {
	Concurrency int `yaml:"concurrency"`
}

// LoadConfig reads a YAML topology file: lsrflow's own keys, or a FlashRAG config (see
// Config.FlashRAG) with lsrflow's keys added. A key neither knows is an error with the
// nearest known key as a hint (a typo must not silently fall back to a default); FlashRAG keys
// lsrflow does not use are listed once in Warnings. Relative paths are resolved against the
// file's directory.
func LoadConfig(path string) (*Config, error) {
	c, err := ParseConfig(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a YAML topology file like LoadConfig (unknown keys are an error) without
// Validate: for commands that use only some keys (lsrflow serve) and check those themselves.
func ParseConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	isFlashRAG, err := checkKeys(&root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// lsrflow's own keys decode into Config (unknown fields inside its sections are errors);
	// the FlashRAG keys land in the inline map and are read by flashrag.Parse.
	var fc struct {
		Config `yaml:",inline"`
		Rest   map[string]yaml.Node `yaml:",inline"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, explainFieldErrors(err))
	}
	c := fc.Config
	c.dir = filepath.Dir(path)
	if isFlashRAG {
		if c.FlashRAG, err = flashrag.Parse(path, b, &root); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &c, nil
}

// Validate fills defaults and checks the settings.
func (c *Config) Validate() error {
	if c.FlashRAG != nil {
		if err := c.applyFlashRAG(); err != nil {
			return err
		}
	}
	if c.SaveDir == "" {
		c.SaveDir = c.OutputDir
	}
	if c.BM25QueryAnalyzer != "" && c.FlashRAG == nil {
		return errors.New("bm25_query_analyzer is for FlashRAG configs: an lsrflow index records how its queries are analyzed (lsrflow index --bm25-query-analyzer)")
	}
	if c.DatasetPath == "" && c.FlashRAG == nil {
		return errors.New("dataset_path is required (the query file)")
	}
	if c.SaveDir == "" {
		return errors.New("save_dir is required (the output directory)")
	}
	if c.IndexPath == "" && c.CorpusPath == "" && c.FlashRAG == nil {
		return errors.New("index_path or corpus_path is required")
	}
	if c.IndexPath == "" {
		c.IndexPath = filepath.Join(c.SaveDir, "index")
	}
	if c.RetrievalMethod == "" {
		c.RetrievalMethod = "bm25"
	}
	if c.RetrievalTopK == 0 {
		c.RetrievalTopK = 20
	}
	if c.RetrievalTopK < 0 {
		return fmt.Errorf("retrieval_topk must be positive, got %d", c.RetrievalTopK)
	}
	if c.Teacher.Method == "" {
		c.Teacher.Method = "answer-match"
	}
	switch c.QueriesFormat {
	case "", "auto", "dataset", "log":
	default:
		return fmt.Errorf("queries_format %q: want auto, dataset or log", c.QueriesFormat)
	}
	switch c.Transport {
	case "", "embedded":
		c.Transport = "embedded"
		if len(c.Brokers) > 0 {
			c.Transport = "kafka"
		}
	case "kafka":
		if len(c.Brokers) == 0 {
			return errors.New("transport kafka needs brokers")
		}
	default:
		return fmt.Errorf("transport %q: want embedded or kafka", c.Transport)
	}
	if c.ExactlyOnce && c.Transport != "kafka" {
		return errors.New("exactly_once needs the Kafka transport (brokers): the embedded transport has no transactions")
	}
	for _, s := range c.Sinks {
		if s != "parquet" && s != "arrow" && s != "jsonl" {
			return fmt.Errorf("sinks: unknown sink %q (known: jsonl, parquet, arrow)", s)
		}
	}
	if c.Train != nil {
		if c.RetrievalMethod != "dense" && c.RetrievalMethod != "hybrid" {
			return fmt.Errorf("train: the adapter refreshes the dense side of dense or hybrid retrieval; retrieval_method is %q", c.RetrievalMethod)
		}
		if c.Train.CheckpointDir == "" {
			c.Train.CheckpointDir = filepath.Join(c.SaveDir, "checkpoints")
		}
		if c.Train.Interval != "" {
			if d, err := time.ParseDuration(c.Train.Interval); err != nil || d <= 0 {
				return fmt.Errorf("train: interval %q: want a positive duration such as 30s", c.Train.Interval)
			}
		}
		if h := c.Train.HoldOut; h < 0 || h >= 1 {
			return fmt.Errorf("train: holdout %v must be in [0, 1)", h)
		}
	}
	if c.Adapter != "" && c.RetrievalMethod != "dense" && c.RetrievalMethod != "hybrid" {
		return fmt.Errorf("adapter: a query adapter applies to dense or hybrid retrieval; retrieval_method is %q", c.RetrievalMethod)
	}
	for name := range c.Stages {
		switch name {
		case StageRetrieve, StageTeach:
		default:
			return fmt.Errorf("stages: unknown stage %q (known: %s, %s)", name, StageRetrieve, StageTeach)
		}
	}
	return nil
}

// Resolve returns p relative to the config file's directory when it is relative.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" || strings.HasPrefix(p, "~") {
		return p
	}
	return filepath.Join(c.dir, p)
}

// ResolvePaths makes every path in the config absolute against the config file's directory.
func (c *Config) ResolvePaths() {
	c.DatasetPath = c.Resolve(c.DatasetPath)
	c.CorpusPath = c.Resolve(c.CorpusPath)
	c.IndexPath = c.Resolve(c.IndexPath)
	c.SaveDir = c.Resolve(c.SaveDir)
	c.Adapter = c.Resolve(c.Adapter)
	if c.Train != nil {
		c.Train.EvalPath = c.Resolve(c.Train.EvalPath)
		c.Train.CheckpointDir = c.Resolve(c.Train.CheckpointDir)
	}
}
