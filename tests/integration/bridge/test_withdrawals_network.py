"""Withdrawals end to end on the real chain (4 validators, real cometbft) and a real L1 (geth --dev), with
real relayers (`bridge relay` processes): the validators sign batches and valsets in their vote extensions,
the relayers submit them, L1 pays, and the chain applies BatchExecuted.

- round trip: ETH and the test ERC-20 deposited with `bridge deposit`, withdrawn with `bridge withdraw` to a
  fresh L1 address, which then holds exactly the amount;
- 300 withdrawals from several accounts in batches of up to 100, with two relayers at once, one killed and
  restarted in the middle: every one paid exactly once;
- a payout L1 cannot make (a blocklisted ERC-20 holder) is deferred, and `bridge claim` pays it elsewhere;
- the guardian pauses: withdrawals wait, nothing is lost, all are paid after unpause;
- a validator leaves and the stake moves: the valset on L1 follows, and later batches pass under it.

This module runs last in the package (file order): it changes the shared network's validator set.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from bridge.artifacts import load_artifact
from bridge.l1 import BridgeContract, L1Client
from bridge.module.msgs import Withdraw
from genesis import l1 as l1net
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import node_height
from sidechain.client import NodeClient
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as spb
from sidechain.keyring import Keyring
from sidechain.tx import build_signed_tx, module_msg
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_decode
from tests.integration.bridge.test_deposit_cli import deposit
from tests.support.cli import bridge_argv, run_subprocess
from tests.support.testnet import TestNetwork, wait_until

if TYPE_CHECKING:
    from tests.integration.bridge.conftest import BridgeNetwork

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ENV = {"SIDECHAIN_KEYRING_PASSPHRASE": TEST_PASSPHRASE}
ETH = 10**18


@dataclass
class W:
    tn: TestNetwork
    client: L1Client
    w3: Web3
    bridge: BridgeContract
    token: Any
    node: NodeClient
    logs: Path

    def query(self, path: str) -> Any:
        r = self.node.query(path)
        assert r.code == 0, (path, r.log)
        return r.json()

    def withdrawal(self, wid: int) -> dict[str, Any]:
        return dict(self.query(f"/bridge/withdrawal/{wid}"))

    def status(self, wid: int) -> str | None:
        """The withdrawal's status, None while its tx is in no block yet."""
        r = self.node.query(f"/bridge/withdrawal/{wid}")
        return str(r.json()["status"]) if r.code == 0 else None


@pytest.fixture(scope="module")
def w(bridge_network: BridgeNetwork, tmp_path_factory: pytest.TempPathFactory) -> W:
    tn = bridge_network.tn
    assert tn.bridge is not None and tn.bridge.erc20 is not None
    client = L1Client.connect(tn.bridge.l1_rpc)
    token = client.w3.eth.contract(address=Web3.to_checksum_address(tn.bridge.erc20),
                                   abi=load_artifact("TestERC20").abi)
    return W(tn, client, client.w3, BridgeContract(client, tn.bridge.contract), token, NodeClient(tn.url(0)),
             tmp_path_factory.mktemp("relayers"))


class Relayer:
    """One `bridge relay` process with one of the testnet's funded L1 keys, its JSON lines in a log."""

    def __init__(self, w: W, key_index: int, name: str) -> None:
        assert w.tn.bridge is not None
        self.key = w.tn.bridge.l1_keys[key_index]
        self.log = w.logs / f"{name}.log"
        self.argv = bridge_argv("relay", "--node", w.tn.url(0), "--l1-rpc", w.tn.bridge.l1_rpc,
                                "--keystore", str(self.key.keystore), "--passphrase-file",
                                str(self.key.passphrase_file), "--interval", "300ms", "--no-profit-check",
                                "--output", "json")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Relayer:
        env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_PRIVATE_KEY", "BRIDGE_PASSPHRASE")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines() if self.log.exists() else ():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@pytest.fixture
def relayers(w: W) -> Iterator[list[Relayer]]:
    rs = [Relayer(w, 2, "relayer-a").start(), Relayer(w, 3, "relayer-b").start()]
    try:
        yield rs
    finally:
        for r in rs:
            r.kill()


def withdraw_cli(w: W, coin: str, to: str, fee: str, *extra: str, code: int = 0) -> dict[str, Any]:
    home = w.tn.net.root / "client"
    assert w.tn.bridge is not None
    r = run_subprocess(bridge_argv("withdraw", coin, "--to", to, "--fee", fee, "--from", "alice", "--home", str(home),
                                   "--node", w.tn.url(0), "--bridge-config", str(w.tn.net.root / l1net.BRIDGE_JSON),
                                   "--timeout", "300s", "-o", "json", *extra), env=ENV, timeout=400)
    assert r.code == code, r.stderr
    return dict(json.loads(r.stdout))


