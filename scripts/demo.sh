#!/usr/bin/env bash
# demo.sh runs the whole product on the project's own demo data (deploy/demo), each step one
# lsrflow command, everything under out/demo/. `make demo` builds the binary and runs it.
#
#   1. synth: queries -> hybrid retrieval (BM25 + GloVe) -> answer-match teacher ->
#      scored.jsonl/.parquet, the whole topology in one process on the embedded transport
#      (lsrflow run --config), with the live loop: the train stage learns an adapter for the
#      hybrid from the scored stream and publishes better versions that the retrieve stage
#      swaps in; their recall on the held-out test questions is logged per version
#   2. an LM teacher on a local model: UPR scoring of a raw query log (no answers; 3 bad lines
#      dead-lettered) with an in-process GGUF (random weights: there are no downloadable weights
#      here, so these labels show the mechanics, not quality)
#   3. evaluation before training: BM25 and the untrained hybrid on the held-out test questions
#   4. training: lsrflow train (for the hybrid) on the scored data, then evaluation after
#   5. report: one HTML page with the plots (recall per live version over time among them)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=bin/lsrflow
out=out/demo
run=$out/synth
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. synth with the live loop: lsrflow run --config deploy/demo/demo.yaml"
rm -rf "$run" # a fresh run (the same command alone would resume it, and continue its loop)
$bin run --config deploy/demo/demo.yaml
python3 - $run/checkpoints/rounds.jsonl <<'PY'
import json, sys
rounds = [json.loads(l) for l in open(sys.argv[1])]
v0 = next(r for r in rounds if r["candidate_version"] == 0)
live = [r for r in rounds if r["published"] and r["candidate_version"] > 0]
mean = lambda m: sum(m["gold_recall@%d" % k] for k in (1, 5, 20)) / 3
for r in [v0] + live:
    e = r["eval"]
    print("live v%d (%s): test gold recall@1/5/20 %.3f / %.3f / %.3f" % (r["candidate_version"], r["method"], e["gold_recall@1"], e["gold_recall@5"], e["gold_recall@20"]))
if not any(mean(r["eval"]) > mean(v0["eval"]) for r in live):
    sys.exit("demo: the live loop published no version better than the untrained retriever")
PY

step "2. LM teacher (UPR, in-process GGUF) on a raw query log"
[ -f $out/tiny.gguf ] || $bin model random --out $out/tiny.gguf --size tiny
$bin synth --index $out/index --queries deploy/demo/queries.log --teacher upr --lm gguf:$out/tiny.gguf \
  --topk 5 --method bm25 --out $out/synth-upr

# evaluate R.jsonl LABEL: retrieval metrics of a retrieve output, labelled for the report
evaluate() {
  $bin eval --retrieval "$1" --k 1,5,20 --train deploy/demo/train.jsonl | tail -n 1 \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["label"]=sys.argv[1]; print(json.dumps(d))' "$2" > "$run/eval-$2.json"
  cat "$run/eval-$2.json"
}

step "3. evaluation before training (held-out deploy/demo/test.jsonl): BM25 and the untrained hybrid"
$bin retrieve --index $out/index --queries deploy/demo/test.jsonl --method bm25 --topk 20 --out $out/retrieve-bm25.jsonl
evaluate $out/retrieve-bm25.jsonl bm25
$bin retrieve --index $out/index --queries deploy/demo/test.jsonl --method hybrid --fusion rrf --topk 20 --out $out/retrieve-before.jsonl
evaluate $out/retrieve-before.jsonl before

step "4. training: a query adapter for the hybrid from the scored data, then evaluation after"
$bin train --index $out/index --data $run/scored.parquet --out $out/adapter.safetensors --eval deploy/demo/test.jsonl --steps 1000
$bin retrieve --index $out/index --queries deploy/demo/test.jsonl --method hybrid --adapter $out/adapter.safetensors --topk 20 --out $out/retrieve-after.jsonl
evaluate $out/retrieve-after.jsonl after

step "5. report"
$bin report --run $run --out $out/report.html
printf '\nDone. Open %s/report.html; training data in %s/scored.jsonl and %s/scored.parquet\n' "$out" "$run" "$run"
