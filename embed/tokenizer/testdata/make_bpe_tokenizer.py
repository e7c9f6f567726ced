#!/usr/bin/python3
"""Writes small BPE tokenizer.json files for lsrflow's Go tokenizer tests. The merges are learned
by a few rounds of plain BPE training (most frequent adjacent pair, ties to the smallest pair)
over CORPUS, pre-tokenized with the reference pre-tokenizer of hfref.py.

usage: make_bpe_tokenizer.py OUT_PATH VARIANT
VARIANT:
  gpt2     ByteLevel(add_prefix_space=false), byte-level BPE, no unk, <|endoftext|> added token,
           ByteLevel post-processor, merges written as "a b" strings
  roberta  ByteLevel(add_prefix_space=true), ignore_merges, RobertaProcessing <s> </s>, merges
           written as [a, b] pairs, plus whole-word tokens no merge sequence reaches
  chars    BertPreTokenizer, character BPE with continuing_subword_prefix "##",
           end_of_word_suffix "</w>", unk [UNK] with fuse_unk
  nofuse   chars with fuse_unk false
  fallback chars with byte_fallback and <0xXX> tokens for the bytes 0x00..0xEF only (so the lead bytes of 4-byte
           characters still fall to [UNK])
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hfref  # noqa: E402

CORPUS = """The quick brown fox jumps over the lazy dog. The dog doesn't mind; it's lazy.
Hello, World! Hello there, hello again. Tokenizers split text into tokens, and tokens into ids.
Café crème brûlée, naïve résumé. 中国人 北京 日本. Numbers: 123, 4567, 2024-01-01.
We're here, they've gone, I'm done, you'll see, he'd know.   Spaces   and
newlines
  indent and the end.
"""
ROUNDS = 120


def train(words, prefix, suffix, alphabet, rounds):
    """words: {word: count}; returns (vocab list, merges list)."""
    seqs = {}
    for w in words:
        seqs[w] = [(prefix if i else "") + ch + (suffix if i == len(w) - 1 else "") for i, ch in enumerate(w)]
    vocab = list(alphabet)
    for s in seqs.values():
        for t in s:
            if t not in vocab:
                vocab.append(t)
    merges = []
    for _ in range(rounds):
        pairs = collections.Counter()
        for w, s in seqs.items():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        best = max(pairs.values())
        a, b = min(p for p, c in pairs.items() if c == best)
        new = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        merges.append((a, b))
        if new not in vocab:
            vocab.append(new)
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def main():
    out, variant = sys.argv[1], sys.argv[2]
    cfg = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
           "normalizer": None, "decoder": None}
    if variant in ("gpt2", "roberta"):
        pre = {"type": "ByteLevel", "add_prefix_space": variant == "roberta", "trim_offsets": True,
               "use_regex": True}
        split = hfref.make_pre(pre)
        words = collections.Counter(w for line in CORPUS.split("\n") for w in split(line + "\n", True))
        alphabet = [hfref.BYTE_CHARS[b] for b in range(256)]
        specials = ["<|endoftext|>"] if variant == "gpt2" else ["<s>", "<pad>", "</s>", "<unk>"]
        vocab, merges = train(words, "", "", specials + alphabet, ROUNDS)
        if variant == "roberta":
            for w in ["Ġunbelievable", "Ġtokenization", "Hello"]:
                vocab.append(w)
        ids = {t: i for i, t in enumerate(vocab)}
        model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                 "ignore_merges": variant == "roberta", "vocab": ids}
        if variant == "gpt2":
            model["merges"] = ["%s %s" % m for m in merges]
            cfg["added_tokens"] = [{"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True}]
            cfg["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                     "use_regex": True}
        else:
            model["merges"] = [list(m) for m in merges]
            cfg["added_tokens"] = [{"id": ids[t], "content": t, "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True} for t in specials]
            cfg["post_processor"] = {"type": "Sequence", "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                 "trim_offsets": True, "add_prefix_space": True}]}
        cfg["pre_tokenizer"] = pre
        cfg["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    else:
        pre = {"type": "BertPreTokenizer"}
        split = hfref.make_pre(pre)
        words = collections.Counter(w for w in split(CORPUS.lower(), True))
        prefix, suffix = "##", "</w>"
        alphabet = ["[UNK]"]
        if variant == "fallback":
            alphabet += ["<0x%02X>" % b for b in range(0xF0)]
        vocab, merges = train(words, prefix, suffix, alphabet, ROUNDS)
        ids = {t: i for i, t in enumerate(vocab)}
        model = {"type": "BPE", "dropout": None, "unk_token": "[UNK]", "continuing_subword_prefix": prefix,
                 "end_of_word_suffix": suffix, "fuse_unk": variant != "nofuse",
                 "byte_fallback": variant == "fallback", "ignore_merges": False, "vocab": ids,
                 "merges": ["%s %s" % m for m in merges]}
        cfg["pre_tokenizer"] = pre
        cfg["normalizer"] = {"type": "Lowercase"}
        cfg["post_processor"] = None
    cfg["model"] = model
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
