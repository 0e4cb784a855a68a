"""The deposit path on real parts: geth --dev (a block a second, 2 confirmations) and a 4-validator
network built by the testnet's own tooling (tests.support.testnet, the `make testnet` settings for
blocks: FAST timeouts), each validator running its watcher.

    latency    per deposit: from the moment its L1 block reaches the confirmation depth (the L1 head
               is `l1_confirmations` past it) to the moment the sidechain's record of it appears,
               in seconds and in sidechain blocks; and from the L1 tx being mined
    interval   the sidechain's block interval (header times) idle, and under a stream of deposits
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bridge.keys import load_account
from bridge.l1 import BridgeContract, L1Client
from genesis.testnet import node_height, rpc
from tests.integration.bridge.test_deposits_network import abci, bridge_state
from tests.support.testnet import TestNetwork, wait_until


def _header_times(tn: TestNetwork, lo: int, hi: int) -> list[float]:
    out = []
    for h in range(lo, hi + 1):
        t = rpc(tn.url(0), f"block?height={h}")["block"]["header"]["time"]
        # RFC 3339 with nanoseconds: keep microseconds for datetime
        from datetime import datetime

        base, frac = t.rstrip("Z").split(".") if "." in t else (t.rstrip("Z"), "0")
        out.append(datetime.fromisoformat(base + "+00:00").timestamp() + int(frac[:6].ljust(6, "0")) / 1e6)
    return out


def _intervals(times: list[float]) -> dict[str, float]:
    d = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {"median_s": round(statistics.median(d), 3), "p90_s": round(sorted(d)[int(len(d) * 0.9)], 3),
            "blocks": len(d)}


def measure_network(deposits: int = 20) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    tn = TestNetwork.build(root, 4, l1=True)
    assert tn.l1 is not None and tn.bridge is not None
    try:
        tn.start()
        wait_until(lambda: all((node_height(n) or 0) >= 3 for n in tn.net.nodes), 120, "the network up")
        client = L1Client.connect(tn.l1.rpc_url)
        bridge = BridgeContract(client, tn.bridge.contract)
        accounts = [load_account(Path(k.keystore), passphrase_file=Path(k.passphrase_file))
                    for k in tn.bridge.l1_keys]
        depth = int(bridge_state(tn)["params"]["l1_confirmations"])
        # idle block interval
        h0 = node_height(tn.net.nodes[0]) or 0
        wait_until(lambda: (node_height(tn.net.nodes[0]) or 0) >= h0 + 30, 120, "30 idle blocks")
        idle = _intervals(_header_times(tn, h0 + 1, h0 + 30))
        # latency, one deposit at a time
        rows = []
        for i in range(deposits):
            r = bridge.deposit_eth(bytes([0x40 + i % 16]) * 20, 10**15 + i, accounts[i % len(accounts)])
            t_mined = time.monotonic()
            block = int(r["blockNumber"])
            nonce = int(bridge.contract.events.Deposit().process_receipt(r)[0]["args"]["eventNonce"])
            while client.w3.eth.block_number < block + depth:
                time.sleep(0.02)
            t_final, h_final = time.monotonic(), node_height(tn.net.nodes[0]) or 0
            while (rec := abci(tn, f"/bridge/deposit/{nonce}")) is None:
                time.sleep(0.02)
            t_mint = time.monotonic()
            rows.append({"seconds_from_final": t_mint - t_final, "seconds_from_mined": t_mint - t_mined,
                         "blocks_from_final": int(rec["height"]) - h_final})
        lat = {k: {"median": round(statistics.median(r[k] for r in rows), 3),
                   "max": round(max(r[k] for r in rows), 3)}
               for k in ("seconds_from_final", "seconds_from_mined", "blocks_from_final")}
        # block interval under a stream of deposits (one per L1 account per L1 block)
        stop = threading.Event()

        def stream() -> None:
            k = 0
            while not stop.is_set():
                bridge.deposit_eth(b"\x55" * 20, 10**12 + k, accounts[k % len(accounts)])
                k += 1

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(1)]
        for t in threads:
            t.start()
        h1 = node_height(tn.net.nodes[0]) or 0
        wait_until(lambda: (node_height(tn.net.nodes[0]) or 0) >= h1 + 30, 120, "30 blocks under deposits")
        stop.set()
        busy = _intervals(_header_times(tn, h1 + 1, h1 + 30))
        return {"l1_confirmations": depth, "l1_block_time_s": 1, "deposits_timed": deposits, "latency": lat,
                "block_interval_idle": idle, "block_interval_with_deposits": busy}
    finally:
        tn.kill_all()
