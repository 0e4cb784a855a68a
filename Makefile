# Sidechain: build, test and run. Every target installs what it needs (make install).
SHELL := /bin/bash
.DEFAULT_GOAL := help

COMETBFT_VERSION := v0.38.26

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
TOOLS  := $(CURDIR)/.tools
GOBIN  := $(TOOLS)/bin
COMETBFT := $(GOBIN)/cometbft
export PATH := $(GOBIN):$(CURDIR)/$(VENV)/bin:$(PATH)

PROTO_STAMP := abci_app/gen/.stamp-$(COMETBFT_VERSION)
SIDECHAIN_PROTOS := $(shell find sidechain/proto -name '*.proto' 2>/dev/null)

# Test selection: PYTEST_ARGS=... to pass more (e.g. -k name).
PYTEST := $(PY) -m pytest
PYTEST_ARGS ?=

.PHONY: help install test test-unit test-integration bench bench-chain bench-app node lint clean

help:
	@echo "make testnet        build and start a local N-validator network (N=4) in the background"
	@echo "make testnet-status | testnet-logs | testnet-stop | testnet-clean"
	@echo "make install        venv, cometbft $(COMETBFT_VERSION), generated protobuf modules"
	@echo "make node           a single validator on a fresh home in ./localnet (Ctrl-C to stop)"
	@echo "make contracts      compile the bridge contracts;  make gas-report  their gas figures"
	@echo "make test           all tests (unit + integration); installs what it needs"
	@echo "make test-unit      fast in-process tests only"
	@echo "make bench          benchmarks (figures printed and saved in bench-results/)"
	@echo "make lint           ruff + mypy"

# --- install -------------------------------------------------------------------------------

install: $(VENV)/.installed $(COMETBFT) $(PROTO_STAMP) sidechain/gen/.stamp

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# CometBFT is built from its module source at COMETBFT_VERSION with our patches (patches/cometbft/,
# docs/ARCHITECTURE.md says why); the stamp names the version and the patches, so changing either
# rebuilds it.
COMETBFT_PATCHES := $(sort $(wildcard patches/cometbft/*.patch))
COMETBFT_BUILD := $(COMETBFT_VERSION)-$(shell cat $(COMETBFT_PATCHES) /dev/null | sha256sum | cut -c1-12)
$(COMETBFT): $(GOBIN)/.cometbft-$(COMETBFT_BUILD)
$(GOBIN)/.cometbft-$(COMETBFT_BUILD): $(COMETBFT_PATCHES) scripts/build_cometbft.sh
	@mkdir -p $(GOBIN)
	scripts/build_cometbft.sh $(COMETBFT_VERSION) $(COMETBFT) $(COMETBFT_PATCHES)
	@rm -f $(GOBIN)/.cometbft-*
	@touch $@

$(PROTO_STAMP): scripts/gen_proto.py $(VENV)/.installed
	$(PY) scripts/gen_proto.py --cometbft-version $(COMETBFT_VERSION)
	@touch $@ sidechain/gen/.stamp

sidechain/gen/.stamp: $(SIDECHAIN_PROTOS) scripts/gen_proto.py $(VENV)/.installed
	$(PY) scripts/gen_proto.py --cometbft-version $(COMETBFT_VERSION)
	@touch $(PROTO_STAMP) $@

# Benchmarks each fragment may add to (mk/*.mk: BENCH_TARGETS += ...).
BENCH_TARGETS := bench-chain bench-app

# Bridge contracts, geth, gas report (mk/bridge.mk) and testnet targets (mk/testnet.mk).
-include mk/*.mk

# --- tests ---------------------------------------------------------------------------------

TEST_DEPS := install $(BRIDGE_TEST_DEPS)

test: $(TEST_DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy sidechain abci_app validators genesis bridge
	$(PYTEST) -n 2 tests/unit $(PYTEST_ARGS)      # in-process: two workers, one per core
	$(PYTEST) tests/integration $(PYTEST_ARGS)    # real networks: one at a time

test-unit: $(TEST_DEPS)
	$(PYTEST) tests/unit $(PYTEST_ARGS)

test-integration: $(TEST_DEPS)
	$(PYTEST) tests/integration $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy sidechain abci_app validators genesis bridge

# --- benchmarks ----------------------------------------------------------------------------

bench: $(BENCH_TARGETS)

bench-chain: install
	@mkdir -p bench-results
	$(PY) -m tests.bench.bench_chain --out bench-results/bench-chain.json

bench-app: install
	@mkdir -p bench-results
	$(PY) -m tests.bench.bench_app --out bench-results/bench-app.json
	$(PY) -m tests.bench.bench_pos --out bench-results/bench-pos.json

# --- run -----------------------------------------------------------------------------------

# A single validator on a fresh home (wiped at each run) until Ctrl-C.
NODE_HOME ?= $(CURDIR)/localnet/node
node: install
	@rm -rf $(NODE_HOME)
	@$(VENV)/bin/sidechain init --home $(NODE_HOME) --chain-id sidechain-local --moniker local
	@echo "status: $(VENV)/bin/sidechain status --home $(NODE_HOME)   (stop with Ctrl-C)"
	$(VENV)/bin/sidechain start --home $(NODE_HOME)

clean:
	rm -rf $(VENV) $(TOOLS) abci_app/gen sidechain/gen localnet bench-results
