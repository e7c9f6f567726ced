package conventions

import (
	"fmt"
	"strings"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Instructions FlashRAG applies by model name (flashrag/retriever/utils.py).
const (
	E5Query       = "query: "
	E5Passage     = "passage: "
	BGEQuery      = "Represent this sentence for searching relevant passages: "
	BGEQueryChina = "为这个句子生成表示以用于检索相关文章："
)

// FlashRAG's defaults (flashrag/config/basic_config.yaml and the index builder's flags).
const (
	DefaultQueryMaxLength   = 128
	DefaultPassageMaxLength = 180
)

// Pooling is one model2pooling entry.
type Pooling struct {
	Key, Method string
}

// DefaultModel2Pooling is FlashRAG's model2pooling, in its file order.
var DefaultModel2Pooling = []Pooling{
	{"e5", "mean"}, {"bge", "cls"}, {"contriever", "mean"}, {"jina", "mean"}, {"dpr", "pooler"},
}

// Options are the FlashRAG settings that shape the encoding.
type Options struct {
	// Model2Pooling is model2pooling in file order (nil: DefaultModel2Pooling).
	Model2Pooling []Pooling
	// Pooling is retrieval_pooling_method ("": derived from Model2Pooling).
	Pooling string
	// Instruction is the `instruction` key (nil: FlashRAG's default by model name).
	Instruction *string
	// QueryMaxLength is retrieval_query_max_length (0: 128).
	QueryMaxLength int
	// PassageMaxLength caps passages when lsrflow embeds the corpus (0: 180).
	PassageMaxLength int
}

// PoolingFor is FlashRAG's set_pooling_method: the first model2pooling key contained in the
// model name (both lower-cased) gives the pooling, else "mean".
func PoolingFor(model string, m2p []Pooling) string {
	if m2p == nil {
		m2p = DefaultModel2Pooling
	}
	lm := strings.ToLower(model)
	for _, p := range m2p {
		if strings.Contains(lm, strings.ToLower(p.Key)) {
			return p.Method
		}
	}
	return "mean"
}

// Prefixes is FlashRAG's parse_query for queries and passages: an explicit instruction
// (Python-stripped, plus one space) for both, else set_default_instruction by name.
func Prefixes(model string, instruction *string) embed.Prefixes {
	if instruction != nil {
		p := pyStrip(*instruction) + " "
		return embed.Prefixes{Query: p, Passage: p}
	}
	lm := strings.ToLower(model)
	var p embed.Prefixes
	if strings.Contains(lm, "e5") {
		p = embed.Prefixes{Query: E5Query, Passage: E5Passage}
	}
	if strings.Contains(lm, "bge") {
		p.Query = BGEQuery
		if strings.Contains(lm, "zh") {
			p.Query = BGEQueryChina
		}
	}
	return p
}

// Normalizes reports whether FlashRAG L2-normalizes the model's vectors.
func Normalizes(model string) bool {
	return !strings.Contains(strings.ToLower(model), "dpr")
}

// ValidPooling checks a pooling method name.
func ValidPooling(p string) error {
	switch p {
	case "mean", "cls", "pooler":
		return nil
	}
	return fmt.Errorf("pooling %q: want mean, cls or pooler", p)
}

// FlashRAG returns the encoding FlashRAG applies to the retrieval model called model (the
// config's retrieval_method).
func FlashRAG(model string, o Options) (embed.Encoding, error) {
	pool := o.Pooling
	if pool == "" {
		pool = PoolingFor(model, o.Model2Pooling)
	}
	if err := ValidPooling(pool); err != nil {
		return embed.Encoding{}, err
	}
	norm := Normalizes(model)
	e := embed.Encoding{
		Convention: "flashrag:" + model,
		Prefixes:   Prefixes(model, o.Instruction),
		Pooling:    pool, Normalize: &norm,
		QueryMaxLength: o.QueryMaxLength, PassageMaxLength: o.PassageMaxLength,
	}
	if e.QueryMaxLength <= 0 {
		e.QueryMaxLength = DefaultQueryMaxLength
	}
	if e.PassageMaxLength <= 0 {
		e.PassageMaxLength = DefaultPassageMaxLength
	}
	return e, nil
}

// pyStrip is Python's str.strip(): whitespace as str.isspace defines it.
func pyStrip(s string) string {
	return strings.TrimFunc(s, textnorm.IsSpace)
}
