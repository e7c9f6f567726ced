#!/usr/bin/python3
"""Writes a small BERT/MiniLM-shaped encoder with seeded random weights for lsrflow's ONNX tests.

OUT_DIR receives model.onnx (inputs input_ids, attention_mask, token_type_ids: int64 [batch, seq];
output last_hidden_state: float [batch, seq, hidden]), weights.npz (the same weights, for the
numpy reference), tokenizer.json (WordPiece, from embed/tokenizer/testdata), config.json and a
sentence-transformers layout (modules.json, 1_Pooling/config.json, 2_Normalize) selecting the
pooling mode.

usage: make_encoder.py OUT_DIR [--pooling mean|cls] [--no-normalize] [--seed N]
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tokenizer", "testdata"))
import make_bert_tokenizer  # noqa: E402

HIDDEN, HEADS, LAYERS, FFN, MAX_POS, TYPES = 32, 4, 2, 64, 64, 2
EPS = 1e-12


def make_weights(vocab_size, seed):
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "word": r(vocab_size, HIDDEN), "pos": r(MAX_POS, HIDDEN), "type": r(TYPES, HIDDEN),
        "emb_ln_g": (1 + r(HIDDEN, scale=0.1)), "emb_ln_b": r(HIDDEN, scale=0.1),
    }
    for l in range(LAYERS):
        for name, shape in [("q", (HIDDEN, HIDDEN)), ("k", (HIDDEN, HIDDEN)), ("v", (HIDDEN, HIDDEN)),
                            ("o", (HIDDEN, HIDDEN)), ("f1", (HIDDEN, FFN)), ("f2", (FFN, HIDDEN))]:
            w["l%d_%s_w" % (l, name)] = r(*shape)
            w["l%d_%s_b" % (l, name)] = r(shape[1], scale=0.05)
        for ln in ("ln1", "ln2"):
            w["l%d_%s_g" % (l, ln)] = 1 + r(HIDDEN, scale=0.1)
            w["l%d_%s_b" % (l, ln)] = r(HIDDEN, scale=0.1)
    return w


def build_graph(w):
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name + "_node", **attrs))
        return name

    for k, v in w.items():
        init(k, v)
    init("c_one_f", np.array(1.0, np.float32))
    init("c_neg", np.array(-10000.0, np.float32))
    init("c_scale", np.array(1.0 / np.sqrt(HIDDEN // HEADS), np.float32))
    init("c_half", np.array(0.5, np.float32))
    init("c_sqrt2", np.array(np.sqrt(2.0), np.float32))
    init("c_zero_i", np.array(0, np.int64))
    init("c_one_i", np.array(1, np.int64))
    init("c_axis1", np.array([1], np.int64))
    init("c_axes12", np.array([1, 2], np.int64))
    init("c_heads_shape", np.array([0, 0, HEADS, HIDDEN // HEADS], np.int64))
    init("c_merge_shape", np.array([0, 0, HIDDEN], np.int64))

    x = node("Gather", ["word", "input_ids"], "we")
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq = node("Gather", [shape, "c_one_i"], "seq_len")
    pos_ids = node("Range", ["c_zero_i", seq, "c_one_i"], "pos_ids")
    pe = node("Gather", ["pos", pos_ids], "pe")
    te = node("Gather", ["type", "token_type_ids"], "te")
    x = node("Add", [x, pe], "emb_a")
    x = node("Add", [x, te], "emb_b")
    x = node("LayerNormalization", [x, "emb_ln_g", "emb_ln_b"], "emb_ln", axis=-1, epsilon=EPS)

    maskf = node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    inv = node("Sub", ["c_one_f", maskf], "mask_inv")
    add_mask = node("Mul", [inv, "c_neg"], "mask_add")
    add_mask = node("Unsqueeze", [add_mask, "c_axes12"], "mask_4d")

    for l in range(LAYERS):
        p = "l%d_" % l

        def lin(inp, n):
            m = node("MatMul", [inp, p + n + "_w"], p + n + "_mm")
            return node("Add", [m, p + n + "_b"], p + n + "_out")

        q = node("Transpose", [node("Reshape", [lin(x, "q"), "c_heads_shape"], p + "q_r")], p + "q_t", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [lin(x, "k"), "c_heads_shape"], p + "k_r")], p + "k_t", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [lin(x, "v"), "c_heads_shape"], p + "v_r")], p + "v_t", perm=[0, 2, 1, 3])
        s = node("MatMul", [q, k], p + "scores")
        s = node("Mul", [s, "c_scale"], p + "scores_s")
        s = node("Add", [s, add_mask], p + "scores_m")
        a = node("Softmax", [s], p + "probs", axis=-1)
        c = node("MatMul", [a, v], p + "ctx")
        c = node("Transpose", [c], p + "ctx_t", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, "c_merge_shape"], p + "ctx_r")
        o = lin(c, "o")
        x = node("LayerNormalization", [node("Add", [x, o], p + "res1"), p + "ln1_g", p + "ln1_b"], p + "ln1", axis=-1, epsilon=EPS)
        h = lin(x, "f1")
        erf = node("Erf", [node("Div", [h, "c_sqrt2"], p + "gelu_div")], p + "gelu_erf")
        g = node("Mul", [node("Mul", [h, node("Add", [erf, "c_one_f"], p + "gelu_add")], p + "gelu_m1"), "c_half"], p + "gelu")
        f = lin(g, "f2")
        x = node("LayerNormalization", [node("Add", [x, f], p + "res2"), p + "ln2_g", p + "ln2_b"],
                 "last_hidden_state" if l == LAYERS - 1 else p + "ln2", axis=-1, epsilon=EPS)

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])]
    graph = helper.make_graph(nodes, "tiny_bert", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="lsrflow-test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    ap.add_argument("--no-normalize", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tok = make_bert_tokenizer.tokenizer_json(MAX_POS)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    w = make_weights(len(tok["model"]["vocab"]), a.seed)
    np.savez(os.path.join(a.out, "weights.npz"), **w)
    onnx.save(build_graph(w), os.path.join(a.out, "model.onnx"))
    json.dump({"model_type": "bert", "hidden_size": HIDDEN, "num_attention_heads": HEADS,
               "num_hidden_layers": LAYERS, "intermediate_size": FFN, "max_position_embeddings": MAX_POS,
               "layer_norm_eps": EPS}, open(os.path.join(a.out, "config.json"), "w"))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if not a.no_normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        os.makedirs(os.path.join(a.out, "2_Normalize"), exist_ok=True)
    json.dump(modules, open(os.path.join(a.out, "modules.json"), "w"))
    os.makedirs(os.path.join(a.out, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": a.pooling == "cls",
               "pooling_mode_mean_tokens": a.pooling == "mean", "pooling_mode_max_tokens": False},
              open(os.path.join(a.out, "1_Pooling", "config.json"), "w"))


if __name__ == "__main__":
    main()
