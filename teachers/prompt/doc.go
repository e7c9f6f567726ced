// Package prompt renders the prompts LM teachers score: FlashRAG's QA prompt (the default),
// the UPR question-generation prompt, and the generation prompt of generate-then-score, each
// wrapped in a chat template (plain, llama3, chatml, inst) or replaced by a user template read
// from a file.
//
// Every prompt ends where the target starts: the teacher scores Prompt+Target and the target is
// the answer (LSR), the question (UPR) or the generated answer. TargetPrefix is what goes
// between them (a space for plain text, nothing after a chat template's assistant header).
//
// FlashRAG (Exact) is the seed-compatible teacher's template: FlashRAG's default prompts
// rendered byte for byte as flashrag/prompt/base_prompt.py's PromptTemplate.get_string renders
// them for one passage, with the model's real chat template (Llama-3 Instruct's: BOS text,
// headers, contents stripped, the assistant header) or, for a model without one, system and
// user joined by a blank line; the target follows the prompt with nothing in between, as
// cal_gen_probs appends the answer's tokens. The prompt text then already holds the BOS
// marker, so a backend must tokenize it without adding special tokens (cal_gen_probs:
// add_special_tokens=False) and tokenize the target on its own.
//
// Templates are immutable values, safe for concurrent use. Hash identifies everything that
// changes the rendered text; teachers put it in their identity and in cache keys.
package prompt
