package lmemu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// sglangError is SGLang's error body for /generate (python/sglang/srt/entrypoints/http_server.py
// generate_request: ValueError -> 400 {"error": {"message": ...}}).
func sglangError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg}})
}

type sglangRequest struct {
	Text           json.RawMessage `json:"text"`
	InputIDs       json.RawMessage `json:"input_ids"`
	SamplingParams struct {
		MaxNewTokens *int `json:"max_new_tokens"`
	} `json:"sampling_params"`
	ReturnLogprob        bool `json:"return_logprob"`
	LogprobStartLen      *int `json:"logprob_start_len"`
	ReturnTextInLogprobs bool `json:"return_text_in_logprobs"`
}

func (s *Server) sglang(w http.ResponseWriter, r *http.Request, body []byte) {
	switch r.URL.Path {
	case "/generate":
		s.sglangGenerate(w, body)
	case "/tokenize", "/v1/tokenize":
		s.openAITokenize(w, body, sglangError)
	case "/get_model_info":
		writeJSON(w, 200, map[string]any{"model_path": s.o.Model, "is_generation": true})
	default:
		sglangError(w, 404, "Not Found")
	}
}

func (s *Server) sglangGenerate(w http.ResponseWriter, body []byte) {
	var req sglangRequest
	if err := json.Unmarshal(body, &req); err != nil {
		sglangError(w, 400, err.Error())
		return
	}
	var all [][]int
	batch := false
	switch {
	case len(req.InputIDs) > 0:
		var flat []int
		if json.Unmarshal(req.InputIDs, &flat) == nil {
			all = [][]int{flat}
		} else if err := json.Unmarshal(req.InputIDs, &all); err != nil {
			sglangError(w, 400, err.Error())
			return
		} else {
			batch = true
		}
	case len(req.Text) > 0:
		// tokenizer_manager.py _tokenize_one_request: tokenizer.encode(text), special tokens
		// added.
		var one string
		var many []string
		if json.Unmarshal(req.Text, &one) == nil {
			all = [][]int{s.o.Tokenizer.Encode(one, true)}
		} else if err := json.Unmarshal(req.Text, &many); err != nil {
			sglangError(w, 400, err.Error())
			return
		} else {
			batch = true
			for _, t := range many {
				all = append(all, s.o.Tokenizer.Encode(t, true))
			}
		}
	default:
		sglangError(w, 400, "Either text or input_ids should be provided.")
		return
	}
	maxNew := 128
	if req.SamplingParams.MaxNewTokens != nil {
		maxNew = *req.SamplingParams.MaxNewTokens
	}
	for _, ids := range all {
		if msg := s.badIDs(ids); msg != "" {
			sglangError(w, 400, msg)
			return
		}
		// managers/utils.py validate_input_length.
		if len(ids) >= s.o.MaxModelLen {
			sglangError(w, 400, fmt.Sprintf("Input length (%d tokens) exceeds the maximum allowed length (%d tokens). Use a shorter input or enable --allow-auto-truncate.", len(ids), s.o.MaxModelLen-1))
			return
		}
	}
	s.calls.Add(1)
	var items []any
	for _, ids := range all {
		s.mu.Lock()
		lps, dists := s.logprobs(ids)
		s.mu.Unlock()
		next := dists[len(ids)]
		var out []int
		if maxNew > 0 {
			out = append(out, next.Top(1)[0])
		}
		meta := map[string]any{"id": "emu", "finish_reason": map[string]any{"type": "length", "length": maxNew}, "prompt_tokens": len(ids), "completion_tokens": len(out), "cached_tokens": 0}
		if req.ReturnLogprob {
			start := len(ids) - 1
			if req.LogprobStartLen != nil && *req.LogprobStartLen >= 0 {
				start = min(*req.LogprobStartLen, len(ids)-1)
			}
			// scheduler_output_processor_mixin.py add_input_logprob_return_values: the
			// values from start on, the first padded with None; ids from origin_input_ids.
			var in []any
			for j := start; j < len(ids); j++ {
				var lp any
				if j > start {
					lp = lps[j]
				}
				in = append(in, []any{lp, ids[j], s.text(ids[j], req.ReturnTextInLogprobs)})
			}
			var outLP []any
			for _, g := range out {
				outLP = append(outLP, []any{F32(next.Logprob(g)), g, s.text(g, req.ReturnTextInLogprobs)})
			}
			meta["input_token_logprobs"] = in
			meta["output_token_logprobs"] = outLP
		}
		items = append(items, map[string]any{"text": s.o.Tokenizer.Decode(out, nil), "meta_info": meta})
	}
	if batch {
		writeJSON(w, 200, items)
		return
	}
	writeJSON(w, 200, items[0])
}

// text is tokenizer_manager.py detokenize_logprob_tokens: tokenizer.batch_decode over single
// ids (the tokenizer's clean-up setting applies), or None without return_text_in_logprobs.
func (s *Server) text(id int, want bool) any {
	if !want {
		return nil
	}
	return s.o.Tokenizer.DecodeOne(id, nil)
}
