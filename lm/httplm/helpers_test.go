package httplm_test

import (
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
