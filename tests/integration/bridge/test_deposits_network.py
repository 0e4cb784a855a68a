"""Deposits end to end: real geth --dev, a real 4-validator network (the testnet's own bridge setup),
the validators' watchers, vote extensions and the extended commit.

The package's network (conftest.py `bridge_network`, shared with test_deposit_cli.py), used in order:
  1. 200 deposits from four L1 accounts while validator 2's app is killed with SIGKILL and restarted,
     and validator 1's link to its L1 RPC is cut for a while: each minted exactly once, the supply
     invariant holds at every height, blocks never stop;
  2. L1 stopped entirely: the sidechain keeps committing; when it returns, deposits flow again;
  3. an L1 reorg above the confirmation depth (debug_setHead, then a different chain) never mints a
     deposit that is not on the final chain.
A background checker reads every committed height: the bridged supply at that height never exceeds
the contract's balance at that height's audit L1 block (BRIDGE.md section 5, the supply invariant).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from web3 import Web3

from bridge.devnet import DevL1
from bridge.keys import load_account
from bridge.l1 import BridgeContract, L1Client
from genesis.testnet import node_height, rpc
from sidechain.types import bech32_address
from tests.support.tcpproxy import TcpProxy
from tests.support.testnet import TestNetwork, wait_until

if TYPE_CHECKING:
    from tests.integration.bridge.conftest import BridgeNetwork

KILLED = 2        # this validator's app gets SIGKILL (validator CUT_WATCHER's L1 link goes through a proxy)
RECIPIENTS = [bytes([0x30 + i]) * 20 for i in range(4)]


def abci(tn: TestNetwork, path: str, node: int = 0, height: int = 0) -> Any:
    """The JSON answer, or None when the node does not answer (down, restarting) or refuses."""
    q = f'abci_query?path="{path}"' + (f"&height={height}" if height else "")
    try:
        res = rpc(tn.url(node), q)["response"]
    except OSError:  # URLError, connection refused or reset, timeout
        return None
    if int(res.get("code", 0)) != 0:
        return None
    return json.loads(base64.b64decode(res["value"]))


def bridge_state(tn: TestNetwork, node: int = 0, height: int = 0) -> dict[str, Any]:
    s = abci(tn, "/bridge/state", node, height)
    assert s is not None and s["enabled"], s
    return s


def balance(tn: TestNetwork, who: bytes, denom: str = "l1/eth", node: int = 0) -> int:
    return int(abci(tn, f"/balance/{bech32_address(who, 'side')}/{denom}", node)["amount"])


@dataclass
class Checker:
    """Every committed height of node 0: supply <= the contract's L1 balance at the audit height
    (max of observed_l1_height and the L1 block of the last applied event)."""

    tn: TestNetwork
    w3: Web3
    contract: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    heights: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                top = node_height(self.tn.net.nodes[0]) or 0
                self.heights.append((time.monotonic(), top))
                for h in range(max(self.checked + 1, top - 90), top + 1):
                    s = abci(self.tn, "/bridge/state", 0, h)
                    if s is None:
                        break  # not answerable at that height yet: the next round checks it
                    supply = int(s["supply"].get("l1/eth", "0"))
                    cut = int(s["audit_l1_height"])
                    held = self.w3.eth.get_balance(Web3.to_checksum_address(self.contract), cut)
                    if supply > held:
                        self.violations.append(f"height {h}: supply {supply} > contract balance {held} at L1 "
                                               f"block {cut} (observed_l1_height {s['observed_l1_height']})")
                    self.checked = h
            except Exception as e:  # noqa: BLE001 (an L1 that is down: check those heights when it is back)
                if "Connection" not in type(e).__name__ + str(e):
                    self.violations.append(f"checker: {type(e).__name__}: {e}")
            self.stop.wait(0.3)

    def longest_stall(self) -> float:
        """The longest time node 0's height stayed the same while the checker watched."""
        worst, since, last = 0.0, None, None
        for t, h in self.heights:
            if h != last:
                last, since = h, t
            elif since is not None:
                worst = max(worst, t - since)
        return worst


@dataclass
class Net:
    tn: TestNetwork
    proxy: TcpProxy
    w3: Web3
    client: L1Client
    bridge: BridgeContract
    accounts: list[Any]
    checker: Checker


@pytest.fixture(scope="module")
def net(bridge_network: BridgeNetwork) -> Iterator[Net]:
    tn, proxy = bridge_network.tn, bridge_network.proxy
    assert tn.l1 is not None and tn.bridge is not None
    client = L1Client.connect(tn.l1.rpc_url)
    accounts = [load_account(Path(k.keystore), passphrase_file=Path(k.passphrase_file)) for k in tn.bridge.l1_keys]
    checker = Checker(tn, client.w3, tn.bridge.contract)
    threading.Thread(target=checker.run, daemon=True).start()
    try:
        yield Net(tn, proxy, client.w3, client, BridgeContract(client, tn.bridge.contract), accounts, checker)
    finally:
        checker.stop.set()


