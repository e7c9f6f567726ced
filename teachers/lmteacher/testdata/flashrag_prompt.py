#!/usr/bin/python3
"""Independent Python reimplementation of what the RAG-Retrieval experiment's
get_lm_probs_dataset.py feeds its LM, written from FlashRAG's source (not imported from it):

- flashrag/prompt/base_prompt.py, PromptTemplate: the default system prompt is the
  concatenation of three string literals; get_string(question, retrieval_result=[doc])
  formats the system and user prompts with str.format, the reference block with
  format_reference; a chat model (framework openai, or "chat"/"instruct" in the lower-cased
  model path, or is_reasoning) gets its non-empty messages through the tokenizer's
  apply_chat_template(tokenize=False, add_generation_prompt=True); otherwise they are joined
  by a blank line.
- transformers' apply_chat_template renders the tokenizer_config.json chat_template with a
  jinja2 ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loopcontrols),
  passing messages, add_generation_prompt and the special tokens (bos_token, eos_token).
- flashrag/generator/generator.py, cal_gen_probs(prompt, answer): the answer's tokens follow
  the prompt's directly, so the scored text is prompt + answer with nothing in between.

usage: flashrag_prompt.py TOKENIZER_CONFIG_JSON MODEL_PATH CASES_JSON
CASES_JSON: [{"question", "contents", "answer"}]; prints [{"prompt", "target"}] as JSON.
"""
import json
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox

SYSTEM = (
    "Answer the question based on the given document."
    "Only give me the answer and do not output any other words."
    "\nThe following are given documents.\n\n{reference}"
)
USER = "Question: {question}"


def format_reference(docs):
    out = ""
    for idx, doc in enumerate(docs):
        content = doc["contents"]
        title = content.split("\n")[0]
        text = "\n".join(content.split("\n")[1:])
        out += f"Doc {idx+1}(Title: {title}) {text}\n"
    return out


class Template:
    def __init__(self, tokenizer_config, model_path, framework="hf", is_reasoning=False):
        name = model_path.lower()
        self.is_chat = framework == "openai" or "chat" in name or "instruct" in name or is_reasoning
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        self.chat_template = env.from_string(tokenizer_config["chat_template"])
        self.special = {k: tokenizer_config[k] for k in ("bos_token", "eos_token") if k in tokenizer_config}

    def apply_chat_template(self, messages):
        return self.chat_template.render(messages=messages, add_generation_prompt=True, **self.special)

    def get_string(self, question, retrieval_result):
        params = {"question": question, "reference": format_reference(retrieval_result)}
        system_prompt = SYSTEM.format(**params)
        user_prompt = USER.format(**params)
        if self.is_chat:
            messages = []
            if system_prompt != "":
                messages.append({"role": "system", "content": system_prompt})
            if user_prompt != "":
                messages.append({"role": "user", "content": user_prompt})
            return self.apply_chat_template(messages)
        return "\n\n".join(p for p in [system_prompt, user_prompt] if p != "")


def main():
    config = json.load(open(sys.argv[1], encoding="utf-8"))
    tmpl = Template(config, sys.argv[2])
    cases = json.load(open(sys.argv[3], encoding="utf-8"))
    out = []
    for c in cases:
        prompt = tmpl.get_string(c["question"], [{"contents": c["contents"]}])
        out.append({"prompt": prompt, "target": c["answer"]})
    json.dump(out, sys.stdout, ensure_ascii=False)


main()
