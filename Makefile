# lsrflow build and test entry points. `make test` is the one command CI runs (see README).
SHELL := /bin/bash
CACHE := $(CURDIR)/.cache
export CGO_CFLAGS := -I$(CACHE)/faiss/include
# FAISS: go-faiss links -lfaiss_c (the C API built by setup) whose symbols live in Debian's
# static libfaiss.a; order matters for static archives. See retrieval/faissx/doc.go.
export CGO_LDFLAGS := -L$(CACHE)/faiss/lib -lfaiss_c /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -lgomp -lstdc++ -lm
export LSRFLOW_CACHE := $(CACHE)

.PHONY: build setup test test-race lint fmt bench demo clean

build:
	go build -o bin/lsrflow ./cmd/lsrflow

setup:
	bash scripts/setup.sh

# The README's test command: installs what it needs, then vet, every test, and a short fuzz
# pass over every decoder of outside input (make fuzz FUZZTIME=60s for the long one).
test: setup build
	go vet ./...
	go test -count=1 -shuffle=on -timeout 25m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=2s

test-race: setup
	go test -race -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

STATICCHECK := $(shell go env GOPATH)/bin/staticcheck
lint:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	@test -x $(STATICCHECK) || GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

bench:
	go test -run '^$$' -bench . -benchtime 3x ./...

# The quick-start demo: the whole pipeline on the project's own demo data (scripts/demo.sh).
demo: setup build
	bash scripts/demo.sh

clean:
	rm -rf bin out

# LM teacher throughput on a random-weight ~50M GGUF (written once into .cache/bench/):
# naive loop vs lsrflow's teacher vs the prompt-processing ceiling; last line batched/naive = R.
.PHONY: bench-teach
# One decode thread: on the shared 2-core machine ggml's spinning worker threads collapse under
# contention; k=20, one question per round, three rounds keep it under 5 minutes.
bench-teach:
	bash scripts/setup.sh llama
	go run ./cmd/lsrflow bench teach --queries 1 --rounds 3 --k 20 --threads 1

# Scale benchmark (issue 12): a synthetic corpus of N passages (lsrflow gen corpus), then index,
# retrieve (bm25, dense, hybrid), faiss-python's batch search on the same index file, synth and
# train, each a child process measured for time and peak RSS; prints one table ending with
# dense/faiss. Heavy: run alone. BENCH_DIR holds the data (several GB at N=2000000).
N ?= 100000
BENCH_DIR ?= /tmp/lsrflow-bench-scale
STEPS ?= gen,index,bm25,dense,hybrid,faiss,synth,train
.PHONY: bench-scale
bench-scale: build
	bash scripts/setup.sh glove faisspy
	nice -n 10 bin/lsrflow bench scale --passages $(N) --dir $(BENCH_DIR) --steps $(STEPS)

# Fuzzing: every Fuzz* target of every package, FUZZTIME each (go test -fuzz runs one target
# at a time). CI calls it with a short budget, e.g. `make fuzz FUZZTIME=5s`. Crashers land in
# the package's testdata/fuzz/<Target>/ and then fail plain `go test` until fixed.
FUZZTIME ?= 60s
.PHONY: fuzz
fuzz:
	@set -euo pipefail; \
	for f in $$(find . -path ./.cache -prune -o -name '*_test.go' -print | xargs grep -l '^func Fuzz' | sort); do \
	  pkg=./$$(dirname $${f#./}); \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== fuzz $$pkg $$t for $(FUZZTIME)"; \
	    go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Tokenizer parity with Hugging Face tokenizers (npm) on every NQ-open question and QED passage;
# `make test` checks every third one.
.PHONY: tokenizer-parity
tokenizer-parity:
	bash scripts/setup.sh tokenizers
	set -o pipefail; LSRFLOW_PARITY_ALL=1 go test -count=1 -v -timeout 30m -run '^TestHFParity$$' ./embed/tokenizer/ \
		| grep -E '^(---|ok|FAIL|PASS)|parity '

# Crash test (issue 5): SIGKILL `bin/lsrflow synth` at 20 random points over 2,000 NQ-open dev
# questions (bm25 + answer-match over the QED corpus), restart it each time, and compare
# scored.jsonl, scored.parquet and the dead letters with an uninterrupted run; on the embedded
# transport and on Kafka (`lsrflow broker`). `go test ./tests/...` runs a short version.
CRASH_QUERIES ?= 2000
CRASH_KILLS ?= 20
.PHONY: crash-test
crash-test: build
	LSRFLOW_BIN=$(CURDIR)/bin/lsrflow LSRFLOW_CRASH_QUERIES=$(CRASH_QUERIES) LSRFLOW_CRASH_KILLS=$(CRASH_KILLS) \
		go test -count=1 -v -timeout 30m -run '^TestCrash' ./tests/

# Hostile clients against `lsrflow serve` (issue 15): floods, slow and idle connections, a
# low open-file limit, oversized lines, and the broker frozen with SIGSTOP for
# HOSTILE_FREEZE while a client retries every 503; serve's RSS is logged for each case.
# `go test ./tests/...` runs the same with a 6 s freeze.
HOSTILE_FREEZE ?= 30s
.PHONY: hostile
hostile: build
	LSRFLOW_BIN=$(CURDIR)/bin/lsrflow LSRFLOW_HOSTILE_FREEZE=$(HOSTILE_FREEZE) \
		go test -count=1 -v -timeout 10m -run '^TestServeHostile' ./tests/

# Crash storms on Kafka (issue 17): `lsrflow broker`, synth SIGKILLed again and again, then a
# final run that must finish within 2 minutes with output identical to an uninterrupted run,
# each question published once and at most 1.5 candidate sets per question in the topic.
# Issue 17's procedure (1,800 NQ questions, 15 kills at 2 to 6 s, 3 trials), then 20 kills
# spread over start-up, the first joins and steady state (tied to progress, so they land however
# fast the machine is). `go test ./tests/...` runs a short storm.
.PHONY: storm-test
storm-test: build
	LSRFLOW_BIN=$(CURDIR)/bin/lsrflow LSRFLOW_STORM_QUERIES=1800 LSRFLOW_STORM_KILLS=15 LSRFLOW_STORM_TRIALS=3 \
		LSRFLOW_STORM_TIMING=uniform go test -count=1 -v -timeout 40m -run '^TestCrashStormKafka$$' ./tests/
	LSRFLOW_BIN=$(CURDIR)/bin/lsrflow LSRFLOW_STORM_QUERIES=1800 LSRFLOW_STORM_KILLS=20 LSRFLOW_STORM_TRIALS=1 \
		LSRFLOW_STORM_TIMING=mixed go test -count=1 -v -timeout 30m -run '^TestCrashStormKafka$$' ./tests/
