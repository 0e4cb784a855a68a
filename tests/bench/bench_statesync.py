"""State-sync benchmark, in process on LevelDB (no CometBFT, no network):

- snapshot time and size (chunks, compressed and uncompressed bytes) at 100k and 1M accounts;
- restore time at 1M accounts (offer + every chunk through ApplySnapshotChunk: decompress, check,
  write, rebuild the tree, check the root, swap the database in) against replaying the blocks that
  would have made those accounts (measured per block of 1,000 transfers to new accounts at 1M
  accounts, times the 1,000 blocks that 1M accounts take: a lower bound, no block sync overhead);
- the effect of a snapshot being written in the background on the time a block takes
  (FinalizeBlock + Commit of 1,000 transfers), with and without a snapshot in progress.

    python -m tests.bench.bench_statesync --out bench-results/bench-statesync.json [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.snapshots import WRITER_DUTY, SnapshotManager
from tests.bench.bench_app import TXS_PER_BLOCK, build_app, finalize, seed_key, transfer_blocks


def take_snapshot(app: Application, snaps: Path, duty: float) -> tuple[SnapshotManager, dict[str, float]]:
    manager = SnapshotManager(snaps, interval=1, keep_recent=1)
    manager.duty = duty
    app.enable_snapshots(manager)
    t0 = time.perf_counter()
    assert app.snapshot_after_commit()
    handed = time.perf_counter() - t0
    manager.wait()
    st = manager.stats
    if st.failed:
        raise SystemExit(f"snapshot failed: {st.last_error}")
    return manager, {"snapshot_s": round(st.seconds, 2), "on_commit_thread_ms": round(handed * 1e3, 2),
                     "keys": st.keys, "chunks": st.chunks, "uncompressed_mb": round(st.payload_bytes / 1e6, 1),
                     "compressed_mb": round(st.compressed_bytes / 1e6, 1)}


def restore(manager: SnapshotManager, into: Path) -> tuple[float, Application]:
    snap = manager.list()[0]
    chunks = [manager.load_chunk(snap.height, snap.format, i) for i in range(snap.chunks)]
    meta = json.loads(snap.metadata)
    t0 = time.perf_counter()
    joiner = Application(into)
    if joiner.offer_snapshot(snap, bytes.fromhex(meta["app_hash"])) != b.OFFER_ACCEPT:
        raise SystemExit("the snapshot was not accepted")
    for i, c in enumerate(chunks):
        r = joiner.apply_snapshot_chunk(i, c, "bench")
        if r.result != b.APPLY_ACCEPT:
            raise SystemExit(f"chunk {i}: result {r.result}")
    elapsed = time.perf_counter() - t0
    if joiner.info().last_block_height != snap.height or joiner.last_app_hash.hex() != meta["app_hash"]:
        raise SystemExit("restored state differs")
    return elapsed, joiner


def block_times(app: Application, blocks: list[list[bytes]], manager: SnapshotManager | None) -> list[float]:
    out = []
    for txs in blocks:
        t0 = time.perf_counter()
        res = finalize(app, txs)
        app.commit()
        out.append((time.perf_counter() - t0) * 1e3)
        if any(r.code for r in res.tx_results):
            raise SystemExit("a transfer failed")
        if manager is not None and not manager.busy():
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="100k accounts only")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    signers = [seed_key(i) for i in range(TXS_PER_BLOCK)]
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    results: dict[str, object] = {"txs_per_block": TXS_PER_BLOCK, "sizes": {}}
    for accounts in sizes:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            app = build_app(root / "src", accounts, signers)
            manager, row = take_snapshot(app, root / "snaps", 1.0)  # full speed: the snapshot's own cost
            print(f"{accounts:>9,} accounts: snapshot {row['snapshot_s']:.2f}s in the background "
                  f"({row['on_commit_thread_ms']:.2f} ms on the commit thread), {row['chunks']} chunks, "
                  f"{row['compressed_mb']} MB ({row['uncompressed_mb']} MB uncompressed)", flush=True)
            restore_s, joiner = restore(manager, root / "joiner")
            row["restore_s"] = round(restore_s, 2)
            row["same_root"] = joiner.last_app_hash == app.last_app_hash
            print(f"{'':>20} restore (offer, chunks, tree rebuild, root check, swap): {restore_s:.2f}s; "
                  f"same root: {row['same_root']}", flush=True)
            joiner.close()

            # Blocks of 1,000 transfers to new accounts: replay cost and the effect of a snapshot.
            n = 6 if args.quick else 12
            blocks = transfer_blocks(signers, 10**9, 3 * n + 60, seq0=0)
            # new accounts: transfer_blocks picks recipients among 10^9 filler names, nearly all unused
            block_times(app, blocks[:2], None)  # warm-up
            base = block_times(app, blocks[2:2 + n], None)
            manager.duty = WRITER_DUTY  # as a node writes them: paced
            t0 = time.perf_counter()
            assert app.snapshot_after_commit()
            during = block_times(app, blocks[2 + n:], manager)
            manager.wait()
            row["snapshot_paced_s"] = round(time.perf_counter() - t0, 2)
            after = block_times(app, blocks[2 + n + len(during): 2 + 2 * n + len(during)], None)
            med = statistics.median(base + after)
            row["block_ms_without_snapshot"] = round(med, 1)
            row["block_ms_during_snapshot_median"] = round(statistics.median(during), 1)
            row["block_ms_during_snapshot_max"] = round(max(during), 1)
            row["blocks_during_snapshot"] = len(during)
            print(f"{'':>20} block of {TXS_PER_BLOCK} transfers: {med:.0f} ms without a snapshot, "
                  f"{statistics.median(during):.0f} ms median / {max(during):.0f} ms max during one "
                  f"({len(during)} blocks; the paced snapshot took {row['snapshot_paced_s']}s)", flush=True)
            blocks_to_make = accounts // TXS_PER_BLOCK
            row["replay_estimate_s"] = round(blocks_to_make * med / 1e3, 1)
            row["replay_blocks"] = blocks_to_make
            print(f"{'':>20} replay of the {blocks_to_make} blocks that make {accounts:,} accounts: "
                  f">= {blocks_to_make * med / 1e3:.0f}s (x{blocks_to_make * med / 1e3 / restore_s:.0f} "
                  "the restore)", flush=True)
            results["sizes"][str(accounts)] = row  # type: ignore[index]
            manager.stop()
            app.close()
            gc.unfreeze()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
