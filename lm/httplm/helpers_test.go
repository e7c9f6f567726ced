package httplm_test

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/lsrflow/lsrflow/schemas"
)

type promptPassage struct{ title, text string }

func toSchema(ps []promptPassage) []schemas.Passage {
	out := make([]schemas.Passage, len(ps))
	for i, p := range ps {
		out[i] = schemas.Passage{ID: "d", Contents: p.title + "\n" + p.text}
	}
	return out
}

func readAll(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

type readCloser struct{ io.Reader }

func (readCloser) Close() error { return nil }

// textOrIDs returns the prompt text of a request body: TGI's "inputs", vLLM's "prompt" or
// SGLang's "text" (empty when the prompt is ids).
func textOrIDs(body string) string {
	var r map[string]any
	_ = json.Unmarshal([]byte(body), &r)
	for _, k := range []string{"inputs", "prompt", "text"} {
		if s, ok := r[k].(string); ok {
			return s
		}
	}
	return ""
}

// idsIn returns the token ids of a vLLM ("prompt") or SGLang ("input_ids") request body.
func idsIn(body string) []int {
	var r struct {
		Prompt   []int `json:"prompt"`
		InputIDs []int `json:"input_ids"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	if len(r.Prompt) > 0 {
		return r.Prompt
	}
	return r.InputIDs
}
