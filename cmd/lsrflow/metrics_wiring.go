package main

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/lm"
	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers"
	"github.com/lsrflow/lsrflow/teachers/lmteacher"
)

// teacherMetrics registers the teach stage's series (deploy/README.md names them) and
// returns the per-record hook that feeds the entropy histogram.
func teacherMetrics(reg prometheus.Registerer, t teachers.Teacher) func(schemas.Scored) {
	method := t.Identity().Method
	entropy := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lsrflow_teacher_entropy",
		Help:    "Normalized entropy H/log k of each teacher distribution (0: one passage, 1: uniform).",
		Buckets: prometheus.LinearBuckets(0.1, 0.1, 10),
	}, []string{"teacher"})
	reg.MustRegister(entropy)
	obs := entropy.WithLabelValues(method)
	if lt, ok := t.(*lmteacher.Teacher); ok {
		model := t.Identity().Model
		counter := func(name, help string, f func() float64) {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help,
				ConstLabels: prometheus.Labels{"model": model}}, f))
		}
		counter("lsrflow_lm_pairs_total", "(passage, target) pairs scored, from the LM or the cache.", func() float64 { return float64(lt.Stats().Pairs) })
		counter("lsrflow_lm_pairs_sent_total", "Pairs sent to the LM (cache misses).", func() float64 { return float64(lt.Stats().Sent) })
		counter("lsrflow_lm_cache_hits_total", "Score-cache hits.", func() float64 { return float64(lt.Stats().Cache.Hits) })
		counter("lsrflow_lm_cache_misses_total", "Score-cache misses.", func() float64 { return float64(lt.Stats().Cache.Misses) })
		counter("lsrflow_lm_truncated_total", "Passages truncated to fit the context window.", func() float64 { return float64(lt.Stats().Truncated) })
		if c, ok := lt.Scorer().(lm.Counted); ok {
			counter("lsrflow_lm_tokens_total", "Tokens processed by the LM (prompt processing).", func() float64 { return float64(c.Counters().Tokens) })
		}
	}
	return func(s schemas.Scored) {
		if k := len(s.Scores); k > 1 {
			h := 0.0
			for _, p := range s.Scores {
				if p > 0 {
					h -= p * math.Log(p)
				}
			}
			obs.Observe(h / math.Log(float64(k)))
		}
	}
}

// trainMetrics registers the train stage's series and returns its round hook.
func trainMetrics(reg prometheus.Registerer) func(ptrain.Round) {
	loss := prometheus.NewGauge(prometheus.GaugeOpts{Name: "lsrflow_train_loss", Help: "Loss of the last training round, KL(teacher || retriever)."})
	steps := prometheus.NewCounter(prometheus.CounterOpts{Name: "lsrflow_train_steps_total", Help: "Optimizer steps."})
	rounds := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lsrflow_train_rounds_total", Help: "Training rounds, by whether the candidate was published."}, []string{"published"})
	recall := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lsrflow_train_candidate_metric", Help: "Metrics of the last round's candidate adapter: held-out training queries (teacher_hit@k) and evaluation questions (eval_gold_recall@k)."}, []string{"metric"})
	reg.MustRegister(loss, steps, rounds, recall)
	lastSteps := 0
	return func(r ptrain.Round) {
		loss.Set(r.Loss)
		if r.Steps > lastSteps {
			steps.Add(float64(r.Steps - lastSteps))
			lastSteps = r.Steps
		}
		if r.Published {
			rounds.WithLabelValues("true").Inc()
		} else {
			rounds.WithLabelValues("false").Inc()
		}
		for k, v := range r.HeldOut {
			recall.WithLabelValues(k).Set(v)
		}
		for k, v := range r.Eval {
			recall.WithLabelValues("eval_" + k).Set(v)
		}
	}
}
