package lmemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// ordered is a JSON object that keeps its keys in insertion order, as Python dicts serialize.
type ordered struct {
	keys []string
	vals []any
}

func (o *ordered) set(k string, v any) {
	for i, kk := range o.keys {
		if kk == k { // a duplicate key keeps its first place, takes the new value
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type vllmRequest struct {
	Model            string          `json:"model"`
	Prompt           json.RawMessage `json:"prompt"`
	MaxTokens        *int            `json:"max_tokens"`
	Echo             bool            `json:"echo"`
	Logprobs         *int            `json:"logprobs"`
	PromptLogprobs   *int            `json:"prompt_logprobs"`
	AddSpecialTokens *bool           `json:"add_special_tokens"`
	ReturnTokenIDs   bool            `json:"return_token_ids"`
}

// prompts parses the OpenAI prompt field: a string, a list of strings, a list of ids or a list
// of id lists (vllm/entrypoints/openai/protocol.py CompletionRequest.prompt). Text prompts are
// tokenized with add_special_tokens (default true), token prompts are taken as they are.
func (s *Server) prompts(raw json.RawMessage, special bool) (ids [][]int, texts []*string, err error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return [][]int{s.o.Tokenizer.Encode(one, special)}, []*string{&one}, nil
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil && len(strs) > 0 {
		for i := range strs {
			ids = append(ids, s.o.Tokenizer.Encode(strs[i], special))
			texts = append(texts, &strs[i])
		}
		return ids, texts, nil
	}
	var flat []int
	if json.Unmarshal(raw, &flat) == nil && len(flat) > 0 {
		return [][]int{flat}, []*string{nil}, nil
	}
	var lists [][]int
	if json.Unmarshal(raw, &lists) == nil && len(lists) > 0 {
		return lists, make([]*string, len(lists)), nil
	}
	return nil, nil, fmt.Errorf("prompt must be a string, a list of strings, a list of token ids or a list of token-id lists")
}

func (s *Server) vllmError(w http.ResponseWriter, code int, msg string) {
	typ := "BadRequestError"
	if code == http.StatusNotFound {
		typ = "NotFoundError"
	}
	if s.o.Kind == VLLM06 {
		// vllm/entrypoints/openai/serving_engine.py create_error_response (0.6): a flat object.
		writeJSON(w, code, map[string]any{"object": "error", "message": msg, "type": typ, "param": nil, "code": code})
		return
	}
	// Current vLLM (vllm/entrypoints/openai/engine/protocol.py ErrorResponse{error: ErrorInfo}).
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
}

// vllmOverflow is the context-length message of each version.
func (s *Server) vllmOverflow(n, maxTokens int) (string, bool) {
	limit := s.o.MaxModelLen
	if s.o.Kind == VLLM06 {
		// serving_engine.py _validate_prompt_and_tokenize (0.5-0.6).
		if n+maxTokens > limit {
			return fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", limit, n+maxTokens, n, maxTokens), true
		}
		return "", false
	}
	if n >= limit {
		// serving_engine.py _validate_input (0.7+).
		return fmt.Sprintf("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", limit, n), true
	}
	if n+maxTokens > limit {
		return fmt.Sprintf("'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is %d tokens and your request has %d input tokens (%d > %d - %d).", maxTokens, limit, n, maxTokens, limit, n), true
	}
	return "", false
}

func (s *Server) vllm(w http.ResponseWriter, r *http.Request, body []byte) {
	switch r.URL.Path {
	case "/v1/completions":
		s.vllmCompletions(w, body)
	case "/tokenize":
		s.openAITokenize(w, body, s.vllmError)
	case "/detokenize":
		var req struct {
			Tokens []int `json:"tokens"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			s.vllmError(w, 400, err.Error())
			return
		}
		// serving_tokenization.py create_detokenize: tokenizer.decode(tokens).
		writeJSON(w, 200, map[string]any{"prompt": s.o.Tokenizer.Decode(req.Tokens, nil)})
	case "/tokenizer_info":
		if !s.o.TokenizerInfo {
			s.vllmError(w, 404, "Not Found")
			return
		}
		// vllm/entrypoints/serve/tokenize/serving.py get_tokenizer_info: the tokenizer's
		// init kwargs (tokenizer_config.json) plus its class.
		writeJSON(w, 200, map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": s.o.DeclaredBOS, "eos_token": "<|end_of_text|>", "clean_up_tokenization_spaces": s.o.Tokenizer.cleanUp, "model_max_length": s.o.MaxModelLen})
	case "/v1/models":
		writeJSON(w, 200, map[string]any{"object": "list", "data": []any{map[string]any{"id": s.o.Model, "object": "model", "max_model_len": s.o.MaxModelLen}}})
	default:
		s.vllmError(w, 404, "Not Found")
	}
}

// openAITokenize serves vLLM's and SGLang's /tokenize: {prompt, add_special_tokens=true} ->
// {count, max_model_len, tokens} (vllm/entrypoints/openai/serving_tokenization.py
// create_tokenize; python/sglang/srt/entrypoints/openai/serving_tokenize.py).
func (s *Server) openAITokenize(w http.ResponseWriter, body []byte, fail func(http.ResponseWriter, int, string)) {
	var req struct {
		Prompt           *string `json:"prompt"`
		AddSpecialTokens *bool   `json:"add_special_tokens"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Prompt == nil {
		fail(w, 400, "prompt is required")
		return
	}
	special := req.AddSpecialTokens == nil || *req.AddSpecialTokens
	ids := s.o.Tokenizer.Encode(*req.Prompt, special)
	writeJSON(w, 200, map[string]any{"count": len(ids), "max_model_len": s.o.MaxModelLen, "tokens": ids, "token_strs": nil})
}

type vllmLogprob struct {
	Logprob      float64 `json:"logprob"`
	Rank         int     `json:"rank"`
	DecodedToken string  `json:"decoded_token"`
}

// positionDict is vLLM V1's prompt-logprob dict for one position
// (vllm/v1/engine/logprobs.py _make_logprob_dict): the prompt token first with its own rank,
// then the top n with ranks 1..n; a top token equal to the prompt token keeps the first place.
// decoded_token is each id decoded alone (vllm/transformers_utils/detokenizer_utils.py
// convert_ids_list_to_tokens: tokenizer.decode([id]), clean-up included).
func (s *Server) positionDict(d Dist, tok int, lp float64, n int) *ordered {
	o := &ordered{}
	o.set(strconv.Itoa(tok), vllmLogprob{Logprob: lp, Rank: d.Rank(tok), DecodedToken: s.o.Tokenizer.DecodeOne(tok, nil)})
	for k, v := range d.Top(n) {
		o.set(strconv.Itoa(v), vllmLogprob{Logprob: F32(d.Logprob(v)), Rank: k + 1, DecodedToken: s.o.Tokenizer.DecodeOne(v, nil)})
	}
	return o
}

func (s *Server) vllmCompletions(w http.ResponseWriter, body []byte) {
	var req vllmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.vllmError(w, 400, err.Error())
		return
	}
	if req.Model != "" && req.Model != s.o.Model {
		s.vllmError(w, 404, fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	maxTokens := 16
	if req.MaxTokens != nil {
		maxTokens = *req.MaxTokens
	}
	special := req.AddSpecialTokens == nil || *req.AddSpecialTokens
	all, texts, err := s.prompts(req.Prompt, special)
	if err != nil {
		s.vllmError(w, 400, err.Error())
		return
	}
	for _, ids := range all {
		if msg := s.badIDs(ids); msg != "" {
			s.vllmError(w, 400, msg)
			return
		}
		if msg, over := s.vllmOverflow(len(ids), maxTokens); over {
			s.vllmError(w, 400, msg)
			return
		}
	}
	// Echo and logprobs make vLLM compute prompt logprobs with N = logprobs
	// (protocol.py CompletionRequest.to_sampling_params).
	promptN := -1
	if req.PromptLogprobs != nil {
		promptN = *req.PromptLogprobs
	} else if req.Echo && req.Logprobs != nil {
		promptN = *req.Logprobs
	}
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var choices []any
	nPrompt, nGen := 0, 0
	for i, ids := range all {
		lps, dists := s.logprobs(ids)
		next := dists[len(ids)]
		gen := next.Top(1)[0]
		genLP := F32(next.Logprob(gen))
		genTexts := []int{}
		if maxTokens > 0 {
			genTexts = append(genTexts, gen)
		}
		outText := s.o.Tokenizer.Decode(genTexts, nil)
		// Prompt logprob dicts, position 0 is None.
		var plp []any
		if promptN >= 0 {
			plp = append(plp, nil)
			for j := 1; j < len(ids); j++ {
				plp = append(plp, s.positionDict(dists[j], ids[j], lps[j], promptN))
			}
		}
		ch := &ordered{}
		ch.set("index", i)
		text := outText
		if req.Echo {
			// serving_completion.py request_output_to_completion_response: prompt text +
			// output text; for token prompts the text is tokenizer.decode(prompt_ids) (the
			// renderer detokenizes when echo is set).
			pt := ""
			if texts[i] != nil {
				pt = *texts[i]
			} else {
				pt = s.o.Tokenizer.Decode(ids, nil)
			}
			text = pt + outText
		}
		ch.set("text", text)
		if req.Logprobs != nil {
			tokIDs := genTexts
			var tops []any
			if req.Echo {
				tokIDs = append(append([]int{}, ids...), genTexts...)
				tops = append(tops, plp...)
			}
			if maxTokens > 0 {
				tops = append(tops, s.positionDict(next, gen, genLP, *req.Logprobs))
			}
			ch.set("logprobs", s.completionLogprobs(tokIDs, tops, *req.Logprobs))
		} else {
			ch.set("logprobs", nil)
		}
		ch.set("finish_reason", "length")
		ch.set("stop_reason", nil)
		if promptN >= 0 && req.PromptLogprobs != nil {
			ch.set("prompt_logprobs", plp)
		} else {
			ch.set("prompt_logprobs", nil)
		}
		if req.ReturnTokenIDs {
			ch.set("prompt_token_ids", ids)
		}
		choices = append(choices, ch)
		nPrompt += len(ids)
		nGen += len(genTexts)
	}
	writeJSON(w, 200, map[string]any{"id": "cmpl-emu", "object": "text_completion", "created": 0, "model": s.o.Model, "choices": choices,
		"usage": map[string]int{"prompt_tokens": nPrompt, "completion_tokens": nGen, "total_tokens": nPrompt + nGen}})
}

// completionLogprobs is serving_completion.py _create_completion_logprobs: for each token, the
// decoded token (for a position without logprobs, tokenizer.decode(token_id); otherwise the
// Logprob's decoded_token), its logprob clamped at -9999.0, the top entries
// {decoded: logprob} of the first num+1 dict items, and text_offset as a running sum of the
// decoded tokens' lengths in code points starting at 0. The offsets therefore count the BOS
// string and every cleaned-up or U+FFFD-replaced token as decoded alone, not as in "text".
func (s *Server) completionLogprobs(tokIDs []int, tops []any, num int) map[string]any {
	var (
		offsets []int
		tlps    []any
		toks    []string
		topOut  []any
	)
	last := 0
	for i, id := range tokIDs {
		var tok string
		if tops[i] == nil {
			tok = s.o.Tokenizer.DecodeOne(id, nil)
			tlps = append(tlps, nil)
			topOut = append(topOut, nil)
		} else {
			o := tops[i].(*ordered)
			e := o.vals[0].(vllmLogprob)
			tok = e.DecodedToken
			tlps = append(tlps, math.Max(e.Logprob, -9999.0))
			top := &ordered{}
			for k := range o.keys {
				if k > num {
					break
				}
				v := o.vals[k].(vllmLogprob)
				top.set(v.DecodedToken, math.Max(v.Logprob, -9999.0))
			}
			topOut = append(topOut, top)
		}
		if len(offsets) == 0 {
			offsets = append(offsets, 0)
		} else {
			offsets = append(offsets, offsets[len(offsets)-1]+last)
		}
		last = utf8.RuneCountInString(tok)
		toks = append(toks, tok)
	}
	return map[string]any{"text_offset": offsets, "token_logprobs": tlps, "tokens": toks, "top_logprobs": topOut}
}
