"""Independent reference for lsrflow's textnorm and evaluate packages.

Run under a real CPython (the tests use /usr/bin/python3) so that str.lower, str.split,
string.punctuation and the re module's Unicode word boundaries are Python's own. It implements
FlashRAG's answer metrics from their published definitions: normalization (lower, strip ASCII
punctuation, drop the articles a/an/the between word boundaries, collapse whitespace), exact
match, substring match ("acc"), token F1 with the yes/no/noanswer rule, and answer recall of
the top-k passages.

Protocol: one JSON object on stdin with an "op" field, one JSON object on stdout.
"""
import base64
import collections
import json
import re
import string
import sys
import unicodedata

PUNCT = frozenset(string.punctuation)
ARTICLE_RE = re.compile(r"\b(a|an|the)\b")
SPECIAL = ("yes", "no", "noanswer")


def norm(text):
    lowered = text.lower()
    kept = "".join(c for c in lowered if c not in PUNCT)
    no_articles = ARTICLE_RE.sub(" ", kept)
    return " ".join(no_articles.split())


def f1_parts(pred, gold):
    """Best (f1, precision, recall) over gold answers; each maximised separately."""
    best = [0.0, 0.0, 0.0]
    p = norm(pred)
    for g in gold:
        n = norm(g)
        if (p in SPECIAL or n in SPECIAL) and p != n:
            continue
        pt, gt = p.split(), n.split()
        overlap = sum((collections.Counter(pt) & collections.Counter(gt)).values())
        if overlap == 0:
            continue
        prec = overlap / len(pt)
        rec = overlap / len(gt)
        f = 2 * prec * rec / (prec + rec)
        best = [max(best[0], f), max(best[1], prec), max(best[2], rec)]
    return best


def qa(item):
    pred, gold = item["pred"], item["golden"]
    p = norm(pred)
    em = 1.0 if any(norm(g) == p for g in gold) else 0.0
    acc = 1.0 if any(norm(g) in p for g in gold) else 0.0
    f, prec, rec = f1_parts(pred, gold)
    return {"em": em, "acc": acc, "f1": f, "precision": prec, "recall": rec, "norm": p}


def recall(item):
    gold = [norm(g) for g in item["golden"]]
    hits = [any(g in norm(d) for g in gold) for d in item["docs"]]
    return {str(k): (1.0 if any(hits[:k]) else 0.0) for k in item["k"]}


def char_table():
    """One byte per code point: bit0 \\w, bit1 isspace, bit2..4 final-sigma probes,
    bit5 lower() changes it, bit6 unassigned in this Python's Unicode version."""
    word = re.compile(r"\w")
    out = bytearray(0x110000)
    lower = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        b = 0
        if word.fullmatch(c):
            b |= 1
        if c.isspace():
            b |= 2
        if ("A" + c + "\u03a3").lower().endswith("\u03c2"):
            b |= 4
        if (c + "\u03a3").lower().endswith("\u03c2"):
            b |= 8
        if ("A\u03a3" + c).lower()[1] == "\u03c2":
            b |= 16
        lc = c.lower()
        if lc != c:
            b |= 32
            lower[str(cp)] = lc
        if unicodedata.category(c) == "Cn":
            b |= 64
        out[cp] = b
    return {"unidata": unicodedata.unidata_version, "props": base64.b64encode(bytes(out)).decode(), "lower": lower}


def main():
    req = json.load(sys.stdin)
    op = req["op"]
    if op == "normalize":
        res = {"out": [norm(t) for t in req["texts"]]}
    elif op == "qa":
        res = {"out": [qa(it) for it in req["items"]]}
    elif op == "recall":
        res = {"out": [recall(it) for it in req["items"]]}
    elif op == "chars":
        res = char_table()
    else:
        raise SystemExit("unknown op " + op)
    json.dump(res, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()