def fresh_l1(tag: str) -> str:
    return Web3.to_checksum_address(keccak(os.urandom(16) + tag.encode())[:20])


def alice(w: W) -> str:
    return next(k.address for k in w.tn.net.keys if k.name == "alice")


def test_round_trip_eth_and_erc20_reach_a_fresh_l1_address_exactly(w: W, relayers: list[Relayer]) -> None:
    a = alice(w)
    deposit(w.tn, "0.05eth", a)
    to = fresh_l1("eth")
    t0 = time.monotonic()
    out = withdraw_cli(w, f"{10**16}l1/eth", to, "1000l1/eth")
    took = time.monotonic() - t0
    assert out["status"] == "paid" and out["recipient"] == to and out["amount"] == str(10**16), out
    assert w.w3.eth.get_balance(to) == 10**16  # exactly the amount: the fee went to the relayer
    receipt = w.w3.eth.get_transaction_receipt(out["l1_tx"])
    assert receipt["status"] == 1 and receipt["from"] in {r.key.address for r in relayers} | {
        Web3.to_checksum_address(r.key.address) for r in relayers}
    wait_until(lambda: w.withdrawal(out["withdrawal_id"])["status"] == "executed", 60, "BatchExecuted applied")
    # the ERC-20 the testnet deploys
    assert w.tn.bridge is not None and w.tn.bridge.erc20 is not None
    token = w.tn.bridge.erc20.lower()
    deposit(w.tn, "5.0", a, "--token", token)
    to20 = fresh_l1("erc20")
    out20 = withdraw_cli(w, f"{3 * ETH}l1/{token}", to20, f"{10**15}l1/{token}")
    assert out20["status"] == "paid", out20
    assert w.token.functions.balanceOf(to20).call() == 3 * ETH
    print(f"\nround trip: ETH withdrawal paid {took:.1f} s after `bridge withdraw` started "
          f"(tx at sidechain height {out['height']}, L1 block {out['l1_block']})")


def _keys(w: W, names: list[str]) -> list[tuple[bytes, Any]]:
    kr = Keyring(w.tn.net.keyring)
    out = []
    for name in names:
        key = kr.signing_key(name, TEST_PASSPHRASE)
        out.append((address_of_pubkey(bytes(key.verify_key)), key))
    return out


def _sequence(w: W, who: bytes) -> int:
    from sidechain.types import bech32_address

    r = w.node.query(f"/account/{bech32_address(who, 'side')}")
    return int(r.json().get("sequence", 0)) if r.code == 0 else 0


def _broadcast(w: W, tx: bytes) -> dict[str, Any]:
    for _ in range(100):
        res = w.node.rpc("broadcast_tx_sync", tx=base64.b64encode(tx).decode())
        if int(res.get("code", 0)) == 0:
            return dict(res)
        if "retry" not in str(res.get("log", "")):
            raise AssertionError(res)
        time.sleep(0.2)
    raise AssertionError("the node kept refusing")


def test_300_withdrawals_with_two_relayers_one_restarted_are_all_paid_once(w: W, relayers: list[Relayer]) -> None:
    names = [k.name for k in w.tn.net.keys if not k.name.startswith("val")][:3]  # the testnet's funded users
    assert len(names) >= 2, names
    senders = _keys(w, names)
    for name, (_who, _) in zip(names, senders, strict=True):
        deposit(w.tn, "0.2eth", next(k.address for k in w.tn.net.keys if k.name == name))
    start_id = int(w.query("/bridge/state")["next_withdrawal_id"])
    amount = 10**14
    recipients = [fresh_l1(f"many-{i}") for i in range(300)]
    seqs = {who: _sequence(w, who) for who, _ in senders}
    for i, to in enumerate(recipients):
        who, key = senders[i % len(senders)]
        msg = module_msg("bridge.MsgWithdraw", Withdraw(who, bytes.fromhex(to[2:]), "l1/eth", amount, 1000).to_pb())
        _broadcast(w, build_signed_tx(key, w.tn.net.chain_id, [msg], seqs[who], Coin("stake", Amount(1))))
        seqs[who] += 1
        if i == 150:  # in the middle: relayer a dies and comes back
            relayers[0].kill()
    wait_until(lambda: int(w.query("/bridge/state")["next_withdrawal_id"]) >= start_id + 300, 120, "300 queued")
    relayers[0].start()
    ids = range(start_id, start_id + 300)
    wait_until(lambda: all(w.status(i) == "executed" for i in ids), 400, "every withdrawal executed")
    for to in recipients:
        assert w.w3.eth.get_balance(to) == amount  # paid once, exactly
    batches = sorted({int(w.withdrawal(i)["batch_nonce"]) for i in ids})
    sizes = [len(w.query(f"/bridge/batch/{n}")["withdrawals"]) for n in batches]
    assert max(sizes) <= 50 and sum(sizes) == 300, sizes  # the testnet's max_batch_size
    for n in batches:
        assert w.bridge.batch_executed(n)
    sent = [line for r in relayers for line in r.lines() if line.get("event") == "batch_submitted"]
    skipped = [line for r in relayers for line in r.lines() if line.get("event") in ("skipped", "raced")]
    print(f"\n300 withdrawals: {len(batches)} batches of {sizes}; relayer lines: {len(sent)} sent, "
          f"{len(skipped)} skips")


