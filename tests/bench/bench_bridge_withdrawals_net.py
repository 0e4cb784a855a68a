"""Withdrawals on real parts, measured: geth --dev (a block a second) and a 4-validator network built by the
tests' tooling (tests.support.testnet TestNetwork with l1=True: the testnet's bridge setup, its FAST
timeouts), each validator signing with its bridge key, and one relayer process (`bridge relay
--no-profit-check --interval 200ms`) against node 0.

    latency  N withdrawals of ETH to fresh L1 addresses, sent one at a time (each waited until L1 paid it
             and the chain applied its BatchExecuted): from the sidechain block that included the
             MsgWithdraw to the L1 block that paid it, in sidechain blocks, L1 blocks and seconds, and its
             parts: included -> batched (heights), batched -> ready (heights, the batch's ready_height),
             ready -> L1 tx mined (the relayer's reaction and the L1 block time), mined -> BatchExecuted
             applied on the chain (l1_confirmations, a vote, a block). Times are when a poller here (every
             25 ms, against node 0 and geth) first saw each step; heights are the chain's records.
    gas      L1 gas per withdrawal as relayed, from the receipt of the relayer's submitBatch
             (gasUsed and gasUsed x effectiveGasPrice), at batch sizes 1, 10 and 100: the withdrawals
             are sent together (txs of up to 16 messages, back to back) so that one batch takes them;
             ETH and the test ERC-20, each payout to a fresh L1 address.

Each `batch_interval_blocks` asked for (genesis param; 1 is the default) gets its own network, its genesis
patched before the first start. Not a test: nothing is asserted beyond what the measurement needs.

    .venv/bin/python -m tests.bench.bench_bridge_withdrawals_net [--withdrawals 20] [--intervals 1,0]
        [--gas-sizes 1,10,100] [--no-erc20] [--out bench-results/bench-bridge-withdrawals-net.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.types import Wei

from bridge.erc20 import Erc20
from bridge.keys import load_account
from bridge.l1 import BridgeContract, L1Client
from bridge.module.msgs import Withdraw
from genesis import l1 as l1net
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import node_height
from sidechain.client import NodeClient
from sidechain.keyring import Keyring
from sidechain.tx import build_signed_tx, module_msg
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address
from tests.support.cli import bridge_argv
from tests.support.testnet import FAST, TestNetwork, wait_until

MAX_MSGS_PER_TX = 16  # auth param max_msgs_per_tx (default)
POLL = 0.025
RELAYER_INTERVAL = "200ms"
ETH = 10**18


def fresh_l1(tag: str) -> bytes:
    return keccak(os.urandom(16) + tag.encode())[:20]


def _stats(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    s = sorted(values)
    p90 = s[min(len(s) - 1, int(len(s) * 0.9))]
    return {"median": round(statistics.median(s), digits), "p90": round(p90, digits), "max": round(s[-1], digits),
            "min": round(s[0], digits)}


@dataclass
class Net:
    tn: TestNetwork
    node: NodeClient
    client: L1Client
    bridge: BridgeContract
    sender: bytes
    key: Any
    chain_id: str
    relayer_log: Path
    relayer: subprocess.Popen[bytes] | None = None
    seq: int = 0
    l1_seen: dict[int, float] = field(default_factory=dict)  # L1 block -> when the poller first saw it

    def query(self, path: str) -> Any:
        r = self.node.query(path)
        return r.json() if r.code == 0 else None

    def height(self) -> int:
        return node_height(self.tn.net.nodes[0]) or 0

    def l1_head(self) -> int:
        head = int(self.client.w3.eth.block_number)
        self.l1_seen.setdefault(head, time.monotonic())
        return head

    def broadcast(self, tx: bytes) -> None:
        for _ in range(200):
            res = self.node.rpc("broadcast_tx_sync", tx=base64.b64encode(tx).decode())
            if int(res.get("code", 0)) == 0:
                return
            if "retry" not in str(res.get("log", "")).lower():
                raise RuntimeError(f"the node refused a withdrawal tx: {res}")
            time.sleep(0.1)
        raise RuntimeError("the node kept refusing the tx")

    def send_withdrawals(self, denom: str, items: Sequence[tuple[bytes, int, int]]) -> int:
        """Queue (recipient, amount, fee) withdrawals in txs of up to 16 messages, back to back; the first id."""
        first = int(self.query("/bridge/state")["next_withdrawal_id"])
        for i in range(0, len(items), MAX_MSGS_PER_TX):
            msgs = [module_msg("bridge.MsgWithdraw", Withdraw(self.sender, to, denom, amount, fee).to_pb())
                    for to, amount, fee in items[i:i + MAX_MSGS_PER_TX]]
            self.broadcast(build_signed_tx(self.key, self.chain_id, msgs, self.seq, Coin("stake", Amount(1))))
            self.seq += 1
        return first

    def relayer_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.relayer_log.read_text().splitlines() if self.relayer_log.exists() else ():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def _patch_params(tn: TestNetwork, params: dict[str, int]) -> None:
    """Bridge params over the testnet's in the genesis of a never-started network (every home)."""
    genesis = l1net.read_genesis(tn.net.root)
    section = dict(genesis["app_state"]["bridge"])
    section["params"] = {**section["params"], **params}
    l1net.install_bridge_genesis(tn.net.root, tn.net.keyring, [n.home for n in tn.net.nodes], section)


