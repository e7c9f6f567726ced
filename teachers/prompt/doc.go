// Package prompt renders the prompts LM teachers score: FlashRAG's QA prompt (the default),
// the UPR question-generation prompt, and the generation prompt of generate-then-score, each
// wrapped in a chat template (plain, llama3, chatml, inst) or replaced by a user template read
// from a file.
//
// Every prompt ends where the target starts: the teacher scores Prompt+Target and the target is
// the answer (LSR), the question (UPR) or the generated answer. TargetPrefix is what goes
// between them (a space for plain text, nothing after a chat template's assistant header).
//
// Templates are immutable values, safe for concurrent use. Hash identifies everything that
// changes the rendered text; teachers put it in their identity and in cache keys.
package prompt