def send_deposits(n: Net, per_account: int, amount_base: int) -> list[tuple[bytes, int, str]]:
    """Signed depositETH txs from every test account, sent without waiting; (recipient, amount, tx)."""
    fn = n.bridge.contract.functions
    chain_id = n.w3.eth.chain_id
    sent = []
    for a, acct in enumerate(n.accounts):
        nonce = n.w3.eth.get_transaction_count(acct.address, "pending")
        for i in range(per_account):
            recipient = RECIPIENTS[(a + i) % len(RECIPIENTS)]
            amount = amount_base + a * 1000 + i
            tx = fn.depositETH(recipient).build_transaction({
                "from": acct.address, "value": amount, "nonce": nonce + i, "gas": 120_000, "chainId": chain_id,
                "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9})
            signed = Account.sign_transaction(tx, acct.key)
            sent.append((recipient, amount, n.w3.eth.send_raw_transaction(signed.raw_transaction).hex()))
    return sent


def wait_receipts(n: Net, txs: list[str], timeout: float = 120) -> dict[str, Any]:
    out: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while len(out) < len(txs):
        assert time.monotonic() < deadline, f"{len(txs) - len(out)} L1 txs not mined in {timeout}s"
        for tx in txs:
            if tx not in out:
                try:
                    r = n.w3.eth.get_transaction_receipt(tx)
                except Exception:  # noqa: BLE001 (not mined yet)
                    continue
                assert r["status"] == 1, f"deposit {tx} reverted"
                out[tx] = r
        time.sleep(0.3)
    return out


def deposit_logs(n: Net, from_block: int) -> dict[int, Any]:
    """The final chain's Deposit logs by event nonce. Right after a debug_setHead, geth's log index
    answers errors for a while ("failed to retrieve receipts for block ..."): ask again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            logs = n.bridge.contract.events.Deposit().get_logs(from_block=from_block, to_block="latest")
            return {int(lg["args"]["eventNonce"]): lg for lg in logs}
        except Exception as e:  # noqa: BLE001 (web3's RPC error types vary)
            if time.monotonic() > deadline or "retrieve" not in str(e):
                raise
            time.sleep(1)


def test_200_deposits_through_a_crash_and_an_l1_outage_are_minted_exactly_once(net: Net) -> None:
    n, tn = net, net.tn
    start = bridge_state(tn)
    before = {r: balance(tn, r) for r in RECIPIENTS}
    l1_start = n.w3.eth.block_number
    sent = send_deposits(n, 50, 10**12)
    assert len(sent) == 200
    # validator 2's app dies hard; validator 1 loses its L1 RPC
    pid = tn.procs.pid(KILLED)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    n.proxy.cut()
    receipts = wait_receipts(n, [tx for _, _, tx in sent])
    time.sleep(3)
    wait_until(lambda: not any(p == KILLED for p in tn.procs.running()), 30, "the killed node gone")
    wait_until(lambda: tn.procs.pid(KILLED) is None, 30, "the killed node's pid gone")
    time.sleep(2)  # cometbft child: SIGTERM from the dead supervisor (PR_SET_PDEATHSIG)
    tn.start([KILLED])
    time.sleep(5)
    n.proxy.restore()
    target = int(start["last_event_nonce"]) + 200
    wait_until(lambda: int(bridge_state(tn)["last_event_nonce"]) >= target, 240, "200 deposits applied")
    for i in range(4):
        wait_until(lambda i=i: (abci(tn, "/bridge/state", i) or {}).get("last_event_nonce", 0) >= target, 120,
                   f"node {i} caught up")
    # exactly once, at the amount credited on L1, with the L1 tx it came from
    logs = deposit_logs(n, l1_start)
    assert len(logs) == 200
    expected: dict[bytes, int] = {r: 0 for r in RECIPIENTS}
    for recipient, amount, _ in sent:
        expected[recipient] += amount
    for r in RECIPIENTS:
        assert balance(tn, r) - before[r] == expected[r]
        assert balance(tn, r, node=KILLED) == balance(tn, r)
    for nonce, lg in logs.items():
        rec = abci(tn, f"/bridge/deposit/{nonce}")
        assert rec is not None, f"deposit {nonce} has no record"
        assert rec["amount"] == str(lg["args"]["amount"]) and rec["l1_tx"] == "0x" + lg["transactionHash"].hex()
        assert rec["l1_block"] == lg["blockNumber"]
    assert len({r["transactionHash"] for r in receipts.values()}) == 200
    end = bridge_state(tn)
    assert int(end["supply"]["l1/eth"]) - int(start["supply"].get("l1/eth", "0")) == sum(a for _, a, _ in sent)
    assert not n.checker.violations, n.checker.violations
    assert n.checker.checked > 0
    assert n.checker.longest_stall() < 15, f"blocks stopped for {n.checker.longest_stall():.1f}s"
    assert abci(tn, "/bridge/disagreements")["disagreements"] == []


def test_with_l1_stopped_blocks_keep_coming_and_deposits_resume_when_it_returns(net: Net) -> None:
    n, tn = net, net.tn
    assert tn.l1 is not None
    config = tn.l1.l1.config
    tn.l1.l1.stop()
    h0 = node_height(tn.net.nodes[0]) or 0
    wait_until(lambda: (node_height(tn.net.nodes[0]) or 0) >= h0 + 15, 60, "15 blocks with L1 down")
    tn.l1.l1 = DevL1.start(config)
    n.client = L1Client.connect(tn.l1.rpc_url)
    n.w3 = n.client.w3
    n.checker.w3 = n.w3
    n.bridge = BridgeContract(n.client, n.bridge.address)
    before = balance(tn, RECIPIENTS[0])
    n.bridge.deposit_eth(RECIPIENTS[0], 4242, n.accounts[0])
    wait_until(lambda: balance(tn, RECIPIENTS[0]) == before + 4242, 90, "the deposit after L1 came back")
    assert not n.checker.violations, n.checker.violations


def _deposit_tx(n: Net, acct: Any, recipient: bytes, value: int, tip_gwei: int) -> bytes:
    tx = n.bridge.contract.functions.depositETH(recipient).build_transaction({
        "from": acct.address, "value": value, "nonce": n.w3.eth.get_transaction_count(acct.address, "pending"),
        "gas": 120_000, "chainId": n.w3.eth.chain_id, "maxFeePerGas": (tip_gwei + 30) * 10**9,
        "maxPriorityFeePerGas": tip_gwei * 10**9})
    return bytes(n.w3.eth.send_raw_transaction(Account.sign_transaction(tx, acct.key).raw_transaction))


def test_a_reorg_above_the_confirmation_depth_never_mints_a_deposit_off_the_final_chain(net: Net) -> None:
    n, tn = net, net.tn
    depth = int(bridge_state(tn)["params"]["l1_confirmations"])
    x, y = n.accounts[1], n.accounts[2]
    orphan: tuple[int, int, str] | None = None
    first_block = n.w3.eth.block_number
    for _attempt in range(5):
        r = n.w3.eth.wait_for_transaction_receipt(_deposit_tx(n, x, RECIPIENTS[1], 111, 1), timeout=30,
                                                  poll_latency=0.05)
        block = int(r["blockNumber"])
        nonce = int(n.bridge.contract.events.Deposit().process_receipt(r)[0]["args"]["eventNonce"])
        if n.w3.eth.block_number >= block + depth:
            continue  # too slow: the block reached the confirmation depth before we could rewind it
        n.w3.provider.make_request("debug_setHead", [hex(block - 1)])  # type: ignore[arg-type]
        # a different chain: another deposit, with a higher tip, takes the rewound deposit's place
        r2 = n.w3.eth.wait_for_transaction_receipt(_deposit_tx(n, y, RECIPIENTS[2], 222, 20), timeout=30)
        wait_until(lambda r2=r2: n.w3.eth.block_number >= int(r2["blockNumber"]), 30, "the new chain")
        now = deposit_logs(n, block - 1).get(nonce)
        if now is not None and (now["transactionHash"], now["blockNumber"]) == (r["transactionHash"], block):
            continue  # the new chain put the same deposit back in the same place: no different chain yet
        orphan = (nonce, block, "0x" + r["transactionHash"].hex())
        break
    assert orphan is not None, "could not rewind L1 above the confirmation depth into a different chain"
    # let the new chain settle past the depth and the sidechain apply everything on it
    wait_until(lambda: n.w3.eth.block_number >= orphan[1] + depth + 4, 60, "L1 moving on")
    final_logs = deposit_logs(n, first_block)
    top = max(final_logs)
    wait_until(lambda: int(bridge_state(tn)["last_event_nonce"]) >= top, 90, "the new chain's deposits applied")
    for nonce, lg in final_logs.items():
        rec = abci(tn, f"/bridge/deposit/{nonce}")
        assert rec is not None
        on_final = ("0x" + lg["transactionHash"].hex(), lg["blockNumber"], str(lg["args"]["amount"]))
        assert (rec["l1_tx"], rec["l1_block"], rec["amount"]) == on_final, f"event {nonce} off the final chain"
    # the orphaned log (event n of the rewound block) is not what the sidechain applied as event n
    rec = abci(tn, f"/bridge/deposit/{orphan[0]}")
    assert (rec["l1_block"], rec["l1_tx"]) != (orphan[1], orphan[2])
    assert not n.checker.violations, n.checker.violations
