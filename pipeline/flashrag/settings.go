package flashrag

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/embed/conventions"
	"github.com/lsrflow/lsrflow/retrieval/bm25/analysis"
)

// Settings is a FlashRAG config read with FlashRAG's meaning: the file's keys merged over
// FlashRAG's defaults (flashrag/config/basic_config.yaml) and resolved as flashrag/config/
// config.py does (_set_additional_key, _check_final_config). Relative paths are resolved
// against the config file's directory (FlashRAG resolves them against the working
// directory, which is the same when the script runs beside its config, as both real
// configs expect).
type Settings struct {
	// ConfigPath is the config file; ConfigBytes its contents (the run directory keeps a copy).
	ConfigPath  string
	ConfigBytes []byte

	DataDir     string
	DatasetName string
	Splits      []string
	// SampleNum is test_sample_num (nil: every row).
	SampleNum    *int
	RandomSample bool
	Seed         int64
	SaveDir      string
	SaveNote     string

	// RetrievalMethod is the model name (or "bm25"); ModelPath what model2path maps it to.
	RetrievalMethod string
	ModelPath       string
	// IndexPath is a FAISS file, an lsrflow index directory or "" (lsrflow builds the index).
	IndexPath  string
	CorpusPath string
	TopK       int
	// Encoding is how queries and passages are encoded (dense methods).
	Encoding embed.Encoding
	// BM25Backend is bm25_backend: bm25s or pyserini.
	BM25Backend string
	// BM25QueryAnalyzer is how BM25 queries are analyzed (retrieval/bm25/analysis
	// ForQueries): for bm25s, FlashRAG's own query path by default (bm25s-unstemmed:
	// flashrag/retriever/retriever.py tokenizes queries with bm25s.tokenize's defaults, no
	// stemmer, against its stemmed index); for pyserini, like the passages (""). lsrflow's
	// key bm25_query_analyzer overrides it (SetBM25QueryAnalyzer).
	BM25QueryAnalyzer string

	GeneratorModel     string
	GeneratorModelPath string
	Framework          string
	IsReasoning        bool
	// OpenAIBaseURL is openai_setting.base_url.
	OpenAIBaseURL string

	RecallTopK      int
	SaveMetricScore bool

	// Set lists the FlashRAG keys the file sets; Unused those of them lsrflow ignores.
	Set, Unused []string
}

// IsBM25 reports whether the retrieval method is FlashRAG's BM25.
func (s *Settings) IsBM25() bool { return s.RetrievalMethod == "bm25" }

// Method is the lsrflow retrieval method that runs the config: bm25 or dense.
func (s *Settings) Method() string {
	if s.IsBM25() {
		return "bm25"
	}
	return "dense"
}

// BM25Analyzer maps bm25_backend to the name of lsrflow's BM25 analyzer that matches it
// (retrieval/bm25/analysis): bm25s' tokenizer with its English stopwords and PyStemmer, or
// Pyserini's default Lucene English analyzer.
func BM25Analyzer(backend string) (string, error) {
	switch backend {
	case "bm25s":
		return analysis.BM25S, nil
	case "pyserini":
		return analysis.Lucene, nil
	}
	return "", fmt.Errorf("bm25_backend %q: want bm25s or pyserini", backend)
}

// BM25Queries names the query analyzer in effect (the index analyzer when
// BM25QueryAnalyzer is empty).
func (s *Settings) BM25Queries() string {
	if s.BM25QueryAnalyzer != "" {
		return s.BM25QueryAnalyzer
	}
	an, _ := BM25Analyzer(s.BM25Backend)
	return an
}

// SetBM25QueryAnalyzer sets the query analyzer (lsrflow's bm25_query_analyzer key): one of
// analysis.QueryNames of the backend's analyzer.
func (s *Settings) SetBM25QueryAnalyzer(name string) error {
	an, err := BM25Analyzer(s.BM25Backend)
	if err != nil {
		return err
	}
	if _, err := analysis.ForQueries(an, name); err != nil {
		return fmt.Errorf("bm25_query_analyzer: %w", err)
	}
	s.BM25QueryAnalyzer = name
	if name == an {
		s.BM25QueryAnalyzer = ""
	}
	return nil
}

// kv is one entry of an ordered mapping.
type kv struct {
	key string
	val *yaml.Node
}

// doc is the config's top-level mapping.
type doc struct {
	m     map[string]*yaml.Node
	order []string
}

func newDoc(root *yaml.Node) (*doc, error) {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d := &doc{m: map[string]*yaml.Node{}}
	if root.Kind == 0 {
		return d, nil // empty file
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the config must be a mapping of keys to values", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if _, dup := d.m[k]; dup {
			return nil, fmt.Errorf("line %d: key %q appears twice", root.Content[i].Line, k)
		}
		d.m[k] = root.Content[i+1]
		d.order = append(d.order, k)
	}
	return d, nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// str reads a string key; ok is false when absent or null.
