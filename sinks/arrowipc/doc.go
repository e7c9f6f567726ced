// Package arrowipc writes and reads scored training records (schemas.Scored) as Arrow columns.
//
// It holds three things the columnar sinks share:
//
//   - The column codec: Schema is the Arrow schema of a scored record (one column per field,
//     list columns for the per-passage vectors, teacher identity flattened into teacher_*
//     columns); Builder turns records into record batches; Decode turns batches back into
//     records, finding columns by name so files of older schema versions (fewer columns) still
//     read. Every file carries "lsrflow.schema_version" in its metadata; a reader rejects a
//     version newer than schemas.ScoredVersion with reason unsupported_version.
//   - PartSink, the idempotent sink over rolling part files of some Format: records are
//     buffered BatchRows at a time, written as one batch (row group), and Flush finishes the
//     current part with fsync + atomic rename, so what was written is durable when Flush
//     returns. Records are unique by Scored.DedupKey, also across restarts (Open rebuilds the
//     key set from finished files and discards unfinished temp parts). Close merges all parts
//     into one NAME.EXT file, atomically.
//   - The Arrow IPC file format (IPC, Open, ReadFile, ReadBytes); sinks/parquet supplies the
//     Parquet format.
//
// Readers never panic on malformed input: panics inside arrow-go are turned into errors.
package arrowipc
