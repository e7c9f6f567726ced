// Package pipeline assembles lsrflow's topology and runs it:
//
//	queries ─> [retrieve] ─> candidates ─> [teach] ─> scored ─> [sink: scored.jsonl (+ others)]
//	every stage and the ingest step: bad input ─> dead-letters ─> [sink: dead-letters.jsonl]
//
// Synth is the batch form used by `lsrflow synth` and `lsrflow run`: it ingests a query file,
// runs every stage in this process on the given transport (embedded or Kafka), and returns
// once every valid query has exactly one scored record (or a dead letter) in the output
// directory. It is resumable: on start it reads what the output directory already holds and
// only ingests the queries that are not finished, and the sinks de-duplicate by record
// identity, so re-running the same command after a crash finishes the job with nothing lost
// and nothing written twice.
//
// Output directory files: scored.jsonl (seed format + audit fields), dead-letters.jsonl,
// metrics.jsonl (per-stage counters over time: {"time","stage","in","out","dead_letters"}),
// summary.json (the last run's counts).
package pipeline
