"""In-process benchmark of the state machine (no CometBFT): FinalizeBlock + Commit throughput on
blocks of 1,000 signed transfers over 100,000 accounts (signatures verified in FinalizeBlock: the
signature cache is cold), and Commit time per block at 10k, 100k and 1M accounts (LevelDB).

    python -m tests.bench.bench_app --out bench-results/bench-app.json [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.bank import state as bank_state
from sidechain.bank.msgs import MsgSend
from sidechain.node import tune_gc
from sidechain.store import CacheKV
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin, address_of_pubkey
from tests.unit.app.appchain import GENESIS_NS, app_state

CHAIN = "test-chain-1"
TXS_PER_BLOCK = 1_000
FUND = Coin("stake", Amount(10**12))
FEE = Coin("stake", Amount(1))


def seed_key(i: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"bench-%d" % i).digest())


def block_env(app: Application) -> b.BlockEnv:
    h = app.last_height + 1
    return b.BlockEnv(chain_id=CHAIN, height=h, time_ns=GENESIS_NS + h * 10**9, proposer_address=b"\x01" * 20,
                      hash=h.to_bytes(32, "big"))


def finalize(app: Application, txs: list[bytes]) -> b.BlockOutput:
    return app.finalize_block(b.FinalizeBlockRequest(env=block_env(app), txs=tuple(txs),
                                                     decided_last_commit=b.CommitInfo(0, ())))


def build_app(data_dir: Path, accounts: int, signers: list[SigningKey]) -> Application:
    """An app whose state holds `accounts` funded accounts: the signers (via genesis) plus filler
    accounts written in bulk through empty blocks (the store commits them like any block)."""
    app = Application(data_dir)
    signer_addrs = [address_of_pubkey(bytes(k.verify_key)) for k in signers]
    app.init_chain(b.InitChainRequest(
        chain_id=CHAIN, time_ns=GENESIS_NS, initial_height=1,
        app_state_bytes=app_state([(a, [FUND]) for a in signer_addrs], CHAIN), validators=(),
        consensus_params=b.ConsensusParams()))
    finalize(app, [])
    app.commit()
    remaining = accounts - len(signers)
    i = 0
    while remaining > 0:
        n = min(remaining, 100_000)
        branch = CacheKV(app.store)
        for j in range(i, i + n):
            bank_state.set_balance(branch, hashlib.sha256(b"filler-%d" % j).digest()[:20], "stake", FUND.amount)
        branch.write()
        finalize(app, [])
        app.commit()
        i += n
        remaining -= n
    # The bulk load above writes up to 1M keys in seconds; let LevelDB finish compacting it so the
    # measured blocks see a settled database (steady state), not the aftermath of the load.
    app.compact_storage()
    tune_gc()  # as `sidechain start` does: freeze what is loaded, the node's GC thresholds
    return app


def transfer_blocks(signers: list[SigningKey], recipients: int, blocks: int, seq0: int = 0) -> list[list[bytes]]:
    """Blocks of 1,000 transfers: each signer sends once per block to a pseudo-random account."""
    out = []
    for blk in range(blocks):
        txs = []
        for i, k in enumerate(signers[:TXS_PER_BLOCK]):
            to = hashlib.sha256(b"filler-%d" % ((blk * 7919 + i * 104729) % max(recipients, 1))).digest()[:20]
            msg = MsgSend(address_of_pubkey(bytes(k.verify_key)), to, (Coin("stake", Amount(1 + i % 97)),))
            txs.append(build_signed_tx(k, CHAIN, [msg.to_proto()], seq0 + blk, FEE))
        out.append(txs)
    return out


def run_blocks(app: Application, blocks: list[list[bytes]]) -> list[dict[str, float]]:
    rows = []
    store = app.store
    working_root = store.working_root
    root_s = [0.0]

    def timed_root() -> bytes:  # the root is computed inside FinalizeBlock: time it on its own too
        t = time.perf_counter()
        r = working_root()
        root_s[0] += time.perf_counter() - t
        return r

    store.working_root = timed_root  # type: ignore[method-assign]
    try:
        for txs in blocks:
            app.sig_cache = type(app.sig_cache)(CHAIN)  # cold: FinalizeBlock verifies every signature
            root_s[0] = 0.0
            c0 = time.process_time()
            t0 = time.perf_counter()
            out = finalize(app, txs)
            t1 = time.perf_counter()
            app.commit()
            t2 = time.perf_counter()
            cpu = time.process_time() - c0
            failed = sum(1 for r in out.tx_results if r.code)
            if failed:
                raise SystemExit(f"{failed} transfers failed: {out.tx_results[0].log}")
            rows.append({"finalize_ms": (t1 - t0) * 1e3, "commit_ms": (t2 - t1) * 1e3, "root_ms": root_s[0] * 1e3,
                         "cpu_ms": cpu * 1e3})
    finally:
        del store.working_root
    return rows


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    fin = statistics.median(r["finalize_ms"] for r in rows)
    com = statistics.median(r["commit_ms"] for r in rows)
    root = statistics.median(r["root_ms"] for r in rows)
    return {"finalize_ms": round(fin, 1), "commit_ms": round(com, 1), "root_ms": round(root, 1),
            "root_and_commit_ms": round(statistics.median(r["root_ms"] + r["commit_ms"] for r in rows), 1),
            "transfers_per_s": round(TXS_PER_BLOCK / ((fin + com) / 1e3)), "blocks": len(rows),
            # process CPU time of FinalizeBlock + Commit: steadier than wall time on a shared machine
            "cpu_ms": round(statistics.median(r["cpu_ms"] for r in rows), 1),
            "transfers_per_cpu_s": round(TXS_PER_BLOCK / (statistics.median(r["cpu_ms"] for r in rows) / 1e3))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the 100k run")
    ap.add_argument("--quick", action="store_true", help="10k and 100k only, fewer blocks")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    signers = [seed_key(i) for i in range(TXS_PER_BLOCK)]
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    results: dict[str, object] = {"txs_per_block": TXS_PER_BLOCK, "sizes": {}}
    for accounts in sizes:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            app = build_app(Path(d), accounts, signers)
            built = time.perf_counter() - t0
            n_blocks = 5 if args.quick else 15
            profiled = 3 if args.profile and accounts == 100_000 else 0
            blocks = transfer_blocks(signers, accounts - len(signers), 1 + n_blocks + profiled)
            run_blocks(app, blocks[:1])  # warm-up: first-touch of the tree paths
            rows = run_blocks(app, blocks[1:1 + n_blocks])
            if profiled:  # extra blocks, after the measured ones: the profiler's overhead is not measured
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
                run_blocks(app, blocks[1 + n_blocks:])
                profiler.stop()
                text = profiler.output_text(unicode=False, color=False, show_all=False)
                (args.out.parent / "bench-app-profile.txt").write_text(text)
            s = summarize(rows)
            s["build_s"] = round(built, 1)
            results["sizes"][str(accounts)] = s  # type: ignore[index]
            print(f"{accounts:>9,} accounts: FinalizeBlock {s['finalize_ms']:7.1f} ms (of which root "
                  f"{s['root_ms']:4.1f})  Commit {s['commit_ms']:5.1f} ms"
                  f"  -> {s['transfers_per_s']:,} transfers/s, {s['transfers_per_cpu_s']:,} per CPU-second"
                  f"  (state built in {built:.0f}s)", flush=True)
            app.close()
            gc.unfreeze()
    sz = results["sizes"]  # type: ignore[assignment]
    if "1000000" in sz:
        ratio = sz["1000000"]["commit_ms"] / sz["10000"]["commit_ms"]
        results["commit_ratio_1m_vs_10k"] = round(ratio, 2)
        both = sz["1000000"]["root_and_commit_ms"] / sz["10000"]["root_and_commit_ms"]
        results["root_and_commit_ratio_1m_vs_10k"] = round(both, 2)
        print(f"commit time 1M / 10k accounts: {ratio:.2f}x (goal <= 1.5x); "
              f"with the root computed in FinalizeBlock: {both:.2f}x")
    print(f"transfers/s at 100k accounts (FinalizeBlock+Commit, signatures verified): "
          f"{sz['100000']['transfers_per_s']:,} (goal >= 5,000)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.profile:
        print(f"profile: {args.out.parent / 'bench-app-profile.txt'}", file=sys.stderr)


if __name__ == "__main__":
    main()
