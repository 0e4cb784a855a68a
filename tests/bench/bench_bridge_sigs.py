"""Validators' signatures in vote extensions, measured in process (tests/unit/bridge/wchain.py: signed
extended commits, real secp256k1 bridge keys) at 100 pending batches:

  - the bytes of one validator's extension carrying 100 signatures, alone and with 32 deposits, against
    `max_extension_bytes` (16384, the default and the testnet's), and the extended commit they make;
  - ExtendVote (signing 100 digests), VerifyVoteExtension of one such extension (100 recoveries) against
    an idle one, and FinalizeBlock's step 3 (storing and re-checking every validator's 100 signatures),
    at 4 and 100 validators.

100 batches are made with signing off (one withdrawal each, `max_batch_size` 1, so one batch per block),
then every validator's bridge key is turned on: the next height's votes carry 100 signatures each.

    .venv/bin/python -m tests.bench.bench_bridge_sigs [--validators 4,100] [--pending 100] [--rounds 20]
        [--out bench-results/bench-bridge-sigs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.module.events import decode_extension
from bridge.module.params import BridgeParams
from bridge.module.sigs import KeySigner
from sidechain import blocks as b
from sidechain.extcommit import is_commit_tx
from tests.unit.bridge.wchain import WChain, addr, withdraw_msg

MAX_MSGS_PER_TX = 16  # auth param max_msgs_per_tx (default)


def _ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1e3, 3), "p90_ms": round(s[int(len(s) * 0.9)] * 1e3, 3),
            "max_ms": round(s[-1] * 1e3, 3), "n": len(s)}


def _timed(fn: Callable[[], Any], rounds: int) -> tuple[list[float], Any]:
    samples, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t)
    return samples, out


def pending_chain(validators: int, pending: int, max_extension_bytes: int) -> WChain:
    """A chain of `validators` equal validators with `pending` pending batches none of them signed."""
    c = WChain(n_users=1, powers=[10] * validators,
               params={"max_batch_size": 1, "batch_interval_blocks": 0, "batch_timeout_l1_blocks": 1_000_000,
                       "max_extension_bytes": max_extension_bytes},
               chain_kw={"signing": False})
    c.step()
    who = addr(c.users[0])
    c.l1_deposit(who, 10**18)
    c.settle()
    msgs = [withdraw_msg(who, 10**12 + i, i) for i in range(pending)]
    txs = [c.tx(0, *msgs[i:i + MAX_MSGS_PER_TX]) for i in range(0, pending, MAX_MSGS_PER_TX)]
    out = c.step(txs)
    assert all(r.code == 0 for r in out.tx_results), [r.log for r in out.tx_results if r.code]
    while len(c.pending()) < pending:  # one batch per token per block
        c.step()
    assert len(c.pending()) == pending and int(c.state()["next_withdrawal_id"]) == pending + 1  # type: ignore[call-overload]
    return c


def measure(validators: int, pending: int, rounds: int, max_extension_bytes: int = 16384) -> dict[str, Any]:
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    c = pending_chain(validators, pending, max_extension_bytes)
    setup_s = time.perf_counter() - t0
    chain, app = c.chain, c.chain.app
    limit = BridgeParams.from_json(c.state()["params"]).max_extension_bytes
    h = app.last_height + 1
    block = chain.propose()
    assert block and is_commit_tx(block[0])
    idle = chain.extensions(h, block)[0]
    chain.signers = [KeySigner(k.bridge_key) for k in chain.keys]
    out: dict[str, Any] = {"validators": validators, "pending_batches": pending, "max_extension_bytes": limit,
                           "setup_s": round(setup_s, 1), "idle_extension_bytes": len(idle), "load_average": load}

    # ExtendVote of validator 0 with `pending` digests to sign (nothing is stored: each call signs all again)
    samples, ext = _timed(lambda: _extend_one(c, h, block, 0), max(3, rounds // 4))
    sigs = decode_extension(ext).signatures
    out["extension_bytes_with_signatures"] = len(ext)
    out["signatures_in_it"] = len(sigs)
    out["bytes_per_signature"] = round((len(ext) - len(idle)) / max(1, len(sigs)), 1)
    out["extend_vote_signing"] = _ms(samples)
    out["extend_vote_idle"] = _ms(_timed(lambda: _extend_one(c, h, block, 0, sign=False), max(3, rounds // 4))[0])

    # VerifyVoteExtension of that extension (each signature recovered to the validator's bridge address)
    def verify(e: bytes) -> Callable[[], bool]:
        req = b.VerifyVoteExtensionRequest(hash=h.to_bytes(32, "big"), height=h, vote_extension=e,
                                           validator_address=chain.keys[0].consensus_address)
        return lambda: app.verify_vote_extension(req)

    samples, ok = _timed(verify(ext), rounds)
    assert ok, "the extension with signatures was refused"
    out["verify_vote_extension_signatures"] = _ms(samples)
    samples, ok = _timed(verify(idle), rounds)
    assert ok
    out["verify_vote_extension_idle"] = _ms(samples)

    # with 32 deposits as well (L1 holds 40 unapplied deposits: the extension carries the first 32)
    saved = list(c.l1_events), c.l1_head, c.next_event_nonce
    for i in range(40):
        c.l1_deposit(b"\x07" * 20, 10**15 + i)
    full = _extend_one(c, h, block, 0)
    fx = decode_extension(full)
    out["extension_bytes_with_signatures_and_deposits"] = len(full)
    out["deposits_in_it"] = len(fx.events)
    out["signatures_with_deposits"] = len(fx.signatures)
    out["fits"] = len(full) <= limit
    c.l1_events, c.l1_head, c.next_event_nonce = saved
    c._show()

    # FinalizeBlock of the next height: its extended commit carries every validator's signatures (step 3)
    bridge_module = next(m for m in app.modules.modules if m.name == "bridge")
    inner_store = bridge_module._store_signatures  # type: ignore[attr-defined]
    inner_finalize = app.finalize_block
    spent: dict[str, list[float]] = {"store": [], "finalize": []}

    def store(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        r = inner_store(*a, **kw)
        spent["store"].append(time.perf_counter() - t)
        return r

    def finalize(req: b.FinalizeBlockRequest) -> b.BlockOutput:
        t = time.perf_counter()
        r = inner_finalize(req)
        spent["finalize"].append(time.perf_counter() - t)
        return r

    t = time.perf_counter()
    c.step()  # height h: every validator's vote carries `pending` signatures (each verified by the others)
    out["height_with_signing_votes_s"] = round(time.perf_counter() - t, 2)
    commit_tx = chain.propose()[0]
    out["extended_commit_tx_bytes"] = len(commit_tx)
    bridge_module._store_signatures = store  # type: ignore[attr-defined]
    app.finalize_block = finalize  # type: ignore[method-assign]
    try:
        blk = c.step()  # height h + 1: FinalizeBlock stores them; every batch becomes ready
    finally:
        bridge_module._store_signatures = inner_store  # type: ignore[attr-defined]
        app.finalize_block = inner_finalize  # type: ignore[method-assign]
    ready = sum(1 for e in blk.events if e.type == "bridge_batch_ready")
    stored = sum(len(x["signatures"]) for x in c.pending())  # type: ignore[arg-type,misc]
    out["signatures_stored"] = stored
    out["batches_ready"] = ready
    out["finalize_step3_ms"] = round(spent["store"][0] * 1e3, 2)
    out["finalize_block_ms"] = round(spent["finalize"][0] * 1e3, 2)
    # an empty block after it, for scale
    app.finalize_block = finalize  # type: ignore[method-assign]
    try:
        c.step()
    finally:
        app.finalize_block = inner_finalize  # type: ignore[method-assign]
    out["finalize_block_next_ms"] = round(spent["finalize"][-1] * 1e3, 2)
    return out


def _extend_one(c: WChain, h: int, block: list[bytes], i: int, sign: bool = True) -> bytes:
    chain = c.chain
    app = chain.app
    saved = app.observer, app.signer
    app.observer, app.signer = chain.observers[i], chain.signers[i] if sign else None
    try:
        return app.extend_vote(b.ExtendVoteRequest(env=chain.env(h), txs=tuple(block)))
    finally:
        app.observer, app.signer = saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--validators", default="4,100", help="comma-separated validator counts")
    ap.add_argument("--pending", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--max-extension-bytes", type=int, default=16384,
                    help="the param (16384: the default and the testnet's; also run at 4096 for comparison)")
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench-bridge-sigs.json"))
    args = ap.parse_args(argv)
    results = []
    for n in (int(x) for x in args.validators.split(",")):
        r = measure(n, args.pending, args.rounds, args.max_extension_bytes)
        print(json.dumps(r), flush=True)
        results.append(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pending": args.pending, "rounds": args.rounds, "runs": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