def test_a_payout_l1_cannot_make_is_deferred_and_claimed_elsewhere(w: W, relayers: list[Relayer]) -> None:
    assert w.tn.bridge is not None and w.tn.bridge.erc20 is not None
    token = w.tn.bridge.erc20.lower()
    deposit(w.tn, "5.0", alice(w), "--token", token)
    holder = Account.from_key(keccak(os.urandom(16)))
    dev = w.w3.eth.accounts[0]
    w.w3.eth.wait_for_transaction_receipt(w.w3.eth.send_transaction({"from": dev, "to": holder.address,
                                                                      "value": ETH}))
    w.w3.eth.wait_for_transaction_receipt(w.token.functions.setBlocked(holder.address, True).transact({"from": dev}))
    out = withdraw_cli(w, f"{2 * ETH}l1/{token}", holder.address, "0l1/" + token, code=3)
    assert out["status"] == "deferred", out
    assert w.bridge.deferred(w.tn.bridge.erc20, holder.address) == 2 * ETH
    elsewhere = fresh_l1("claim")
    r = run_subprocess(bridge_argv("claim", "--l1-rpc", w.tn.bridge.l1_rpc, "--contract", w.tn.bridge.contract,
                                   "--token", w.tn.bridge.erc20, "--to", elsewhere, "-o", "json"),
                       env={"BRIDGE_PRIVATE_KEY": holder.key.hex()}, timeout=120)
    assert r.code == 0, r.stderr
    assert w.token.functions.balanceOf(elsewhere).call() == 2 * ETH
    assert w.bridge.deferred(w.tn.bridge.erc20, holder.address) == 0
    wait_until(lambda: w.withdrawal(out["withdrawal_id"])["status"] == "deferred", 60, "the chain records it deferred")


def _guardian(w: W, action: str) -> None:
    assert w.tn.bridge is not None
    r = run_subprocess(bridge_argv("guardian", action, "--bridge-config", str(w.tn.net.root / l1net.BRIDGE_JSON),
                                   "--l1-key", "guardian", "-o", "json"), timeout=120)
    assert r.code == 0, r.stderr


def test_while_paused_withdrawals_wait_and_all_pay_after_unpause(w: W, relayers: list[Relayer]) -> None:
    senders = _keys(w, ["bob"])
    deposit(w.tn, "0.01eth", next(k.address for k in w.tn.net.keys if k.name == "bob"))
    _guardian(w, "pause")
    try:
        assert w.bridge.paused()
        who, key = senders[0]
        seq = _sequence(w, who)
        start_id = int(w.query("/bridge/state")["next_withdrawal_id"])
        to = [fresh_l1(f"paused-{i}") for i in range(3)]
        for i, addr in enumerate(to):
            msg = module_msg("bridge.MsgWithdraw", Withdraw(who, bytes.fromhex(addr[2:]), "l1/eth", 10**13, 0).to_pb())
            _broadcast(w, build_signed_tx(key, w.tn.net.chain_id, [msg], seq + i, Coin("stake", Amount(1))))
        ids = range(start_id, start_id + 3)
        wait_until(lambda: all(w.status(i) == "batched" for i in ids), 60, "batched")
        nonces = {int(w.withdrawal(i)["batch_nonce"]) for i in ids}
        wait_until(lambda: all(w.query(f"/bridge/batch/{n}")["ready"] for n in nonces), 60, "signed")
        h = node_height(w.tn.net.nodes[0]) or 0
        wait_until(lambda: (node_height(w.tn.net.nodes[0]) or 0) >= h + 5, 60, "5 more blocks")
        assert all(w.withdrawal(i)["status"] == "batched" for i in ids)  # held, not lost, not refunded
        assert all(w.w3.eth.get_balance(a) == 0 for a in to)
        held = [line for r in relayers for line in r.lines() if "pause" in json.dumps(line).lower()]
        assert held, "the relayers said the bridge is paused"
    finally:
        _guardian(w, "unpause")
    wait_until(lambda: all(w.withdrawal(i)["status"] == "executed" for i in ids), 120, "paid after unpause")
    assert all(w.w3.eth.get_balance(a) == 10**13 for a in to)


