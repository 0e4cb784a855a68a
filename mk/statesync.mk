# State sync (docs/STATESYNC.md): snapshot and restore figures. Included by the top-level Makefile.

BENCH_TARGETS += bench-statesync
.PHONY: bench-statesync

# Snapshot time and size at 100k and 1M accounts, restore vs replay at 1M, block time during a snapshot.
bench-statesync: install
	@mkdir -p bench-results
	$(PY) -m tests.bench.bench_statesync --out bench-results/bench-statesync.json
