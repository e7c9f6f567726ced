package flashrag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/evaluate"
	"github.com/lsrflow/lsrflow/schemas"
)

// MetricScoreFile is FlashRAG's per-run metric file (flashrag/evaluator/evaluator.py,
// save_metric_score): one "name: value" line per metric.
const MetricScoreFile = "metric_score.txt"

// RetrievalMetrics computes FlashRAG's retrieval_recall_top{k} and retrieval_precision_top{k}
// (flashrag/evaluator/metrics.py) over the candidate sets of a scored.jsonl: a passage hits
// when its normalized contents contain a normalized gold answer. n is the number of records.
func RetrievalMetrics(ctx context.Context, scoredPath string, k int) (recall, precision float64, n int, err error) {
	var sumR, sumP float64
	_, err = schemas.DecodeFile(ctx, scoredPath, 0, schemas.DecodeScored, func(s schemas.Scored) error {
		docs := s.Pos[:min(k, len(s.Pos))]
		hits := evaluate.AnswerHits(docs, s.GoldenAnswers)
		sumR += evaluate.RecallAt(hits, k)
		if len(hits) > 0 {
			c := 0
			for _, h := range hits {
				if h {
					c++
				}
			}
			sumP += float64(c) / float64(len(hits))
		}
		n++
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0, nil
	}
	if err != nil || n == 0 {
		return 0, 0, n, err
	}
	return sumR / float64(n), sumP / float64(n), n, nil
}

// WriteMetricScore writes dir/metric_score.txt with FlashRAG's names and Python's float repr.
func WriteMetricScore(dir string, k int, recall, precision float64) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "retrieval_recall_top%d: %s\n", k, PyFloat(recall))
	fmt.Fprintf(&b, "retrieval_precision_top%d: %s\n", k, PyFloat(precision))
	tmp := filepath.Join(dir, MetricScoreFile+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, MetricScoreFile))
}

// PyFloat formats f as Python's repr does for floats in [1e-4, 1e16): the shortest digits
// that round-trip, with ".0" on integral values.
func PyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if a := math.Abs(f); a >= 1e6 && a < 1e16 {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
