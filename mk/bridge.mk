# Bridge: L1 contracts (solc-js standard JSON), a pinned geth for tests and the local L1, gas report.
# Included by the top-level Makefile; uses $(PY), $(GOBIN), $(VENV) from it.

GETH_VERSION := v1.17.10
GETH := $(GOBIN)/geth

BRIDGE_CONTRACTS_DIR := bridge/contracts
BRIDGE_SOL_SOURCES := $(shell find $(BRIDGE_CONTRACTS_DIR) -name node_modules -prune -o -name build -prune -o -name "*.sol" -print 2>/dev/null)
BRIDGE_NPM_STAMP := $(BRIDGE_CONTRACTS_DIR)/node_modules/.stamp-npm-ci
BRIDGE_BUILD_STAMP := $(BRIDGE_CONTRACTS_DIR)/build/.stamp

BRIDGE_TEST_DEPS := contracts geth
BENCH_TARGETS += gas-report

.PHONY: contracts geth gas-report

contracts: $(BRIDGE_BUILD_STAMP)

# npm ci only when the lock file changes (node_modules is not committed).
$(BRIDGE_NPM_STAMP): $(BRIDGE_CONTRACTS_DIR)/package.json $(BRIDGE_CONTRACTS_DIR)/package-lock.json
	cd $(BRIDGE_CONTRACTS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(BRIDGE_BUILD_STAMP): $(BRIDGE_NPM_STAMP) $(BRIDGE_SOL_SOURCES) $(BRIDGE_CONTRACTS_DIR)/compile.js
	cd $(BRIDGE_CONTRACTS_DIR) && node compile.js
	@touch $@

# The binary is versioned on disk so that changing GETH_VERSION reinstalls it.
geth: $(GOBIN)/.geth-$(GETH_VERSION)
$(GETH): $(GOBIN)/.geth-$(GETH_VERSION)
$(GOBIN)/.geth-$(GETH_VERSION):
	@mkdir -p $(GOBIN)
	GOBIN=$(GOBIN) go install github.com/ethereum/go-ethereum/cmd/geth@$(GETH_VERSION)
	@rm -f $(GOBIN)/.geth-*
	@touch $@

gas-report: $(VENV)/.installed contracts
	@mkdir -p bench-results
	$(PY) -m tests.bench.gas_report --out bench-results/gas-report
