#!/usr/bin/python3
"""Independent numpy reference for Model2Vec embeddings.

Reads model.safetensors by hand (8-byte header length, JSON header, raw little-endian data),
tokenizes with the Python reference tokenizer (embed/tokenizer/testdata/hfref.py) and applies
Model2Vec's StaticModel.encode recipe: cut to max_length * median token length characters,
drop unknown tokens, keep max_length ids, mean of weights[id] * embeddings[mapping[id]],
L2-normalize when config.json says so.

usage: reference.py MODEL_DIR INPUTS_JSON [PREFIX]  -> JSON list of vectors
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tokenizer", "testdata"))
import hfref  # noqa: E402

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8"}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=DTYPES[h["dtype"]]).reshape(h["shape"])
    return out


def main():
    model_dir, inputs = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else ""
    t = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    emb = t["embeddings"].astype(np.float64)
    mapping = t.get("mapping")
    weights = t.get("weights")
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    tokjson = os.path.join(model_dir, "tokenizer.json")
    ref = hfref.Reference(tokjson)
    tj = json.load(open(tokjson, encoding="utf-8"))
    pieces = [p for p, _ in tj["model"]["vocab"]]
    median = int(np.median([len(p) for p in pieces]))
    unk = tj["model"]["unk_id"]
    max_length = 512
    texts = json.load(open(inputs, encoding="utf-8"))
    vecs = []
    for text in texts:
        text = (prefix + text)[:max_length * median]
        ids = [i for i in ref.encode(text) if i != unk][:max_length]
        if not ids:
            v = np.zeros(emb.shape[1])
        else:
            ids = np.array(ids)
            rows = mapping[ids] if mapping is not None else ids
            e = emb[rows]
            if weights is not None:
                e = e * weights[ids][:, None]
            v = e.mean(axis=0)
        if cfg.get("normalize"):
            v = v / (np.linalg.norm(v) + 1e-32)
        vecs.append(v.tolist())
    json.dump(vecs, sys.stdout)


if __name__ == "__main__":
    main()
