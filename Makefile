# The WhatsApp delivery-error service. `make` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOC_VENV := .venv-protoc
PROTOC_STAMP := $(PROTOC_VENV)/.installed
RUNTIME := $(VENV)/.runtime
# The hot path setup.py compiles with mypyc (server/hot_path.py lists it): a change rebuilds.
HOT_PATH := setup.py server/hot_path.py $(addprefix server/,$(shell sed -n '/^SOURCES = (/,/^)/s/^ *"\(.*\)",$$/\1/p' server/hot_path.py))
HOST ?= 127.0.0.1
PORT ?= 50051
METRICS_PORT ?= 9464
PROTO_DIR := protos
GEN_DIR := $(PROTO_DIR)/whatsapp/errors/v1
THIRD_PARTY := $(PROTO_DIR)/third_party
SITE = $$($(BIN)/python -c 'import google.rpc, os; print(os.path.dirname(os.path.dirname(google.rpc.__path__[0])))')
# What `make breaking` compares the protos against (any buf input: .git#tag=v1.0.0, an image).
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: help install runtime proto checkgenerate test-oldest vendor-protos breaking example-data lint fmt test fuzz serve bench bench-deps bench-h2load bench-versus bench-instructions soak catalog-drift clean

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with the package and its dev tools (idempotent)

runtime: $(RUNTIME) ## Create .venv with only what serving needs (what `make serve` uses)

# Two projects: ./client (the client and the stubs) and . (the server, which depends on it).
# Installing . compiles the hot path in place (mypyc; pure Python where there is no compiler).
$(RUNTIME): pyproject.toml client/pyproject.toml $(HOT_PATH)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ./client -e .
	touch $@

# The runtime step compiled the hot path; this one adds the tools (WAERR_COMPILE=0: no
# second compile, the in-place build and its digest stay).
$(STAMP): pyproject.toml client/pyproject.toml $(RUNTIME)
	WAERR_COMPILE=0 $(BIN)/pip install --quiet --disable-pip-version-check -e './client[cli]' -e '.[dev,bench]'
	touch $@

# The stubs are generated in a venv of their own, with the oldest grpcio-tools whose output
# loads on every grpcio and protobuf the client supports (client/pyproject.toml; the .pyi
# plugin, mypy-protobuf, needs protobuf 5 and runs from .venv), then protoletariat makes the stubs' imports of each other relative (whatsapp_errors.v1).
$(PROTOC_STAMP): Makefile
	$(PYTHON) -m venv $(PROTOC_VENV)
	$(PROTOC_VENV)/bin/pip install --quiet --disable-pip-version-check \
	  grpcio-tools==1.62.3
	touch $@

proto: $(PROTOC_STAMP) install ## Regenerate the Python code and .pyi stubs from protos/ (grpcio-tools 1.62.3)
	$(PROTOC_VENV)/bin/python -m grpc_tools.protoc -I $(PROTO_DIR) -I $(THIRD_PARTY) \
	  --python_out=$(PROTO_DIR) --grpc_python_out=$(PROTO_DIR) \
	  --mypy_out=$(PROTO_DIR) --mypy_grpc_out=$(PROTO_DIR) \
	  --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
	  $(GEN_DIR)/*.proto
	sed -i 's/^from whatsapp\.errors\.v1 import /from . import /' $(GEN_DIR)/*_pb2_grpc.py $(GEN_DIR)/*_pb2_grpc.pyi

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

OLDEST_VENV := .venv-oldest
OLDEST_VENV_ABS = $(CURDIR)/$(OLDEST_VENV)
OLDEST := grpcio==1.62.3 protobuf==4.25.3 googleapis-common-protos==1.63.0

test-oldest: install ## The client alone (pip install ./client) on the oldest grpcio/protobuf it allows
	rm -rf $(OLDEST_VENV) && $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/pip install --quiet --disable-pip-version-check $(OLDEST) ./client
	rm -rf client/build
	$(OLDEST_VENV)/bin/pip install --quiet --disable-pip-version-check 'pytest>=8,<10'
	@$(OLDEST_VENV)/bin/python -c 'import grpc, google.protobuf as p; print("client on grpcio", grpc.__version__, "protobuf", p.__version__)'
	# Run from outside the checkout, so only the installed package can be imported.
	tmp=$$(mktemp -d) && cp tests/compat/test_client_install.py "$$tmp" && cd "$$tmp" && \
	  WAERR_SERVER_PYTHON=$(CURDIR)/$(BIN)/python WAERR_CHECKOUT=$(CURDIR) \
	  $(OLDEST_VENV_ABS)/bin/python -m pytest -q -p no:cacheprovider test_client_install.py

fuzz: install ## Fuzz the classifier with hypothesis for a bounded time (FUZZ_SECONDS, default 60)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(BIN)/python -m pytest -q tests/fuzz/fuzz_classifier.py -p no:cacheprovider

serve: $(RUNTIME) ## Serve the embedded catalog on $(HOST):$(PORT) (plaintext, reflection on, /metrics on $(METRICS_PORT))
	$(BIN)/python -m whatsapp_errors.server --host $(HOST) --port $(PORT) --metrics-port $(METRICS_PORT)

bench: install ## Benchmark on loopback; writes bench/results/*.json and a PNG chart
	$(BIN)/python -m bench

bench-deps: ## Install h2load (Debian nghttp2-client; root), the C load generator `make bench` also runs
	@command -v h2load >/dev/null || { apt-get install -y -q nghttp2-client >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client >/dev/null; }; }
	@h2load --version

bench-h2load: install ## Unary calls/s and open-loop p99 with h2load as the client, every answer checked
	$(BIN)/python -m bench.probes.h2load

bench-versus: install ## ClassifyStream of this checkout beside REF's (a commit; default b22077a), paired
	$(BIN)/python -m bench.probes.versus --ref $${REF:-b22077a}

bench-instructions: install ## Instructions per unary call, service vs empty handler, under callgrind (noise-free)
	$(BIN)/python -m bench.probes.instructions

soak: install ## Mixed load for SOAK_SECONDS (default 120): errors, RSS, latency -> bench/results/soak.json
	$(BIN)/python -m bench.probes.soak --seconds $${SOAK_SECONDS:-120} --json bench/results/soak.json

catalog-drift: install ## Diff a newer snapshot of Meta's codes (SNAPSHOT=file.json) against the catalog
	$(BIN)/python -m whatsapp_errors.server.catalog.drift $${SNAPSHOT:-server/catalog/meta_codes.json}

clean: ## Remove the venv and build leftovers
	rm -rf $(VENV) $(PROTOC_VENV) $(OLDEST_VENV) .build build .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find server -name '*.so' -delete
	rm -f server/hot_path.sha256
