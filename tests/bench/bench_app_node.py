"""The app's CPU per committed transfer in a 1-validator node's call sequence, in process (no CometBFT, no
sockets), through the ABCI adapter's byte path (`Adapter.handle_frame`, what the socket server calls):

    per block: CheckTx (new) of B signed transfers (one per account, the next sequence; two before the
    first block, so that B txs always wait), then PrepareProposal of everything waiting (max_tx_bytes
    lets B in), ProcessProposal of that block (this node's own proposal, as CometBFT asks a proposer),
    FinalizeBlock, Commit, and the recheck of the B txs left in the mempool.

Prints process CPU time (time.process_time) per committed transfer, split by ABCI method, the median
over the measured blocks. A steady, low-noise figure for A/B comparisons of the app's per-tx work on a
shared machine, where bench-net's tx/s and /proc CPU per tx swing with the machine's load. Not a test.

    python -m tests.bench.bench_app_node [--blocks 6] [--block-size 1000] [--accounts 10000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from abci_app.adapter import Adapter
from abci_app.gen.tendermint.abci import types_pb2 as pb
from tests.bench import bench_app as ba

METHODS = ("check_tx", "prepare_proposal", "process_proposal", "finalize_block", "commit", "recheck")


def _time(ns: int) -> dict[str, int]:
    return {"seconds": ns // 10**9, "nanos": ns % 10**9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    n = args.block_size
    signers = [ba.seed_key(i) for i in range(n)]
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as d:
        app = ba.build_app(Path(d), max(args.accounts, n + 1), signers)
        ad = Adapter(app)
        # Sequence k + 1 of every signer is offered before block k (0 and 1 before block 0).
        seqs = ba.transfer_blocks(signers, max(args.accounts - n, 1), args.blocks + 2)
        pending: list[bytes] = []
        for k in range(args.blocks + 1):
            new = seqs[0] + seqs[1] if k == 0 else seqs[k + 1]
            cpu = dict.fromkeys(METHODS, 0.0)
            c0 = time.process_time()
            for tx in new:
                res = ad.handle_frame(pb.Request(check_tx=pb.RequestCheckTx(tx=tx, type=pb.NEW)).SerializeToString())
                del res
            cpu["check_tx"] = time.process_time() - c0
            pending += new
            h = app.last_height + 1
            t_ns = ba.GENESIS_NS + h * 10**9
            hdr = {"height": h, "time": _time(t_ns), "proposer_address": b"\x01" * 20}
            size_cap = sum(len(t) + 3 for t in pending[:n])
            c0 = time.process_time()
            prep = pb.Response()
            prep.ParseFromString(_unframe(ad.handle_frame(pb.Request(prepare_proposal=pb.RequestPrepareProposal(
                max_tx_bytes=size_cap, txs=pending, **hdr)).SerializeToString())))
            block = list(prep.prepare_proposal.txs)
            c1 = time.process_time()
            block_hash = h.to_bytes(32, "big")
            proc = pb.Response()
            proc.ParseFromString(_unframe(ad.handle_frame(pb.Request(process_proposal=pb.RequestProcessProposal(
                txs=block, hash=block_hash, **hdr)).SerializeToString())))
            assert proc.process_proposal.status == pb.ResponseProcessProposal.ACCEPT
            c2 = time.process_time()
            ad.handle_frame(pb.Request(finalize_block=pb.RequestFinalizeBlock(
                txs=block, hash=block_hash, **hdr)).SerializeToString())
            c3 = time.process_time()
            ad.handle_frame(pb.Request(commit=pb.RequestCommit()).SerializeToString())
            c4 = time.process_time()
            included = set(block)
            pending = [t for t in pending if t not in included]
            for tx in pending:
                ad.handle_frame(pb.Request(check_tx=pb.RequestCheckTx(tx=tx, type=pb.RECHECK)).SerializeToString())
            c5 = time.process_time()
            cpu.update(prepare_proposal=c1 - c0, process_proposal=c2 - c1, finalize_block=c3 - c2, commit=c4 - c3,
                       recheck=c5 - c4)
            if k:  # block 0 warms up
                rows.append({m: cpu[m] / len(block) * 1e6 for m in METHODS} | {"txs": len(block)})
        app.close()
    med = {m: round(statistics.median(r[m] for r in rows), 1) for m in METHODS}
    total = round(statistics.median(sum(r[m] for m in METHODS) for r in rows), 1)
    for m in METHODS:
        print(f"{m:>17} {med[m]:7.1f} us per committed tx")
    print(f"{'total':>17} {total:7.1f} us per committed tx (median of {len(rows)} blocks of "
          f"~{int(statistics.median(r['txs'] for r in rows))} txs)")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"us_per_committed_tx": med, "total": total, "blocks": rows}, indent=1) + "\n")


def _unframe(frame: bytes) -> bytes:
    n = shift = i = 0
    while True:
        b = frame[i]
        n |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return frame[i:i + n]
        shift += 7


if __name__ == "__main__":
    main()
