# A local multi-validator testnet in the background (genesis/testnet.py), in ./.testnet.
# Included by the top-level Makefile; uses $(PY) from it.
#   make testnet [N=4] [BASE_PORT=26600] [TIMEOUT_COMMIT=200ms] [SPEC=file.json]
#                [L1_RPC=URL CONTRACT=0x...] [NO_L1=1]
#   make testnet-status | testnet-logs [FOLLOW=1] [LINES=20] | testnet-stop | testnet-clean
# The testnet's L1 is a geth --dev it runs in .testnet/l1 (RPC on BASE_PORT + 10*N), with the bridge
# deployed (.testnet/bridge.json); L1_RPC + CONTRACT use an existing L1 instead, NO_L1=1 none.

N ?= 4
BASE_PORT ?= 26600
TIMEOUT_COMMIT ?= 200ms
SPEC ?=
LINES ?= 20
FOLLOW ?=
L1_RPC ?=
CONTRACT ?=
NO_L1 ?=
TESTNET_DIR ?= $(CURDIR)/.testnet
TESTNET := $(PY) -m genesis.testnet --dir $(TESTNET_DIR)

.PHONY: testnet testnet-status testnet-logs testnet-stop testnet-clean

testnet: install $(if $(NO_L1),,contracts geth)
	@$(TESTNET) up -n $(N) --base-port $(BASE_PORT) --timeout-commit $(TIMEOUT_COMMIT) $(if $(SPEC),--spec $(SPEC)) \
		$(if $(L1_RPC),--l1-rpc $(L1_RPC)) $(if $(CONTRACT),--contract $(CONTRACT)) $(if $(NO_L1),--no-l1)

testnet-status: install
	@$(TESTNET) status

testnet-logs: install
	@$(TESTNET) logs --lines $(LINES) $(if $(FOLLOW),--follow)

testnet-stop: install
	@$(TESTNET) stop

testnet-clean: install
	@$(TESTNET) clean
