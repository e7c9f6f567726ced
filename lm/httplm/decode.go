package httplm

import (
	"encoding/json"

	"fmt"
	"slices"
	"strconv"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/streams"
)

// The decoders below never look at token text or offsets: every server decodes each token on
// its own (clean-up of " ,", U+FFFD for split characters, lost SentencePiece spaces, BOS
// strings not in the text), so positions come from the ids that were sent.

// misconfigured is a permanent error naming a server setting.
func misconfigured(format string, a ...any) error {
	return streams.Permanent("lm-misconfigured", fmt.Errorf("httplm: "+format, a...))
}

// mismatch is a permanent error: the server scored other ids than the ones sent.
func mismatch(format string, a ...any) error {
	return streams.Permanent("lm-tokenizer-mismatch", fmt.Errorf("httplm: "+format, a...))
}

// result takes the target's log-probabilities (positions ContextLen..) of one pair.
func result(p lm.Pair, lps []*float64) (lm.Result, error) {
	out := make([]float64, 0, len(p.IDs)-p.ContextLen)
	for j := p.ContextLen; j < len(p.IDs); j++ {
		if lps[j] == nil {
			return lm.Result{}, fmt.Errorf("null log-probability at target position %d", j)
		}
		out = append(out, *lps[j])
	}
	return lm.Result{TokenLogprobs: out, Tokens: len(p.IDs), TargetIDs: slices.Clone(p.Target())}, nil
}

type vllmEcho struct {
	Choices []struct {
		Index    int `json:"index"`
		Logprobs *struct {
			Tokens        []string   `json:"tokens"`
			TokenLogprobs []*float64 `json:"token_logprobs"`
		} `json:"logprobs"`
	} `json:"choices"`
}

// decodeVLLMEcho reads /v1/completions with echo and logprobs: token_logprobs holds the prompt
// positions (the first null) and then the one generated token, as
// serving_completion.py request_output_to_completion_response concatenates
// prompt_logprobs and the output's logprobs. The target is positions ContextLen..len(ids)-1,
// lm-evaluation-harness' token_logprobs[ctxlen:-1] (openai_completions.py parse_logprobs).
func decodeVLLMEcho(b []byte, pairs []lm.Pair, out []lm.Result) error {
	var r vllmEcho
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	seen, err := newChoiceSet(len(r.Choices), len(pairs))
	if err != nil {
		return err
	}
	for _, ch := range r.Choices {
		i := ch.Index
		if err := seen.claim(i); err != nil {
			return err
		}
		lp := ch.Logprobs
		if lp == nil {
			return misconfigured("choice %d has no logprobs: the server ignores logprobs:1", i)
		}
		n := len(pairs[i].IDs)
		if len(lp.TokenLogprobs) < n {
			return misconfigured("the server returned %d log-probabilities for a prompt of %d tokens: it ignores echo:true (not a vLLM-compatible prompt scorer); use --backend vllm-prompt-logprobs, tgi or sglang", len(lp.TokenLogprobs), n)
		}
		if len(lp.TokenLogprobs) != n+1 {
			// vLLM always echoes every prompt id and the one generated token. Servers that drop
			// the BOS from the echo (llama.cpp's server, lm-evaluation-harness
			// tests/testdata/gguf_test_8fcf3f2f….pkl) would shift every position by one.
			return mismatch("the server returned %d log-probabilities for %d prompt ids and 1 generated token: its echo does not cover the ids sent one to one", len(lp.TokenLogprobs), n)
		}
		if lp.TokenLogprobs[0] != nil {
			return mismatch("choice %d: the first echoed token has a log-probability, so it is not the first prompt id", i)
		}
		if len(lp.Tokens) != len(lp.TokenLogprobs) {
			return fmt.Errorf("choice %d: %d tokens for %d log-probabilities", i, len(lp.Tokens), len(lp.TokenLogprobs))
		}
		res, err := result(pairs[i], lp.TokenLogprobs[:n])
		if err != nil {
			return fmt.Errorf("choice %d: %w", i, err)
		}
		out[i] = res
	}
	return nil
}

type vllmPrompt struct {
	Choices []struct {
		Index          int                          `json:"index"`
		PromptLogprobs []map[string]json.RawMessage `json:"prompt_logprobs"`
		PromptTokenIDs []int                        `json:"prompt_token_ids"`
	} `json:"choices"`
}

