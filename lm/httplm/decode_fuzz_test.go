package httplm

import (
	"os"
	"testing"

	"github.com/lsrflow/lsrflow/lm"
)

// FuzzDecoders: no server answer makes a decoder panic, and an accepted answer gives exactly
// one log-probability per target id of every pair.
func FuzzDecoders(f *testing.F) {
	for _, name := range []string{"tgi2_llama32_prefill.json", "tgi2_llama7b_prefill.json", "tgi3_no_prefill.json", "llamacpp_echo_llama2.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(3), uint8(1))
	}
	f.Add([]byte(`{"choices":[{"index":0,"logprobs":{"tokens":["a","b","c"],"token_logprobs":[null,-1,-2]}}]}`), uint8(2), uint8(1))
	f.Add([]byte(`{"choices":[{"index":0,"prompt_logprobs":[null,{"7":{"logprob":-1.5,"rank":2,"decoded_token":"x"}}],"prompt_token_ids":[5,7]}]}`), uint8(2), uint8(1))
	f.Add([]byte(`[{"meta_info":{"input_token_logprobs":[[null,5,null],[-0.5,7,"x"]]}}]`), uint8(2), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, n, ctx uint8) {
		if n == 0 || n > 16 || ctx == 0 || ctx >= n {
			return
		}
		ids := make([]int, n)
		for i := range ids {
			ids[i] = 5 + 2*i // 5, 7, 9, ... as in the seeds
		}
		p := lm.Pair{IDs: ids, ContextLen: int(ctx)}
		check := func(rs []lm.Result, err error) {
			if err != nil {
				return
			}
			for _, r := range rs {
				if len(r.TokenLogprobs) != int(n-ctx) {
					t.Fatalf("%d log-probabilities for %d target ids", len(r.TokenLogprobs), n-ctx)
				}
			}
		}
		out := make([]lm.Result, 1)
		check(out, decodeVLLMEcho(body, []lm.Pair{p}, out))
		check(out, decodeVLLMPrompt(body, []lm.Pair{p}, out))
		check(out, decodeSGLang(body, []lm.Pair{p}, out))
		var one lm.Result
		err := decodeTGI(body, p, &one)
		check([]lm.Result{one}, err)
		_, _ = overflowFrom(string(body))
	})
}
