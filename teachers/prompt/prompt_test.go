package prompt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers/prompt"
)

var doc = schemas.Passage{ID: "1", Contents: "Apollo 11\nApollo 11 landed in 1969."}

func TestFlashRAGDefault(t *testing.T) {
	got := prompt.Default("").QA("when did apollo 11 land", []schemas.Passage{doc})
	want := "Answer the question based on the given document. Only give me the answer and do not output any other words.\nThe following are given documents.\n\nDoc 1(Title: Apollo 11) Apollo 11 landed in 1969.\n\nQuestion: when did apollo 11 land\nAnswer:"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if prompt.Default("").TargetPrefix() != " " {
		t.Error("plain prompts put a space before the target")
	}
}

func TestChatTemplates(t *testing.T) {
	for chat, end := range map[string]string{
		"llama3": "<|start_header_id|>assistant<|end_header_id|>\n\n",
		"chatml": "<|im_start|>assistant\n",
		"inst":   " [/INST]",
	} {
		tm := prompt.Default(chat)
		p := tm.QA("q?", []schemas.Passage{doc})
		if !strings.HasSuffix(p, end) || !strings.Contains(p, "Doc 1(Title: Apollo 11)") || !strings.Contains(p, "Question: q?") {
			t.Errorf("%s: %q", chat, p)
		}
		if tm.Hash() == prompt.Default("").Hash() {
			t.Errorf("%s: hash equals the plain template's", chat)
		}
	}
	if err := prompt.Default("nope").Validate(); err == nil {
		t.Error("unknown chat template accepted")
	}
}

func TestTemplateFiles(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "t.txt")
	os.WriteFile(raw, []byte("Context: {text}\nQ: {question}\nA:"), 0o644)
	tm, err := prompt.Load(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.QA("q?", []schemas.Passage{doc}); got != "Context: Apollo 11 landed in 1969.\nQ: q?\nA:" {
		t.Errorf("raw template: %q", got)
	}
	js := filepath.Join(dir, "t.json")
	os.WriteFile(js, []byte(`{"system":"Docs:\n{reference}","user":"Q: {question}","chat":"chatml"}`), 0o644)
	tm2, err := prompt.Load(js, "")
	if err != nil {
		t.Fatal(err)
	}
	if p := tm2.QA("q?", []schemas.Passage{doc}); !strings.HasPrefix(p, "<|im_start|>system\nDocs:\nDoc 1(Title: Apollo 11)") || tm2.TargetPrefix() != "" {
		t.Errorf("json template: %q", p)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("no placeholders"), 0o644)
	if _, err := prompt.Load(bad, ""); err == nil {
		t.Error("template without placeholders accepted")
	}
}

func TestFlashRAGExactTemplate(t *testing.T) {
	tm := prompt.FlashRAG("")
	if tm.TargetPrefix() != "" || tm.Validate() != nil {
		t.Errorf("FlashRAG(plain): prefix %q, validate %v", tm.TargetPrefix(), tm.Validate())
	}
	// FlashRAG's literals meet without a space; plain prompts join system and user by a blank line
	want := "Answer the question based on the given document.Only give me the answer and do not output any other words.\nThe following are given documents.\n\nDoc 1(Title: Apollo 11) Apollo 11 landed in 1969.\n\n\nQuestion: when?"
	if got := tm.QA("when?", []schemas.Passage{doc}); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if tm.Hash() == prompt.Default("").Hash() {
		t.Error("the exact template hashes like the default one")
	}
	if err := prompt.FlashRAG("chatml").Validate(); err == nil {
		t.Error("an exact chatml template validated")
	}
	bad := prompt.FlashRAG("plain")
	bad.User = "Q: {query}"
	if err := bad.Validate(); err == nil {
		t.Error("an unknown {field} validated")
	}
	if got := prompt.FlashRAGReference([]schemas.Passage{{Contents: "no newline"}}); got != "Doc 1(Title: no newline) \n" {
		t.Errorf("reference without a title line: %q", got)
	}
}
