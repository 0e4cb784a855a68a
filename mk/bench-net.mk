# Network throughput (tests/bench/bench_net.py): fresh 1- and 4-validator networks of our app and of
# CometBFT's built-in kvstore app (the engine's ceiling), driven by our load generator for 60 s each.
#   make bench-net [BENCH_NET_ARGS="--runs app1,kv1 --duration 30"]
#   make profile-net   py-spy on every app process under the same load; CPU split in bench-results/
# matplotlib (the plot) and py-spy are installed into the venv by these targets only.

MATPLOTLIB_VERSION := 3.11.2
PYSPY_VERSION := 0.4.3
BENCH_NET_ARGS ?=
PROFILE_NET_ARGS ?=
PROFILE_LABEL ?= profile

.PHONY: bench-net profile-net

$(VENV)/.matplotlib-$(MATPLOTLIB_VERSION): $(VENV)/.installed
	$(PY) -m pip install --quiet matplotlib==$(MATPLOTLIB_VERSION)
	@touch $@

$(VENV)/.py-spy-$(PYSPY_VERSION): $(VENV)/.installed
	$(PY) -m pip install --quiet py-spy==$(PYSPY_VERSION)
	@touch $@

bench-net: install $(VENV)/.matplotlib-$(MATPLOTLIB_VERSION)
	@mkdir -p bench-results
	$(PY) -m tests.bench.bench_net --out bench-results/bench-net.json --plot bench-results/bench-net.png \
		--kill-restart $(BENCH_NET_ARGS)

profile-net: install $(VENV)/.py-spy-$(PYSPY_VERSION)
	@mkdir -p bench-results
	rm -rf bench-results/profile-net
	$(PY) -m tests.bench.bench_net --runs app1,app4 --duration 40 --profile 20 \
		--profile-dir bench-results/profile-net --out bench-results/profile-net.json $(PROFILE_NET_ARGS)
	$(PY) -m tests.bench.profile_split --bench bench-results/profile-net.json --dir bench-results/profile-net \
		--label "$(PROFILE_LABEL)" --out bench-results/profile-net-$(PROFILE_LABEL).md
