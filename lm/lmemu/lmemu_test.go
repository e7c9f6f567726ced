package lmemu_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lsrflow/lsrflow/lm/lmemu"
	"github.com/lsrflow/lsrflow/lm/lmemu/emutest"
)

// TestDecodingMatchesHuggingFace: the emulator's per-token and whole decoding (without
// transformers' clean-up, which the tokenizers library does not do) equals the library's on
// QED passages and tricky strings: split multi-byte characters become U+FFFD exactly as its
// ByteLevel decoder makes them.
func TestDecodingMatchesHuggingFace(t *testing.T) {
	raw, _ := emutest.Load(t)
	path, _ := emutest.Paths(t)
	texts := []string{"<|begin_of_text|>Hello , world !", "東京 – Tōkyō, Zürich ; naïve café 🙂", "don't  \n\n  x", "Maria Skłodowska - Curie , 1903 .", "𓀀 ꙮ ᚠᛇᚻ ⵣ ཀྵ 𝔘𝔫𝔦 ꧁ ᠮᠣᠩ"}
	for _, q := range emutest.Queries(t, 3, 1) {
		texts = append(texts, q.Passages[0].Contents)
	}
	hf := emutest.HF(t, path, texts, true)
	plain, dec, tokDec := hf.Plain, hf.Decode, hf.TokenDecode
	tk := lmemu.NewTokenizer(raw, -1, true)
	fffd := 0
	for i, text := range texts {
		ids := tk.Encode(text, false)
		if !slices.Equal(ids, plain[i]) {
			t.Fatalf("text %d: ids differ from the library's", i)
		}
		if got := tk.Decode(ids, lmemu.CleanUpOff); got != dec[i] {
			t.Errorf("text %d: decode %q, library %q", i, got, dec[i])
		}
		for j, id := range ids {
			got := tk.DecodeOne(id, lmemu.CleanUpOff)
			if got != tokDec[i][j] {
				t.Errorf("text %d token %d (%d): %q, library %q", i, j, id, got, tokDec[i][j])
			}
			fffd += strings.Count(got, "\uFFFD")
		}
	}
	if fffd == 0 {
		t.Error("no token decoded to U+FFFD: the texts do not exercise split characters")
	}
}

// TestCleanUp is transformers' clean_up_tokenization on the strings it was written for.
func TestCleanUp(t *testing.T) {
	for in, want := range map[string]string{
		" ,": ",", "Zürich , Switzerland .": "Zürich, Switzerland.", "it 's": "it's", "do n't": "don't",
		"what ?": "what?", "wow !": "wow!", "a ' b": "a'b", "I 'm": "I'm", "we 've": "we've", "they 're": "they're", "a  ,": "a ,",
	} {
		if got := lmemu.CleanUp(in); got != want {
			t.Errorf("CleanUp(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestModelIsADistribution: exp of the log-probabilities over the whole vocabulary sums to 1,
// and the served values equal a dense recomputation.
func TestModelIsADistribution(t *testing.T) {
	raw, _ := emutest.Load(t)
	tk := lmemu.NewTokenizer(raw, -1, true)
	ids := tk.Encode("List: river stone garden\nCopy: river stone garden", true)
	m := lmemu.Model{V: tk.VocabSize()}
	d := m.Dists(ids)
	for _, j := range []int{1, len(ids) / 2, len(ids) - 1} {
		z := 0.0
		for v := 0; v < m.V; v++ {
			z += math.Exp(d[j].Logprob(v))
		}
		if math.Abs(z-1) > 1e-9 {
			t.Errorf("position %d: probabilities sum to %v", j, z)
		}
		if got, want := d[j].Logprob(ids[j]), emutest.Logprob(ids, j, m.V); math.Abs(got-want) > 1e-9 {
			t.Errorf("position %d: %v, dense %v", j, got, want)
		}
	}
	// The copy continues with near certainty (induction), an unrelated token does not.
	last := len(ids) - 1
	if lp := d[last].Logprob(ids[last]); lp < -0.5 {
		t.Errorf("copied token log-probability %v", lp)
	}
}

// TestVLLMEchoOffsets: text_offset is a running sum of each token's own decoded length
// (serving_completion.py _create_completion_logprobs): it starts at 0 with the BOS string, so
// every later offset is 17 characters past the text's, and a cleaned-up " ," is one shorter.
func TestVLLMEchoOffsets(t *testing.T) {
	raw, _ := emutest.Load(t)
	for _, cleanUp := range []bool{true, false} {
		tk := lmemu.NewTokenizer(raw, -1, cleanUp)
		srv, _ := lmemu.New(lmemu.Options{Kind: lmemu.VLLM, Tokenizer: tk})
		ts := httptest.NewServer(srv)
		text := "Zürich , the city"
		body := `{"model":"meta-llama/Meta-Llama-3-8B-Instruct","prompt":` + quote(text) + `,"max_tokens":1,"echo":true,"logprobs":1}`
		resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Choices []struct {
				Text     string `json:"text"`
				Logprobs struct {
					Tokens        []string   `json:"tokens"`
					TokenLogprobs []*float64 `json:"token_logprobs"`
					TextOffset    []int      `json:"text_offset"`
				} `json:"logprobs"`
			} `json:"choices"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		ts.Close()
		lp := r.Choices[0].Logprobs
		if lp.Tokens[0] != "<|begin_of_text|>" || lp.TokenLogprobs[0] != nil || lp.TextOffset[1] != 17 {
			t.Fatalf("cleanup=%v: first token %q logprob %v, second offset %d", cleanUp, lp.Tokens[0], lp.TokenLogprobs[0], lp.TextOffset[1])
		}
		if !strings.HasPrefix(r.Choices[0].Text, text) {
			t.Errorf("echoed text %q", r.Choices[0].Text)
		}
		// The offset of " the" within the text is 9 characters; vLLM's is 17 + 9 - (1 if the
		// " ," token lost its space).
		want := 17 + utf8.RuneCountInString("Zürich ,")
		if cleanUp {
			want--
		}
		for i, tok := range lp.Tokens {
			if tok == " the" && lp.TextOffset[i] != want {
				t.Errorf("cleanup=%v: offset of \" the\" %d, want %d", cleanUp, lp.TextOffset[i], want)
			}
		}
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
