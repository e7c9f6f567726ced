// Package rag runs retrieval-augmented generation pipelines over an OpenAI-compatible chat API
// (github.com/sashabaranov/go-openai), with FlashRAG's prompts verbatim:
//
//   - Naive: the top-k passages in one prompt (FlashRAG's SequentialPipeline and default
//     PromptTemplate: system prompt with "Doc i(Title: t) text" lines, user "Question: q").
//   - REPLUG: one generation per passage ("Document(Title: t): text"), ensembled by retriever
//     weight. FlashRAG ensembles next-token distributions inside the model; through a chat API
//     the ensemble is over whole answers (see REPLUG).
//   - IterRetGen: three rounds of retrieve-then-generate, retrieving with
//     "{question} {previous generation}".
//   - SuRe: candidates, candidate-conditioned summaries, True/False validation and pairwise
//     ranking, with FlashRAG's four prompts and parsers.
//
// Differences from FlashRAG, on purpose: FlashRAG's "openai" framework re-labels the system
// message as "assistant"; lsrflow sends "system", which is what FlashRAG's local chat template
// path (used for its published tables) renders. Temperature 0 is sent as the smallest
// positive float32 because go-openai omits zero values.
//
// Generators and methods are safe for concurrent use; RunFile answers a `lsrflow retrieve`
// output file concurrently and writes predictions in input order, in the format
// `lsrflow eval --predictions` reads.
package rag
