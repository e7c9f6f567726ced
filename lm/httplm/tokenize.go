package httplm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/streams"
)

// serverTokenizer encodes through the server's /tokenize endpoint, so that the ids sent are the
// ids the server's own tokenizer gives.
//
//   - vLLM (vllm/entrypoints/openai/serving_tokenization.py, create_tokenize) and SGLang
//     (python/sglang/srt/entrypoints/http_server.py, openai_v1_tokenize) take
//     {"model", "prompt", "add_special_tokens"} and answer {"tokens": [...], "count",
//     "max_model_len"}.
//   - TGI (router/src/server.rs, tokenize) takes a generate request {"inputs"} and answers
//     [{"id", "text", "start", "stop"}]; its add_special_tokens is not settable (serde skip,
//     router/src/lib.rs GenerateRequest) and always true. The tokens the post-processor adds
//     have no span in the text (start == stop, encoding_to_tokens), which is how Encode
//     removes them.
type serverTokenizer struct {
	c *Client

	mu         sync.Mutex
	prefix     []int
	prefixOK   bool
	prefixText string // TGI: the text of an in-text BOS, learned from a span
	maxLen     int
}

func newServerTokenizer(c *Client) *serverTokenizer { return &serverTokenizer{c: c} }

func (s *serverTokenizer) Source() string { return "server:/tokenize" }

type tgiToken struct {
	ID    int    `json:"id"`
	Text  string `json:"text"`
	Start int    `json:"start"`
	Stop  int    `json:"stop"`
}

// raw returns the server's tokenization of text; for TGI special tokens are always added.
func (s *serverTokenizer) raw(ctx context.Context, text string, special bool) ([]int, []tgiToken, error) {
	if s.c.o.Kind == KindTGI {
		var toks []tgiToken
		err := s.c.post(ctx, "/tokenize", map[string]any{"inputs": text}, func(b []byte) error { return json.Unmarshal(b, &toks) })
		if err != nil {
			return nil, nil, tokenizeErr(err)
		}
		ids := make([]int, len(toks))
		for i, t := range toks {
			ids[i] = t.ID
		}
		return ids, toks, nil
	}
	var r struct {
		Tokens      []int `json:"tokens"`
		MaxModelLen int   `json:"max_model_len"`
	}
	body := map[string]any{"prompt": text, "add_special_tokens": special}
	if s.c.o.Model != "" {
		body["model"] = s.c.o.Model
	}
	err := s.c.post(ctx, "/tokenize", body, func(b []byte) error {
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.Tokens == nil {
			return errors.New("no tokens in the /tokenize answer")
		}
		return nil
	})
	if err != nil {
		return nil, nil, tokenizeErr(err)
	}
	if r.MaxModelLen > 0 {
		s.mu.Lock()
		s.maxLen = r.MaxModelLen
		s.mu.Unlock()
	}
	return r.Tokens, nil, nil
}

// tokenizeErr makes a missing endpoint a permanent, named error.
func tokenizeErr(err error) error {
	var se *statusError
	if errors.As(err, &se) && (se.code == 404 || se.code == 405) {
		return streams.Permanent("lm-misconfigured", fmt.Errorf("httplm: the server has no /tokenize endpoint; pass a local tokenizer (--tokenizer PATH to its tokenizer.json): %w", err))
	}
	return err
}

// leadingSpecial counts TGI's leading tokens without a span: those the post-processor added.
func leadingSpecial(toks []tgiToken) int {
	n := 0
	for n < len(toks) && toks[n].Start == toks[n].Stop {
		n++
	}
	return n
}

// Encode returns text's ids without the special tokens the server would add.
func (s *serverTokenizer) Encode(ctx context.Context, text string) ([]int, error) {
	if s.c.o.Kind != KindTGI {
		ids, _, err := s.raw(ctx, text, false)
		return ids, err
	}
	ids, toks, err := s.raw(ctx, text, true)
	if err != nil {
		return nil, err
	}
	n := leadingSpecial(toks)
	rest := toks[n:]
	if n > 0 && len(rest) >= n && rest[0].ID == ids[0] && rest[0].Start == 0 && rest[0].Stop <= len(text) {
		// The text itself starts with the prefix token: remember its spelling.
		s.mu.Lock()
		s.prefixText = text[rest[0].Start:rest[0].Stop]
		s.mu.Unlock()
	}
	return ids[n:], nil
}

