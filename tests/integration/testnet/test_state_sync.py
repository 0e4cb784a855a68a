"""State sync on the 4-validator testnet with real CometBFT: after a few hundred blocks with transfers,
a fifth node joins from a snapshot (trust height and hash from `sidechain statesync-config`), reaches
the tip, agrees on the app hash at every later height, and serves a proof query that verifies."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from genesis.home import init_validator_home, install_genesis
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import enable_testnet_snapshots
from sidechain.bank.msgs import MsgSend
from sidechain.client import NodeClient
from sidechain.keyring import Keyring
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address
from tests.support.node import REPO, SIDECHAIN, Node, rpc
from tests.support.testnet import FAST, TestNetwork, free_node_ports, wait_until

pytestmark = pytest.mark.integration

ALL = [0, 1, 2, 3]
INTERVAL = 50  # a snapshot every 50 heights, the newest 3 kept
TARGET = 260  # blocks made before the fifth node joins


class Transfers(threading.Thread):
    """Sends a few transfers to node 0 every ~0.2 s until stopped (alice to fresh addresses)."""

    def __init__(self, tn: TestNetwork) -> None:
        super().__init__(daemon=True)
        self.url = tn.url(0)
        alice = next(k for k in tn.net.keys if k.name == "alice")
        self.sender = alice.address
        self.key = Keyring(tn.net.keyring).signing_key("alice", TEST_PASSPHRASE)
        self.chain_id = tn.net.chain_id
        self.stop_event = threading.Event()
        self.recipients: list[str] = []
        self.sent = 0

        self.client = NodeClient(self.url)
        self.error: Exception | None = None

    def _sequence(self) -> int:
        r = self.client.query(f"/account/{self.sender}")
        return int(r.json().get("sequence", 0)) if r.code == 0 else 0

    def run(self) -> None:
        try:
            self._send()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def _send(self) -> None:
        seq = self._sequence()
        frm = address_of_pubkey(bytes(self.key.verify_key))
        while not self.stop_event.is_set():
            for _ in range(3):
                to_raw = address_of_pubkey(bytes(SigningKey.generate().verify_key))
                to = bech32_address(to_raw, "side")
                msg = MsgSend(frm, to_raw, (Coin("stake", Amount(1000 + self.sent)),)).to_proto()
                tx = build_signed_tx(self.key, self.chain_id, [msg], seq, Coin("stake", Amount(1)))
                res = self.client.rpc("broadcast_tx_sync", tx=base64.b64encode(tx).decode())
                if int(res.get("code", 0)) == 0:
                    seq += 1
                    self.sent += 1
                    self.recipients.append(to)
                else:  # e.g. a sequence race: read it again
                    seq = self._sequence()
            self.stop_event.wait(0.2)


@pytest.fixture(scope="module")
def tn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestNetwork]:
    t = TestNetwork.build(tmp_path_factory.mktemp("statesync") / "net", n=4)
    enable_testnet_snapshots(t.net, interval=INTERVAL, keep_recent=3)
    try:
        t.start()
        t.wait_height(ALL, 1, timeout=120)
        yield t
    finally:
        t.kill_all()


def _joiner_home(tn: TestNetwork, root: Path) -> tuple[Path, int]:
    home = root / "joiner"
    ports = free_node_ports(1)[0]
    init_validator_home(home, "joiner", tn.net.chain_id, ports, FAST)
    genesis = json.loads((tn.net.root / "genesis.json").read_text())
    install_genesis(home, genesis, [f"{n.node_id}@127.0.0.1:{n.ports.p2p}" for n in tn.net.nodes])
    return home, ports.rpc


def test_a_fifth_node_joins_by_state_sync(tn: TestNetwork, tmp_path: Path) -> None:
    sender = Transfers(tn)
    sender.start()
    try:
        tn.wait_height(ALL, TARGET, timeout=150)
    finally:
        sender.stop_event.set()
        sender.join(10)
    assert sender.error is None and sender.sent >= 100, f"{sender.sent} transfers went through; {sender.error}"
    # Every validator has snapshots of the last three multiples of INTERVAL.
    snaps = sorted(p.name for p in (tn.net.nodes[0].home / "data" / "app" / "snapshots").iterdir())
    assert len(snaps) == 3 and all(int(s) % INTERVAL == 0 for s in snaps), snaps

    home, rpc_port = _joiner_home(tn, tmp_path)
    cfg = subprocess.run(SIDECHAIN + ["statesync-config", "--home", str(home), "--from", tn.url(1),
                                      "--from", tn.url(2), "--discovery-time", "5s"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert cfg.returncode == 0, cfg.stderr
    assert "state sync enabled" in cfg.stdout
    joiner = Node(home=home, chain_id=tn.net.chain_id, moniker="joiner", ports={"rpc": rpc_port})
    t0 = time.monotonic()
    joiner.start()
    try:
        tip = tn.height(0)
        joiner.wait_height(tip, timeout=90)
        joined_s = time.monotonic() - t0
        applog = (home / "logs" / "app.log").read_text()
        assert "state sync: restored height" in applog, applog[-2000:]
        restored = int(applog.split("state sync: restored height ")[1].split(",")[0])
        assert restored % INTERVAL == 0 and restored >= TARGET - 2 * INTERVAL
        # it joined from the snapshot: no block below the snapshot height is in its store
        with pytest.raises((RuntimeError, OSError)):  # CometBFT answers HTTP 500: height not available
            rpc(joiner.rpc_url, "block", height=restored - 10)
        # it keeps up, and agrees on block and app hash at every height after the snapshot
        joiner.wait_height(tip + 10, timeout=60)
        now = joiner.height()
        for h in range(restored + 1, now + 1):
            mine = rpc(joiner.rpc_url, "block", height=h)
            theirs = rpc(tn.url(0), "block", height=h)
            assert mine["block_id"]["hash"] == theirs["block_id"]["hash"], h
            assert mine["block"]["header"]["app_hash"] == theirs["block"]["header"]["app_hash"], h
        # a proof query served by the joiner verifies against the header
        who = sender.recipients[len(sender.recipients) // 3]
        q = subprocess.run(SIDECHAIN + ["query", "balance", who, "--denom", "stake", "--node", joiner.rpc_url,
                                        "--prove", "--output", "json"], capture_output=True, text=True, cwd=REPO,
                           timeout=60)
        assert q.returncode == 0, q.stderr
        doc = json.loads(q.stdout)
        assert int(doc["amount"]) >= 1000 and doc["proof"]["verified"] is True, doc
        print(f"joined by state sync from height {restored} in {joined_s:.1f}s ({sender.sent} transfers)")
    finally:
        joiner.kill()
    wait_until(lambda: joiner.proc is None or joiner.proc.poll() is not None, 10, "the joiner to exit")
