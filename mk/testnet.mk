# A local multi-validator testnet in the background (genesis/testnet.py), in ./.testnet.
# Included by the top-level Makefile; uses $(PY) from it.
#   make testnet [N=4] [BASE_PORT=26600] [TIMEOUT_COMMIT=500ms] [SPEC=file.json]
#   make testnet-status | testnet-logs [FOLLOW=1] [LINES=20] | testnet-stop | testnet-clean

N ?= 4
BASE_PORT ?= 26600
TIMEOUT_COMMIT ?= 500ms
SPEC ?=
LINES ?= 20
FOLLOW ?=
TESTNET_DIR ?= $(CURDIR)/.testnet
TESTNET := $(PY) -m genesis.testnet --dir $(TESTNET_DIR)

.PHONY: testnet testnet-status testnet-logs testnet-stop testnet-clean

testnet: install
	@$(TESTNET) up -n $(N) --base-port $(BASE_PORT) --timeout-commit $(TIMEOUT_COMMIT) $(if $(SPEC),--spec $(SPEC))

testnet-status: install
	@$(TESTNET) status

testnet-logs: install
	@$(TESTNET) logs --lines $(LINES) $(if $(FOLLOW),--follow)

testnet-stop: install
	@$(TESTNET) stop

testnet-clean: install
	@$(TESTNET) clean
