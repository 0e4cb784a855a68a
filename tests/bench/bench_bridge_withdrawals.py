"""FinalizeBlock cost of the withdrawal steps, in-process (tests/unit/bridge/wchain.py: 4 validators,
signed extended commits): an empty block, one that forms a batch of N queued withdrawals (step 6),
one that applies its BatchExecuted (step 1), and one that refunds a timed-out batch of N (step 4).

    .venv/bin/python -m tests.bench.bench_bridge_withdrawals [--size 100] [--rounds 5]

Prints one JSON object (milliseconds, median over rounds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from sidechain import blocks as b
from tests.unit.bridge.wchain import WChain, addr, withdraw_msg


def timed_step(c: WChain) -> tuple[float, b.BlockOutput]:
    """One height, timing FinalizeBlock only."""
    app = c.chain.app
    inner = app.finalize_block
    spent: list[float] = []

    def finalize(req: b.FinalizeBlockRequest) -> b.BlockOutput:
        t0 = time.perf_counter()
        out = inner(req)
        spent.append(time.perf_counter() - t0)
        return out

    app.finalize_block = finalize  # type: ignore[method-assign]
    try:
        out = c.step()
    finally:
        app.finalize_block = inner  # type: ignore[method-assign]
    return spent[0] * 1000, out


def queue(c: WChain, n: int, users: int) -> None:
    per = n // users
    txs = [c.tx(u, *[withdraw_msg(addr(c.users[u]), 10 + i, i % 7) for i in range(per)]) for u in range(users)]
    out = c.step(txs)
    assert all(r.code == 0 for r in out.tx_results), [r.log for r in out.tx_results if r.code]


def measure(size: int) -> dict[str, float]:
    users = 10
    # max_batch_size above `size`: the queue is never full, so the batch forms in the next (empty) block
    c = WChain(n_users=users, params={"max_batch_size": 200, "batch_interval_blocks": 1,
                                      "batch_timeout_l1_blocks": 20})
    c.step()
    for u in range(users):
        c.l1_deposit(addr(c.users[u]), 10**18)
    c.settle()
    out: dict[str, float] = {}
    out["empty_block_ms"], _ = timed_step(c)
    # Two batches of `size`: one to execute, one to time out. Withdrawals are queued in one block,
    # the next (empty) block forms the batch.
    for which in ("execute", "refund"):
        queue(c, size, users)
        ms, blk = timed_step(c)
        assert any(e.type == "bridge_batch_created" for e in blk.events)
        out[f"form_batch_block_ms_{which}"] = ms
    pending = c.pending()
    assert len(pending) == 2
    c.l1_execute(int(pending[0]["nonce"]), size)  # type: ignore[call-overload]
    timed_step(c)  # the extension carrying it
    ms, blk = timed_step(c)
    assert any(e.type == "bridge_batch_executed" for e in blk.events), [e.type for e in blk.events]
    out["execute_batch_block_ms"] = ms
    c.l1_advance(40)
    timed_step(c)
    ms, blk = timed_step(c)
    assert any(e.type == "bridge_batch_refunded" for e in blk.events), [e.type for e in blk.events]
    out["refund_batch_block_ms"] = ms
    return out


def main(argv: list[str] | None = None, run: Callable[[int], dict[str, float]] = measure) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    rounds = [run(args.size) for _ in range(args.rounds)]
    result = {"size": args.size, "rounds": args.rounds,
              **{key: round(statistics.median(r[key] for r in rounds), 2) for key in rounds[0]}}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
