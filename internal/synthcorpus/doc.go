// Package synthcorpus generates a deterministic, wiki-like synthetic corpus in FlashRAG's
// formats, with questions whose gold passages and answers are known, for scale benchmarks
// (`lsrflow gen corpus`, `make bench-scale`).
//
// Model. Words are drawn from a Zipf distribution (p(rank r) proportional to 1/r^s, s = 1 by
// default) over a ranked vocabulary, normally GloVe's, whose rows are listed by decreasing
// corpus frequency. Only lowercase ASCII words are kept, so no JSON escaping is ever needed.
// Passages come in articles of PassagesPerArticle consecutive passages, as wiki-18 splits an
// article into 100-word chunks: the passages of an article share a title and a small set of
// topic words (drawn from the Zipf tail), which a share TopicShare of their words comes from, so
// sibling passages are lexical near-duplicates, like the hard negatives of a real wiki corpus.
// A passage is WordsPerPassage words (the last passage of an article is shorter) in sentences
// of 8 to 30 words with a capitalized first word and a final period.
//
// Questions. Question j picks a gold passage uniformly, then an answer word in it (a word of
// rank >= 1000 when there is one), and asks with up to 8 other words from the window around
// the answer (never the answer itself), sometimes with the article's title:
// "what w1 w2 ... w8". golden_answers is [answer]; gold_doc_ids is the gold passage id. The
// gold passage contains the answer, so answer-match teachers and recall@k are measurable.
// Questions 0..Train-1 go to the train file and Train..Train+Test-1 to the test file: disjoint
// by construction.
//
// Contract:
//   - Output is a pure function of (vocabulary, Options): passage i and question j each come
//     from their own PRNG stream seeded by (Seed, i) or (Seed, j), so the bytes do not depend on
//     the number of workers, and Passage(i)/Question(j) give random access to the same text.
//     Passage i does not depend on Passages: the corpus of N passages is a prefix of the corpus
//     of 2N with the same seed (the questions do depend on N: their gold passages are < N).
//   - WriteCorpus streams: memory is bounded by a few chunks per worker, whatever Passages is.
//     It uses Workers goroutines (default GOMAXPROCS) and honours ctx.
//   - Corpus lines are {"id","contents"} with contents = "Title\ntext" and id = the decimal
//     passage ordinal; question lines are {"id","question","golden_answers","gold_doc_ids"}.
package synthcorpus
