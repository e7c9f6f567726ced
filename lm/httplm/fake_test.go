package httplm_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The fake servers tokenize with a toy rule (a token is a run of non-space characters with the
// whitespace before it; the text starts with a BOS token) and give every token a deterministic
// log-probability from a hash of its position and text. Tests recompute the expected scores
// from the same rule in float64, independently of the client's decoding.

var tokRe = regexp.MustCompile(`\s*\S+|\s+$`)

type tok struct {
	text       string
	byteOff    int
	charOff    int
	id         int
	logprob    float64
	hasLogprob bool
}

func tokenize(text string) []tok {
	out := []tok{{text: "<s>", id: 1}}
	for _, loc := range tokRe.FindAllStringIndex(text, -1) {
		piece := text[loc[0]:loc[1]]
		h := fnv.New32a()
		fmt.Fprintf(h, "%d|%s", len(out), piece)
		out = append(out, tok{text: piece, byteOff: loc[0], charOff: utf8.RuneCountInString(text[:loc[0]]), id: 100 + int(h.Sum32()%30000), logprob: -float64(h.Sum32()%5000)/1000 - 0.01, hasLogprob: true})
	}
	return out
}

// expected is log P(target | prompt) under the toy model: tokens whose bytes reach into the
// target.
func expected(prompt, target string) (sum float64, n int) {
	for _, t := range tokenize(prompt + target)[1:] {
		if t.byteOff+len(t.text) > len(prompt) {
			sum += t.logprob
			n++
		}
	}
	return sum, n
}

func vllmEchoBody(prompts []string) []byte {
	type lp struct {
		Tokens        []string   `json:"tokens"`
		TokenLogprobs []*float64 `json:"token_logprobs"`
		TopLogprobs   []any      `json:"top_logprobs"`
		TextOffset    []int      `json:"text_offset"`
	}
	var choices []map[string]any
	for i, p := range prompts {
		var l lp
		for j, t := range tokenize(p) {
			l.Tokens = append(l.Tokens, t.text)
			if j == 0 {
				l.TokenLogprobs = append(l.TokenLogprobs, nil) // vLLM: the first prompt token has no logprob
				l.TopLogprobs = append(l.TopLogprobs, nil)
			} else {
				v := t.logprob
				l.TokenLogprobs = append(l.TokenLogprobs, &v)
				l.TopLogprobs = append(l.TopLogprobs, map[string]float64{t.text: v})
			}
			l.TextOffset = append(l.TextOffset, t.charOff)
		}
		// the one generated token (max_tokens: 1)
		g := -0.5
		l.Tokens = append(l.Tokens, " the")
		l.TokenLogprobs = append(l.TokenLogprobs, &g)
		l.TopLogprobs = append(l.TopLogprobs, map[string]float64{" the": g})
		l.TextOffset = append(l.TextOffset, utf8.RuneCountInString(p))
		choices = append(choices, map[string]any{"index": i, "text": p + " the", "logprobs": l, "finish_reason": "length"})
	}
	b, _ := json.Marshal(map[string]any{"id": "cmpl-1", "object": "text_completion", "model": "m", "choices": choices,
		"usage": map[string]int{"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}})
	return b
}

func vllmPromptLogprobsBody(prompts []string) []byte {
	var choices []map[string]any
	for i, p := range prompts {
		var pl []any
		var ids []int
		for j, t := range tokenize(p) {
			ids = append(ids, t.id)
			if j == 0 {
				pl = append(pl, nil)
				continue
			}
			entry := map[string]any{fmt.Sprint(t.id): map[string]any{"logprob": t.logprob, "rank": 1 + j%7, "decoded_token": t.text}}
			if j%3 == 0 { // a top-1 alternative besides the prompt token, as with prompt_logprobs:1
				entry["7"] = map[string]any{"logprob": -0.001, "rank": 1, "decoded_token": "x"}
			}
			pl = append(pl, entry)
		}
		choices = append(choices, map[string]any{"index": i, "text": " the", "logprobs": nil, "finish_reason": "length", "prompt_logprobs": pl, "prompt_token_ids": ids})
	}
	b, _ := json.Marshal(map[string]any{"id": "cmpl-2", "object": "text_completion", "model": "m", "choices": choices})
	return b
}

func tgiBody(prompt string) []byte {
	var prefill []map[string]any
	for j, t := range tokenize(prompt) {
		e := map[string]any{"id": t.id, "text": t.text, "logprob": nil}
		if j > 0 {
			e["logprob"] = t.logprob
		}
		prefill = append(prefill, e)
	}
	b, _ := json.Marshal(map[string]any{"generated_text": " the", "details": map[string]any{
		"finish_reason": "length", "generated_tokens": 1, "seed": nil, "prefill": prefill,
		"tokens": []map[string]any{{"id": 5, "text": " the", "logprob": -0.5, "special": false}}}})
	return b
}

func sglangBody(prompts []string) []byte {
	var items []map[string]any
	for _, p := range prompts {
		var in []any
		for j, t := range tokenize(p) {
			var lp any
			if j > 0 {
				lp = t.logprob
			}
			in = append(in, []any{lp, t.id, t.text})
		}
		items = append(items, map[string]any{"text": "", "meta_info": map[string]any{
			"prompt_tokens": len(in), "completion_tokens": 0, "input_token_logprobs": in, "output_token_logprobs": []any{}}})
	}
	b, _ := json.Marshal(items)
	return b
}

// replay answers each server kind's scoring request in its documented shape.
func replay(kind string, w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	strs := func(v any) []string {
		switch x := v.(type) {
		case string:
			return []string{x}
		case []any:
			var out []string
			for _, e := range x {
				s, _ := e.(string)
				out = append(out, s)
			}
			return out
		}
		return nil
	}
	switch kind {
	case "vllm":
		if r.URL.Path != "/v1/completions" || req["echo"] != true || req["logprobs"] != float64(1) || req["max_tokens"] != float64(1) {
			http.Error(w, `{"object":"error","message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		w.Write(vllmEchoBody(strs(req["prompt"])))
	case "vllm-prompt-logprobs":
		if r.URL.Path != "/v1/completions" || req["prompt_logprobs"] != float64(0) {
			http.Error(w, `{"object":"error","message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		w.Write(vllmPromptLogprobsBody(strs(req["prompt"])))
	case "tgi":
		params, _ := req["parameters"].(map[string]any)
		if r.URL.Path != "/generate" || params["decoder_input_details"] != true {
			http.Error(w, `{"error":"unexpected request","error_type":"validation"}`, http.StatusUnprocessableEntity)
			return
		}
		w.Write(tgiBody(req["inputs"].(string)))
	case "sglang":
		if r.URL.Path != "/generate" || req["return_logprob"] != true || req["logprob_start_len"] != float64(0) {
			http.Error(w, `{"error":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		w.Write(sglangBody(strs(req["text"])))
	}
}

var _ = strings.TrimSpace
