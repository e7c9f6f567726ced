package httplm_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/lm/httplm"
	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

// TestSeparateLayout: requests with the seed teacher's layout (lm.LayoutSeparate) score the
// separately encoded ids of cal_gen_probs through every emulated server, locally tokenized or
// through /tokenize, within 1e-6 of the recomputation — except where TGI, which takes only
// text and always adds BOS, cannot be given those ids: a prompt without BOS, or an answer
// that merges with the prompt's end when tokenized as one text. Those fail at once with a
// permanent error naming the backends that can, before any scoring request is sent.
func TestSeparateLayout(t *testing.T) {
	raw, _ := emutest.Load(t)
	local, err := lm.NewLocalTokenizer(raw, "llama3")
	if err != nil {
		t.Fatal(err)
	}
	chat := bosText + prompt.Wrap(prompt.ChatLlama3, "Answer from the passage.", "Where is Zürich? Doc: Zürich , the largest city of Switzerland .")
	plain := "Doc: Zürich , the largest city of Switzerland .\n\nQuestion: where is Zürich?"
	ok := []lm.Request{
		{Prompt: chat, Target: "Zürich , Switzerland"},
		{Prompt: chat, Target: "東京 – Tōkyō"},
		{Prompt: chat, Target: " spaced answer "},
		{Prompt: chat, Target: "1903"},
	}
	merged := lm.Request{Prompt: chat, Target: "\n1903"} // "\n\n" + "\n" merge into one token
	noBOS := lm.Request{Prompt: plain, Target: "Switzerland"}
	for i := range ok {
		ok[i].Layout = lm.LayoutSeparate
	}
	merged.Layout, noBOS.Layout = lm.LayoutSeparate, lm.LayoutSeparate
	all := append(append([]lm.Request{}, ok...), merged, noBOS)
	want := make([]float64, len(all))
	for i, r := range all {
		ids, ctx := emutest.SeparateIDs(raw, r.Prompt, r.Target)
		for _, l := range emutest.TokenLogprobs(ids, ctx, raw.VocabSize()) {
			want[i] += l
		}
	}
	for _, b := range backends {
		for _, tokSrc := range []string{"local", "server"} {
			t.Run(fmt.Sprintf("%s-on-%s/%s", b.client, b.server, tokSrc), func(t *testing.T) {
				var tok lm.Tokenizer
				if tokSrc == "local" {
					tok = local
				}
				c, srv := b.start(t, lmemu.Options{Tokenizer: lmemu.NewTokenizer(raw, -1, true)}, tok)
				reqs := all
				if b.client == httplm.KindTGI {
					reqs = ok
				}
				res, err := c.Score(t.Context(), reqs)
				if err != nil {
					t.Fatal(err)
				}
				for i := range reqs {
					if math.Abs(res[i].Sum()-want[i]) > 1e-6 {
						t.Errorf("pair %d (%q): sum %.9f, recomputed %.9f", i, reqs[i].Target, res[i].Sum(), want[i])
					}
				}
				if b.client != httplm.KindTGI {
					return
				}
				for _, r := range []lm.Request{merged, noBOS} {
					before := srv.Calls()
					_, err := c.Score(t.Context(), []lm.Request{r})
					if err == nil || !streams.IsPermanent(err) || !strings.Contains(err.Error(), "--backend vllm or sglang") {
						t.Fatalf("%q: want a permanent error naming vllm and sglang, got %v", r.Target, err)
					}
					if n := srv.Calls() - before; n != 0 {
						t.Errorf("%q: %d scoring requests sent for a layout TGI cannot score", r.Target, n)
					}
				}
			})
		}
	}
	// Text prompts are tokenized by the server as one text: refused for the separate layout.
	ts, _ := emutest.Start(t, lmemu.Options{Kind: lmemu.VLLM, Tokenizer: lmemu.NewTokenizer(raw, -1, true)})
	c := newClient(t, httplm.KindVLLM, ts.URL, local, func(o *httplm.Options) { o.SendText = true })
	if _, err := c.Score(t.Context(), ok[:1]); err == nil || !streams.IsPermanent(err) {
		t.Fatalf("SendText with the separate layout: want a permanent error, got %v", err)
	}
}
