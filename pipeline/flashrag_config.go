package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/pipeline/flashrag"
)

// yamlKeys lists the yaml names of a struct type's fields.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// OwnKeys are the top-level keys of lsrflow's own config format.
func OwnKeys() []string { return yamlKeys(reflect.TypeOf(Config{})) }

// checkKeys checks every top-level key: lsrflow's own, FlashRAG's (which make the file a
// FlashRAG config), or an error naming the nearest known key.
func checkKeys(root *yaml.Node) (isFlashRAG bool, err error) {
	m := root
	if m.Kind == yaml.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.Kind == 0 {
		return false, nil
	}
	if m.Kind != yaml.MappingNode {
		return false, fmt.Errorf("line %d: the config must be a mapping of keys to values", m.Line)
	}
	ownSet := map[string]bool{}
	for _, k := range OwnKeys() {
		ownSet[k] = true
	}
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		switch {
		case ownSet[k.Value]:
			// a key both know (dataset_path, corpus_path, ...) does not decide the format
		case flashrag.IsKey(k.Value):
			isFlashRAG = true
		default:
			errs = append(errs, fmt.Errorf("line %d: unknown key %q%s", k.Line, k.Value,
				didYouMean(k.Value, append(OwnKeys(), flashrag.KeyNames()...))))
		}
	}
	return isFlashRAG, errors.Join(errs...)
}

// didYouMean suggests the known word nearest to w (edit distance at most a third of its
// length, at least 2), as ` (did you mean "x"?)`, or "".
func didYouMean(w string, known []string) string {
	best, bestD := "", 1<<30
	sort.Strings(known)
	for _, k := range known {
		if d := editDistance(w, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(2, len(w)/3) {
		return " (not a key of lsrflow's or FlashRAG's config)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance with adjacent transpositions counted as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

var fieldNotFound = regexp.MustCompile(`field (\S+) not found in type pipeline\.(\w+)`)

// nestedKeys are the sections whose unknown fields get a did-you-mean.
var nestedKeys = map[string]reflect.Type{
	"TeacherConfig": reflect.TypeOf(TeacherConfig{}),
	"TrainConfig":   reflect.TypeOf(TrainConfig{}),
	"StageConfig":   reflect.TypeOf(StageConfig{}),
}

// explainFieldErrors adds the nearest known field to yaml's "field x not found" errors.
func explainFieldErrors(err error) error {
	msg := fieldNotFound.ReplaceAllStringFunc(err.Error(), func(s string) string {
		m := fieldNotFound.FindStringSubmatch(s)
		if t, ok := nestedKeys[m[2]]; ok {
			return "unknown key " + fmt.Sprintf("%q", m[1]) + didYouMean(m[1], yamlKeys(t))
		}
		return s
	})
	return errors.New(msg)
}

// applyFlashRAG fills the lsrflow settings a FlashRAG config implies. The dataset, index and
// output paths are set later, by PrepareFlashRAG.
func (c *Config) applyFlashRAG() error {
	s := c.FlashRAG
	if c.IndexEmbedder != "" || c.IndexFactory != "" {
		return errors.New("index_embedder and index_factory are for lsrflow configs: a FlashRAG config names its model with retrieval_method and model2path, and its FAISS file with index_path")
	}
	if c.OutputDir != "" {
		return errors.New("output_dir: a FlashRAG config writes to {save_dir}/{dataset_name}_{timestamp}_{save_note}/; set save_dir")
	}
	if c.BM25QueryAnalyzer != "" {
		if !s.IsBM25() {
			return fmt.Errorf("bm25_query_analyzer applies to retrieval_method bm25, not %s", s.RetrievalMethod)
		}
		if err := s.SetBM25QueryAnalyzer(c.BM25QueryAnalyzer); err != nil {
			return err
		}
	}
	c.DatasetPath, c.CorpusPath, c.IndexPath = "", s.CorpusPath, ""
	c.SaveDir = s.SaveDir
	c.RetrievalMethod = s.Method()
	c.RetrievalTopK = s.TopK
	if c.Teacher.LM == "" && s.Framework == "openai" && s.OpenAIBaseURL != "" && c.Teacher.Method != "" && c.Teacher.Method != "answer-match" {
		c.Teacher.LM = s.OpenAIBaseURL
	}
	if c.Teacher.LM != "" && c.Teacher.Method == "" {
		c.Teacher.Method = "lsr"
	}
	if c.Teacher.Method != "" && c.Teacher.Method != "answer-match" {
		if c.Teacher.Model == "" {
			c.Teacher.Model = s.GeneratorModelPath
		}
		if c.Teacher.Options["chat"] == "" && c.Teacher.Options["prompt_file"] == "" {
			chat, err := s.Chat()
			if err != nil {
				return err
			}
			if c.Teacher.Options == nil {
				c.Teacher.Options = map[string]string{}
			}
			c.Teacher.Options["chat"] = chat
		}
	}
	if len(s.Unused) > 0 {
		c.Warnings = append(c.Warnings, "FlashRAG keys lsrflow does not use: "+strings.Join(s.Unused, ", "))
	}
	return nil
}

// FlashRAGRun is a prepared FlashRAG-config run: the run directory with the queries to read,
// and the index to search.
type FlashRAGRun struct {
	Run   *flashrag.Run
	Index *flashrag.Index
}

// PrepareFlashRAG readies a FlashRAG config for Synth: it picks or resumes the run directory
// (c.SaveDir), writes the dataset rows of the run there (c.DatasetPath) and builds or reuses
// the index (c.IndexPath, c.RetrievalMethod). Notes for the user go to c.Warnings.
func PrepareFlashRAG(ctx context.Context, c *Config, progress io.Writer) (*FlashRAGRun, error) {
	s := c.FlashRAG
	if s == nil {
		return nil, errors.New("not a FlashRAG config")
	}
	run, err := flashrag.Prepare(ctx, s, time.Now(), c.Teacher.Method == "seed")
	if err != nil {
		return nil, err
	}
	if len(run.Missing) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("no dataset file for split(s) %s under %s: skipped, as FlashRAG skips them",
			strings.Join(run.Missing, ", "), filepath.Join(s.DataDir, s.DatasetName)))
	}
	ix, err := flashrag.EnsureIndex(ctx, s, c.MaxLineBytes, progress)
	if err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, ix.Warnings...)
	c.DatasetPath, c.SaveDir, c.IndexPath, c.RetrievalMethod = run.Queries, run.Dir, ix.Dir, ix.Method
	if c.QueriesFormat == "" {
		c.QueriesFormat = "dataset"
	}
	if c.Train != nil && c.Train.CheckpointDir == "" {
		c.Train.CheckpointDir = filepath.Join(run.Dir, "checkpoints")
	}
	return &FlashRAGRun{Run: run, Index: ix}, nil
}

// FinishFlashRAG writes metric_score.txt (when save_metric_score) and marks the run complete.
// It returns the recall it wrote and the number of scored records it covers.
func FinishFlashRAG(ctx context.Context, c *Config, r *FlashRAGRun) (recall float64, n int, err error) {
	s := c.FlashRAG
	if s.SaveMetricScore {
		var prec float64
		recall, prec, n, err = flashrag.RetrievalMetrics(ctx, filepath.Join(r.Run.Dir, ScoredFile), s.RecallTopK)
		if err != nil {
			return 0, 0, err
		}
		if n > 0 {
			if err := flashrag.WriteMetricScore(r.Run.Dir, s.RecallTopK, recall, prec); err != nil {
				return 0, 0, err
			}
		}
	}
	return recall, n, r.Run.Complete(s)
}
