# The ceiling of lsrflow's dense search in `lsrflow bench scale`: faiss-python's batch search
# on the same index file and the same query vectors, timed the way FlashRAG searches (one
# index.search call over the whole batch, index read with faiss.read_index).
# Usage: faiss_ceiling.py INDEX QUERIES.f32 K OUT_IDS.i64
import json
import sys
import time

import faiss
import numpy as np

index_path, queries_path, k, out_ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
index = faiss.read_index(index_path)
load = time.perf_counter() - t0
q = np.fromfile(queries_path, dtype="<f4").reshape(-1, index.d)
t1 = time.perf_counter()
_, ids = index.search(q, k)
secs = time.perf_counter() - t1
np.asarray(ids, dtype="<i8").tofile(out_ids)
print(json.dumps({"queries": int(q.shape[0]), "seconds": secs, "load_seconds": load, "ntotal": int(index.ntotal)}))
