#!/usr/bin/python3
"""Writes a small BERT-style WordPiece tokenizer.json (uncased, like bert-base-uncased's layout:
BertNormalizer, BertPreTokenizer, WordPiece, TemplateProcessing [CLS] $A [SEP]).

usage: make_bert_tokenizer.py OUT_PATH [MAX_LENGTH]
"""
import json
import string
import sys

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "quick", "brown", "fox", "jump", "hello", "world", "cafe", "naive", "resume",
         "un", "token", "em", "i", "a", "is", "of", "query", "passage", "what", "capital",
         "france", "paris", "zurich", "uber", "s", "e"]
SUFFIXES = ["s", "ed", "ing", "believ", "able", "izer", "bed", "ding", "ly", "er", "ation"]
CJK = ["中", "国", "人", "北", "京", "日", "本"]


def vocab():
    toks = list(SPECIAL)
    toks += list(string.punctuation)
    toks += list(string.digits)
    toks += list(string.ascii_lowercase)
    toks += ["##" + c for c in string.ascii_lowercase]
    toks += ["##" + d for d in string.digits]
    toks += CJK
    for w in WORDS + ["##" + s for s in SUFFIXES]:
        if w not in toks:
            toks.append(w)
    return {t: i for i, t in enumerate(toks)}


def tokenizer_json(max_length=None):
    v = vocab()
    return {
        "version": "1.0",
        "truncation": None if not max_length else {
            "direction": "Right", "max_length": max_length, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [{"id": v[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for t in SPECIAL],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [v[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": v},
    }


if __name__ == "__main__":
    ml = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(ml), f, ensure_ascii=False, indent=1)
