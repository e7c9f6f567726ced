#!/usr/bin/python3
"""A Python tokenizer written from Hugging Face tokenizers' documented algorithms.

The parity tests now use Hugging Face's own library (testdata/hfref.js); this module remains
as the pre-tokenizer make_bpe_tokenizer.py learns its merges with.

usage: hfref.py TOKENIZER_JSON INPUTS_JSON [--special] [--max-length N]
INPUTS_JSON is a JSON list of strings; prints a JSON list of id lists.
"""
import heapq
import json
import re
import sys
import unicodedata

WHITE_SPACE = set([0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
                  + list(range(0x09, 0x0E)) + list(range(0x2000, 0x200B)))
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_ws(ch):
    return ord(ch) in WHITE_SPACE


def bert_normalizer(cfg):
    clean = cfg.get("clean_text", True)
    cjk = cfg.get("handle_chinese_chars", True)
    lower = cfg.get("lowercase", True)
    strip = cfg.get("strip_accents")
    if strip is None:
        strip = lower

    def run(s):
        if clean:
            out = []
            for ch in s:
                if ord(ch) in (0, 0xFFFD):
                    continue
                if ch not in "\t\n\r" and unicodedata.category(ch)[0] == "C":
                    continue
                out.append(" " if is_ws(ch) else ch)
            s = "".join(out)
        if cjk:
            s = "".join(" %s " % ch if any(a <= ord(ch) <= b for a, b in CJK) else ch for ch in s)
        if strip:
            s = "".join(ch for ch in unicodedata.normalize("NFD", s) if unicodedata.category(ch) != "Mn")
        if lower:
            s = "".join(ch.lower() for ch in s)
        return s
    return run


def make_normalizer(cfg):
    if cfg is None:
        return lambda s: s
    t = cfg["type"]
    if t == "Sequence":
        parts = [make_normalizer(c) for c in cfg["normalizers"]]

        def seq(s):
            for p in parts:
                s = p(s)
            return s
        return seq
    if t == "BertNormalizer":
        return bert_normalizer(cfg)
    if t == "Lowercase":
        return lambda s: "".join(ch.lower() for ch in s)
    if t in ("NFD", "NFC", "NFKD", "NFKC"):
        return lambda s: unicodedata.normalize(t, s)
    if t == "StripAccents":
        return lambda s: "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    if t == "Replace":
        pat, content = cfg["pattern"], cfg["content"]
        if "String" in pat:
            return lambda s: s.replace(pat["String"], content)
        rx = re.compile(pat["Regex"])
        return lambda s: rx.sub(lambda m: content, s)
    if t == "Strip":
        def strip(s):
            if cfg.get("strip_left"):
                while s and is_ws(s[0]):
                    s = s[1:]
            if cfg.get("strip_right"):
                while s and is_ws(s[-1]):
                    s = s[:-1]
            return s
        return strip
    raise SystemExit("unsupported normalizer " + t)


def is_punct(ch):
    o = ord(ch)
    if o < 128:
        return ch in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    return unicodedata.category(ch)[0] == "P"


def byte_chars():
    """GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others take
    the code points from 256 upwards in byte order."""
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    table, extra = {}, 256
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


BYTE_CHARS = byte_chars()
_GPT2_RX = None


def _ranges_class(pred):
    """A regex character class body for all code points satisfying pred."""
    parts, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            ok = False
        else:
            ok = pred(chr(cp))
        if ok and start is None:
            start = cp
        if not ok and start is not None:
            parts.append((start, prev))
            start = None
        prev = cp
    if start is not None:
        parts.append((start, 0x10FFFF))
    return "".join("\\U%08x" % a if a == b else "\\U%08x-\\U%08x" % (a, b) for a, b in parts)


def gpt2_regex():
    """The GPT-2 split pattern with \\p{L}, \\p{N} and \\s (Unicode White_Space, as Oniguruma
    has it; Python's own \\s also takes U+001C..U+001F) spelled out as explicit classes, so that
    Python's backtracking engine, which has the lookahead Go lacks, runs it as written."""
    global _GPT2_RX
    if _GPT2_RX is None:
        L = _ranges_class(lambda c: unicodedata.category(c)[0] == "L")
        N = _ranges_class(lambda c: unicodedata.category(c)[0] == "N")
        S = "".join("\\U%08x" % cp for cp in sorted(WHITE_SPACE))
        pat = ("'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"
               .format(L=L, N=N, S=S))
        _GPT2_RX = re.compile(pat)
    return _GPT2_RX


def byte_level(cfg):
    prefix_space = cfg.get("add_prefix_space", True)
    use_regex = cfg.get("use_regex", True)

    def run(s, first):
        if not s:
            return []
        if prefix_space and not s.startswith(" "):
            s = " " + s
        pieces = gpt2_regex().findall(s) if use_regex else [s]
        assert "".join(pieces) == s, "GPT-2 pattern left characters unmatched"
        return ["".join(BYTE_CHARS[b] for b in p.encode("utf-8")) for p in pieces if p]
    return run


def make_pre(cfg):
    if cfg is None:
        return lambda s, first: [s]
    t = cfg["type"]
    if t == "BertPreTokenizer":
        def bert(s, first):
            words, cur = [], ""
            for ch in s:
                if is_ws(ch):
                    if cur:
                        words.append(cur)
                    cur = ""
                elif is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
            return words
        return bert
    if t == "Metaspace":
        rep = cfg.get("replacement", "\u2581")
        scheme = cfg.get("prepend_scheme", "always")
        split = cfg.get("split", True)

        def meta(s, first):
            if not s:
                return []
            s = s.replace(" ", rep)
            if (scheme == "always" or (scheme == "first" and first)) and not s.startswith(rep):
                s = rep + s
            if not split:
                return [s]
            return [p for p in re.split("(?=%s)" % re.escape(rep), s) if p]
        return meta
    if t == "ByteLevel":
        return byte_level(cfg)
    if t == "Sequence":
        parts = [make_pre(c) for c in cfg["pretokenizers"]]

        def seq(s, first):
            words = [s]
            for p in parts:
                words = [x for w in words for x in p(w, first)]
            return words
        return seq
    raise SystemExit("unsupported pre_tokenizer " + t)


def wordpiece(cfg):
    vocab = cfg["vocab"]
    unk = vocab[cfg.get("unk_token", "[UNK]")]
    prefix = cfg.get("continuing_subword_prefix", "##")
    limit = cfg.get("max_input_chars_per_word", 100)

    def run(word):
        if len(word) > limit:
            return [unk]
        ids, i = [], 0
        while i < len(word):
            j = len(word)
            while j > i:
                piece = (prefix if i else "") + word[i:j]
                if piece in vocab:
                    ids.append(vocab[piece])
                    break
                j -= 1
            else:
                return [unk]
            i = j
        return ids
    return run


def unigram(cfg):
    pieces = cfg["vocab"]
    index = {p: i for i, (p, _) in enumerate(pieces)}
    unk = cfg["unk_id"]
    unk_score = min(s for _, s in pieces) - 10.0
    longest = max(len(p) for p, _ in pieces)

    def run(word):
        n = len(word)
        if n == 0:
            return []
        # best[j] = (score, start, id) of the best segmentation of word[:j]
        best = [None] * (n + 1)
        best[0] = (0.0, 0, -1)
        for i in range(n):
            base = best[i][0]
            found_single = False
            for j in range(i + 1, min(n, i + longest) + 1):
                pid = index.get(word[i:j])
                if pid is None:
                    continue
                if j == i + 1:
                    found_single = True
                cand = pieces[pid][1] + base
                if best[j] is None or cand > best[j][0]:
                    best[j] = (cand, i, pid)
            if not found_single:
                cand = unk_score + base
                if best[i + 1] is None or cand > best[i + 1][0]:
                    best[i + 1] = (cand, i, unk)
        out, j = [], n
        while j > 0:
            _, i, pid = best[j]
            if pid == unk and out and out[-1] == unk:
                pass  # fuse consecutive unknowns
            else:
                out.append(pid)
            j = i
        return out[::-1]
    return run


def bpe(cfg):
    """HF BPE: per-character symbols (continuation prefix after the first, end-of-word suffix on
    the last, byte fallback <0xXX> or the unknown token, fused when fuse_unk, for characters not
    in the vocabulary), then merges from a heap keyed (rank, position), skipping stale entries."""
    vocab = cfg["vocab"]
    prefix = cfg.get("continuing_subword_prefix") or ""
    suffix = cfg.get("end_of_word_suffix") or ""
    unk = cfg.get("unk_token")
    unk_id = vocab[unk] if unk is not None else None
    fuse = cfg.get("fuse_unk", False)
    fallback = cfg.get("byte_fallback", False)
    ignore = cfg.get("ignore_merges", False)
    ranks = {}
    for rank, m in enumerate(cfg["merges"]):
        a, b = m.split(" ") if isinstance(m, str) else m
        ranks[(a, b)] = rank  # a later duplicate wins
    cache = {}

    def initial(word):
        syms = []  # token strings; None marks an unknown run
        for i, ch in enumerate(word):
            s = (prefix if i > 0 else "") + ch + (suffix if i == len(word) - 1 else "")
            if s in vocab:
                syms.append(s)
                continue
            if fallback:
                bts = ["<0x%02X>" % b for b in ch.encode("utf-8")]
                if all(b in vocab for b in bts):
                    syms.extend(bts)
                    continue
            if unk_id is None:
                continue
            if fuse and syms and syms[-1] is None:
                continue
            syms.append(None)
        return syms

    def run(word):
        if not word:
            return []
        if ignore and word in vocab:
            return [vocab[word]]
        if word in cache:
            return cache[word]
        syms = initial(word)
        # doubly linked list over positions; dead positions have sym None-and-removed
        nxt = list(range(1, len(syms))) + [-1]
        prv = [-1] + list(range(len(syms) - 1))
        alive = [True] * len(syms)
        heap = []

        def push(i):
            j = nxt[i]
            if j < 0 or syms[i] is None or syms[j] is None:
                return
            r = ranks.get((syms[i], syms[j]))
            if r is not None:
                heapq.heappush(heap, (r, i, syms[i], syms[j]))

        for i in range(len(syms)):
            push(i)
        while heap:
            r, i, a, b = heapq.heappop(heap)
            j = nxt[i] if alive[i] else -1
            if j < 0 or syms[i] != a or syms[j] != b:
                continue  # stale: one side was merged since
            b_tail = b[len(prefix):] if prefix and b.startswith(prefix) else b
            syms[i] = a + b_tail
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] >= 0:
                prv[nxt[j]] = i
            push(i)
            if prv[i] >= 0:
                push(prv[i])
        out, i = [], 0
        while 0 <= i < len(syms):
            out.append(unk_id if syms[i] is None else vocab[syms[i]])
            i = nxt[i]
        cache[word] = out
        return out
    return run