def _start_relayer(net: Net) -> None:
    assert net.tn.bridge is not None
    key = net.tn.bridge.l1_keys[3]
    argv = bridge_argv("relay", "--node", net.tn.url(0), "--l1-rpc", net.tn.bridge.l1_rpc, "--keystore",
                       str(key.keystore), "--passphrase-file", str(key.passphrase_file), "--interval",
                       RELAYER_INTERVAL, "--no-profit-check", "--output", "json")
    env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_PRIVATE_KEY", "BRIDGE_PASSPHRASE")}
    with net.relayer_log.open("ab") as out:
        net.relayer = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def _stop_relayer(net: Net) -> None:
    if net.relayer is not None and net.relayer.poll() is None:
        os.killpg(net.relayer.pid, signal.SIGTERM)
        try:
            net.relayer.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(net.relayer.pid, signal.SIGKILL)
            net.relayer.wait(10)
    net.relayer = None


def _balance(net: Net, denom: str) -> int:
    r = net.query(f"/balance/{bech32_address(net.sender, 'side')}/{denom}")
    return int(r["amount"]) if r else 0


def _fund(net: Net, eth: int, erc20: int) -> None:
    """Deposit ETH (and the test ERC-20) from the testnet's first L1 key to the sender, and wait for the mints."""
    assert net.tn.bridge is not None
    k = net.tn.bridge.l1_keys[0]
    acct = load_account(Path(k.keystore), passphrase_file=Path(k.passphrase_file))
    net.bridge.deposit_eth(net.sender, eth, acct)
    wait_until(lambda: _balance(net, "l1/eth") >= eth, 120, "the ETH deposit minted")
    if erc20 and net.tn.bridge.erc20:
        token = net.tn.bridge.erc20
        Erc20(net.client, token).approve(net.bridge.address, erc20, acct)
        net.bridge.deposit_erc20(token, erc20, net.sender, acct)
        wait_until(lambda: _balance(net, "l1/" + token.lower()) >= erc20, 120, "the ERC-20 deposit minted")


