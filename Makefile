# lsrflow build and test entry points. `make test` is the one command CI runs (see README).
SHELL := /bin/bash
CACHE := $(CURDIR)/.cache
export CGO_CFLAGS := -I$(CACHE)/faiss/include
export CGO_LDFLAGS := -L$(CACHE)/faiss/lib
export LSRFLOW_CACHE := $(CACHE)

.PHONY: build setup test test-race lint fmt bench demo clean

build:
	go build -o bin/lsrflow ./cmd/lsrflow

setup:
	bash scripts/setup.sh

test: setup build
	go vet ./...
	go test -count=1 -shuffle=on -timeout 25m ./...

test-race: setup
	go test -race -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench:
	go test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin
