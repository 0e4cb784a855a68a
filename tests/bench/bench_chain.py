"""Blocks per second of an empty single-validator chain (real cometbft), default config and a
`timeout_commit` of 100ms. Usage: python -m tests.bench.bench_chain --out FILE [--seconds N]"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tests.support.node import Node


def measure(timeout_commit: str | None, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        node = Node(home=Path(d) / "n", timeout_commit=timeout_commit)
        node.init()
        node.start()
        try:
            h0 = node.wait_height(3, timeout=60)
            t0 = time.monotonic()
            time.sleep(seconds)
            h1 = node.height()
            t1 = time.monotonic()
        finally:
            node.stop()
    return {"blocks": h1 - h0, "seconds": round(t1 - t0, 2), "blocks_per_second": round((h1 - h0) / (t1 - t0), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    results = {
        "default (timeout_commit 1s)": measure(None, args.seconds),
        'timeout_commit "100ms"': measure("100ms", args.seconds),
    }
    for name, r in results.items():
        print(f"empty chain, {name}: {r['blocks_per_second']} blocks/s ({r['blocks']} blocks in {r['seconds']}s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