func (d *doc) str(key string) (string, bool, error) {
	n := d.m[key]
	if isNull(n) {
		return "", false, nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", false, fmt.Errorf("line %d: %s must be a string", n.Line, key)
	}
	return n.Value, true, nil
}

func (d *doc) strOr(key, def string) (string, error) {
	v, ok, err := d.str(key)
	if !ok || err != nil {
		return def, err
	}
	return v, nil
}

func (d *doc) intOr(key string, def int) (int, error) {
	n := d.m[key]
	if isNull(n) {
		return def, nil
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return 0, fmt.Errorf("line %d: %s must be an integer, got %q", n.Line, key, n.Value)
	}
	return v, nil
}

func (d *doc) boolOr(key string, def bool) (bool, error) {
	n := d.m[key]
	if isNull(n) {
		return def, nil
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		return false, fmt.Errorf("line %d: %s must be true or false, got %q", n.Line, key, n.Value)
	}
	return v, nil
}

// mapping merges the file's mapping for key over def as FlashRAG's _update_dict does: the
// file's values replace the defaults', new keys come after the default ones.
func (d *doc) mapping(key string, def []kv) ([]kv, error) {
	n := d.m[key]
	if n == nil {
		return def, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s must be a mapping", n.Line, key)
	}
	out := append([]kv(nil), def...)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		replaced := false
		for j := range out {
			if out[j].key == k {
				out[j].val, replaced = v, true
			}
		}
		if !replaced {
			out = append(out, kv{k, v})
		}
	}
	return out, nil
}

