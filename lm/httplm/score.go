package httplm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/streams"
)

// Score scores reqs: each is tokenized by its layout (lm.EncodeRequest), sent as token ids
// where the server takes them (vLLM, SGLang) and as text to TGI (whose prefill ids are then
// checked against ours), and the target's log-probabilities are taken by position.
func (c *Client) Score(ctx context.Context, reqs []lm.Request) ([]lm.Result, error) {
	for i, r := range reqs {
		if r.Target == "" {
			return nil, streams.Permanent("lm-bad-request", fmt.Errorf("httplm: request %d has an empty target", i))
		}
	}
	if !lm.ValidUTF8(reqs) {
		return nil, streams.Permanent("lm-bad-request", errors.New("httplm: request text is not valid UTF-8"))
	}
	if err := c.CheckTokenizer(ctx); err != nil {
		return nil, err
	}
	out := make([]lm.Result, len(reqs))
	batch := c.o.BatchSize
	if c.o.Kind == KindTGI {
		batch = 1
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for lo := 0; lo < len(reqs); lo += batch {
		hi := min(lo+batch, len(reqs))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			err := c.scoreChunk(ctx, reqs[lo:hi], out[lo:hi])
			if oe, ok := lm.AsOverflow(err); ok {
				err = &lm.OverflowError{Index: lo + oe.Index, Tokens: oe.Tokens, Limit: oe.Limit}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}(lo, hi)
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, pickError(errs)
	}
	c.requests.Add(int64(len(reqs)))
	return out, nil
}

// pickError prefers the most informative error: overflow, then permanent, then the first
// that is not a cancellation caused by another chunk's failure.
func pickError(errs []error) error {
	for _, e := range errs {
		if _, ok := lm.AsOverflow(e); ok {
			return e
		}
	}
	for _, e := range errs {
		if streams.IsPermanent(e) {
			return e
		}
	}
	for _, e := range errs {
		if !errors.Is(e, context.Canceled) {
			return e
		}
	}
	return errs[0]
}

// scoreChunk tokenizes and scores reqs in one server request; a context overflow of a
// multi-prompt request is narrowed down by scoring the prompts one by one.
func (c *Client) scoreChunk(ctx context.Context, reqs []lm.Request, out []lm.Result) error {
	tok := lm.WithMemo(c.tok, 2*len(reqs)+2)
	pairs := make([]lm.Pair, len(reqs))
	limit := c.o.ContextSize
	if st, ok := c.tok.(*serverTokenizer); ok && limit == 0 {
		limit = st.MaxModelLen()
	}
	for i, r := range reqs {
		if r.Layout != lm.LayoutLMEval && c.o.SendText && c.o.Kind != KindTGI {
			return streams.Permanent("lm-bad-request", fmt.Errorf("httplm: request %d: the %s token layout is sent as token ids; text prompts are tokenized by the server as one text", i, r.Layout))
		}
		p, err := lm.EncodeRequest(ctx, tok, r)
		if err != nil {
			if errors.Is(err, lm.ErrEmptyTarget) || errors.Is(err, lm.ErrEmptyPrompt) {
				return streams.Permanent("lm-bad-request", fmt.Errorf("httplm: request %d: %w", i, err))
			}
			return fmt.Errorf("httplm: tokenize request %d: %w", i, err)
		}
		// The server needs room for the one token it generates (vLLM, TGI).
		if limit > 0 && len(p.IDs)+1 > limit {
			return &lm.OverflowError{Index: i, Tokens: len(p.IDs), Limit: limit}
		}
		pairs[i] = p
	}
	err := c.scoreRequest(ctx, tok, reqs, pairs, out)
	oe, ok := lm.AsOverflow(err)
	if !ok || len(reqs) == 1 {
		return err
	}
	for i := range reqs {
		if err := c.scoreRequest(ctx, tok, reqs[i:i+1], pairs[i:i+1], out[i:i+1]); err != nil {
			if oe2, ok := lm.AsOverflow(err); ok {
				return &lm.OverflowError{Index: i, Tokens: max(oe2.Tokens, len(pairs[i].IDs)), Limit: oe2.Limit}
			}
			return err
		}
	}
	return fmt.Errorf("httplm: the server rejected the batch as too long but accepted each prompt: %w", oe)
}

// prompts is the prompt field: id lists, or texts with SendText.
func (c *Client) prompts(reqs []lm.Request, pairs []lm.Pair) any {
	if c.o.SendText {
		t := make([]string, len(reqs))
		for i, r := range reqs {
			t[i] = r.Text()
		}
		return t
	}
	return idLists(pairs)
}

func idLists(pairs []lm.Pair) [][]int {
	out := make([][]int, len(pairs))
	for i, p := range pairs {
		out[i] = p.IDs
	}
	return out
}

func (c *Client) scoreRequest(ctx context.Context, tok lm.Tokenizer, reqs []lm.Request, pairs []lm.Pair, out []lm.Result) error {
	switch c.o.Kind {
	case KindVLLM:
		// lm-evaluation-harness' local-completions request (openai_completions.py
		// _create_payload): token-id prompts, echo, one logprob, one generated token.
		body := map[string]any{"model": c.o.Model, "prompt": c.prompts(reqs, pairs), "max_tokens": 1, "echo": true, "logprobs": 1, "temperature": 0}
		return c.post(ctx, "/v1/completions", body, func(b []byte) error { return decodeVLLMEcho(b, pairs, out) })
	case KindVLLMPromptLogprobs:
		body := map[string]any{"model": c.o.Model, "prompt": c.prompts(reqs, pairs), "max_tokens": 1, "prompt_logprobs": 0, "temperature": 0}
		return c.post(ctx, "/v1/completions", body, func(b []byte) error { return decodeVLLMPrompt(b, pairs, out) })
	case KindTGI:
		text, err := c.tgiText(ctx, tok, reqs[0])
		if err != nil {
			return err
		}
		if reqs[0].Layout == lm.LayoutSeparate {
			if err := tgiSeparate(ctx, tok, text, pairs[0]); err != nil {
				return err
			}
		}
		body := map[string]any{"inputs": text, "parameters": map[string]any{"decoder_input_details": true, "details": true, "max_new_tokens": 1}}
		return c.post(ctx, "/generate", body, func(b []byte) error { return decodeTGI(b, pairs[0], &out[0]) })
	case KindSGLang:
		body := map[string]any{"sampling_params": map[string]any{"max_new_tokens": 0, "temperature": 0}, "return_logprob": true, "logprob_start_len": 0}
		if c.o.SendText {
			body["text"] = c.prompts(reqs, pairs)
		} else {
			body["input_ids"] = idLists(pairs)
		}
		return c.post(ctx, "/generate", body, func(b []byte) error { return decodeSGLang(b, pairs, out) })
	}
	return streams.Permanent("lm-config", fmt.Errorf("httplm: kind %q", c.o.Kind))
}

// prefixTexter is a tokenizer that knows the spelling of its special prefix.
type prefixTexter interface{ PrefixText() string }

// tgiText is the text sent to TGI. TGI always adds the special prefix (add_special_tokens is
// not settable, router/src/lib.rs GenerateRequest), so a prompt that already starts with BOS
// (a chat template that writes it) loses its own copy here instead of being scored with two.
func (c *Client) tgiText(ctx context.Context, tok lm.Tokenizer, r lm.Request) (string, error) {
	text := r.Text()
	pre, err := tok.Prefix(ctx)
	if err != nil || len(pre) == 0 {
		return text, err
	}
	ids, err := tok.Encode(ctx, text)
	if err != nil {
		return "", err
	}
	if !lm.HasPrefix(ids, pre) {
		return text, nil
	}
	var spelled string
	if pt, ok := tok.(prefixTexter); ok {
		spelled = pt.PrefixText()
	}
	if spelled == "" || !strings.HasPrefix(text, spelled) {
		return "", streams.Permanent("lm-bad-request", fmt.Errorf("httplm: the prompt starts with the BOS token, which TGI would add a second time, and its spelling is unknown; remove it from the prompt template"))
	}
	return text[len(spelled):], nil
}

// tgiSeparate checks, before anything is sent, that TGI will score the separate layout's ids
// (lm.EncodeSeparate, FlashRAG's cal_gen_probs). TGI takes text only: it tokenizes prompt and
// target as one text and always adds the tokenizer's special prefix (add_special_tokens is
// not settable on /generate: serde skip, router/src/lib.rs GenerateRequest). The layout
// arrives intact only when prefix + enc(text) equals the pair's ids; otherwise the request
// fails permanently here, and decodeTGI checks the prefill ids TGI reports against the same
// ids afterwards.
func tgiSeparate(ctx context.Context, tok lm.Tokenizer, text string, p lm.Pair) error {
	pre, err := tok.Prefix(ctx)
	if err != nil {
		return err
	}
	if len(pre) > 0 && !lm.HasPrefix(p.IDs, pre) {
		return streams.Permanent("lm-layout-unsupported", fmt.Errorf("httplm: the seed (separate) token layout scores this prompt without BOS, as FlashRAG's cal_gen_probs does (add_special_tokens=False on a prompt that does not write it), but TGI always adds BOS; score seed mode with --backend vllm or sglang, which take token ids"))
	}
	ids, err := tok.Encode(ctx, text)
	if err != nil {
		return err
	}
	tgi := append(slices.Clip(pre), ids...)
	if !slices.Equal(tgi, p.IDs) {
		return streams.Permanent("lm-layout-unsupported", fmt.Errorf("httplm: TGI takes text only, and prompt+answer tokenized as one text (%s) differs from the seed layout's separately encoded ids (%s) at the prompt/answer boundary; score seed mode with --backend vllm or sglang, which take token ids", diffIDs(tgi, p.IDs), diffIDs(p.IDs, tgi)))
	}
	return nil
}
