// Package parquet is the zstd Parquet sink and reader of scored training records.
//
// Open returns an arrowipc.PartSink over Parquet parts: one row group per buffered batch,
// rolling part files finished by fsync + atomic rename, idempotent by Scored.DedupKey across
// restarts, and a final compaction at Close into a single DIR/scored.parquet. The columns are
// those of arrowipc.Schema; the file's key/value metadata carries "lsrflow.schema_version".
// ReadFile and ReadBytes read a file back into schemas.Scored, accepting older versions and
// returning an error (never panicking) on malformed input.
package parquet
