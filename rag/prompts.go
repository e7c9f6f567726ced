package rag

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lsrflow/lsrflow/schemas"
)

// FlashRAG's prompts (flashrag/prompt/base_prompt.py, flashrag/pipeline/branching_pipeline.py),
// reproduced verbatim, including the missing spaces where FlashRAG concatenates string
// literals ("document.Only", "readingthe"): the published numbers were produced with them.
const (
	// QASystem is the default system prompt; {reference} is the rendered passages.
	QASystem = "Answer the question based on the given document." +
		"Only give me the answer and do not output any other words." +
		"\nThe following are given documents.\n\n{reference}"
	// QAUser is the default user prompt.
	QAUser = "Question: {question}"

	// SuReCandidates asks for two answer candidates.
	SuReCandidates = "Below are {N} passages related to the question at the end. After reading" +
		"the passages, provide two correct candidates for the answer to the" +
		"question at the end. Each answer should be in the form: (a) xx, (b)" +
		"yy, and should not exceed 3 words for each candidate.\n\n" +
		"{reference}" +
		"Question: {question}\n" +
		"Answer:"
	// SuReSummary asks for a summary supporting one candidate.
	SuReSummary = "Reference:\n{reference}\n" +
		"Your job is to act as a professional writer. You need to write a" +
		"good-quality passage that can support the given prediction about the" +
		"question only based on the information in the provided supporting passages.\n" +
		"Now, let's start. After you write, please write [DONE] to indicate you" +
		"are done. Do not write a prefix (e.g., 'Response:') while writing a passage.\n" +
		"Question: {question}\n" +
		"Prediction: {pred}\n" +
		"Passage:"
	// SuReValidate asks whether a summary supports its candidate.
	SuReValidate = "Question: {question}\n" +
		"Prediction: {pred}\n" +
		"Passage: {summary}\n" +
		"Does the passage correctly support the prediction? Choices: [True,False].\n" +
		"Answer:"
	// SuReRank asks which of two summaries is more informative.
	SuReRank = "Question: Given the following passages, determine which one provides a" +
		"more informative answer to the subsequent question.\n" +
		"Passage 1: {summary1}\n" +
		"Passage 2: {summary2}\n" +
		"Target Question: {question}\n" +
		"Your Task:\n" +
		"Identify which passage (Passage 1 or Passage 2) is more relevant and" +
		"informative to answer the question at hand. Choices: [Passage 1,Passage 2].\n" +
		"Answer:"
)

// fill replaces {name} placeholders in one pass, like Python's str.format with only named
// fields: the substituted values are not scanned again.
func fill(tmpl string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		name := tmpl[i+1 : i+j]
		if v, ok := vars[name]; ok {
			b.WriteString(tmpl[:i])
			b.WriteString(v)
		} else {
			b.WriteString(tmpl[:i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
}

// splitContents is FlashRAG's title/text split: the first line is the title, the rest
// (joined by newlines) the text.
func splitContents(contents string) (title, text string) {
	title, text, _ = strings.Cut(contents, "\n")
	return title, text
}

// FormatReference renders passages as FlashRAG's default reference block:
// "Doc {i}(Title: {title}) {text}\n" per passage, i from 1.
func FormatReference(docs []schemas.Passage) string {
	var b strings.Builder
	for i, d := range docs {
		title, text := splitContents(d.Contents)
		fmt.Fprintf(&b, "Doc %d(Title: %s) %s\n", i+1, title, text)
	}
	return b.String()
}

// FormatSingle renders one passage as FlashRAG's REPLUG pipeline does.
func FormatSingle(d schemas.Passage) string {
	title, text := splitContents(d.Contents)
	return "Document(Title: " + title + "): " + text
}

// FormatSuRe renders passages as SuRe's reference block.
func FormatSuRe(docs []schemas.Passage) string {
	var b strings.Builder
	for i, d := range docs {
		title, text := splitContents(d.Contents)
		n := strconv.Itoa(i + 1)
		b.WriteString("Passage #" + n + " Title: " + title + "\n")
		b.WriteString("Passage #" + n + " Text: " + text + "\n\n")
	}
	return b.String()
}

// qaMessages is the default template's chat: system prompt with the reference, user question.
func qaMessages(question, reference string) []Message {
	vars := map[string]string{"question": question, "reference": reference}
	return []Message{{Role: "system", Content: fill(QASystem, vars)}, {Role: "user", Content: fill(QAUser, vars)}}
}

// userOnly is a template with an empty system prompt: FlashRAG sends only the user message.
func userOnly(tmpl string, vars map[string]string) []Message {
	return []Message{{Role: "user", Content: fill(tmpl, vars)}}
}