def _staking_tx(w: W, name: str, msg_name: str, msg: Any) -> None:
    (who, key), = _keys(w, [name])
    res = _broadcast(w, build_signed_tx(key, w.tn.net.chain_id, [module_msg(msg_name, msg)], _sequence(w, who),
                                        Coin("stake", Amount(1))))
    txhash = res["hash"]
    wait_until(lambda: _tx_done(w, txhash), 60, f"{msg_name} in a block")


def _tx_done(w: W, txhash: str) -> bool:
    found = w.node.find_tx(txhash)
    if found is None:
        return False
    assert found.code == 0, found.log
    return True


def _wait_l1_valset(w: W, what: str) -> dict[str, Any]:
    """The newest valset the chain made, once the relayer ran it on L1 and the chain applied it."""
    latest = w.query("/bridge/valset/latest")
    wait_until(lambda: w.bridge.valset_nonce() >= latest["nonce"], 120, f"the relayer ran valset {latest['nonce']}")
    assert w.bridge.valset_checkpoint().hex().removeprefix("0x") == latest["digest"][2:]
    wait_until(lambda: w.query("/bridge/state")["valset"]["nonce"] >= latest["nonce"], 60,
               f"ValsetUpdated {latest['nonce']} applied on the chain ({what})")
    return dict(latest)


def test_a_validator_joins_another_leaves_and_the_l1_valset_follows(w: W, relayers: list[Relayer],
                                                                    tmp_path: Path) -> None:
    from tests.integration.testnet.test_pos import _joining_home, _rpc_port
    from tests.integration.testnet.test_pos import cli as sidechain_cli

    assert w.tn.bridge is not None
    start_nonce = int(w.query("/bridge/state")["latest_valset_nonce"])
    # -- a fifth node joins as a validator (its own bridge key from `sidechain init`, its own watcher)
    home, proc = _joining_home(w.tn, tmp_path, "val4")
    try:
        l1net.set_node_bridge_config(home / "config" / "app.toml", w.tn.bridge.l1_rpc)
        proc.terminate()
        proc.wait(20)
        log = (tmp_path / "val4-bridge.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "sidechain.cli", "start", "--home", str(home)], stdout=log,
                                stderr=subprocess.STDOUT)
        url = "http://127.0.0.1:" + _rpc_port(home)
        wait_until(lambda: (_height_of(url) or 0) >= (node_height(w.tn.net.nodes[0]) or 0) - 1, 120,
                   "val4 to catch up")
        sidechain_cli(w.tn, "tx", "staking", "create-validator", "--node-home", str(home), "--amount",
                      "40000000stake", "--moniker", "val4", "--from", "bob", "--fee", "1stake")
        wait_until(lambda: int(w.query("/bridge/state")["latest_valset_nonce"]) > start_nonce, 60,
                   "a valset with val4")
        joined = _wait_l1_valset(w, "val4 joined")
        joiner = w.query("/staking/validator/val4")["bridge_address"]
        assert joiner in joined["validators"] and len(joined["validators"]) == 5
        # -- one of the first four leaves: its operator unbonds everything
        monikers = sorted(k.name for k in w.tn.net.keys if k.name.startswith("val"))
        leaving = monikers[-1]
        op = next(k.address for k in w.tn.net.keys if k.name == leaving)
        v = w.query(f"/staking/validator/{op}")
        _staking_tx(w, leaving, "staking.MsgUndelegate", spb.MsgUndelegate(
            delegator=bech32_decode(op, "side"), validator=bech32_decode(op, "side"), amount=str(v["tokens"])))
        wait_until(lambda: int(w.query("/bridge/state")["latest_valset_nonce"]) > joined["nonce"], 60,
                   f"a valset without {leaving}")
        left = _wait_l1_valset(w, f"{leaving} left")
        assert v["bridge_address"] not in left["validators"] and joiner in left["validators"]
        assert len(left["validators"]) == 4
        # later batches pass under the new valset, which the joiner signs
        deposit(w.tn, "0.001eth", alice(w))
        to = fresh_l1("after-rotation")
        out = withdraw_cli(w, f"{10**13}l1/eth", to, "0l1/eth")
        assert out["status"] == "paid" and w.w3.eth.get_balance(to) == 10**13
        # the joiner signs what is pending once it is in the set (its votes may come late on this loaded
        # machine: a signature of a vote that missed the commit is given again in the next vote)
        signed = {s["validator"] for s in w.query(f"/bridge/batch/{out['batch_nonce']}")["signatures"]}
        signed |= {s["validator"] for s in w.query(f"/bridge/valset/{left['nonce']}")["signatures"]}
        assert joiner in signed, (joiner, signed)
    finally:
        proc.terminate()
        proc.wait(20)


def _height_of(url: str) -> int | None:
    from genesis.testnet import try_rpc

    st = try_rpc(url, "status")
    return int(st["sync_info"]["latest_block_height"]) if st else None
