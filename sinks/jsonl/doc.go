// Package jsonl is an idempotent, append-only JSON-lines sink.
//
// On open it reads the existing file, drops a torn last line (a write cut short by a crash),
// and remembers the key of every record; Write appends a record only when its key is new.
// Each record is written with a single write call, so after a crash of the process (not of the
// machine) every record whose Write returned is in the file. Flush additionally fsyncs when
// the sink was opened with Sync, which also survives a machine crash.
package jsonl
