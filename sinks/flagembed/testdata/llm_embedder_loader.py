#!/usr/bin/python3
"""Mirrors the training-data path of FlagEmbedding's LLM-Embedder
(FlagOpen/FlagEmbedding research/llm_embedder/src/retrieval/data.py at 7ed43d67, written here
from its logic, not copied), without datasets or torch:

- RetrievalDataset.prepare_train_dataset loads the file with datasets' JSON loader, so every
  line must have the same columns with one JSON type per column; it takes the task from the
  first line and, with use_train_config (as scripts/llm-embedder.sh runs it), the task's
  training settings (TASK_CONFIG["llm-embedder"]["training"][task]);
- get_train_process_fn's _process(query, task, pos, neg, history, teacher_scores) asserts one
  teacher score per positive and negative, picks the positive (qa: the first), drops a line
  without negatives, repeats negatives up to train_group_size - 1, samples them (qa: at
  random), and with stable_distill (qa: on) sorts the negatives by teacher score, best first.

usage: llm_embedder_loader.py FILE [TRAIN_GROUP_SIZE] -> JSON summary on stdout; an exception
(non-zero exit) where the real loader would fail.
"""
import json
import math
import random
import sys

TASKS = {
    # select_positive, select_negative, teacher_scores_margin, teacher_scores_min, stable_distill
    "qa": ("first", "random", None, None, True),
    "convsearch": ("first", "random", None, None, False),
    "chat": ("teacher", "random", None, None, False),
    "lrlm": ("teacher", "random", 0.1, None, False),
    "icl": ("random", "random", None, None, True),
    "tool": ("first", "random", None, None, False),
}


def json_type(v):
    if isinstance(v, list):
        inner = {json_type(x) for x in v}
        assert len(inner) <= 1, f"mixed list {v!r}"
        return "list:" + (inner.pop() if inner else "?")
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def process(row, group, cfg):
    select_pos, select_neg, margin, minimum, stable = cfg
    query, pos, neg = row["query"], list(row["pos"]), list(row["neg"])
    scores = row.get("teacher_scores")
    if row.get("history") is not None:
        pos, neg = [], row["history"]
    if scores is not None:
        scores = list(scores)
        assert len(scores) == len(pos) + len(neg), "incompatible teacher_score size"
        if minimum is not None and max(scores) < minimum:
            return None
        if margin is not None and max(scores) - min(scores) < margin:
            return None
    n_pos = len(pos)
    if select_pos == "random":
        assert n_pos > 0
        pi = random.choice(range(n_pos))
        p = pos[pi]
    elif scores is not None and select_pos == "teacher":
        pi = max(enumerate(scores), key=lambda x: x[1])[0]
        p = pos[pi] if pi < n_pos else neg.pop(pi - n_pos)
    else:
        assert n_pos > 0, "select_positive 'first' needs a positive"
        pi = 0
        p = pos[0]
    if scores is not None:
        p_score = scores.pop(pi) if pi >= n_pos else scores[pi]
        neg_scores = scores[n_pos:]
        out_scores = [p_score]
    keys = [p]
    if len(neg) == 0:
        return None
    if len(neg) < group - 1:
        rep = math.ceil((group - 1) / len(neg))
        neg = neg * rep
        if scores is not None:
            neg_scores = neg_scores * rep
    if select_neg == "first":
        idx = list(range(len(neg)))[: group - 1]
    else:
        idx = random.sample(range(len(neg)), group - 1)
    for i in idx:
        keys.append(neg[i])
        if scores is not None:
            out_scores.append(neg_scores[i])
    out = {"query": query, "key": keys, "task": row["task"]}
    if scores is not None:
        out["teacher_scores"] = out_scores
    if stable:
        pairs = sorted(zip(out["key"][1:], out["teacher_scores"][1:]), key=lambda x: x[1], reverse=True)
        out["key"][1:] = [k for k, _ in pairs]
        out["teacher_scores"][1:] = [s for _, s in pairs]
    return out


def main():
    random.seed(0)
    group = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    assert rows, "empty file"
    columns = {k: json_type(v) for k, v in rows[0].items()}
    for r in rows:
        got = {k: json_type(v) for k, v in r.items()}
        assert set(got) == set(columns), f"columns differ: {sorted(got)} vs {sorted(columns)}"
        for k, t in got.items():
            if t != columns[k] and "?" not in (t + columns[k]):
                raise AssertionError(f"column {k}: {t} vs {columns[k]}")
    task = rows[0]["task"]
    cfg = TASKS[task]
    kept = [o for o in (process(r, group, cfg) for r in rows) if o is not None]
    print(json.dumps({"task": task, "columns": sorted(columns), "kept": kept, "dropped": len(rows) - len(kept)}))


main()