def _poll_until(net: Net, done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        net.l1_head()
        if done():
            return
        time.sleep(POLL)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def one_latency(net: Net, i: int) -> dict[str, Any]:
    """One ETH withdrawal to a fresh address, followed step by step until the chain applied its BatchExecuted."""
    to = fresh_l1(f"latency-{i}")
    seen: dict[str, float] = {}
    l1_at: dict[str, int] = {}
    h_at: dict[str, int] = {}
    relayer = Web3.to_checksum_address(net.tn.bridge.l1_keys[3].address) if net.tn.bridge else None
    sent_nonce = net.client.w3.eth.get_transaction_count(relayer, "pending") if relayer else 0
    wid = net.send_withdrawals("l1/eth", [(to, 10**15 + i, 1000)])
    t_sent = time.monotonic()
    rec: dict[str, Any] = {}
    batch: dict[str, Any] = {}

    def mark(step: str) -> None:
        if step not in seen:
            seen[step] = time.monotonic()
            l1_at[step] = net.l1_head()
            h_at[step] = net.height()

    def step() -> bool:
        nonlocal rec, batch
        if "executed" not in seen:
            rec = net.query(f"/bridge/withdrawal/{wid}") or {}
        if rec:
            mark("included")
        nonce = rec.get("batch_nonce")
        if nonce is not None:
            mark("batched")
            batch = net.query(f"/bridge/batch/{nonce}") or {}
            if batch.get("ready") or batch.get("ready_height"):
                mark("ready")
            # the relayer's submitBatch reached geth's pool: its pending nonce moved
            if "ready" in seen and "submitted" not in seen and relayer is not None and int(
                    net.client.w3.eth.get_transaction_count(relayer, "pending")) > sent_nonce:
                mark("submitted")
            if "paid" not in seen and net.bridge.batch_executed(int(nonce)):
                mark("paid")
            if batch.get("status") == "executed":
                mark("executed")
        return "executed" in seen

    _poll_until(net, step, 180, f"withdrawal {wid} paid and applied")
    paid_block = int(batch["l1_block"])
    receipt = net.client.w3.eth.get_transaction_receipt(batch["l1_tx"])
    # when the poller first saw the L1 block that paid it (at most POLL after geth made it)
    t_paid_block = net.l1_seen.get(paid_block, seen["paid"])
    q, c, r, d = int(rec["queued_height"]), int(batch["created_height"]), int(batch["ready_height"]), int(
        batch["done_height"])
    return {
        "withdrawal_id": wid, "batch_nonce": int(batch["nonce"]), "l1_tx": batch["l1_tx"],
        "included_height": q, "batched_height": c, "ready_height": r, "executed_height": d,
        "l1_head_at_included": l1_at["included"], "l1_head_at_ready": l1_at["ready"], "paid_l1_block": paid_block,
        "sidechain_height_at_paid": h_at["paid"],
        # the whole: included -> paid on L1
        "total_sidechain_blocks": h_at["paid"] - q, "total_l1_blocks": paid_block - l1_at["included"],
        "total_s": t_paid_block - seen["included"],
        "sent_to_included_s": seen["included"] - t_sent,
        # parts
        "included_to_batched_blocks": c - q, "batched_to_ready_blocks": r - c, "included_to_ready_blocks": r - q,
        "included_to_ready_s": seen["ready"] - seen["included"],
        "ready_to_mined_s": t_paid_block - seen["ready"], "ready_to_mined_l1_blocks": paid_block - l1_at["ready"],
        # of which: the relayer (ready seen here -> its tx in geth's pool), then L1 (pool -> the block)
        "ready_to_submitted_s": seen.get("submitted", seen["paid"]) - seen["ready"],
        "submitted_to_mined_s": t_paid_block - seen.get("submitted", seen["paid"]),
        "submitted_to_mined_l1_blocks": paid_block - l1_at.get("submitted", l1_at["paid"]),
        "mined_to_applied_s": seen["executed"] - t_paid_block, "mined_to_applied_blocks": d - h_at["paid"],
        "gas_used": int(receipt["gasUsed"]),
    }


def latency(net: Net, n: int) -> dict[str, Any]:
    rows = [one_latency(net, i) for i in range(n)]
    keys = ("total_sidechain_blocks", "total_l1_blocks", "total_s", "included_to_batched_blocks",
            "batched_to_ready_blocks", "included_to_ready_blocks", "included_to_ready_s", "ready_to_mined_s",
            "ready_to_mined_l1_blocks", "ready_to_submitted_s", "submitted_to_mined_s",
            "submitted_to_mined_l1_blocks", "mined_to_applied_s", "mined_to_applied_blocks", "sent_to_included_s")
    summary = {k: _stats([r[k] for r in rows]) for k in keys}
    goal = [r["included_to_ready_blocks"] <= 3 and r["ready_to_mined_l1_blocks"] <= 1 for r in rows]
    return {"withdrawals": n, "summary": summary, "within_goal_3_blocks_plus_1_l1_block": sum(goal), "rows": rows}


def gas_run(net: Net, denom: str, size: int, recipients: Sequence[bytes] | None = None) -> dict[str, Any]:
    """`size` withdrawals sent together, expected in one batch; the relayer's receipt(s). Fresh L1 recipients,
    or `recipients` (paid before: no new account or balance slot to create)."""
    to = list(recipients) if recipients is not None else [fresh_l1(f"gas-{denom}-{size}-{i}") for i in range(size)]
    items = [(a, 10**12 + i, 1) for i, a in enumerate(to)]
    before_of = {a: _held(net, denom, a) for a, _, _ in items[:3] + items[-1:]}
    first = net.send_withdrawals(denom, items)
    ids = range(first, first + size)
    _poll_until(net, lambda: all((net.query(f"/bridge/withdrawal/{i}") or {}).get("batch_nonce") for i in ids), 120,
                f"{size} withdrawals batched")
    nonces = sorted({int(net.query(f"/bridge/withdrawal/{i}")["batch_nonce"]) for i in ids})
    # executed, or refunded at its timeout (a batch the relayer could not send)
    _poll_until(net, lambda: all((net.query(f"/bridge/batch/{n}") or {}).get("status") in ("executed", "refunded")
                                 for n in nonces), 300, f"batches {nonces} executed or refunded")
    batches: list[dict[str, Any]] = []
    lines = net.relayer_lines()
    submitted = {int(x["nonce"]): x for x in lines if x.get("event") == "batch_submitted"}
    for n in nonces:
        b = net.query(f"/bridge/batch/{n}")
        k = len(b["withdrawals"])
        if b["status"] != "executed":
            failed = [x for x in lines if x.get("kind") == "batch" and x.get("nonce") == n]
            batches.append({"batch_nonce": n, "withdrawals": k, "status": b["status"],
                            "relayer_said": [{"event": x.get("event"), "reason": x.get("reason"),
                                              "message": x.get("message")} for x in failed[:3]]})
            continue
        receipt = net.client.w3.eth.get_transaction_receipt(b["l1_tx"])
        tx = net.client.w3.eth.get_transaction(b["l1_tx"])
        used, price = int(receipt["gasUsed"]), int(receipt["effectiveGasPrice"])
        line = submitted.get(n, {})
        data = tx["input"]
        batches.append({"batch_nonce": n, "withdrawals": k, "status": "executed", "l1_tx": b["l1_tx"],
                        "l1_block": int(receipt["blockNumber"]), "gas_used": used, "gas_limit": int(tx["gas"]),
                        "effective_gas_price": price, "spent_wei": used * price, "gas_per_withdrawal": used // k,
                        "spent_wei_per_withdrawal": used * price // k,
                        "calldata_bytes": (len(data) - 2) // 2 if isinstance(data, str) else len(data),
                        "relayer_estimated_gas": line.get("estimated_gas"),
                        "relayer_spent_per_withdrawal_wei": line.get("spent_per_withdrawal_wei"),
                        "by_the_relayer": net.tn.bridge is not None and Web3.to_checksum_address(receipt["from"])
                        == Web3.to_checksum_address(net.tn.bridge.l1_keys[3].address)})
    if all(b["status"] == "executed" for b in batches):
        for a, amount, _ in items[:3] + items[-1:]:  # spot check: paid, exactly
            held = _held(net, denom, a)
            before = before_of.get(a, 0)
            assert held == amount + before, (held, amount, before)
    return {"denom": denom, "size": size, "recipients": "fresh" if recipients is None else "holding the asset",
            "one_batch": len(nonces) == 1, "batches": batches, "to": to}


def _held(net: Net, denom: str, a: bytes) -> int:
    addr = Web3.to_checksum_address(a)
    if denom == "l1/eth":
        return int(net.client.w3.eth.get_balance(addr))
    return Erc20(net.client, denom[3:]).balance_of(addr)


def _prefund_eth(net: Net, to: Sequence[bytes]) -> None:
    """1 wei from geth's dev account to each address: accounts that exist before the bridge pays them."""
    w3 = net.client.w3
    dev = w3.eth.accounts[0]
    hashes = [w3.eth.send_transaction({"from": dev, "to": Web3.to_checksum_address(a), "value": Wei(1)}) for a in to]
    for h in hashes:
        w3.eth.wait_for_transaction_receipt(h, timeout=120)


def measure(interval: int, withdrawals: int, gas_sizes: Sequence[int], erc20: bool,
            timeout_commit: str | None = None, max_batch_size: int | None = None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-bridge-wd-"))
    spec = None
    if timeout_commit is not None:
        from dataclasses import replace

        from genesis.spec import default_spec

        spec = default_spec(4, chain_id="testnet-it", node=replace(FAST, timeout_commit=timeout_commit))
    tn = TestNetwork.build(root, 4, spec, l1=True)
    assert tn.l1 is not None and tn.bridge is not None
    net: Net | None = None
    try:
        over = {"batch_interval_blocks": interval}
        if max_batch_size is not None:
            over["max_batch_size"] = max_batch_size
        _patch_params(tn, over)
        tn.start()
        wait_until(lambda: all((node_height(n) or 0) >= 3 for n in tn.net.nodes), 120, "the network up")
        client = L1Client.connect(tn.l1.rpc_url)
        key = Keyring(tn.net.keyring).signing_key("alice", TEST_PASSPHRASE)
        sender = address_of_pubkey(bytes(key.verify_key))
        net = Net(tn, NodeClient(tn.url(0)), client, BridgeContract(client, tn.bridge.contract), sender, key,
                  tn.net.chain_id, root / "relayer.log")
        acct = net.query(f"/account/{bech32_address(sender, 'side')}") or {}
        net.seq = int(acct.get("sequence", 0))
        params = net.query("/bridge/state")["params"]
        assert int(params["batch_interval_blocks"]) == interval, params
        _start_relayer(net)
        _fund(net, 5 * ETH, 10**6 * 10**18 if erc20 else 0)
        out: dict[str, Any] = {"batch_interval_blocks": interval, "params": params,
                               "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                               "timeout_commit": timeout_commit or FAST.timeout_commit, "l1_block_time_s": 1,
                               "relayer_interval": RELAYER_INTERVAL}
        h0, t0 = net.height(), time.monotonic()
        out["latency"] = latency(net, withdrawals)
        out["sidechain_block_interval_s"] = round((time.monotonic() - t0) / max(1, net.height() - h0), 3)
        s = out["latency"]["summary"]
        print(f"interval {interval}: included->paid {s['total_s']} s, {s['total_sidechain_blocks']} sidechain blocks, "
              f"{s['total_l1_blocks']} L1 blocks; included->ready blocks {s['included_to_ready_blocks']}, "
              f"ready->mined L1 blocks {s['ready_to_mined_l1_blocks']}", flush=True)
        runs = []
        denoms = ["l1/eth"] + (["l1/" + tn.bridge.erc20.lower()] if erc20 and tn.bridge.erc20 else [])
        for denom in denoms:
            for size in gas_sizes:
                fresh = gas_run(net, denom, size)
                if denom == "l1/eth" and any(b["status"] != "executed" for b in fresh["batches"]):
                    _prefund_eth(net, fresh["to"])  # never paid: make them existing accounts another way
                again = gas_run(net, denom, size, fresh["to"])
                for r in (fresh, again):
                    print(f"gas {denom} size {size} ({r['recipients']}): " + ", ".join(
                        f"batch of {b['withdrawals']}: {b.get('gas_used')} gas, {b.get('gas_per_withdrawal')} per "
                        f"withdrawal" if b["status"] == "executed" else f"batch of {b['withdrawals']} {b['status']}: "
                        f"{b['relayer_said']}" for b in r["batches"]), flush=True)
                    r.pop("to")
                    runs.append(r)
        out["gas"] = runs
        out["relayer_events"] = _count(net.relayer_lines())
        out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return out
    finally:
        if net is not None:
            _stop_relayer(net)
        tn.kill_all()
        shutil.rmtree(root, ignore_errors=True)


def _count(lines: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in lines:
        e = str(x.get("event"))
        out[e] = out.get(e, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--withdrawals", type=int, default=20)
    ap.add_argument("--intervals", default="1,0", help="batch_interval_blocks values, one network each")
    ap.add_argument("--gas-sizes", default="1,10,50,100", help="batch sizes for the gas figures (first network only)")
    ap.add_argument("--max-batch-size", type=int, default=100,
                    help="max_batch_size of the first network (the testnet's is 50; 100 to measure batches of 100)")
    ap.add_argument("--no-erc20", action="store_true", help="ETH payouts only")
    ap.add_argument("--timeout-commit", default=None, help="override the test network's timeout_commit")
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench-bridge-withdrawals-net.json"))
    args = ap.parse_args(argv)
    intervals = [int(x) for x in args.intervals.split(",")]
    sizes = [int(x) for x in args.gas_sizes.split(",") if x]
    results = {"runs": [measure(iv, args.withdrawals, sizes if k == 0 else [], not args.no_erc20 and k == 0,
                                args.timeout_commit, args.max_batch_size if k == 0 else None)
                        for k, iv in enumerate(intervals)]}
    for r in results["runs"]:
        for row in r["latency"]["rows"]:
            row.pop("l1_tx", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