// promptLogprob reads one entry of a prompt_logprobs position: a Logprob object
// {logprob, rank, decoded_token} (vllm/logprobs.py) or, in old versions, a bare number.
func promptLogprob(raw json.RawMessage) (*float64, error) {
	var v struct {
		Logprob *float64 `json:"logprob"`
	}
	if err := json.Unmarshal(raw, &v); err == nil {
		return v.Logprob, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// decodeVLLMPrompt reads vLLM's prompt_logprobs: [null, {"id": {...}, ...}, ...]. Each
// position holds the prompt token and up to N top tokens, in no particular order
// (vllm/v1/engine/logprobs.py _make_logprob_dict puts the prompt token first, then the
// top-N); the prompt token is looked up by the id that was sent.
func decodeVLLMPrompt(b []byte, pairs []lm.Pair, out []lm.Result) error {
	var r vllmPrompt
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	seen, err := newChoiceSet(len(r.Choices), len(pairs))
	if err != nil {
		return err
	}
	for _, ch := range r.Choices {
		i := ch.Index
		if err := seen.claim(i); err != nil {
			return err
		}
		p := pairs[i]
		if ch.PromptLogprobs == nil {
			return misconfigured("choice %d has no prompt_logprobs: the server ignores vLLM's prompt_logprobs extension; use --backend vllm", i)
		}
		if len(ch.PromptLogprobs) != len(p.IDs) {
			return mismatch("choice %d: %d prompt positions for %d ids sent", i, len(ch.PromptLogprobs), len(p.IDs))
		}
		if ch.PromptTokenIDs != nil && !slices.Equal(ch.PromptTokenIDs, p.IDs) {
			return mismatch("choice %d: the server scored other ids than the ones sent (%s)", i, diffIDs(ch.PromptTokenIDs, p.IDs))
		}
		lps := make([]*float64, len(p.IDs))
		for j := p.ContextLen; j < len(p.IDs); j++ {
			m := ch.PromptLogprobs[j]
			raw, ok := m[strconv.Itoa(p.IDs[j])]
			if !ok {
				return mismatch("choice %d position %d: token %d is not among the %d entries", i, j, p.IDs[j], len(m))
			}
			v, err := promptLogprob(raw)
			if err != nil {
				return fmt.Errorf("choice %d position %d: %w", i, j, err)
			}
			lps[j] = v
		}
		res, err := result(p, lps)
		if err != nil {
			return fmt.Errorf("choice %d: %w", i, err)
		}
		out[i] = res
	}
	return nil
}

type tgiResponse struct {
	Details *struct {
		Prefill []struct {
			ID      int      `json:"id"`
			Logprob *float64 `json:"logprob"`
		} `json:"prefill"`
	} `json:"details"`
}

// decodeTGI reads /generate with decoder_input_details: details.prefill holds every prompt
// token with its id and log-probability (null for the first, serde_json's rendering of TGI's
// NaN, server/text_generation_server/models/flash_causal_lm.py generate_token). TGI 3 leaves
// prefill empty unless the launcher was given --enable-prefill-logprobs
// (flash_causal_lm.py: r.prefill_logprobs = False without REQUEST_LOGPROBS).
func decodeTGI(b []byte, p lm.Pair, out *lm.Result) error {
	var r tgiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.Details == nil {
		return misconfigured("TGI answered without details; it ignores decoder_input_details")
	}
	pf := r.Details.Prefill
	if len(pf) == 0 {
		return misconfigured("TGI returned no prefill tokens: start text-generation-inference with --enable-prefill-logprobs (TGI 3 drops prompt log-probabilities without it)")
	}
	ids := make([]int, len(pf))
	lps := make([]*float64, len(pf))
	for j, t := range pf {
		ids[j] = t.ID
		lps[j] = t.Logprob
	}
	if !slices.Equal(ids, p.IDs) {
		return mismatch("TGI tokenized the prompt differently from the tokenizer in use: TGI %s; ours %s", diffIDs(ids, p.IDs), diffIDs(p.IDs, ids))
	}
	res, err := result(p, lps)
	if err != nil {
		return err
	}
	*out = res
	return nil
}

type sglangItem struct {
	MetaInfo *struct {
		InputTokenLogprobs [][]json.RawMessage `json:"input_token_logprobs"`
	} `json:"meta_info"`
}

// decodeSGLang reads /generate with return_logprob and logprob_start_len 0: one item per
// prompt (a single object for a single prompt is accepted too) whose
// meta_info.input_token_logprobs are [logprob, token_id, text-or-null], the first logprob
// null (python/sglang/srt/managers/scheduler_output_processor_mixin.py
// add_input_logprob_return_values pads it with None).
func decodeSGLang(b []byte, pairs []lm.Pair, out []lm.Result) error {
	var items []sglangItem
	if err := json.Unmarshal(b, &items); err != nil {
		var one sglangItem
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return err
		}
		items = []sglangItem{one}
	}
	if len(items) != len(pairs) {
		return fmt.Errorf("%d items for %d prompts", len(items), len(pairs))
	}
	for i, it := range items {
		if it.MetaInfo == nil || it.MetaInfo.InputTokenLogprobs == nil {
			return misconfigured("item %d has no meta_info.input_token_logprobs: the server ignores return_logprob", i)
		}
		in := it.MetaInfo.InputTokenLogprobs
		p := pairs[i]
		if len(in) != len(p.IDs) {
			return mismatch("item %d: %d input positions for %d ids sent", i, len(in), len(p.IDs))
		}
		lps := make([]*float64, len(in))
		for j, e := range in {
			if len(e) < 2 {
				return fmt.Errorf("item %d entry %d: want [logprob, id, text]", i, j)
			}
			var id int
			if err := json.Unmarshal(e[1], &id); err != nil {
				return fmt.Errorf("item %d entry %d: %w", i, j, err)
			}
			if id != p.IDs[j] {
				return mismatch("item %d position %d: the server scored token %d, %d was sent", i, j, id, p.IDs[j])
			}
			if err := json.Unmarshal(e[0], &lps[j]); err != nil {
				return fmt.Errorf("item %d entry %d: %w", i, j, err)
			}
		}
		res, err := result(p, lps)
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = res
	}
	return nil
}

// choiceSet checks that a batched response answers every prompt exactly once: servers
// return choices with an index, not necessarily in order.
type choiceSet []bool

func newChoiceSet(choices, prompts int) (choiceSet, error) {
	if choices != prompts {
		return nil, fmt.Errorf("%d choices for %d prompts", choices, prompts)
	}
	return make(choiceSet, prompts), nil
}

// claim records choice index i, rejecting one out of range or seen before.
func (s choiceSet) claim(i int) error {
	if i < 0 || i >= len(s) || s[i] {
		return fmt.Errorf("bad or repeated choice index %d", i)
	}
	s[i] = true
	return nil
}
