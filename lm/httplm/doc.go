// Package httplm scores text on LM servers over HTTP. go-openai cannot do this (it drops zero
// values such as logprobs:0 and max_tokens:0, decodes the null first logprob as 0, and has no
// prompt_logprobs), so this is a small raw client for four documented response shapes:
//
//   - "vllm": OpenAI-compatible POST /v1/completions with echo:true, logprobs:1, max_tokens:1.
//     choices[i].logprobs has tokens, token_logprobs (the first is null) and text_offset
//     (character offsets); the one generated token is dropped. All prompts of a call go in
//     one request (prompt as a list).
//   - "vllm-prompt-logprobs": the same endpoint with vLLM's prompt_logprobs:0 extension;
//     choices[i].prompt_logprobs is [null, {token_id: {logprob, rank, decoded_token}}, ...].
//   - "tgi": POST /generate with parameters.decoder_input_details:true, details:true,
//     max_new_tokens:1; details.prefill[] is {id, text, logprob} with a null first logprob.
//     One prompt per request.
//   - "sglang": POST /generate with return_logprob:true, logprob_start_len:0,
//     return_text_in_logprobs:true, max_new_tokens:0; meta_info.input_token_logprobs is a list
//     of [logprob, token_id, text] with a null first logprob. Prompts go as a list.
//
// Target tokens are located from offsets (vLLM echo) or from token texts aligned from the end
// of the text (package lm).
//
// # Failures
//
// Each HTTP request has a timeout; 5xx, 408, 429 (honouring Retry-After), network errors,
// timeouts and unreadable bodies are retried with exponential backoff and full jitter up to
// Options.Retries times; after that the error is returned unwrapped (retriable by the stage
// runner). Other 4xx answers are wrapped with streams.Permanent, except a context-length
// rejection, which becomes *lm.OverflowError naming the request (a multi-prompt request that
// overflows is re-sent prompt by prompt to find it).
//
// A Client is safe for concurrent use; at most Options.Concurrency requests are in flight.
package httplm
