package evaluate

import (
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/textnorm"
)

// QA holds the answer metrics of one prediction, each in [0, 1].
type QA struct {
	EM  float64 `json:"em"`
	F1  float64 `json:"f1"`
	Acc float64 `json:"acc"`
	// Precision and Recall are the token precision and recall, each maximised over the gold
	// answers on its own (as FlashRAG does), so they need not belong to the pair giving F1.
	Precision float64 `json:"-"`
	Recall    float64 `json:"-"`
}

// ScoreQA computes EM, F1 and acc of pred against the gold answers with FlashRAG's
// definitions. No gold answers score 0 everywhere. An empty gold answer normalizes to "",
// which is a substring of every prediction: FlashRAG counts it as acc 1, and so does this.
func ScoreQA(pred string, golden []string) QA {
	p := textnorm.Normalize(pred)
	var q QA
	gs := make([]string, len(golden))
	for i, g := range golden {
		gs[i] = textnorm.Normalize(g)
		if gs[i] == p {
			q.EM = 1
		}
		if strings.Contains(p, gs[i]) {
			q.Acc = 1
		}
	}
	q.F1, q.Precision, q.Recall = tokenF1(p, gs)
	return q
}

// ExactMatch is FlashRAG's "em": the normalized prediction equals a normalized gold answer.
func ExactMatch(pred string, golden []string) float64 { return ScoreQA(pred, golden).EM }

// SubEM is FlashRAG's "acc" (sub_em): a normalized gold answer is a substring of the
// normalized prediction.
func SubEM(pred string, golden []string) float64 { return ScoreQA(pred, golden).Acc }

// F1 is FlashRAG's token-level "f1": the best F1 over the gold answers.
func F1(pred string, golden []string) float64 { return ScoreQA(pred, golden).F1 }

// special answers only ever match themselves in token F1.
func special(s string) bool { return s == "yes" || s == "no" || s == "noanswer" }

// tokenF1 takes an already normalized prediction and gold answers. A pair where either side
// is "yes", "no" or "noanswer" and the two differ scores 0; so does a pair without common
// tokens.
func tokenF1(p string, golds []string) (f1, precision, recall float64) {
	pt := textnorm.Fields(p)
	for _, g := range golds {
		if (special(p) || special(g)) && p != g {
			continue
		}
		gt := textnorm.Fields(g)
		common := commonTokens(pt, gt)
		if common == 0 {
			continue
		}
		prec := float64(common) / float64(len(pt))
		rec := float64(common) / float64(len(gt))
		f := 2 * prec * rec / (prec + rec)
		f1, precision, recall = max(f1, f), max(precision, prec), max(recall, rec)
	}
	return f1, precision, recall
}

// commonTokens is the size of the multiset intersection of a and b.
func commonTokens(a, b []string) int {
	counts := make(map[string]int, len(b))
	for _, t := range b {
		counts[t]++
	}
	n := 0
	for _, t := range a {
		if counts[t] > 0 {
			counts[t]--
			n++
		}
	}
	return n
}

// AnswerHits reports, per passage, whether its normalized contents contain a normalized gold
// answer (FlashRAG's retrieval-recall rule; an empty gold answer matches every passage, as in
// FlashRAG).
func AnswerHits(contents []string, golden []string) []bool {
	gs := make([]string, len(golden))
	for i, g := range golden {
		gs[i] = textnorm.Normalize(g)
	}
	hits := make([]bool, len(contents))
	for i, c := range contents {
		n := textnorm.Normalize(c)
		for _, g := range gs {
			if strings.Contains(n, g) {
				hits[i] = true
				break
			}
		}
	}
	return hits
}

// RecallAt is FlashRAG's retrieval_recall_top{k} for one question: 1 when one of the first k
// hits is true. Fewer than k passages are used as they are.
func RecallAt(hits []bool, k int) float64 {
	for i := 0; i < k && i < len(hits); i++ {
		if hits[i] {
			return 1
		}
	}
	return 0
}

// PrecisionAt is FlashRAG's retrieval_precision_top{k} for one question: the share of the
// first k passages (fewer when there are fewer) that are hits; 0 without passages.
func PrecisionAt(hits []bool, k int) float64 {
	n, c := min(k, len(hits)), 0
	for _, h := range hits[:n] {
		if h {
			c++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(c) / float64(n)
}

// FlashRAGRecallName is FlashRAG's name of recall@k.
func FlashRAGRecallName(k int) string { return "retrieval_recall_top" + strconv.Itoa(k) }

// GoldRecallAt is gold-document recall@k: the fraction of the gold document ids found among
// the first k passage ids. It is 0 when there are no gold ids (callers skip such questions).
func GoldRecallAt(ids []string, gold []string, k int) float64 {
	if len(gold) == 0 {
		return 0
	}
	want := make(map[string]bool, len(gold))
	for _, g := range gold {
		want[g] = true
	}
	found := 0
	for i := 0; i < k && i < len(ids); i++ {
		if want[ids[i]] {
			found++
			delete(want, ids[i])
		}
	}
	return float64(found) / float64(len(want)+found)
}

// GoldHits marks the passage ids that are gold document ids.
func GoldHits(ids []string, gold []string) []bool {
	want := make(map[string]bool, len(gold))
	for _, g := range gold {
		want[g] = true
	}
	hits := make([]bool, len(ids))
	for i, id := range ids {
		hits[i] = want[id]
	}
	return hits
}

// ReciprocalRank is 1/rank of the first true hit (ranks from 1), 0 when there is none. The
// mean over questions is MRR.
func ReciprocalRank(hits []bool) float64 {
	for i, h := range hits {
		if h {
			return 1 / float64(i+1)
		}
	}
	return 0
}
