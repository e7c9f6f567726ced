// Package schemas defines the records that flow between lsrflow's stages: queries, candidate
// sets, scored training records and dead letters. Each record carries a schema version; the
// decoders validate their input and accept every version up to the current one, so a newer
// binary reads what an older one wrote.
//
// It also reads the outside formats lsrflow consumes: FlashRAG dataset jsonl
// ({"id","question","golden_answers",...}; multiple-choice rows with "choices" and index
// golden_answers), FlashRAG corpus jsonl ({"id","contents"} with contents = "title\ntext", or
// "text" alone when a row has no contents, as FlashRAG's load_corpus reads it) and raw query
// logs (one JSON object or one plain-text line per query). Every decode failure is a *DecodeError whose Reason is short and stable, fit for a
// dead-letter record and for a metrics label.
package schemas
