#!/usr/bin/python3
"""Does, for a Model2Vec model named e5 in a FlashRAG config, what FlashRAG's index builder and
dense retriever do, independently of lsrflow (written from FlashRAG's source, not imported):

- load_corpus (flashrag/retriever/utils.py): each row's "contents" (else "text"); row i of the
  FAISS index is corpus row i;
- parse_query/set_default_instruction: e5 gets "passage: " before passages and "query: "
  before queries;
- Encoder (flashrag/retriever/encoder.py): vectors L2-normalized (torch normalize,
  x / max(|x|, 1e-12)) because "dpr" is not in the name; the Model2Vec forward pass is the
  numpy reference embed/model2vec/testdata/reference.py;
- save_faiss_index (flashrag/retriever/index_builder.py): faiss.index_factory(dim, "Flat",
  METRIC_INNER_PRODUCT), add, write_index;
- DenseRetriever._batch_search: index.search(queries, k); Retrieval_Recall
  (flashrag/evaluator/metrics.py): a top-k passage whose normalize_answer(contents) contains a
  normalize_answer(gold answer).

usage: flashrag_faiss.py REFERENCE_PY MODEL_DIR CORPUS QUERIES OUT_INDEX K
prints {"ids": [[corpus id, ...] per query], "recall": float}
"""
import json
import re
import string
import subprocess
import sys
import tempfile

import faiss
import numpy as np

ref, model, corpus_path, queries_path, out_index, k = sys.argv[1:7]
k = int(k)


def embed(texts, prefix):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(texts, f)
    out = subprocess.run([sys.executable, ref, model, f.name, prefix], check=True, capture_output=True).stdout
    x = np.array(json.loads(out), dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x.astype(np.float32)


def normalize_answer(s):
    s = s.lower()
    exclude = set(string.punctuation)
    s = "".join(ch for ch in s if ch not in exclude)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


rows = [json.loads(line) for line in open(corpus_path, encoding="utf-8")]
contents = [r["contents"] if "contents" in r else r["text"] for r in rows]
docs = embed(contents, "passage: ")
index = faiss.index_factory(docs.shape[1], "Flat", faiss.METRIC_INNER_PRODUCT)
index.add(docs)
faiss.write_index(index, out_index)

queries = [json.loads(line) for line in open(queries_path, encoding="utf-8")]
q = embed([x["question"] for x in queries], "query: ")
_, idx = index.search(q, k)
ids, hits = [], 0
for qi, row in enumerate(idx):
    ids.append([rows[i]["id"] for i in row])
    golds = [normalize_answer(a) for a in queries[qi]["golden_answers"]]
    if any(any(g in normalize_answer(contents[i]) for g in golds) for i in row):
        hits += 1
print(json.dumps({"ids": ids, "recall": hits / len(queries)}))
