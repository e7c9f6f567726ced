// Package answermatch is the non-LM baseline teacher (distant supervision, as in DPR): a
// passage is relevant when its FlashRAG-normalized contents contain a normalized gold answer
// (textnorm). Raw scores are 1 (relevant) or 0, and the distribution is
// teachers.Softmax(raw, Temperature).
//
// The default temperature is 0.1 (REPLUG's beta): each relevant passage then weighs e^10 ≈
// 22,000 times an irrelevant one, so the relevant passages share almost all the mass equally.
// A higher temperature softens the labels (1.0 gives a relevant passage only e ≈ 2.7 times
// the weight of an irrelevant one).
//
// A query without gold answers (none, or all normalizing to "") cannot be labelled: Teach
// returns a permanent error with reason "no_gold_answers". A query whose passages contain no
// answer still yields a record: all raw scores 0, a uniform distribution, NumRelevant 0.
// The Teacher is stateless and safe for concurrent use.
package answermatch
