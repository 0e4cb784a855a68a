"""Benchmark of the authenticated store: commit time per block at 10k, 100k and 1M accounts.

    .venv/bin/python -m tests.bench.bench_store --out bench-results/bench-store.json [--profile]

For each size, a LevelDB store is built with that many accounts (21-byte keys, 40-80 byte values, bulk
commits of 100k), then blocks are committed, each updating ~2,000 random existing keys plus a few new
ones (what 1,000 transfers write: sender and recipient). Reported per size: median ms per block for
the root computation (`working_root`) and for the durable write (`commit`), their sum, the per-key
cost, bulk write throughput and random read throughput. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from sidechain.store import LevelDBBackend, MerkleStore

ACCOUNT_PREFIX = b"a"
BULK = 100_000


def account_key(i: int) -> bytes:
    # 21 bytes like a bank account key: table byte + 20-byte address (a stand-in derived from i).
    return ACCOUNT_PREFIX + i.to_bytes(8, "big") * 2 + i.to_bytes(4, "big")


def account_value(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(40, 80))


def build(path: str, accounts: int, rng: random.Random) -> tuple[MerkleStore, float]:
    store = MerkleStore(LevelDBBackend(path), keep_versions=100)
    t0 = time.perf_counter()
    version = 0
    for start in range(0, accounts, BULK):
        for i in range(start, min(accounts, start + BULK)):
            store.set(account_key(i), account_value(rng))
        version += 1
        store.commit(version)
    return store, time.perf_counter() - t0


def run_blocks(
    store: MerkleStore, accounts: int, blocks: int, updates: int, new: int, rng: random.Random
) -> tuple[list[float], list[float], list[float], list[float], int]:
    root_ms: list[float] = []
    commit_ms: list[float] = []
    apply_ms: list[float] = []
    cpu_ms: list[float] = []
    next_new = accounts
    for _ in range(blocks):
        keys = [account_key(rng.randrange(accounts)) for _ in range(updates)]
        keys += [account_key(next_new + j) for j in range(new)]
        next_new += new
        t0 = time.perf_counter()
        for key in keys:
            store.get(key)
            store.set(key, account_value(rng))
        t1 = time.perf_counter()
        c1 = time.thread_time()
        store.working_root()
        t2 = time.perf_counter()
        store.commit(store.version + 1)
        t3 = time.perf_counter()
        cpu_ms.append((time.thread_time() - c1) * 1e3)
        apply_ms.append((t1 - t0) * 1e3)
        root_ms.append((t2 - t1) * 1e3)
        commit_ms.append((t3 - t2) * 1e3)
    return apply_ms, root_ms, commit_ms, cpu_ms, next_new


def read_throughput(store: MerkleStore, accounts: int, rng: random.Random, n: int = 50_000) -> float:
    keys = [account_key(rng.randrange(accounts)) for _ in range(n)]
    reader = store.committed()
    store._value_cache.clear()  # measure LevelDB reads, not the value cache
    t0 = time.perf_counter()
    for key in keys:
        reader.get(key)
    dt = time.perf_counter() - t0
    store._value_cache.clear()
    return n / dt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-results/bench-store.json")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--updates", type=int, default=2000, help="existing keys updated per block")
    parser.add_argument("--new", type=int, default=10, help="new keys created per block")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of the largest size")
    parser.add_argument("--tmp", default=None, help="directory for the databases (default: a temp dir)")
    args = parser.parse_args(argv)

    rng = random.Random(20240601)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    profile_text = ""
    base = tempfile.mkdtemp(prefix="bench-store-", dir=args.tmp)
    try:
        for size in sizes:
            path = os.path.join(base, f"db-{size}")
            store, build_s = build(path, size, rng)
            apply, root, commit, cpu, next_new = run_blocks(
                store, size, args.warmup + args.blocks, args.updates, args.new, rng
            )
            w = args.warmup
            apply, root, commit, cpu = apply[w:], root[w:], commit[w:], cpu[w:]
            total = [r + c for r, c in zip(root, commit, strict=True)]
            keys_per_block = args.updates + args.new
            reads = read_throughput(store, size, rng)
            row = {
                "accounts": size,
                "build_s": round(build_s, 2),
                "bulk_write_keys_per_s": round(size / build_s),
                "blocks": args.blocks,
                "keys_per_block": keys_per_block,
                "apply_ms_median": round(statistics.median(apply), 2),
                "root_ms_median": round(statistics.median(root), 2),
                "write_ms_median": round(statistics.median(commit), 2),
                "commit_ms_median": round(statistics.median(total), 2),
                "commit_cpu_ms_median": round(statistics.median(cpu), 2),
                "commit_ms_min": round(min(total), 2),
                "commit_ms_max": round(max(total), 2),
                "commit_us_per_key": round(statistics.median(total) * 1e3 / keys_per_block, 2),
                "commit_keys_per_s": round(keys_per_block / (statistics.median(total) / 1e3)),
                "random_reads_per_s": round(reads),
            }
            results.append(row)
            print(
                f"{size:>9} accounts: commit {row['commit_ms_median']:7.2f} ms/block "
                f"(root {row['root_ms_median']:.2f} + write {row['write_ms_median']:.2f}), "
                f"{row['commit_us_per_key']:.1f} us/key, cpu {row['commit_cpu_ms_median']:.2f} ms; "
                f"apply {row['apply_ms_median']:.2f} ms; "
                f"build {build_s:.1f} s; reads {reads:,.0f}/s",
                flush=True,
            )
            if args.profile and size == sizes[-1]:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
                run_blocks(store, size, 10, args.updates, args.new, rng)
                profiler.stop()
                profile_text = profiler.output_text(unicode=False, color=False, show_all=False)
            store._backend.close()
            shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    small, large = results[0], results[-1]
    ratio = large["commit_ms_median"] / small["commit_ms_median"]
    cpu_ratio = large["commit_cpu_ms_median"] / small["commit_cpu_ms_median"]
    print()
    print(
        f"{'accounts':>9} {'commit ms':>10} {'cpu ms':>7} {'root ms':>8} {'write ms':>9} "
        f"{'us/key':>7} {'reads/s':>9}"
    )
    for row in results:
        print(
            f"{row['accounts']:>9} {row['commit_ms_median']:>10.2f} {row['commit_cpu_ms_median']:>7.2f} "
            f"{row['root_ms_median']:>8.2f} "
            f"{row['write_ms_median']:>9.2f} {row['commit_us_per_key']:>7.1f} {row['random_reads_per_s']:>9,}"
        )
    print(
        f"commit time ratio {large['accounts']:,} / {small['accounts']:,} accounts: {ratio:.2f} wall, "
        f"{cpu_ratio:.2f} cpu (main thread; wall time includes fsync and other processes on shared cores)"
    )
    report = {
        "benchmark": "store commit per block",
        "python": sys.version.split()[0],
        "updates_per_block": args.updates,
        "new_keys_per_block": args.new,
        "results": results,
        "commit_ratio_largest_to_smallest": round(ratio, 3),
        "commit_cpu_ratio_largest_to_smallest": round(cpu_ratio, 3),
    }
    if profile_text:
        report["profile"] = profile_text
        print(profile_text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
