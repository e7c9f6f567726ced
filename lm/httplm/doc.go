// Package httplm scores text on LM servers over HTTP. go-openai cannot do this (it drops zero
// values such as logprobs:0 and max_tokens:0, decodes the null first logprob as 0, and has no
// prompt_logprobs), so this is a small raw client for four server kinds. Requests are tokenized
// by their layout (lm.EncodeRequest: lm-evaluation-harness' rules, or the seed teacher's
// separately encoded prompt and target) with the server's /tokenize or a local tokenizer.json
// (Options.Tokenizer), and positions are taken from the ids:
//
//   - "vllm": POST /v1/completions with token-id prompts, echo:true, logprobs:1, max_tokens:1;
//     choices[i].logprobs.token_logprobs has one entry per prompt id (the first null) and one
//     for the generated token. text_offset and tokens are not used (see docs/lm.md).
//   - "vllm-prompt-logprobs": the same with vLLM's prompt_logprobs:0; each position's entry is
//     looked up by the id sent.
//   - "tgi": POST /generate with the text (TGI takes no ids and always adds BOS),
//     decoder_input_details:true, max_new_tokens:1; details.prefill's ids must equal ours.
//     One prompt per request. The separate layout goes to TGI only when its own tokenization
//     of the text gives the layout's ids (no BOS-less prompt, no merge at the boundary):
//     checked before sending, and on the prefill ids; otherwise a permanent
//     "lm-layout-unsupported" error.
//   - "sglang": POST /generate with input_ids, return_logprob:true, logprob_start_len:0,
//     max_new_tokens:0; meta_info.input_token_logprobs [logprob, id, text] ids must equal ours.
//
// # Failures
//
// Each HTTP request has a timeout; 5xx, 408, 429 (honouring Retry-After), network errors,
// timeouts and unreadable bodies are retried with exponential backoff and full jitter up to
// Options.Retries times; after that the error is returned unwrapped (retriable by the stage
// runner). Other 4xx answers are wrapped with streams.Permanent, except a context-length
// rejection (every wording of vLLM, TGI and SGLang), which becomes *lm.OverflowError naming the
// request (a multi-prompt request that overflows is re-sent prompt by prompt to find it). A
// misconfigured server (TGI without --enable-prefill-logprobs, echo ignored, other ids scored
// than sent, a local tokenizer that is not the server's) is a permanent error naming the fix.
//
// A Client is safe for concurrent use; at most Options.Concurrency requests are in flight.
package httplm
