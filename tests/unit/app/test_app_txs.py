"""The application with transactions: CheckTx and recheck, proposals, execution, queries, proofs."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sidechain import blocks as b
from sidechain.app import tx_proto_size
from sidechain.bank.keys import balance_key
from sidechain.store import verify
from tests.unit.app.appchain import finalize, new_app, prepare, process, run_block
from tests.unit.tx.chain import addr, bech, coin, key, send_tx

ALICE, BOB, CAROL = key(1), key(2), key(3)


def funded(data_dir: Path | None = None):  # type: ignore[no-untyped-def]
    app = new_app([(addr(ALICE), [coin(1_000)]), (addr(BOB), [coin(50)])], data_dir)
    run_block(app, [])  # genesis committed with block 1
    return app


def balance(app, who) -> int:  # type: ignore[no-untyped-def]
    r = app.query(b.QueryRequest(path=f"/balance/{bech(addr(who))}/stake", data=b"", height=0, prove=False))
    assert r.code == 0, r.log
    return int(json.loads(r.value)["amount"])


def test_check_tx_accepts_then_checks_against_pending_state() -> None:
    app = funded()
    assert app.check_tx(send_tx(ALICE, addr(BOB), 600, 0), recheck=False).code == 0
    # The second tx of the same sender sees the first: sequence 1, and only 399 left.
    r = app.check_tx(send_tx(ALICE, addr(BOB), 600, 1), recheck=False)
    assert r.code != 0 and "insufficient funds" in r.log
    assert app.check_tx(send_tx(ALICE, addr(BOB), 300, 1), recheck=False).code == 0
    replay = app.check_tx(send_tx(ALICE, addr(BOB), 300, 1), recheck=False)
    assert replay.code != 0 and "sequence" in replay.log


def test_recheck_drops_txs_a_block_made_invalid_without_verifying_again() -> None:
    app = funded()
    pending = send_tx(ALICE, addr(BOB), 10, 0)
    assert app.check_tx(pending, recheck=False).code == 0
    verified = app.sig_cache.verifications
    # Another tx with the same sequence gets into a block first (e.g. from another node's mempool).
    run_block(app, [send_tx(ALICE, addr(CAROL), 20, 0)])
    r = app.check_tx(pending, recheck=True)
    assert r.code != 0 and "sequence" in r.log
    assert app.sig_cache.verifications == verified + 1  # the block's tx only; the recheck verified nothing


def test_signature_verified_once_per_node() -> None:
    app = funded()
    tx = send_tx(ALICE, addr(BOB), 10, 0)
    assert app.check_tx(tx, recheck=False).code == 0
    assert app.sig_cache.verifications == 1
    assert process(app, [tx])
    out = run_block(app, [tx])
    assert out.tx_results[0].code == 0
    assert app.sig_cache.verifications == 1


def _bad_signature(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])  # TxRaw ends with its 64-byte signature


def test_check_tx_refuses_a_tx_that_cannot_pass_before_verifying_its_signature() -> None:
    app = funded()
    early = send_tx(ALICE, addr(BOB), 10, 1)  # arrives before sequence 0 (gossip out of order)
    r = app.check_tx(early, recheck=False)
    assert r.code != 0 and "sequence mismatch: expected 0, got 1" in r.log
    r = app.check_tx(send_tx(CAROL, addr(BOB), 1, 0), recheck=False)  # CAROL cannot pay the fee
    assert r.code != 0 and "insufficient funds for fee" in r.log
    assert app.sig_cache.verifications == 0 and len(app.sig_cache) == 0
    # A tx the ante step would let through is still refused when its key did not sign it.
    r = app.check_tx(_bad_signature(send_tx(ALICE, addr(BOB), 10, 0)), recheck=False)
    assert r.code != 0 and "signature verification failed" in r.log
    assert balance(app, ALICE) == 1_000  # nothing recorded in the check-state
    assert app.check_tx(send_tx(ALICE, addr(BOB), 10, 0), recheck=False).code == 0
    assert app.check_tx(early, recheck=False).code == 0  # its turn now: verified and accepted
    assert app.sig_cache.verifications == 2  # successful verifications: the two accepted txs


def test_in_a_block_a_bad_signature_is_that_error_whatever_else_is_wrong() -> None:
    """The shortcut above is CheckTx's alone: a block's results (consensus) keep the stateless checks first."""
    app = funded()
    wrong_sequence = _bad_signature(send_tx(ALICE, addr(BOB), 10, 5))
    cannot_pay = _bad_signature(send_tx(CAROL, addr(BOB), 1, 0))
    out = run_block(app, [wrong_sequence, cannot_pay])
    assert [r.code for r in out.tx_results] == [out.tx_results[0].code] * 2 != [0, 0]
    assert all("signature verification failed" in r.log for r in out.tx_results)


def test_prepare_drops_invalid_and_respects_max_bytes() -> None:
    app = funded()
    good = [send_tx(ALICE, addr(BOB), 1, s) for s in range(5)]
    bad_sig = bytearray(good[0])
    bad_sig[-1] ^= 1
    txs = [good[0], bytes(bad_sig), send_tx(BOB, addr(ALICE), 10_000, 0), *good[1:]]
    assert prepare(app, txs) == good
    sizes = [tx_proto_size(len(t)) for t in good]
    assert sizes[0] == len(good[0]) + 3  # field tag + 2-byte length
    assert prepare(app, txs, max_tx_bytes=sizes[0] + sizes[1]) == good[:2]
    assert prepare(app, txs, max_tx_bytes=sizes[0] + sizes[1] - 1) == good[:1]
    assert prepare(app, txs, max_tx_bytes=sizes[0] - 1) == []


def test_process_rejects_a_block_with_an_invalid_tx() -> None:
    app = funded()
    ok = send_tx(ALICE, addr(BOB), 1, 0)
    assert process(app, [ok])
    assert not process(app, [ok, send_tx(ALICE, addr(BOB), 1, 0)])  # replay inside the block
    assert not process(app, [b"\x00garbage"])
    assert not process(app, [send_tx(ALICE, addr(BOB), 1, 0, chain_id="other-chain")])


def test_failed_tx_pays_fee_and_bumps_sequence() -> None:
    app = funded()
    out = run_block(app, [send_tx(BOB, addr(ALICE), 49, 0, fee=2)])  # 49 + 2 > 50: the send fails
    r = out.tx_results[0]
    assert r.code != 0 and r.codespace
    assert balance(app, BOB) == 48 and balance(app, ALICE) == 1_000
    acct = app.query(b.QueryRequest(path=f"/account/{bech(addr(BOB))}", data=b"", height=0, prove=False))
    assert json.loads(acct.value)["sequence"] == 1


def test_events_name_sender_and_recipient() -> None:
    app = funded()
    out = run_block(app, [send_tx(ALICE, addr(BOB), 7, 0)])
    events = {e.type: {a.key: a.value for a in e.attributes} for e in out.tx_results[0].events}
    assert events["transfer"] == {"sender": bech(addr(ALICE)), "recipient": bech(addr(BOB)), "amount": "7stake"}
    assert events["fee"]["payer"] == bech(addr(ALICE))


def test_balance_proof_verifies_against_the_committed_root() -> None:
    app = funded()
    run_block(app, [send_tx(ALICE, addr(BOB), 7, 0)])
    h = app.last_height
    r = app.query(b.QueryRequest(path=f"/balance/{bech(addr(BOB))}/stake", data=b"", height=0, prove=True))
    assert r.code == 0 and r.height == h and r.proof_ops
    raw = bytes.fromhex(r.info)
    verify(list(r.proof_ops), app.last_app_hash, balance_key(addr(BOB), "stake"), raw)
    # Absence: CAROL has no balance, and the proof says so.
    r = app.query(b.QueryRequest(path=f"/balance/{bech(addr(CAROL))}/stake", data=b"", height=0, prove=True))
    verify(list(r.proof_ops), app.last_app_hash, balance_key(addr(CAROL), "stake"), None)


def test_queries_at_older_heights_and_bad_requests() -> None:
    app = funded()
    before = app.last_height
    run_block(app, [send_tx(ALICE, addr(BOB), 7, 0)])
    old = app.query(b.QueryRequest(path=f"/balance/{bech(addr(BOB))}/stake", data=b"", height=before, prove=False))
    assert json.loads(old.value)["amount"] == "50" and old.height == before
    for path, word in [("/balance/cosmos1xyz/stake", "prefix"), ("/nope", "unknown query path"),
                       (f"/balance/{bech(addr(BOB))}/BAD DENOM", "denom")]:
        r = app.query(b.QueryRequest(path=path, data=b"", height=0, prove=False))
        assert r.code != 0 and word in r.log, (path, r.log)
    r = app.query(b.QueryRequest(path="/params", data=b"", height=app.last_height + 5, prove=False))
    assert r.code != 0 and "not available" in r.log


def test_two_instances_agree_on_random_blocks() -> None:
    rng = random.Random(7)
    keys = [key(i) for i in range(10)]
    genesis = [(addr(k), [coin(10_000)]) for k in keys]
    a, c = new_app(genesis), new_app(genesis)
    seqs = [0] * len(keys)
    for _ in range(15):
        txs = []
        for _ in range(rng.randrange(0, 8)):
            i = rng.randrange(len(keys))
            txs.append(send_tx(keys[i], addr(keys[rng.randrange(len(keys))]), rng.randrange(0, 3_000),
                               seqs[i] if rng.random() < 0.9 else seqs[i] + 1))
            seqs[i] += 1
        oa, oc = finalize(a, txs), finalize(c, txs)
        assert oa.app_hash == oc.app_hash
        assert [r.code for r in oa.tx_results] == [r.code for r in oc.tx_results]
        assert a.commit().app_hash == c.commit().app_hash
        seqs = [json.loads(a.query(b.QueryRequest(f"/account/{bech(addr(k))}", b"", 0, False)).value)["sequence"]
                for k in keys]


def test_crash_between_finalize_and_commit_replays_to_the_same_hash(tmp_path: Path) -> None:
    ref = funded()
    app = funded(tmp_path)
    txs = [send_tx(ALICE, addr(BOB), 5, 0), send_tx(BOB, addr(CAROL), 5, 0)]
    expected = finalize(ref, txs).app_hash
    assert finalize(app, txs).app_hash == expected
    app.close()  # the process dies before Commit
    again = new_reopened(tmp_path)
    assert again.last_height == ref.last_height
    assert finalize(again, txs).app_hash == expected  # CometBFT replays the block
    again.commit()
    assert balance(again, CAROL) == 5


def new_reopened(path: Path):  # type: ignore[no-untyped-def]
    from sidechain.app import Application

    return Application(path)
