"""The load generator of `make bench-net` against a real 1-validator network: a short smoke run, and an
overloaded small mempool in which every tx the node answered with code 0 is committed."""

from __future__ import annotations

from pathlib import Path

from tests.bench.bench_net import RunConfig, run_one


def _check_all_committed(r: dict[str, object], offered: int) -> None:
    assert r["failures"] == [], r["failures"]
    counts = {k: r[k] for k in ("accepted", "committed_of_ours", "lost", "resent_lost", "failed_refused",
                                "failed_in_block", "full_retries")}
    assert r["failed"] == 0, counts
    assert r["resent_lost"] == 0, counts
    assert r["lost"] == 0, f"{r['lost']} txs answered with code 0 never reached a block"
    assert r["exhausted_accounts"] == r["accounts"], "every account should have sent all its txs"
    assert r["accepted"] == offered
    assert r["committed_of_ours"] == offered
    assert r["app_hashes_agree"]


def test_load_generator_smoke(tmp_path: Path) -> None:
    cfg = RunConfig(name="smoke", app="sidechain", validators=1, duration=20, accounts=30, txs_per_account=10,
                    workers=2, conns=4, sample_every=5, rate=200)  # paced, as `--rate` runs are
    r = run_one(cfg, tmp_path)
    _check_all_committed(r, 300)
    assert r["latency_samples"] > 0


def test_full_mempool_loses_no_accepted_tx(tmp_path: Path) -> None:
    """64 connections keep more txs in flight than a 50-tx mempool holds: the node must refuse the
    overflow ("mempool full, retry") instead of answering code 0 and dropping it (CometBFT v0.38 checks its
    limits again after CheckTx and drops silently: then that tx, and every later tx of its account, would
    never be committed)."""
    cfg = RunConfig(name="full", app="sidechain", validators=1, duration=40, accounts=120, txs_per_account=8,
                    workers=2, conns=32, mempool_size=50, timeout_commit="300ms")
    r = run_one(cfg, tmp_path)
    assert r["full_retries"] > 0, "the mempool never filled: the test did not test anything"
    _check_all_committed(r, 960)
