// Package train is the train stage and its retrieve-side follower.
//
// Processor consumes scored records (the scored topic) and trains a query-side adapter
// incrementally with package train, for the retriever the retrieve stage serves (dense, or a
// hybrid of BM25 and the adapted dense retriever whose lexical weight is learned with the
// adapter: Options.Serving):
//   - A fixed share of the queries (HoldOut, split by a hash of the query id, so the same
//     query is held out in every run) is never trained on: the newest HeldOutWindow of them
//     are the held-out set. The other records queue for training.
//   - Every Every records, or by the timer (RunTimer) once records have been pending for
//     Interval, a round adds the queued records to the dataset (its newest Window examples),
//     runs StepsPerRound optimizer steps from the current parameters (for a hybrid, W and the
//     lexical weight together), tunes the hybrid's lexical weight on one half of the held-out
//     queries once it holds MinTune of them (train.TuneLexWeight; until then the learned
//     weight serves; the next round trains from the weight that serves), and compares the
//     candidate with the published version on the other half as served (teacher_hit@1/5/20,
//     train.NotWorse; the untrained retriever is version 0), so the queries that judge
//     publication chose nothing. Only a candidate that is not worse is published: a versioned
//     safetensors checkpoint written atomically to Dir and an Update on the retriever-updates
//     topic. Nothing is published before MinHeldOut queries are in the judging half.
//     Training continues from a candidate either way.
//   - Evaluation questions (EvalQueries, gold_doc_ids) decide nothing: each round reports the
//     candidate's gold recall on them as served and as a dense retriever alone (Round.Eval,
//     Round.EvalDense; rounds.jsonl in Dir), for the report's recall-per-version plots.
//
// Restart: the stage keeps in Dir a log of the records it admitted (window.jsonl, appended
// in Process, made durable in Flush before the runner commits, compacted to the newest
// windows), the trainer state after every round (trainer-state.safetensors: parameters,
// Adam's moments, the random source, the version in use and the training-query identity) and
// the published checkpoints. New rebuilds the dataset and the held-out set from the window
// log, then from ScoredLog (records the stage never saw before it stopped), and restores the
// state: a stage killed at any point continues with the same dataset and version, and the
// next version it publishes is the next number.
//
// Leakage guard: a scored record whose query (id, or normalized text) is an evaluation
// question is refused with a permanent error (reason "eval_leak": it is dead-lettered) unless
// Force is set; forced overlaps are counted and recorded in the checkpoint (EvalOverlap).
// Processor is meant for Concurrency 1 (rounds are serialized with a mutex).
//
// Follower runs in the process of the retrieve stage: it reads the retriever-updates topic
// from the beginning in its own consumer group, loads each Update's checkpoint (inline bytes,
// else the file path; the sha256 is checked) and, when its version is newer than the current
// one, swaps in the retriever that serves it (adapter.Serve: the base dense retriever with
// that fixed adapter, fused with Lexical as the checkpoint was trained for when Lexical is
// set). A VersionedSwapper target applies a version only when it is newer than the one in
// use, so concurrent or repeated updates never move the retrieve stage backwards.
package train
