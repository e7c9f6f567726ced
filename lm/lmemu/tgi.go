package lmemu

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/lsrflow/lsrflow/embed/tokenizer"
)

// tgiError is TGI's error body (router/src/server.rs, impl From<InferError> for (StatusCode,
// Json<ErrorResponse>)): validation errors are 422 {"error", "error_type": "validation"}.
func tgiError(w http.ResponseWriter, code int, msg string) {
	typ := "validation"
	if code != http.StatusUnprocessableEntity {
		typ = "generation"
	}
	writeJSON(w, code, map[string]any{"error": msg, "error_type": typ})
}

type tgiRequest struct {
	Inputs     string `json:"inputs"`
	Parameters struct {
		DecoderInputDetails bool     `json:"decoder_input_details"`
		Details             bool     `json:"details"`
		MaxNewTokens        *int     `json:"max_new_tokens"`
		Temperature         *float64 `json:"temperature"`
		DoSample            bool     `json:"do_sample"`
	} `json:"parameters"`
}

// null renders NaN as JSON null, as serde_json serializes TGI's f32 NaN.
func null(x float64) any {
	if math.IsNaN(x) {
		return nil
	}
	return x
}

func (s *Server) tgi(w http.ResponseWriter, r *http.Request, body []byte) {
	switch r.URL.Path {
	case "/generate":
		s.tgiGenerate(w, body)
	case "/tokenize":
		s.tgiTokenize(w, body)
	case "/info":
		version := "2.4.1"
		if s.o.Kind == TGI3 {
			version = "3.0.1"
		}
		writeJSON(w, 200, map[string]any{"model_id": s.o.Model, "max_input_tokens": s.o.MaxModelLen - 1, "max_total_tokens": s.o.MaxModelLen, "version": version})
	default:
		tgiError(w, 404, "Not Found")
	}
}

// tgiTokenize is router/src/server.rs tokenize + encoding_to_tokens: every token with its byte
// span in the input; the tokens the post-processor adds have an empty span. add_special_tokens
// is always true (GenerateRequest's field is serde-skipped).
func (s *Server) tgiTokenize(w http.ResponseWriter, body []byte) {
	var req tgiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		tgiError(w, 422, err.Error())
		return
	}
	ids := s.o.Tokenizer.Encode(req.Inputs, true)
	plain := s.o.Tokenizer.Encode(req.Inputs, false)
	added := len(ids) - len(plain)
	type tok struct {
		ID    int    `json:"id"`
		Text  string `json:"text"`
		Start int    `json:"start"`
		Stop  int    `json:"stop"`
	}
	out := make([]tok, 0, len(ids))
	for _, id := range ids[:added] {
		out = append(out, tok{ID: id})
	}
	// Without a normalizer, a byte-level token's bytes are the input's bytes in order.
	pos := 0
	for _, id := range plain {
		n := len(s.o.Tokenizer.Bytes(id))
		stop := min(pos+n, len(req.Inputs))
		out = append(out, tok{ID: id, Text: tokenizer.LossyUTF8([]byte(req.Inputs[pos:stop])), Start: pos, Stop: stop})
		pos = stop
	}
	writeJSON(w, 200, out)
}

func (s *Server) tgiGenerate(w http.ResponseWriter, body []byte) {
	var req tgiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		tgiError(w, 422, "Failed to deserialize the JSON body into the target type: "+err.Error())
		return
	}
	if req.Inputs == "" {
		tgiError(w, 422, "`inputs` cannot be empty")
		return
	}
	// router/src/validation.rs validate: temperature must be strictly positive when given.
	if t := req.Parameters.Temperature; t != nil && !(*t > 0) {
		tgiError(w, 422, "`temperature` must be strictly positive")
		return
	}
	maxNew := 100
	if req.Parameters.MaxNewTokens != nil {
		maxNew = *req.Parameters.MaxNewTokens
	}
	ids := s.o.Tokenizer.Encode(req.Inputs, true)
	maxInput, maxTotal := s.o.MaxModelLen-1, s.o.MaxModelLen
	// router/src/validation.rs validate_input: the total first, then the input length.
	if len(ids)+maxNew > maxTotal {
		tgiError(w, 422, fmt.Sprintf("`inputs` tokens + `max_new_tokens` must be <= %d. Given: %d `inputs` tokens and %d `max_new_tokens`", maxTotal, len(ids), maxNew))
		return
	}
	if len(ids) > maxInput {
		tgiError(w, 422, fmt.Sprintf("`inputs` must have less than %d tokens. Given: %d", maxInput, len(ids)))
		return
	}
	s.calls.Add(1)
	s.mu.Lock()
	lps, dists := s.logprobs(ids)
	s.mu.Unlock()
	next := dists[len(ids)]
	gen := next.Top(1)[0]
	noCleanUp := false
	// Prefill: flash_causal_lm.py generate_token. TGI 3 sets r.prefill_logprobs = False unless
	// REQUEST_LOGPROBS (--enable-prefill-logprobs); then the response's prefill is []. Texts are
	// tokenizer.batch_decode of single ids with clean_up_tokenization_spaces=False,
	// skip_special_tokens=False; the first (uncached) position is NaN -> null.
	prefill := []any{}
	if req.Parameters.DecoderInputDetails && (s.o.Kind == TGI2 || s.o.PrefillLogprobs) {
		for j, id := range ids {
			prefill = append(prefill, map[string]any{"id": id, "text": s.o.Tokenizer.DecodeOne(id, &noCleanUp), "logprob": null(lps[j])})
		}
	}
	genText := s.o.Tokenizer.DecodeOne(gen, &noCleanUp)
	resp := map[string]any{"generated_text": genText}
	if req.Parameters.Details || req.Parameters.DecoderInputDetails {
		resp["details"] = map[string]any{
			"finish_reason": "length", "generated_tokens": 1, "seed": nil, "prefill": prefill,
			"tokens":     []any{map[string]any{"id": gen, "text": genText, "logprob": F32(next.Logprob(gen)), "special": false}},
			"top_tokens": nil, "best_of_sequences": nil,
		}
	}
	writeJSON(w, 200, resp)
}
