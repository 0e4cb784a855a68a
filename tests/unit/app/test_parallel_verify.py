"""Signatures verified in parallel (txflow.ParallelVerifier) change no answer: only txs whose signature
verifies enter the signature cache, and blocks, proposals and CheckTx answer as without it."""

from __future__ import annotations

import threading

import pytest

from abci_app.adapter import Adapter
from abci_app.gen.tendermint.abci import types_pb2 as pb
from sidechain import txflow
from sidechain.app import Application
from tests.unit.app.appchain import new_app, process, run_block
from tests.unit.tx.chain import addr, coin, key, send_tx

KEYS = [key(i) for i in range(1, 13)]
ADDRS = [addr(k) for k in KEYS]


def _bad_signature(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])  # TxRaw ends with its 64-byte signature


def _app() -> Application:
    app = new_app([(a, [coin(1_000)]) for a in ADDRS[:10]])  # the last two hold nothing
    run_block(app, [])
    return app


def _sequential(app: Application) -> Application:
    app.verifier = txflow.ParallelVerifier()
    app.verifier.verify = lambda txs, rules, cache: sum(0 for _ in txs)  # type: ignore[method-assign]
    return app


def _block() -> list[bytes]:
    txs = [send_tx(KEYS[i], ADDRS[(i + 1) % 12], 10 + i, 0) for i in range(10)]
    txs.insert(3, _bad_signature(send_tx(KEYS[0], ADDRS[5], 1, 1)))
    txs.append(send_tx(KEYS[10], ADDRS[0], 5, 0))  # cannot pay its fee: fails, but its signature is good
    txs.append(b"\x0a\x01")  # not a tx
    return txs


def test_only_txs_whose_signature_verifies_enter_the_cache() -> None:
    app = _app()
    rules = app._rules
    assert rules is not None
    block = _block()
    assert app.verifier.verify_raw(block, rules, app.sig_cache) == 11
    assert app.sig_cache.verifications == 11 and len(app.sig_cache) == 11
    assert txflow.tx_hash(block[3]) not in app.sig_cache
    assert app.verifier.verify_raw(block, rules, app.sig_cache) == 0  # all cached now (or refused)
    few = [send_tx(KEYS[i], ADDRS[0], 1, 1) for i in range(1, 1 + txflow.MIN_PARALLEL - 1)]
    assert app.verifier.verify_raw(few, rules, app.sig_cache) == 0  # too few: left to the sequential path
    app.close()


def test_a_block_gives_the_same_results_with_and_without() -> None:
    parallel, sequential = _app(), _sequential(_app())
    outs = [run_block(app, _block()) for app in (parallel, sequential)]
    assert [(r.code, r.log) for r in outs[0].tx_results] == [(r.code, r.log) for r in outs[1].tx_results]
    assert "signature verification failed" in outs[0].tx_results[3].log
    assert parallel.last_app_hash == sequential.last_app_hash
    assert parallel.sig_cache.verifications == sequential.sig_cache.verifications == 11
    for app in (parallel, sequential):
        app.close()


def test_a_proposal_from_another_node_is_verified_in_parallel_and_judged_the_same() -> None:
    good = [send_tx(KEYS[i], ADDRS[11], 10, 0) for i in range(10)]
    bad = [*good[:5], _bad_signature(good[5]), *good[6:]]
    for txs, accepted in ((good, True), (bad, False)):
        parallel, sequential = _app(), _sequential(_app())
        assert process(parallel, txs) is process(sequential, txs) is accepted
        # all ten verified; the sequential path stops at the bad one (the sixth)
        assert (parallel.sig_cache.verifications, sequential.sig_cache.verifications) == ((10, 10) if accepted
                                                                                           else (9, 5))
        for app in (parallel, sequential):
            app.close()


def test_new_check_txs_of_one_read_are_verified_before_their_turn() -> None:
    app, plain = _app(), _sequential(_app())
    batch = [send_tx(KEYS[0], ADDRS[1], 10, s) for s in range(4)]  # one account's chain, in order
    batch += [send_tx(KEYS[i], ADDRS[0], 10, 0) for i in range(1, 8)]
    skipped = [
        send_tx(KEYS[8], ADDRS[0], 10, 1),  # out of order: refused without verifying
        send_tx(KEYS[10], ADDRS[0], 1, 0),  # cannot pay its fee
        _bad_signature(send_tx(KEYS[9], ADDRS[0], 10, 0)),
        send_tx(KEYS[0], ADDRS[1], 10, 9),  # breaks the chain above
    ]
    app.preverify_check_txs(batch + skipped)
    assert app.sig_cache.verifications == len(batch) and all(txflow.tx_hash(t) in app.sig_cache for t in batch)
    for tx in batch + skipped:
        a, b = app.check_tx(tx, False), plain.check_tx(tx, False)
        assert (a.code, a.log) == (b.code, b.log)
    assert app.sig_cache.verifications == plain.sig_cache.verifications == len(batch)
    for x in (app, plain):
        x.close()


