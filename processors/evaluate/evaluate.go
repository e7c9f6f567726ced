package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// Config configures the processor.
type Config struct {
	// Ks are the recall cut-offs (default 1, 5, 20).
	Ks []int
	// Topic is the metrics topic of the output messages ("" : the stage's output topic).
	Topic string
	// Registry receives the metrics (nil: metrics are kept but not exported).
	Registry prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Record is the value of each output message.
type Record struct {
	Time             time.Time          `json:"time"`
	QueryID          string             `json:"query_id"`
	RetrieverMethod  string             `json:"retriever_method"`
	RetrieverVersion string             `json:"retriever_version"`
	Duplicate        bool               `json:"duplicate,omitempty"`
	Query            map[string]float64 `json:"query"`   // recall@k, gold_recall@k, rr, gold_rr
	Running          map[string]float64 `json:"running"` // means over the version so far
	N                int                `json:"n"`       // queries counted for the version
	NGold            int                `json:"n_gold"`  // of which with gold_doc_ids
}

type versionState struct {
	n, nGold int
	sums     map[string]float64
	seen     map[string]bool
}

// Processor is the evaluate stage.
type Processor struct {
	cfg      Config
	recall   *prometheus.GaugeVec
	gold     *prometheus.GaugeVec
	mrr      *prometheus.GaugeVec
	queries  *prometheus.CounterVec
	mu       sync.Mutex
	versions map[string]*versionState
}

// New builds the processor and registers its metrics on cfg.Registry.
func New(cfg Config) (*Processor, error) {
	if len(cfg.Ks) == 0 {
		cfg.Ks = []int{1, 5, 20}
	}
	for _, k := range cfg.Ks {
		if k <= 0 {
			return nil, fmt.Errorf("evaluate: cut-off %d is not positive", k)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Processor{cfg: cfg, versions: map[string]*versionState{},
		recall: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lsrflow_eval_recall",
			Help: "Answer recall@k (FlashRAG retrieval_recall_topk) over the queries evaluated so far."}, []string{"retriever_version", "k"}),
		gold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lsrflow_eval_gold_recall",
			Help: "Gold-document recall@k over the evaluated queries that have gold_doc_ids."}, []string{"retriever_version", "k"}),
		mrr: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lsrflow_eval_mrr",
			Help: "Mean reciprocal rank of the first answer-bearing passage."}, []string{"retriever_version"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lsrflow_eval_queries_total",
			Help: "Candidate sets evaluated (duplicates excluded)."}, []string{"retriever_version"}),
	}
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{p.recall, p.gold, p.mrr, p.queries} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("evaluate: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Process scores one candidate set and returns its metrics message.
func (p *Processor) Process(ctx context.Context, msg streams.Message) ([]streams.Message, error) {
	c, err := schemas.DecodeCandidates(msg.Value)
	if err != nil {
		return nil, err // a *schemas.DecodeError: permanent
	}
	line := evaluate.RetrievalLine{ID: c.Query.ID, Question: c.Query.Question, GoldenAnswers: c.Query.GoldenAnswers,
		GoldDocIDs: c.Query.GoldDocIDs, Docs: c.Docs}
	s := evaluate.ScoreRetrieval(line, p.cfg.Ks)
	version := c.Retriever.Version
	if version == "" {
		version = "unversioned"
	}
	q := map[string]float64{"rr": s.RR}
	for k, v := range s.Recall {
		q["recall@"+strconv.Itoa(k)] = v
	}
	if s.GoldRecall != nil {
		for k, v := range s.GoldRecall {
			q["gold_recall@"+strconv.Itoa(k)] = v
		}
		q["gold_rr"] = s.GoldRR
	}
	rec := Record{Time: p.cfg.Now().UTC(), QueryID: c.Query.ID, RetrieverMethod: c.Retriever.Method, RetrieverVersion: version, Query: q}

	p.mu.Lock()
	st := p.versions[version]
	if st == nil {
		st = &versionState{sums: map[string]float64{}, seen: map[string]bool{}}
		p.versions[version] = st
	}
	if st.seen[c.Query.ID] {
		rec.Duplicate = true
	} else {
		st.seen[c.Query.ID] = true
		st.n++
		for key, v := range q {
			st.sums[key] += v
		}
		if s.GoldRecall != nil {
			st.nGold++
		}
		p.queries.WithLabelValues(version).Inc()
	}
	rec.N, rec.NGold = st.n, st.nGold
	rec.Running = p.running(st)
	for _, k := range p.cfg.Ks {
		ks := strconv.Itoa(k)
		p.recall.WithLabelValues(version, ks).Set(rec.Running["recall@"+ks])
		if st.nGold > 0 {
			p.gold.WithLabelValues(version, ks).Set(rec.Running["gold_recall@"+ks])
		}
	}
	p.mrr.WithLabelValues(version).Set(rec.Running["mrr"])
	p.mu.Unlock()

	b, err := json.Marshal(rec)
	if err != nil {
		return nil, streams.Permanent("encode", fmt.Errorf("evaluate: encode record: %w", err))
	}
	return []streams.Message{{Topic: p.cfg.Topic, Key: []byte(version), Value: b}}, nil
}

// running returns the means of st (callers hold p.mu).
func (p *Processor) running(st *versionState) map[string]float64 {
	out := map[string]float64{}
	for key, sum := range st.sums {
		switch key {
		case "rr":
			out["mrr"] = sum / float64(st.n)
		case "gold_rr":
			out["gold_mrr"] = sum / float64(st.nGold)
		default:
			if len(key) > 5 && key[:5] == "gold_" {
				out[key] = sum / float64(st.nGold)
			} else {
				out[key] = sum / float64(st.n)
			}
		}
	}
	return out
}

// Snapshot returns the running means of one retriever version and how many queries they
// cover.
func (p *Processor) Snapshot(version string) (map[string]float64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.versions[version]
	if st == nil || st.n == 0 {
		return map[string]float64{}, 0
	}
	return p.running(st), st.n
}
