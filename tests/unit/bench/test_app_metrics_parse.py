"""bench-net reads the app's own counters from its metrics endpoint: labelled and unlabelled series."""

from __future__ import annotations

from prometheus_client import generate_latest

from abci_app.gen.tendermint.abci import types_pb2 as pb
from sidechain.metrics import AppMetrics
from tests.bench.bench_net import parse_app_metrics


class _Cache:
    verifications = 7
    hits = 3


def test_counters_and_gauges_by_our_names() -> None:
    m = AppMetrics()
    m.track_signatures(lambda: _Cache)  # type: ignore[arg-type, return-value]
    for _ in range(2):
        m.observe("check_tx", 0.0, pb.ResponseCheckTx(codespace="auth", code=2))
    m.observe("check_tx", 0.0, pb.ResponseCheckTx())
    got = parse_app_metrics(generate_latest(m.registry).decode())
    assert got == {"check_tx.2:auth": 2.0, "check_tx.0:": 1.0, "abci.check_tx": 3.0,
                   "signatures.verifications": 7.0, "signatures.cache_hits": 3.0}
