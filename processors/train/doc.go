// Package train is the train stage and its retrieve-side follower.
//
// Processor consumes scored records (the scored topic) and trains a query-side adapter
// incrementally with package train: records accumulate, and every Every records (or, when a
// record arrives, once Interval has passed since the last round) it adds them to the dataset,
// runs StepsPerRound optimizer steps from the current parameters, evaluates gold-document
// recall@k on the evaluation questions and, only when the candidate is not worse than the
// current published adapter (train.NotWorse: no cutoff drops by more than Tolerance and the
// mean does not drop; the untrained retriever is version 0), writes a versioned safetensors
// checkpoint (atomically) to Dir and emits an Update on the retriever-updates topic. A worse
// candidate is reported (Rounds, OnRound) and not published; training continues from it.
// Processor is meant for Concurrency 1 (it serializes rounds with a mutex).
//
// Leakage guard: a scored record whose query (id, or normalized text) is an evaluation
// question is refused with a permanent error (reason "eval_leak": it is dead-lettered) unless
// Force is set; forced overlaps are counted and recorded in the checkpoint (EvalOverlap).
//
// Restart: the dataset lives in memory and inputs are committed once processed, so a restarted
// stage starts from an empty dataset (warm it with Processor.Warm from the scored sink's file).
//
// Follower runs in the process of the retrieve stage: it reads the retriever-updates topic
// from the beginning in its own consumer group, loads each Update's checkpoint (inline bytes,
// else the file path; the sha256 is checked) and, when its version is newer than the current
// one, swaps a new adapter.Retriever (the base dense retriever with that fixed adapter) into
// the retrieve processor. Older or repeated updates are ignored, so redelivery is harmless.
package train