def test_nothing_is_verified_ahead_while_the_mempool_is_full() -> None:
    app = _app()
    app.set_mempool_limits(1, 0)
    assert app.check_tx(send_tx(KEYS[0], ADDRS[1], 10, 0), False).code == 0
    app.preverify_check_txs([send_tx(KEYS[i], ADDRS[0], 10, 0) for i in range(1, 10)])
    assert app.sig_cache.verifications == 1
    app.close()


def test_no_more_is_verified_ahead_than_the_mempool_has_room_for() -> None:
    app = _app()
    app.set_mempool_limits(txflow.MIN_PARALLEL + 1, 0)
    assert app.check_tx(send_tx(KEYS[0], ADDRS[1], 10, 0), False).code == 0
    app.preverify_check_txs([send_tx(KEYS[i], ADDRS[0], 10, 0) for i in range(1, 10)])
    assert app.sig_cache.verifications == 1 + txflow.MIN_PARALLEL
    app.close()


def test_the_adapter_hands_new_check_txs_only_to_preverify() -> None:
    seen: list[list[bytes]] = []
    app = _app()
    app.preverify_check_txs = lambda txs: seen.append(list(txs))  # type: ignore[method-assign]
    ad = Adapter(app)
    new = [send_tx(KEYS[i], ADDRS[0], 10, 0) for i in range(3)]
    frames = [pb.Request(check_tx=pb.RequestCheckTx(tx=t, type=pb.NEW)).SerializeToString() for t in new]
    frames.insert(1, pb.Request(check_tx=pb.RequestCheckTx(tx=b"r", type=pb.RECHECK)).SerializeToString())
    frames.append(pb.Request(flush=pb.RequestFlush()).SerializeToString())
    frames.append(pb.Request(finalize_block=pb.RequestFinalizeBlock(txs=new, height=5)).SerializeToString())
    ad.prefetch(frames)
    assert seen == [new]
    ad.prefetch(frames[:1])  # one frame: nothing to do in parallel
    assert seen == [new]
    app.close()


def test_no_threads_verifies_nothing_ahead() -> None:
    app = _app()
    app.verifier = txflow.ParallelVerifier(0)  # app.toml abci.verify_threads = 0
    rules = app._rules
    assert rules is not None
    assert app.verifier.verify_raw(_block(), rules, app.sig_cache) == 0 and app.sig_cache.verifications == 0
    other = _app()
    codes = [[r.code for r in run_block(x, _block()).tx_results] for x in (app, other)]
    assert codes[0] == codes[1] and codes[0].count(0) == 11  # verified one by one instead
    assert app.sig_cache.verifications == other.sig_cache.verifications == 11
    for x in (app, other):
        x.close()


def _many(n: int, bad: set[int]) -> list[bytes]:
    """n transfers from KEYS[0] (sequences 0..n-1); those at the positions in `bad` carry a bad signature."""
    txs = [send_tx(KEYS[0], ADDRS[1], 1, s) for s in range(n)]
    return [_bad_signature(t) if i in bad else t for i, t in enumerate(txs)]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [txflow.MIN_PARALLEL, txflow.VERIFY_CHUNK + 1, 2 * txflow.VERIFY_CHUNK, 61])
def test_every_chunk_and_every_tx_is_judged_on_its_own(threads: int, n: int) -> None:
    """Whoever verifies a chunk (a pool thread, or this thread taking one no thread has started, or
    the last, partial one), each tx's own signature decides whether it is cached."""
    bad = {i for i in (0, txflow.VERIFY_CHUNK - 1, txflow.VERIFY_CHUNK, n - 1) if i < n}
    app = _app()
    app.verifier = txflow.ParallelVerifier(threads)
    rules = app._rules
    assert rules is not None
    txs = _many(n, bad)
    assert app.verifier.verify_raw(txs, rules, app.sig_cache) == n - len(bad)
    assert [txflow.tx_hash(t) in app.sig_cache for t in txs] == [i not in bad for i in range(n)]
    assert app.sig_cache.verifications == n - len(bad)
    app.close()


def test_this_thread_verifies_what_the_pool_has_not_started() -> None:
    """With its one pool thread held busy, verify still finishes: this thread verifies every chunk."""
    app = _app()
    app.verifier = txflow.ParallelVerifier(1)
    rules = app._rules
    assert rules is not None
    txs = _many(40, {5, 17})
    warm = [send_tx(KEYS[1], ADDRS[2], 1, s) for s in range(txflow.MIN_PARALLEL)]
    assert app.verifier.verify_raw(warm, rules, app.sig_cache) == txflow.MIN_PARALLEL  # starts the pool
    pool = app.verifier._pool
    assert pool is not None
    release = threading.Event()
    busy = pool.submit(release.wait, 10)
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(app.verifier.verify_raw(txs, rules, app.sig_cache)))
    t.start()
    t.join(5)
    release.set()
    assert busy.result(5)
    assert done == [38], "verify waited for the busy pool"
    assert all((txflow.tx_hash(t) in app.sig_cache) is (i not in (5, 17)) for i, t in enumerate(txs))
    app.close()
