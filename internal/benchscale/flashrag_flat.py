# Writes a FlashRAG-style dense index with faiss-python for `lsrflow bench flashrag-flat`:
# faiss.IndexFlatIP over N clustered unit vectors of dimension D, added in chunks and saved
# with faiss.write_index (FlashRAG's index_builder does index_factory(d, "Flat",
# METRIC_INNER_PRODUCT), add, write_index), plus NQ query vectors near the same centres.
# Usage: flashrag_flat.py N D NQ INDEX_OUT QUERIES_OUT
import sys

import faiss
import numpy as np

n, d, nq = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
index_path, queries_path = sys.argv[4], sys.argv[5]
rng = np.random.default_rng(12)
centres = rng.standard_normal((1000, d)).astype(np.float32)


def sample(m):
    x = centres[rng.integers(0, len(centres), m)] + 0.7 * rng.standard_normal((m, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


index = faiss.index_factory(d, "Flat", faiss.METRIC_INNER_PRODUCT)
for lo in range(0, n, 50000):
    index.add(sample(min(50000, n - lo)))
faiss.write_index(index, index_path)
sample(nq).tofile(queries_path)
print(index.ntotal)
