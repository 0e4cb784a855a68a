"""Benchmark of the authenticated store: commit time per block at 10k, 100k and 1M accounts.

    .venv/bin/python -m tests.bench.bench_store --out bench-results/bench-store.json [--profile]

For each size, a LevelDB store is built with that many accounts (21-byte keys, 40-80 byte values, bulk
commits of 100k), then blocks are committed, each updating ~2,000 random existing keys plus a few new
ones (what 1,000 transfers write: sender and recipient). Reported per size: median ms per block for
the root computation (`working_root`) and for the durable write (`commit`), their sum (wall and main
thread CPU), the per-key cost, bulk write throughput, random read throughput, the time to reopen the
store (it rebuilds its tree from the flat table), the process RSS, page faults and GC collections
during the blocks. Not a test: nothing is asserted. `--tree python` benchmarks the
pure-Python reference tree instead of the native one.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from sidechain.store import LevelDBBackend, MerkleStore
from sidechain.store import tree as tree_mod

ACCOUNT_PREFIX = b"a"
BULK = 100_000


def account_key(i: int) -> bytes:
    # 21 bytes like a bank account key: table byte + 20-byte address. Addresses are hashes, so the
    # stand-in derived from i is one too: sequential keys would flatter LevelDB (no overlapping files).
    return ACCOUNT_PREFIX + hashlib.sha256(i.to_bytes(8, "big")).digest()[:20]


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


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            fields[name] = rest.split()
    return int(fields["VmRSS"][0]) / 1024, int(fields["VmHWM"][0]) / 1024


def reopen(store: MerkleStore, path: str) -> tuple[MerkleStore, float]:
    """Close and reopen the store as a restarted node would; returns the new store and the seconds taken."""
    root, version = store.root, store.version
    store._backend.close()
    del store
    gc.collect()
    t0 = time.perf_counter()
    reopened = MerkleStore(LevelDBBackend(path), keep_versions=100)
    dt = time.perf_counter() - t0
    assert (reopened.root, reopened.version) == (root, version)
    return reopened, dt


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
    parser.add_argument("--tree", choices=("auto", "native", "python"), default="auto",
                        help="Merkle tree implementation (default: native if built)")
    args = parser.parse_args(argv)

    tree_mod.set_default_impl(args.tree)
    print(f"tree: {tree_mod.default_impl()}", flush=True)
    rng = random.Random(20240601)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    profile_text = ""
    base = tempfile.mkdtemp(prefix="bench-store-", dir=args.tmp)
    try:
        for size in sizes:
            path = os.path.join(base, f"db-{size}")
            store, build_s = build(path, size, rng)
            store, open_s = reopen(store, path)
            gc_before = sum(s["collections"] for s in gc.get_stats())
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            apply, root, commit, cpu, next_new = run_blocks(
                store, size, args.warmup + args.blocks, args.updates, args.new, rng
            )
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            gc_runs = sum(s["collections"] for s in gc.get_stats()) - gc_before
            n_blocks = args.warmup + args.blocks
            rss, peak = rss_mb()
            tree_stats = store._tree.stats()
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
                "open_s": round(open_s, 2),
                "rss_mb": round(rss),
                "peak_rss_mb": round(peak),
                "tree_mb": round(tree_stats.memory / 2**20),
                "tree_nodes": tree_stats.nodes,
                "minor_faults_per_block": round((ru1.ru_minflt - ru0.ru_minflt) / n_blocks),
                "major_faults_per_block": round((ru1.ru_majflt - ru0.ru_majflt) / n_blocks),
                "gc_collections_per_block": round(gc_runs / n_blocks, 2),
            }
            results.append(row)
            print(
                f"{size:>9} accounts: commit {row['commit_ms_median']:7.2f} ms/block "
                f"(root {row['root_ms_median']:.2f} + write {row['write_ms_median']:.2f}), "
                f"{row['commit_us_per_key']:.1f} us/key, cpu {row['commit_cpu_ms_median']:.2f} ms; "
                f"apply {row['apply_ms_median']:.2f} ms; "
                f"build {build_s:.1f} s; reads {reads:,.0f}/s; open {open_s:.2f} s; "
                f"rss {rss:.0f} MB (tree {row['tree_mb']} MB); "
                f"faults/block {row['minor_faults_per_block']}; gc/block {row['gc_collections_per_block']}",
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
        f"{'us/key':>7} {'reads/s':>9} {'open s':>7} {'rss MB':>7}"
    )
    for row in results:
        print(
            f"{row['accounts']:>9} {row['commit_ms_median']:>10.2f} {row['commit_cpu_ms_median']:>7.2f} "
            f"{row['root_ms_median']:>8.2f} "
            f"{row['write_ms_median']:>9.2f} {row['commit_us_per_key']:>7.1f} "
            f"{row['random_reads_per_s']:>9,} "
            f"{row['open_s']:>7.2f} {row['rss_mb']:>7}"
        )
    print(
        f"commit time ratio {large['accounts']:,} / {small['accounts']:,} accounts: {ratio:.2f} wall, "
        f"{cpu_ratio:.2f} cpu (main thread; wall time includes fsync and other processes on shared cores)"
    )
    report = {
        "benchmark": "store commit per block",
        "python": sys.version.split()[0],
        "tree": tree_mod.default_impl(),
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
