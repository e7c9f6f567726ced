#!/usr/bin/python3
"""Independent numpy forward pass of the test encoder written by make_encoder.py.

Tokenizes with the Python reference tokenizer (embed/tokenizer/testdata/hfref.py, special tokens,
tokenizer.json truncation), runs each text alone (no padding) through a float64 BERT forward pass
from weights.npz, pools (mean over tokens or [CLS]) and L2-normalizes, as the model directory's
sentence-transformers config says.

usage: reference.py MODEL_DIR INPUTS_JSON [PREFIX] -> JSON list of vectors
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tokenizer", "testdata"))
import hfref  # noqa: E402


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def erf(x):
    # math.erf elementwise (numpy has no erf); float64 accurate.
    import math
    return np.vectorize(math.erf)(x)


def forward(w, cfg, ids):
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = H // nh
    eps = cfg["layer_norm_eps"]
    f = {k: v.astype(np.float64) for k, v in w.items()}
    x = f["word"][ids] + f["pos"][: len(ids)] + f["type"][0]
    x = layer_norm(x, f["emb_ln_g"], f["emb_ln_b"], eps)
    for l in range(cfg["num_hidden_layers"]):
        p = "l%d_" % l
        q = (x @ f[p + "q_w"] + f[p + "q_b"]).reshape(-1, nh, dh).transpose(1, 0, 2)
        k = (x @ f[p + "k_w"] + f[p + "k_b"]).reshape(-1, nh, dh).transpose(1, 0, 2)
        v = (x @ f[p + "v_w"] + f[p + "v_b"]).reshape(-1, nh, dh).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = s / s.sum(-1, keepdims=True)
        c = (a @ v).transpose(1, 0, 2).reshape(-1, H)
        x = layer_norm(x + c @ f[p + "o_w"] + f[p + "o_b"], f[p + "ln1_g"], f[p + "ln1_b"], eps)
        h = x @ f[p + "f1_w"] + f[p + "f1_b"]
        g = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        x = layer_norm(x + g @ f[p + "f2_w"] + f[p + "f2_b"], f[p + "ln2_g"], f[p + "ln2_b"], eps)
    return x


def main():
    d, inputs = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else ""
    w = dict(np.load(os.path.join(d, "weights.npz")))
    cfg = json.load(open(os.path.join(d, "config.json")))
    pool = json.load(open(os.path.join(d, "1_Pooling", "config.json")))
    normalize = os.path.isdir(os.path.join(d, "2_Normalize"))
    tj = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    ref = hfref.Reference(os.path.join(d, "tokenizer.json"))
    ml = (tj.get("truncation") or {}).get("max_length", 0)
    out = []
    for text in json.load(open(inputs, encoding="utf-8")):
        ids = ref.encode(prefix + text, special=True, max_length=ml)
        h = forward(w, cfg, np.array(ids))
        v = h[0] if pool["pooling_mode_cls_token"] else h.mean(0)
        if normalize:
            v = v / max(np.linalg.norm(v), 1e-12)
        out.append(v.tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