class Reference:
    def __init__(self, path):
        cfg = json.load(open(path, encoding="utf-8"))
        self.norm = make_normalizer(cfg.get("normalizer"))
        self.pre = make_pre(cfg.get("pre_tokenizer"))
        m = cfg["model"]
        self.model = {"WordPiece": wordpiece, "Unigram": unigram, "BPE": bpe}[m["type"]](m)
        raw = [a for a in cfg.get("added_tokens", []) if not a["normalized"]]
        raw.sort(key=lambda a: -len(a["content"]))
        self.added = {a["content"]: a["id"] for a in raw}
        self.added_rx = re.compile("(" + "|".join(re.escape(a["content"]) for a in raw) + ")") if raw else None
        self.post = cfg.get("post_processor")

    def specials(self, p=0):
        if p == 0:
            p = self.post
        if p is None or p["type"] == "ByteLevel":
            return [], []
        if p["type"] == "Sequence":
            before, after = [], []
            for q in p["processors"]:
                b, a = self.specials(q)
                before, after = before + b, a + after
            return before, after
        if p["type"] in ("BertProcessing", "RobertaProcessing"):
            return [p["cls"][1]], [p["sep"][1]]
        before, after, seen = [], [], False
        for item in p["single"]:
            if "Sequence" in item:
                seen = True
            else:
                ids = p["special_tokens"][item["SpecialToken"]["id"]]["ids"]
                (after if seen else before).extend(ids)
        return before, after

    def encode(self, text, special=False, max_length=0):
        parts = self.added_rx.split(text) if self.added_rx else [text]
        ids, first = [], True
        for k, part in enumerate(parts):
            if k % 2 == 1:
                ids.append(self.added[part])
                first = False
                continue
            if not part:
                continue
            for w in self.pre(self.norm(part), first):
                ids.extend(self.model(w))
            first = False
        before, after = self.specials() if special else ([], [])
        if max_length and len(ids) + len(before) + len(after) > max_length:
            ids = ids[:max(0, max_length - len(before) - len(after))]
        return before + ids + after


def main():
    args = sys.argv[1:]
    special = "--special" in args
    max_length = 0
    if "--max-length" in args:
        max_length = int(args[args.index("--max-length") + 1])
    ref = Reference(args[0])
    texts = json.load(open(args[1], encoding="utf-8"))
    json.dump([ref.encode(t, special, max_length) for t in texts], sys.stdout)


if __name__ == "__main__":
    main()
