# Bridge figures (tests/bench/bench_bridge.py). Included by the top-level Makefile.

BENCH_TARGETS += bench-bridge
.PHONY: bench-bridge

# Extension bytes, the extended commit's cost in ProcessProposal (4 and 100 validators), FinalizeBlock
# with 32 deposits; then deposit latency and block interval on real geth + a 4-validator network;
# then FinalizeBlock's cost of forming, completing and refunding a 100-withdrawal batch; extension bytes and
# the cost of 100 pending signatures (4 and 100 validators); withdrawal latency and L1 gas per withdrawal
# at batch sizes 1-100 on real geth + a 4-validator network with a relayer (batch_interval_blocks 1 and 0).
bench-bridge: install contracts geth
	@mkdir -p bench-results
	$(PY) -m tests.bench.bench_bridge --network --out bench-results/bench-bridge.json
	$(PY) -m tests.bench.bench_bridge_withdrawals > bench-results/bench-bridge-withdrawals.json
	$(PY) -m tests.bench.bench_bridge_sigs --out bench-results/bench-bridge-sigs.json
	$(PY) -m tests.bench.bench_bridge_withdrawals_net --out bench-results/bench-bridge-withdrawals-net.json
