"""The app's request and CheckTx counters (sidechain/metrics.py), as Prometheus exports them."""

from __future__ import annotations

from abci_app.gen.tendermint.abci import types_pb2 as pb
from sidechain.metrics import AppMetrics


def test_requests_and_check_tx_results_are_counted_by_label() -> None:
    m = AppMetrics()
    answers = [pb.ResponseCheckTx(code=0)] * 3 + [pb.ResponseCheckTx(codespace="mempool", code=2)] * 2
    answers += [pb.ResponseCheckTx(codespace="auth", code=2)]  # the same code, another codespace
    for a in answers:
        m.observe("check_tx", 0.0, a)
    for _ in range(4):
        m.observe("recheck_tx", 0.0, pb.ResponseCheckTx(codespace="auth", code=5))
    m.observe("commit", 0.01, pb.ResponseCommit())
    value = m.registry.get_sample_value
    assert value("sidechain_abci_requests_total", {"method": "check_tx"}) == 6
    assert value("sidechain_abci_requests_total", {"method": "recheck_tx"}) == 4
    assert value("sidechain_abci_requests_total", {"method": "commit"}) == 1
    assert value("sidechain_check_tx_total", {"codespace": "", "code": "0"}) == 3
    assert value("sidechain_check_tx_total", {"codespace": "mempool", "code": "2"}) == 2
    assert value("sidechain_check_tx_total", {"codespace": "auth", "code": "2"}) == 1
    assert value("sidechain_recheck_tx_total", {"codespace": "auth", "code": "5"}) == 4
    assert value("sidechain_check_tx_total", {"codespace": "auth", "code": "5"}) is None
    assert value("sidechain_blocks_committed_total") == 1


def test_signature_gauges_follow_the_apps_cache() -> None:
    from sidechain import txflow
    from tests.unit.app.appchain import new_app, run_block
    from tests.unit.tx.chain import addr, coin, key, send_tx

    keys = [key(i) for i in range(1, 4)]
    app = new_app([(addr(k), [coin(1_000)]) for k in keys])
    run_block(app, [])
    m = AppMetrics()
    m.track_signatures(lambda: app.sig_cache)
    value = m.registry.get_sample_value
    assert (value("sidechain_signature_verifications"), value("sidechain_signature_cache_hits")) == (0, 0)
    tx = send_tx(keys[0], addr(keys[1]), 5, 0)
    assert app.check_tx(tx, recheck=False).code == 0  # verified once, here
    run_block(app, [tx])  # FinalizeBlock finds it in the cache
    assert value("sidechain_signature_verifications") == 1
    assert value("sidechain_signature_cache_hits") >= 1
    app.sig_cache = txflow.SignatureCache(app.sig_cache.chain_id)  # a new cache (InitChain): read anew
    assert value("sidechain_signature_verifications") == 0
