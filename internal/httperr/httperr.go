// Package httperr reads the message out of the JSON error bodies that model servers answer
// with: OpenAI-style {"error": {"message": ...}}, TGI/TEI-style {"error": "..."}, and vLLM
// 0.x / TEI OpenAI-compat {"message": ...}.
package httperr

import "encoding/json"

// Message returns the error message of body and true, or "" and false when body is not one of
// the shapes above.
func Message(body []byte) (string, bool) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", false
	}
	var s string
	var o struct {
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(v.Error, &s) == nil && s != "":
		return s, true
	case json.Unmarshal(v.Error, &o) == nil && o.Message != "":
		return o.Message, true
	case v.Message != "":
		return v.Message, true
	}
	return "", false
}
