"""Micro-benchmark of the tx pipeline: per-tx costs and 1,000-transfer blocks over many accounts.

    .venv/bin/python -m tests.bench.bench_txflow [--accounts 100000] [--blocks 5] [--block-size 1000]
                                                    [--backend memory|leveldb] [--out FILE]

Per-tx figures (microseconds, best of 3 passes over one block of distinct transfers):
  decode          decode_tx: size check, 3 protobuf parses, canonical re-encode checks, message decode
  verify          ed25519 verification of the sign bytes (PyNaCl)
  check_stateful  ante + message checks + apply on a branch (what CheckTx/proposals do after decode)
  deliver         FinalizeBlock's per-tx work after decode: ante, message branch, events
Block figures: FinalizeBlock with a cold signature cache (deliver_raw = decode + verify + deliver for
each tx, then end_block), then the store's working_root + commit, as transfers per second.
Not a test: nothing is asserted. The state is the real MerkleStore on the chosen backend.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import statistics
import tempfile
import time
from typing import Any

from nacl.signing import SigningKey

from sidechain.bank import state as bank_state
from sidechain.block import process_collect_fees
from sidechain.env import TxEnv, next_block_env
from sidechain.module import CHAIN
from sidechain.store import CacheKV, LevelDBBackend, MemoryBackend, MerkleStore
from sidechain.tx import decode_tx, verify_signature
from sidechain.txflow import SignatureCache, check_stateful, deliver, deliver_raw
from sidechain.types import Amount, bech32_address
from tests.unit.tx.chain import CHAIN_ID, addr, send_tx


def _best(fn: Any, n: int, passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--backend", choices=["memory", "leveldb"], default="memory")
    ap.add_argument("--out", default=None)
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after setup (long-lived objects)")
    args = ap.parse_args()
    rng = random.Random(1)
    n_senders = args.blocks * args.block_size

    t0 = time.perf_counter()
    keys = [SigningKey(hashlib.sha256(b"bench-%d" % i).digest()) for i in range(n_senders)]
    senders = [addr(k) for k in keys]
    others = [rng.randbytes(20) for _ in range(max(0, args.accounts - n_senders))]
    everyone = senders + others
    tmp = tempfile.TemporaryDirectory()
    backend = LevelDBBackend(tmp.name) if args.backend == "leveldb" else MemoryBackend()
    store = MerkleStore(backend)
    # default params for every module (no validators: this times the tx pipeline alone), then the
    # balances written in bulk (as a genesis with them would)
    CHAIN.init_genesis(store, CHAIN.parse_genesis(CHAIN.default_genesis_json()), CHAIN_ID)
    for a in everyone:
        bank_state.set_balance(store, a, "stake", Amount(10**12))
    bank_state.set_supply(store, "stake", Amount(10**12 * len(everyone)))
    store.commit(1)
    setup_s = time.perf_counter() - t0
    ctx = CHAIN.rules(store, CHAIN_ID)
    assert bech32_address(senders[0], ctx.address_prefix)
    blocks = [
        [
            send_tx(keys[b * args.block_size + i], rng.choice(everyone), rng.randint(1, 1000), 0)
            for i in range(args.block_size)
        ]
        for b in range(args.blocks)
    ]

    if args.gc_freeze:
        gc.collect()
        gc.freeze()

    # per-tx costs on the first block, against committed state (branches are thrown away)
    first = blocks[0]
    n = len(first)
    decoded = [decode_tx(r, ctx.registry, ctx.limits) for r in first]
    per_tx = {
        "decode_us": _best(lambda: [decode_tx(r, ctx.registry, ctx.limits) for r in first], n),
        "verify_us": _best(lambda: [verify_signature(t, CHAIN_ID) for t in decoded], n),
    }

    def stateful() -> None:
        branch, env = CacheKV(store), TxEnv(next_block_env(CHAIN_ID, 2, 0), ctx)
        for t in decoded:
            check_stateful(branch, t, env)

    def delivers() -> None:
        branch, env = CacheKV(store), TxEnv(next_block_env(CHAIN_ID, 2, 0), ctx)
        for t in decoded:
            assert deliver(branch, t, env).ok

    per_tx["check_stateful_us"] = _best(stateful, n)
    per_tx["deliver_us"] = _best(delivers, n)

    # whole blocks: FinalizeBlock (cold cache) + commit
    finalize_ms, commit_ms = [], []
    for h, block in enumerate(blocks, start=2):
        cache = SignatureCache(CHAIN_ID)
        env = TxEnv(next_block_env(CHAIN_ID, h, 0), ctx)
        t = time.perf_counter()
        results = [deliver_raw(store, raw, env, cache) for raw in block]
        process_collect_fees(store, env.fees, CHAIN)
        t1 = time.perf_counter()
        store.working_root()
        store.commit(h)
        t2 = time.perf_counter()
        assert all(r.ok for r in results), [r.log for r in results if not r.ok][:3]
        finalize_ms.append((t1 - t) * 1e3)
        commit_ms.append((t2 - t1) * 1e3)
    fin, com = statistics.median(finalize_ms), statistics.median(commit_ms)
    out = {
        "accounts": len(everyone),
        "block_size": args.block_size,
        "backend": args.backend,
        "gc_freeze": args.gc_freeze,
        "setup_s": round(setup_s, 1),
        "per_tx": {k: round(v, 1) for k, v in per_tx.items()},
        "finalize_block_ms_median": round(fin, 1),
        "commit_ms_median": round(com, 1),
        "transfers_per_s_finalize_only": round(args.block_size / fin * 1e3),
        "transfers_per_s_finalize_and_commit": round(args.block_size / (fin + com) * 1e3),
    }
    print(json.dumps(out, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    tmp.cleanup()


if __name__ == "__main__":
    main()
