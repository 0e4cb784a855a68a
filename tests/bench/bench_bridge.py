"""The bridge's deposit path, measured.

In process (no CometBFT, no L1), on the app with signed extended commits (tests/unit/bridge/chain.py):
  - extension bytes per validator per block: idle, and carrying 32 deposits (the cap);
  - the cost ProcessProposal adds to check the extended commit (ed25519 per vote, the validator set
    of the height), at 4 and 100 validators; and FinalizeBlock's bridge step with 32 events.

With `--network` (real geth --dev and a real 4-validator network, as `make testnet` builds them):
  - deposit latency: from the L1 block reaching the confirmation depth to the mint on the sidechain,
    in sidechain blocks and seconds, over a series of deposits;
  - the network's block interval idle and under a stream of deposits.

    python -m tests.bench.bench_bridge --out bench-results/bench-bridge.json [--network]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from sidechain import blocks as b
from tests.unit.bridge.chain import BridgeChain, deposit

RECIPIENT = b"\x07" * 20


def extension_bytes() -> dict[str, int]:
    c = BridgeChain([10, 10, 10, 10])
    for o in c.observers:
        o.final_height = 19_000_000  # an L1 height of today's size
    c.step()
    idle = len(c.extensions(2)[0])
    for o in c.observers:
        o.events = tuple(deposit(n, 10**18 + n, RECIPIENT, l1_block=19_000_000 - 50 + n) for n in range(2, 40))
    full = c.extensions(2)[0]
    from bridge.module.events import decode_extension

    return {"idle": idle, "with_32_deposits": len(full), "events_in_it": len(decode_extension(full).events)}


def _ms(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples) * 1e3, 3), "p90_ms": round(
        sorted(samples)[int(len(samples) * 0.9)] * 1e3, 3)}


def process_proposal_cost(n: int, rounds: int) -> dict[str, Any]:
    """ProcessProposal of an empty block with the extended commit of n validators, against the same
    block without the check (a chain without a bridge)."""
    with_bridge = BridgeChain([10] * n)
    without = BridgeChain([10] * n, bridge=False)
    out: dict[str, Any] = {"validators": n}
    for name, c in (("with_extended_commit", with_bridge), ("without", without)):
        for _ in range(2):
            c.step()
        block = c.propose()
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            assert c.process(block)
            samples.append(time.perf_counter() - t)
        out[name] = _ms(samples)
        out[f"{name}_block_bytes"] = sum(len(tx) for tx in block)
    out["added_ms"] = round(out["with_extended_commit"]["median_ms"] - out["without"]["median_ms"], 3)
    return out


def finalize_cost(rounds: int) -> dict[str, Any]:
    """FinalizeBlock of a block whose extended commit carries 32 deposits agreed by all 4 validators."""
    samples = []
    for r in range(rounds):
        c = BridgeChain([10, 10, 10, 10])
        for o in c.observers:
            o.events = tuple(deposit(n, 10**18, bytes([r % 250 + 1]) * 20, l1_block=100 + n) for n in range(2, 34))
            o.final_height = 200
        c.step()
        block = c.propose()
        t = time.perf_counter()
        out = c.app.finalize_block(b.FinalizeBlockRequest(env=c.env(2), txs=tuple(block),
                                                          decided_last_commit=b.CommitInfo(0, ())))
        samples.append(time.perf_counter() - t)
        assert sum(1 for e in out.events if e.type == "bridge_deposit") == 32
    return {"events": 32, **_ms(samples)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench-bridge.json"))
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--network", action="store_true", help="also measure on real geth + a 4-validator network")
    ap.add_argument("--deposits", type=int, default=20)
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"extension_bytes": extension_bytes()}
    print(f"extension bytes per validator per block: {results['extension_bytes']}")
    results["process_proposal"] = [process_proposal_cost(n, args.rounds) for n in (4, 100)]
    for r in results["process_proposal"]:
        print(f"ProcessProposal at {r['validators']} validators: +{r['added_ms']} ms for the extended commit "
              f"({r['with_extended_commit']} vs {r['without']})")
    results["finalize_32_deposits"] = finalize_cost(max(5, args.rounds // 5))
    print(f"FinalizeBlock with 32 attested deposits: {results['finalize_32_deposits']}")
    if args.network:
        from tests.bench.bench_bridge_net import measure_network

        results["network"] = measure_network(args.deposits)
        print(json.dumps(results["network"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
