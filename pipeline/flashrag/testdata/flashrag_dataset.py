#!/usr/bin/python3
"""Independent reference for the rows a FlashRAG config reads and the answers the RAG-Retrieval
experiment scores, written from FlashRAG's and the experiment's logic (not imported from them):

- flashrag/config/config.py seeds Python's `random` with the config's seed;
- flashrag/utils/utils.py get_dataset loads {data_dir}/{dataset_name}/{split}.jsonl per split,
  in order; for splits test/val/dev/train with test_sample_num set, Dataset._load_data keeps
  data[:n], or random.sample(data, n) when random_sample is on;
- get_lm_probs_dataset.py then picks answer[0] if len(answer) == 1 else random.choice(answer).

usage: flashrag_dataset.py DATA_DIR DATASET SPLITS_JSON SAMPLE_NUM|none RANDOM(0|1) SEED
prints a JSON list of [split, id, seed_answer] rows in order.
"""
import json
import os
import random
import sys

data_dir, name, splits, sample_num, rand, seed = sys.argv[1:7]
splits = json.loads(splits)
sample_num = None if sample_num == "none" else int(sample_num)
random.seed(int(seed))

loaded = []
for split in splits:
    path = os.path.join(data_dir, name, split + ".jsonl")
    if not os.path.exists(path):
        continue
    with open(path, encoding="utf-8") as f:
        data = [json.loads(line) for line in f]
    if sample_num is not None and split in ("test", "val", "dev", "train"):
        if rand == "1":
            data = random.sample(data, sample_num)
        else:
            data = data[:sample_num]
    loaded.append((split, data))

out = []
for split, data in loaded:
    for item in data:
        answers = item.get("golden_answers", [])
        if len(answers) == 0:
            pick = None
        elif len(answers) == 1:
            pick = answers[0]
        else:
            pick = random.choice(answers)
        out.append([split, item.get("id"), pick])
print(json.dumps(out))
