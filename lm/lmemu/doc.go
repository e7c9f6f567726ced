// Package lmemu emulates the HTTP scoring servers lsrflow talks to — vLLM (OpenAI completions
// with echo+logprobs and with prompt_logprobs, /tokenize, /detokenize, /tokenizer_info), Hugging
// Face text-generation-inference 2.x and 3.x (/generate with decoder_input_details, /tokenize)
// and SGLang (/generate with return_logprob, /tokenize) — closely enough that a client which
// scores correctly against them scores correctly against the real servers.
//
// # What is emulated, and from where
//
// Every rule that shapes a response is taken from the server's source and cites its file and
// function in a comment where it is implemented: which tokens are decoded on their own (and so
// carry clean_up_tokenization_spaces and U+FFFD artifacts), how vLLM builds text_offset, the
// null first log-probability of each server, TGI 3's empty prefill without
// --enable-prefill-logprobs, each server's context-length message, vLLM's unsorted
// prompt_logprobs entries. Tokenization is a real Hugging Face tokenizer.json (the Llama-3 one
// in tests) through embed/tokenizer; decoding follows the ByteLevel decoder and transformers'
// clean-up.
//
// # The model
//
// The "model" is a deterministic next-token distribution over the whole vocabulary that
// depends on every earlier token (Model): a few candidates drawn from a hash of the prefix, plus
// an induction rule (a token that followed an earlier occurrence of the current token is likely
// again, as copying heads make real LMs continue repeated text), every other token at logit 0.
// Log-probabilities are exact log-softmax values, rounded to float32 as servers report them, so
// a test can recompute them from the token ids alone, densely over the vocabulary, in float64.
//
// # Faults on purpose
//
// Options switch on real misconfigurations: vLLM's stale prompt log-probabilities for
// prefix-cached positions (vllm-project/vllm issue 42019, PR 42245: the output buffer is not
// cleared), a tokenizer that adds no BOS (the first Llama-3 tokenizer.json had no
// TemplateProcessing post-processor), and TGI 3 started without --enable-prefill-logprobs.
//
// A Server is an http.Handler, safe for concurrent use (requests are served one at a time, as a
// single engine step would order them).
package lmemu
