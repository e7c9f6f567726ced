// Package conventions derives a retrieval model's embed.Encoding from its name, the way
// FlashRAG (RUC-NLPIR/FlashRAG) applies its conventions, so that an index built by lsrflow
// or by FlashRAG is queried with the same prefixes, pooling, normalization and length caps:
//
//   - Prefixes (flashrag/retriever/utils.py, set_default_instruction and parse_query): an
//     explicit instruction, stripped and followed by one space, goes before queries and
//     passages alike; otherwise a name containing "e5" gets "query: " / "passage: ", and a
//     name containing "bge" gets BGE's English query instruction ("zh" in the name: the
//     Chinese one) and no passage prefix. FlashRAG also switches to the Chinese instruction
//     when langid classifies a batch's first query as Chinese; lsrflow does not detect
//     languages, so such a setup must name the instruction explicitly.
//   - Pooling (flashrag/config/config.py, set_pooling_method): retrieval_pooling_method when
//     set, else the value of the first model2pooling key (in file order) contained in the
//     model name, both lower-cased, else "mean".
//   - Normalization (flashrag/retriever/encoder.py, Encoder.single_batch_encode): L2 unless
//     the name contains "dpr". FlashRAG's index builder lower-cases the name first and its
//     query encoder does not; lsrflow uses the lower-cased name for both, so queries match
//     the passages an index builder wrote.
//   - Length caps: queries at retrieval_query_max_length (128 by default), passages at the
//     index builder's --max_length (180 by default) when lsrflow embeds them itself.
//
// Everything here is a pure function of its inputs.
package conventions
