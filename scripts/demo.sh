#!/usr/bin/env bash
# demo.sh runs the whole product on the project's own demo data (deploy/demo), each step one
# lsrflow command, everything under out/demo/. `make demo` builds the binary and runs it.
#
#   1. synth: queries -> dense retrieval (GloVe) -> answer-match teacher -> scored.jsonl/.parquet,
#      the whole topology in one process on the embedded transport (lsrflow run --config)
#   2. an LM teacher on a local model: UPR scoring of a raw query log (no answers; 3 bad lines
#      dead-lettered) with an in-process GGUF (random weights: there are no downloadable weights
#      here, so these labels show the mechanics, not quality)
#   3. evaluation before training: dense retrieval on the held-out test questions
#   4. training: a query-side adapter learned from the scored stream, then evaluation after
#   5. report: one HTML page with the plots
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=bin/lsrflow
out=out/demo
run=$out/synth
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. synth: lsrflow run --config deploy/demo/demo.yaml"
$bin run --config deploy/demo/demo.yaml

step "2. LM teacher (UPR, in-process GGUF) on a raw query log"
[ -f $out/tiny.gguf ] || $bin model random --out $out/tiny.gguf --size tiny
$bin synth --index $out/index --queries deploy/demo/queries.log --teacher upr --lm gguf:$out/tiny.gguf \
  --topk 5 --method bm25 --out $out/synth-upr

step "3. evaluation before training (held-out deploy/demo/test.jsonl, dense retrieval)"
$bin retrieve --index $out/index --queries deploy/demo/test.jsonl --method dense --topk 20 --out $out/retrieve-before.jsonl
$bin eval --retrieval $out/retrieve-before.jsonl --k 1,5,20 --train deploy/demo/train.jsonl | tail -n 1 \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["label"]="before"; print(json.dumps(d))' > $run/eval-before.json
cat $run/eval-before.json

step "4. training: query adapter from the scored stream, then evaluation after"
$bin train --index $out/index --data $run/scored.parquet --out $out/adapter.safetensors --eval deploy/demo/test.jsonl --steps 1000
$bin retrieve --index $out/index --queries deploy/demo/test.jsonl --method dense --adapter $out/adapter.safetensors --topk 20 --out $out/retrieve-after.jsonl
$bin eval --retrieval $out/retrieve-after.jsonl --k 1,5,20 --train deploy/demo/train.jsonl | tail -n 1 \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["label"]="after"; print(json.dumps(d))' > $run/eval-after.json
cat $run/eval-after.json

step "5. report"
$bin report --run $run --out $out/report.html
printf '\nDone. Open %s/report.html; training data in %s/scored.jsonl and %s/scored.parquet\n' "$out" "$run" "$run"
