package prompt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
)

// FlashRAG's QA prompt of the sequential pipeline (flashrag/prompt/base_prompt.py).
const (
	FlashRAGSystem = "Answer the question based on the given document. Only give me the answer and do not output any other words.\nThe following are given documents.\n\n{reference}"
	FlashRAGUser   = "Question: {question}"
	// UPRInstruction is UPR's fixed instruction (Sachan et al. 2022).
	UPRInstruction = "Please write a question based on this passage."
)

// Chat template names.
const (
	ChatPlain  = "plain"
	ChatLlama3 = "llama3"
	ChatChatML = "chatml"
	ChatInst   = "inst" // Llama-2 / Mistral [INST] ... [/INST]
)

// Template turns a question and passages into a prompt.
type Template struct {
	System string `json:"system"`
	User   string `json:"user"`
	Chat   string `json:"chat"`
	// Raw, when set (from a plain-text template file), is the whole prompt with {reference},
	// {question}, {title} and {text} placeholders; System, User and Chat are unused.
	Raw string `json:"raw,omitempty"`
	// Prefix is put between prompt and target; default by chat template.
	Prefix *string `json:"target_prefix,omitempty"`
	// Exact renders System and User byte for byte as FlashRAG's PromptTemplate.get_string
	// does (Python str.format, format_reference, the model's real chat template; chat plain or
	// llama3). The seed-compatible teacher uses it.
	Exact bool `json:"flashrag_exact,omitempty"`
}

// Default is FlashRAG's QA prompt in the given chat template ("" = plain).
func Default(chat string) Template {
	if chat == "" {
		chat = ChatPlain
	}
	return Template{System: FlashRAGSystem, User: FlashRAGUser, Chat: chat}
}

// Load reads a user template. A .json file holds {"system","user","chat","target_prefix"};
// any other file is a raw prompt with placeholders. chat overrides the file's chat template
// when not empty.
func Load(path, chat string) (Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Template{}, fmt.Errorf("prompt: %w", err)
	}
	var t Template
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(b, &t); err != nil {
			return Template{}, fmt.Errorf("prompt: %s: %w", path, err)
		}
		if t.User == "" && t.System == "" {
			return Template{}, fmt.Errorf("prompt: %s has neither system nor user", path)
		}
	} else {
		t.Raw = string(b)
		if !strings.Contains(t.Raw, "{question}") || !strings.Contains(t.Raw, "{reference}") && !strings.Contains(t.Raw, "{text}") {
			return Template{}, fmt.Errorf("prompt: %s needs {question} and {reference} (or {text}) placeholders", path)
		}
	}
	if chat != "" {
		t.Chat = chat
	}
	if t.Chat == "" {
		t.Chat = ChatPlain
	}
	return t, t.Validate()
}

// Validate checks the chat template name.
func (t Template) Validate() error {
	if t.Exact && t.Raw == "" {
		if t.Chat != ChatPlain && t.Chat != ChatLlama3 {
			return fmt.Errorf("prompt: FlashRAG-exact prompts are rendered for chat templates plain and llama3, not %q", t.Chat)
		}
		if _, err := t.exactQA("q", nil); err != nil {
			return err
		}
	}
	switch t.Chat {
	case ChatPlain, ChatLlama3, ChatChatML, ChatInst:
		return nil
	case "":
		return errors.New("prompt: chat template is empty")
	}
	return fmt.Errorf("prompt: unknown chat template %q (want plain, llama3, chatml or inst)", t.Chat)
}

// TargetPrefix is what separates the prompt from the target.
func (t Template) TargetPrefix() string {
	if t.Prefix != nil {
		return *t.Prefix
	}
	switch t.Chat {
	case ChatLlama3, ChatChatML:
		return ""
	}
	return " "
}

// Hash identifies the template (everything that changes the rendered text).
func (t Template) Hash() string {
	b, _ := json.Marshal(struct {
		T      Template
		Prefix string
	}{t, t.TargetPrefix()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// Reference renders passages as FlashRAG does: "Doc i(Title: t) text\n" each.
func Reference(docs []schemas.Passage) string {
	var b strings.Builder
	for i, d := range docs {
		b.WriteString("Doc ")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString("(Title: ")
		b.WriteString(d.Title())
		b.WriteString(") ")
		b.WriteString(d.Text())
		b.WriteString("\n")
	}
	return b.String()
}

func fill(s, question string, docs []schemas.Passage) string {
	r := strings.NewReplacer("{reference}", Reference(docs), "{question}", question,
		"{title}", firstTitle(docs), "{text}", firstText(docs))
	return r.Replace(s)
}

func firstTitle(d []schemas.Passage) string {
	if len(d) == 0 {
		return ""
	}
	return d[0].Title()
}

func firstText(d []schemas.Passage) string {
	if len(d) == 0 {
		return ""
	}
	return d[0].Text()
}

// Wrap applies the chat template to a system and a user message; the result ends where the
// assistant's reply starts.
func Wrap(chat, system, user string) string {
	switch chat {
	case ChatLlama3:
		return "<|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" + user + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	case ChatChatML:
		return "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"
	case ChatInst:
		return "[INST] " + system + "\n\n" + user + " [/INST]"
	}
	if system == "" {
		return user + "\nAnswer:"
	}
	return system + "\n" + user + "\nAnswer:"
}

// QA renders the answer-scoring prompt for a question and its passages (one passage for LSR,
// all k for generate-then-score).
func (t Template) QA(question string, docs []schemas.Passage) string {
	if t.Raw != "" {
		return fill(t.Raw, question, docs)
	}
	if t.Exact {
		if s, err := t.exactQA(question, docs); err == nil {
			return s
		}
		// Validate rejects exact templates that cannot render
	}
	return Wrap(t.Chat, fill(t.System, question, docs), fill(t.User, question, docs))
}

// UPR renders UPR's prompt for one passage; the target is the question.
func (t Template) UPR(d schemas.Passage) string {
	body := "Passage: " + d.Title() + ". " + d.Text() + "\n" + UPRInstruction
	if t.Chat == ChatPlain {
		return body + "\nQuestion:"
	}
	return Wrap(t.Chat, "", body)
}
