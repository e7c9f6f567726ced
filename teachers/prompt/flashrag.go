package prompt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/textnorm"
)

// FlashRAG's default prompts exactly as flashrag/prompt/base_prompt.py builds them
// (PromptTemplate.base_system_prompt concatenates string literals, so "document." and "Only"
// meet without a space).
const (
	FlashRAGSystemExact = "Answer the question based on the given document." +
		"Only give me the answer and do not output any other words." +
		"\nThe following are given documents.\n\n{reference}"
	FlashRAGUserExact = "Question: {question}"
)

// Llama-3 Instruct's special tokens as its chat template writes them.
const (
	llama3BOS       = "<|begin_of_text|>"
	llama3Header    = "<|start_header_id|>"
	llama3HeaderEnd = "<|end_header_id|>\n\n"
	llama3EOT       = "<|eot_id|>"
)

// FlashRAG is the template of the seed-compatible teacher: FlashRAG's default prompts,
// rendered byte for byte as PromptTemplate.get_string renders them for one retrieved passage
// (see Exact), with the target appended directly after the prompt as cal_gen_probs appends the
// answer's tokens.
func FlashRAG(chat string) Template {
	if chat == "" {
		chat = ChatPlain
	}
	empty := ""
	return Template{System: FlashRAGSystemExact, User: FlashRAGUserExact, Chat: chat, Exact: true, Prefix: &empty}
}

// FlashRAGReference is PromptTemplate.format_reference: per passage "Doc {i}(Title: {title})
// {text}\n", where title is the contents up to the first newline (all of it when there is
// none) and text the rest.
func FlashRAGReference(docs []schemas.Passage) string {
	var b strings.Builder
	for i, d := range docs {
		title, text, _ := strings.Cut(d.Contents, "\n")
		b.WriteString("Doc ")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString("(Title: ")
		b.WriteString(title)
		b.WriteString(") ")
		b.WriteString(text)
		b.WriteString("\n")
	}
	return b.String()
}

// pyFormat is str.format for templates whose only fields are {reference} and {question}: each
// field is replaced once, values are not scanned again, "{{" and "}}" are literal braces.
func pyFormat(tmpl, reference, question string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		switch {
		case c == '{' && strings.HasPrefix(tmpl[i:], "{{"):
			b.WriteByte('{')
			i += 2
		case c == '}' && strings.HasPrefix(tmpl[i:], "}}"):
			b.WriteByte('}')
			i += 2
		case c == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("prompt: unmatched '{' in %q", tmpl)
			}
			switch name := tmpl[i+1 : i+end]; name {
			case "reference":
				b.WriteString(reference)
			case "question":
				b.WriteString(question)
			default:
				return "", fmt.Errorf("prompt: unknown field {%s} (FlashRAG's templates take {reference} and {question})", name)
			}
			i += end + 1
		case c == '}':
			return "", fmt.Errorf("prompt: single '}' in %q", tmpl)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// exactQA renders PromptTemplate.get_string(question, retrieval_result=docs): the system and
// user prompts formatted with the reference block and the question; for a chat model the
// non-empty ones become messages through the model's chat template (add_generation_prompt),
// otherwise they are joined by a blank line. FlashRAG's truncation of prompts longer than
// generator_max_input_len tokens is not reproduced (one passage never reaches it).
func (t Template) exactQA(question string, docs []schemas.Passage) (string, error) {
	ref := FlashRAGReference(docs)
	sys, err := pyFormat(t.System, ref, question)
	if err != nil {
		return "", err
	}
	user, err := pyFormat(t.User, ref, question)
	if err != nil {
		return "", err
	}
	switch t.Chat {
	case ChatLlama3:
		return Llama3Chat([][2]string{{"system", sys}, {"user", user}}), nil
	case ChatPlain:
		var parts []string
		for _, p := range []string{sys, user} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, "\n\n"), nil
	}
	return "", fmt.Errorf("prompt: no exact FlashRAG rendering for chat template %q (plain or llama3)", t.Chat)
}

// Llama3Chat renders messages (role, content) with Meta-Llama-3-Instruct's chat template and
// the generation prompt: BOS before the first message, each message as a header, its content
// stripped of surrounding whitespace (Jinja's trim, i.e. Python's str.strip) and <|eot_id|>,
// then the assistant header. Empty messages are left out, as get_string leaves them out.
func Llama3Chat(messages [][2]string) string {
	var b strings.Builder
	first := true
	for _, m := range messages {
		if m[1] == "" {
			continue
		}
		if first {
			b.WriteString(llama3BOS)
			first = false
		}
		b.WriteString(llama3Header + m[0] + llama3HeaderEnd)
		b.WriteString(strings.TrimFunc(m[1], textnorm.IsSpace))
		b.WriteString(llama3EOT)
	}
	b.WriteString(llama3Header + "assistant" + llama3HeaderEnd)
	return b.String()
}