// Prefix asks the server once what it puts before a text.
func (s *serverTokenizer) Prefix(ctx context.Context) ([]int, error) {
	s.mu.Lock()
	if s.prefixOK {
		p := s.prefix
		s.mu.Unlock()
		return p, nil
	}
	s.mu.Unlock()
	var pre []int
	if s.c.o.Kind == KindTGI {
		ids, toks, err := s.raw(ctx, "a", true)
		if err != nil {
			return nil, err
		}
		pre = ids[:leadingSpecial(toks)]
	} else {
		with, _, err := s.raw(ctx, "a", true)
		if err != nil {
			return nil, err
		}
		without, _, err := s.raw(ctx, "a", false)
		if err != nil {
			return nil, err
		}
		if len(with) < len(without) || !slices.Equal(with[len(with)-len(without):], without) {
			return nil, streams.Permanent("lm-misconfigured", fmt.Errorf("httplm: the server's tokenizer adds special tokens after the text (%v for %v)", with, without))
		}
		pre = with[:len(with)-len(without)]
	}
	s.mu.Lock()
	s.prefix, s.prefixOK = slices.Clip(pre), true
	s.mu.Unlock()
	return pre, nil
}

// PrefixText is the spelling of the prefix token, known once a text starting with it was
// encoded (TGI only).
func (s *serverTokenizer) PrefixText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefixText
}

// MaxModelLen is the context window the server reported with /tokenize (0 if not yet seen).
func (s *serverTokenizer) MaxModelLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxLen
}

// ServerTokenize returns the server's own tokenization of text with its special tokens, and
// whether the server has a /tokenize endpoint at all (lm check compares it with the local
// tokenizer).
func (c *Client) ServerTokenize(ctx context.Context, text string) ([]int, bool, error) {
	st := newServerTokenizer(c)
	ids, err := lm.EncodeWithSpecial(ctx, st, text)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && (se.code == 404 || se.code == 405) {
			return nil, false, nil
		}
		return nil, true, err
	}
	return ids, true, nil
}

// tokenizerProbe exercises what differs between tokenizers: BOS, chat-template markers,
// " , " (cleaned up by decoders), digits, multi-byte characters and trailing spaces.
const tokenizerProbe = "<|start_header_id|>user<|end_header_id|>\n\nWho wrote \"Über die Natur\" , in 1843? 東京 – naïve café  \n"

// CheckTokenizer compares the local tokenizer with the server's on a probe text, once per
// client: ids sent from a tokenizer that is not the model's give log-probabilities of other
// tokens. A server without /tokenize cannot be checked (nil). A mismatch is permanent.
func (c *Client) CheckTokenizer(ctx context.Context) error {
	if c.o.Tokenizer == nil {
		return nil
	}
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	if c.checked {
		return c.checkErr
	}
	local, err := lm.EncodeWithSpecial(ctx, c.o.Tokenizer, tokenizerProbe)
	if err != nil {
		return err
	}
	remote, ok, err := c.ServerTokenize(ctx, tokenizerProbe)
	if err != nil {
		if streams.IsPermanent(err) {
			c.checked, c.checkErr = true, err
		}
		return err // a transient failure is not remembered
	}
	c.checked = true
	if ok && !slices.Equal(local, remote) {
		c.checkErr = streams.Permanent("lm-tokenizer-mismatch", fmt.Errorf("httplm: tokenizer mismatch: %s gives %s; the server's /tokenize gives %s: use the model's own tokenizer.json, or no --tokenizer to use the server's", c.o.Tokenizer.Source(), diffIDs(local, remote), diffIDs(remote, local)))
	}
	return c.checkErr
}

// diffIDs renders a around the first position where it differs from b.
func diffIDs(a, b []int) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo, hi := max(0, i-2), min(len(a), i+4)
	return fmt.Sprintf("%d ids, from position %d: %v", len(a), lo, a[lo:hi])
}

// Detokenize renders ids as text through the server's /detokenize (vLLM, SGLang; TGI has none:
// ok is false).
func (c *Client) Detokenize(ctx context.Context, ids []int) (text string, ok bool, err error) {
	if c.o.Kind == KindTGI {
		return "", false, nil
	}
	body := map[string]any{"tokens": ids}
	if c.o.Model != "" {
		body["model"] = c.o.Model
	}
	err = c.post(ctx, "/detokenize", body, func(b []byte) error {
		var r struct {
			Prompt string `json:"prompt"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		text = r.Prompt
		return nil
	})
	var se *statusError
	if errors.As(err, &se) && (se.code == 404 || se.code == 405) {
		return "", false, nil
	}
	return text, err == nil, err
}

// DeclaredBOS asks vLLM's /tokenizer_info (served with --enable-tokenizer-info-endpoint;
// vllm/entrypoints/serve/tokenize/api_router.py) for the bos_token of the model's
// tokenizer_config.json. ok is false when the server does not say.
func (c *Client) DeclaredBOS(ctx context.Context) (bos string, ok bool) {
	if c.o.Kind != KindVLLM && c.o.Kind != KindVLLMPromptLogprobs {
		return "", false
	}
	actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.root+"/tokenizer_info", nil)
	if err != nil {
		return "", false
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false
	}
	var r struct {
		BOS any `json:"bos_token"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r) != nil {
		return "", false
	}
	switch v := r.BOS.(type) {
	case string:
		return v, v != ""
	case map[string]any: // an AddedToken rendered as a dict
		s, _ := v["content"].(string)
		return s, s != ""
	}
	return "", false
}
