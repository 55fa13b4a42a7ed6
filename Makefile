# The WhatsApp delivery-error service. `make` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
HOST ?= 127.0.0.1
PORT ?= 50051
METRICS_PORT ?= 9464
PROTO_DIR := protos
GEN_DIR := $(PROTO_DIR)/whatsapp/errors/v1
THIRD_PARTY := $(PROTO_DIR)/third_party
SITE = $$($(BIN)/python -c 'import google.rpc, os; print(os.path.dirname(os.path.dirname(google.rpc.__path__[0])))')
# What `make breaking` compares the protos against (any buf input: .git#tag=v1.0.0, an image).
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: help install runtime proto checkgenerate vendor-protos breaking example-data lint fmt test fuzz serve bench bench-deps bench-h2load bench-instructions soak catalog-drift clean

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with the package and its dev tools (idempotent)

runtime: $(RUNTIME) ## Create .venv with only what serving needs (what `make serve` uses)

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(STAMP): pyproject.toml $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

proto: install ## Regenerate the Python code and .pyi stubs from protos/
	$(BIN)/python -m grpc_tools.protoc -I $(PROTO_DIR) -I $(THIRD_PARTY) \
	  --python_out=$(PROTO_DIR) --grpc_python_out=$(PROTO_DIR) \
	  --mypy_out=$(PROTO_DIR) --mypy_grpc_out=$(PROTO_DIR) \
	  --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
	  $(GEN_DIR)/*.proto

checkgenerate: proto ## Fail if the committed generated code differs from a fresh `make proto`
	@if [ -n "$$(git status --porcelain -- $(GEN_DIR))" ]; then \
	  echo "Generated code is out of date; run 'make proto' and commit:"; git status --short -- $(GEN_DIR); git diff --stat -- $(GEN_DIR); exit 1; fi
	@echo "generated code is up to date"

vendor-protos: install ## Re-copy the googleapis protos we import (committed) from googleapis-common-protos
	mkdir -p $(THIRD_PARTY)/google/rpc
	cp "$(SITE)/google/rpc/status.proto" $(THIRD_PARTY)/google/rpc/status.proto

breaking: install ## buf breaking (FILE) against BREAKING_AGAINST (default: branch main): wire changes stay additive
	$(BIN)/buf build
	$(BIN)/buf breaking --against '$(BREAKING_AGAINST)'

example-data: examples/webhooks-100k.jsonl ## Write the large example inputs the docs use (not committed)

examples/webhooks-100k.jsonl: examples/make_data.py examples/webhooks.jsonl
	$(PYTHON) examples/make_data.py $@

lint: install ## ruff, ruff format --check, mypy --strict, buf lint (STANDARD; offline, vendored imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint

fmt: install ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install ## Run the whole test suite (real servers on port 0, real grpcurl)
	$(BIN)/python -m pytest

fuzz: install ## Fuzz the classifier with hypothesis for a bounded time (FUZZ_SECONDS, default 60)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(BIN)/python -m pytest -q tests/fuzz/fuzz_classifier.py -p no:cacheprovider

serve: $(RUNTIME) ## Serve the embedded catalog on $(HOST):$(PORT) (plaintext, reflection on, /metrics on $(METRICS_PORT))
	$(BIN)/python -m server --host $(HOST) --port $(PORT) --metrics-port $(METRICS_PORT)

bench: install ## Benchmark on loopback; writes bench/results/*.json and a PNG chart
	$(BIN)/python -m bench

bench-deps: ## Install h2load (Debian nghttp2-client; root), the C load generator `make bench` also runs
	@command -v h2load >/dev/null || { apt-get install -y -q nghttp2-client >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client >/dev/null; }; }
	@h2load --version

bench-h2load: install ## Unary calls/s and open-loop p99 with h2load as the client, every answer checked
	$(BIN)/python -m bench.probes.h2load

bench-instructions: install ## Instructions per unary call, service vs empty handler, under callgrind (noise-free)
	$(BIN)/python -m bench.probes.instructions

soak: install ## Mixed load for SOAK_SECONDS (default 120): errors, RSS and latency
	$(BIN)/python -m bench.probes.soak --seconds $${SOAK_SECONDS:-120}

catalog-drift: install ## Diff a newer snapshot of Meta's codes (SNAPSHOT=file.json) against the catalog
	$(BIN)/python -m server.catalog.drift $${SNAPSHOT:-server/catalog/meta_codes.json}

clean: ## Remove the venv and build leftovers
	rm -rf $(VENV) .build .mypy_cache .ruff_cache .pytest_cache .hypothesis
