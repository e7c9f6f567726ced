package httplm

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/lm"
)

// result builds a Result from per-token log-probabilities (nil = null) and the index of the
// first target token.
func result(lps []*float64, first, n int) (lm.Result, error) {
	if first <= 0 || first >= n || n > len(lps) {
		return lm.Result{}, fmt.Errorf("target starts at token %d of %d", first, n)
	}
	out := make([]float64, 0, n-first)
	for j := first; j < n; j++ {
		if lps[j] == nil {
			return lm.Result{}, fmt.Errorf("null log-probability at target token %d", j)
		}
		out = append(out, *lps[j])
	}
	return lm.Result{TokenLogprobs: out, Tokens: n}, nil
}

type vllmEcho struct {
	Choices []struct {
		Index    int `json:"index"`
		Logprobs *struct {
			Tokens        []string   `json:"tokens"`
			TokenLogprobs []*float64 `json:"token_logprobs"`
			TextOffset    []int      `json:"text_offset"`
		} `json:"logprobs"`
	} `json:"choices"`
}

// decodeVLLMEcho reads /v1/completions with echo: prompt tokens plus one generated token.
func decodeVLLMEcho(b []byte, reqs []lm.Request, out []lm.Result) error {
	var r vllmEcho
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	seen, err := newChoiceSet(len(r.Choices), len(reqs))
	if err != nil {
		return err
	}
	for _, ch := range r.Choices {
		i := ch.Index
		if err := seen.claim(i); err != nil {
			return err
		}
		lp := ch.Logprobs
		if lp == nil || len(lp.TokenLogprobs) != len(lp.TextOffset) || len(lp.Tokens) != len(lp.TextOffset) {
			return fmt.Errorf("choice %d: logprobs missing or of unequal lengths", i)
		}
		text := reqs[i].Text()
		nChars := utf8.RuneCountInString(text)
		// Prompt tokens are those that start inside the text; the generated token starts at its end.
		n := 0
		for n < len(lp.TextOffset) && lp.TextOffset[n] < nChars {
			n++
		}
		if n == len(lp.TextOffset) && n > 0 {
			n-- // no offset marked the generated token: it is the last entry
		}
		starts := lm.RuneOffsetsToBytes(text, lp.TextOffset[:n])
		first := lm.FirstTargetToken(starts, len(text), len(reqs[i].Prompt))
		res, err := result(lp.TokenLogprobs, first, n)
		if err != nil {
			return fmt.Errorf("choice %d: %w", i, err)
		}
		out[i] = res
	}
	return nil
}

type vllmPrompt struct {
	Choices []struct {
		Index          int                      `json:"index"`
		PromptLogprobs []map[string]vllmLogprob `json:"prompt_logprobs"`
		PromptTokenIDs []int                    `json:"prompt_token_ids"`
	} `json:"choices"`
}

type vllmLogprob struct {
	Logprob      *float64 `json:"logprob"`
	Rank         *int     `json:"rank"`
	DecodedToken *string  `json:"decoded_token"`
}

// decodeVLLMPrompt reads vLLM's prompt_logprobs: [null, {"id": {...}}, ...]. With
// prompt_logprobs:0 each position holds only the prompt's own token; when it holds more, the
// prompt token is found through prompt_token_ids.
func decodeVLLMPrompt(b []byte, reqs []lm.Request, out []lm.Result) error {
	var r vllmPrompt
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	seen, err := newChoiceSet(len(r.Choices), len(reqs))
	if err != nil {
		return err
	}
	for _, ch := range r.Choices {
		i := ch.Index
		if err := seen.claim(i); err != nil {
			return err
		}
		n := len(ch.PromptLogprobs)
		lps := make([]*float64, n)
		pieces := make([]string, n)
		for j, m := range ch.PromptLogprobs {
			if m == nil {
				continue // the first position has no log-probability
			}
			var e vllmLogprob
			switch {
			case len(m) == 1:
				for _, v := range m {
					e = v
				}
			case len(ch.PromptTokenIDs) == n:
				v, ok := m[fmt.Sprint(ch.PromptTokenIDs[j])]
				if !ok {
					return fmt.Errorf("choice %d position %d: prompt token %d not among the logprobs", i, j, ch.PromptTokenIDs[j])
				}
				e = v
			default:
				return fmt.Errorf("choice %d position %d: %d candidates and no prompt_token_ids", i, j, len(m))
			}
			if e.Logprob == nil || e.DecodedToken == nil {
				return fmt.Errorf("choice %d position %d: logprob or decoded_token missing", i, j)
			}
			lps[j] = e.Logprob
			pieces[j] = *e.DecodedToken
		}
		text := reqs[i].Text()
		first, ok := lm.FirstTargetFromEnd(pieces, text, len(reqs[i].Prompt))
		if !ok {
			return fmt.Errorf("choice %d: decoded tokens do not match the prompt text", i)
		}
		res, err := result(lps, first, n)
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
			Text    string   `json:"text"`
			Logprob *float64 `json:"logprob"`
		} `json:"prefill"`
	} `json:"details"`
}

// decodeTGI reads /generate with decoder_input_details: details.prefill is the prompt.
func decodeTGI(b []byte, reqs []lm.Request, out []lm.Result) error {
	var r tgiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.Details == nil || len(r.Details.Prefill) == 0 {
		return errors.New("details.prefill missing")
	}
	pf := r.Details.Prefill
	lps := make([]*float64, len(pf))
	pieces := make([]string, len(pf))
	for j, t := range pf {
		lps[j] = t.Logprob
		pieces[j] = t.Text
	}
	first, ok := lm.FirstTargetFromEnd(pieces, reqs[0].Text(), len(reqs[0].Prompt))
	if !ok {
		return errors.New("prefill token texts do not match the prompt text")
	}
	res, err := result(lps, first, len(pf))
	if err != nil {
		return err
	}
	out[0] = res
	return nil
}

type sglangItem struct {
	MetaInfo *struct {
		InputTokenLogprobs [][]json.RawMessage `json:"input_token_logprobs"`
	} `json:"meta_info"`
}

// decodeSGLang reads /generate with return_logprob: a list (one item per prompt; a single
// object when one prompt was sent as a list is also accepted) whose
// meta_info.input_token_logprobs entries are [logprob, token_id, text].
func decodeSGLang(b []byte, reqs []lm.Request, out []lm.Result) error {
	var items []sglangItem
	if err := json.Unmarshal(b, &items); err != nil {
		var one sglangItem
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return err
		}
		items = []sglangItem{one}
	}
	if len(items) != len(reqs) {
		return fmt.Errorf("%d items for %d prompts", len(items), len(reqs))
	}
	for i, it := range items {
		if it.MetaInfo == nil {
			return fmt.Errorf("item %d: meta_info missing", i)
		}
		in := it.MetaInfo.InputTokenLogprobs
		lps := make([]*float64, len(in))
		pieces := make([]string, len(in))
		for j, e := range in {
			if len(e) < 3 {
				return fmt.Errorf("item %d entry %d: want [logprob, id, text]", i, j)
			}
			var lp *float64
			if err := json.Unmarshal(e[0], &lp); err != nil {
				return fmt.Errorf("item %d entry %d: %w", i, j, err)
			}
			var txt *string
			if err := json.Unmarshal(e[2], &txt); err != nil {
				return fmt.Errorf("item %d entry %d: %w", i, j, err)
			}
			lps[j] = lp
			if txt != nil {
				pieces[j] = *txt
			}
		}
		first, ok := lm.FirstTargetFromEnd(pieces, reqs[i].Text(), len(reqs[i].Prompt))
		if !ok {
			return fmt.Errorf("item %d: token texts do not match the prompt text", i)
		}
		res, err := result(lps, first, len(in))
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