func lookup(m []kv, key string) (*yaml.Node, bool) {
	for _, e := range m {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// FlashRAG's defaults for the mappings lsrflow reads (basic_config.yaml).
var (
	defaultModel2Path = []kv{
		{"e5", scalar("intfloat/e5-base-v2")}, {"bge", scalar("BAAI/bge-base-en-v1.5")},
		{"contriever", scalar("facebook/contriever")},
		{"llama2-7B-chat", scalar("meta-llama/Llama-2-7b-chat-hf")}, {"llama2-7B", scalar("meta-llama/Llama-2-7b-hf")},
		{"llama2-13B", scalar("meta-llama/Llama-2-13b-hf")}, {"llama2-13B-chat", scalar("meta-llama/Llama-2-13b-chat-hf")},
	}
	defaultMethod2Index = []kv{{"e5", nil}, {"bm25", nil}, {"contriever", nil}}
)

func defaultModel2Pooling() []kv {
	var out []kv
	for _, p := range conventions.DefaultModel2Pooling {
		out = append(out, kv{p.Key, scalar(p.Method)})
	}
	return out
}

// Parse reads a FlashRAG config. root is the parsed YAML document of the file at path
// (contents b); keys that are not FlashRAG's are ignored here (the caller checks them).
func Parse(path string, b []byte, root *yaml.Node) (*Settings, error) {
	d, err := newDoc(root)
	if err != nil {
		return nil, err
	}
	s := &Settings{ConfigPath: path, ConfigBytes: b}
	dir := filepath.Dir(path)
	for _, k := range d.order {
		if key, ok := Keys[k]; ok {
			s.Set = append(s.Set, k)
			if key.Use == Unused {
				s.Unused = append(s.Unused, k)
			}
		}
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var e error
	s.DataDir, e = d.strOr("data_dir", "dataset/")
	add(e)
	s.DatasetName, e = d.strOr("dataset_name", "nq")
	add(e)
	s.SaveDir, e = d.strOr("save_dir", "output/")
	add(e)
	s.SaveNote, e = d.strOr("save_note", "experiment")
	add(e)
	if _, ok, _ := d.str("dataset_path"); ok {
		add(fmt.Errorf("line %d: dataset_path: FlashRAG sets it to {data_dir}/{dataset_name}; set those instead", d.m["dataset_path"].Line))
	}
	add(s.readSplits(d))
	if n := d.m["test_sample_num"]; !isNull(n) {
		v, err := d.intOr("test_sample_num", 0)
		add(err)
		if err == nil && v < 0 {
			add(fmt.Errorf("line %d: test_sample_num must be >= 0", n.Line))
		}
		s.SampleNum = &v
	}
	s.RandomSample, e = d.boolOr("random_sample", false)
	add(e)
	s.Seed = 2024
	if n := d.m["seed"]; !isNull(n) {
		// FlashRAG: int(seed), falling back to 2025 when that fails (config.py, _set_seed)
		v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
		if err != nil {
			v = 2025
		}
		s.Seed = v
	}

	model2path, err := d.mapping("model2path", defaultModel2Path)
	add(err)
	model2pooling, err := d.mapping("model2pooling", defaultModel2Pooling())
	add(err)
	method2index, err := d.mapping("method2index", defaultMethod2Index)
	add(err)
	s.RetrievalMethod, e = d.strOr("retrieval_method", "e5")
	add(e)
	s.ModelPath, e = d.modelPath("retrieval_model_path", s.RetrievalMethod, model2path, dir)
	add(e)
	ip, ok, e := d.str("index_path")
	add(e)
	if !ok {
		if v, found := lookup(method2index, s.RetrievalMethod); found && !isNull(v) && v.Kind == yaml.ScalarNode {
			ip = v.Value
		}
	}
	s.IndexPath = resolve(dir, ip)
	cp, _, e := d.str("corpus_path")
	add(e)
	s.CorpusPath = resolve(dir, cp)
	s.TopK, e = d.intOr("retrieval_topk", 5)
	add(e)
	if s.TopK <= 0 {
		add(fmt.Errorf("retrieval_topk must be positive, got %d", s.TopK))
	}
	s.BM25Backend, e = d.strOr("bm25_backend", "bm25s")
	add(e)
	if an, err := BM25Analyzer(s.BM25Backend); err != nil {
		add(err)
	} else if an == analysis.BM25S {
		s.BM25QueryAnalyzer = analysis.BM25SUnstemmed
	}
	if !s.IsBM25() {
		co := conventions.Options{}
		for _, p := range model2pooling {
			if !isNull(p.val) {
				co.Model2Pooling = append(co.Model2Pooling, conventions.Pooling{Key: p.key, Method: p.val.Value})
			}
		}
		co.Pooling, _, e = d.str("retrieval_pooling_method")
		add(e)
		if instr, ok, e := d.str("instruction"); ok {
			co.Instruction = &instr
		} else {
			add(e)
		}
		co.QueryMaxLength, e = d.intOr("retrieval_query_max_length", conventions.DefaultQueryMaxLength)
		add(e)
		s.Encoding, e = conventions.FlashRAG(s.RetrievalMethod, co)
		add(e)
	}

	s.GeneratorModel, e = d.strOr("generator_model", "llama3-8B-instruct")
	add(e)
	s.GeneratorModelPath, e = d.modelPath("generator_model_path", s.GeneratorModel, model2path, dir)
	add(e)
	s.Framework, e = d.strOr("framework", "fschat")
	add(e)
	s.IsReasoning, e = d.boolOr("is_reasoning", false)
	add(e)
	if oa, err := d.mapping("openai_setting", nil); err == nil {
		if v, ok := lookup(oa, "base_url"); ok && !isNull(v) {
			s.OpenAIBaseURL = v.Value
		}
	} else {
		add(err)
	}
	ms, err := d.mapping("metric_setting", []kv{{"retrieval_recall_topk", scalar("5")}})
	add(err)
	s.RecallTopK = 5
	if v, ok := lookup(ms, "retrieval_recall_topk"); ok && !isNull(v) {
		k, err := strconv.Atoi(v.Value)
		if err != nil || k <= 0 {
			add(fmt.Errorf("line %d: metric_setting.retrieval_recall_topk must be a positive integer", v.Line))
		}
		s.RecallTopK = k
	}
	s.SaveMetricScore, e = d.boolOr("save_metric_score", true)
	add(e)
	s.DataDir = resolve(dir, s.DataDir)
	s.SaveDir = resolve(dir, s.SaveDir)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// modelPath is FlashRAG's resolution of a model: the explicit path key when set, else
// model2path's value for the name, else the name itself (model2path.get(name, name)).
func (d *doc) modelPath(key, name string, model2path []kv, dir string) (string, error) {
	p, ok, err := d.str(key)
	if !ok {
		p = name
		if v, found := lookup(model2path, name); found && !isNull(v) {
			p = v.Value
		}
	}
	return localPath(dir, p), err
}

// readSplits is _check_final_config: null means train, dev and test; a string is one split.
func (s *Settings) readSplits(d *doc) error {
	n, ok := d.m["split"]
	switch {
	case !ok:
		s.Splits = []string{"test"}
	case isNull(n):
		s.Splits = []string{"train", "dev", "test"}
	case n.Kind == yaml.ScalarNode:
		s.Splits = []string{n.Value}
	default:
		if err := n.Decode(&s.Splits); err != nil {
			return fmt.Errorf("line %d: split must be a split name or a list of them", n.Line)
		}
	}
	for _, sp := range s.Splits {
		if sp == "" || strings.ContainsAny(sp, `/\`) {
			return fmt.Errorf("split %q is not a split name", sp)
		}
	}
	return nil
}

// resolve makes a relative path absolute against dir ("" stays "").
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return p
	}
	return filepath.Join(dir, p)
}

// localPath resolves p against dir when that names an existing file or directory; otherwise
// p is kept as given (a model name such as a Hugging Face hub id).
func localPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if r := resolve(dir, p); r != p {
		if _, err := os.Stat(r); err == nil {
			return r
		}
	}
	return p
}
