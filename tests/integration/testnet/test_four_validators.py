"""Four validators built by genesis.network, one network shared by the module (each test restarts
what it stops): agreement, a transfer across nodes, one validator down, two down (a halt)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey

from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import check_agreement
from sidechain.types import address_of_pubkey, bech32_address
from tests.support.node import REPO, SIDECHAIN, rpc
from tests.support.testnet import TestNetwork, wait_until

pytestmark = pytest.mark.integration

ALL = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def tn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestNetwork]:
    t = TestNetwork.build(tmp_path_factory.mktemp("testnet") / "net", n=4)
    try:
        t.start()
        t.wait_height(ALL, 1, timeout=120)
        yield t
    finally:
        t.kill_all()


@pytest.fixture
def net(tn: TestNetwork) -> Iterator[TestNetwork]:
    """The shared network with all four nodes running at the start and the end of each test."""
    yield tn
    down = [i for i in ALL if tn.procs.pid(i) is None]
    if down:
        tn.start(down)
    tn.wait_height(ALL, max(tn.height(i) for i in ALL if i not in down) + 1, timeout=120)


def test_reaches_height_20_with_equal_app_hashes(net: TestNetwork) -> None:
    net.wait_height(ALL, 20, timeout=120)
    # Every height from 1 to 20, on all four nodes: same block hash, same non-empty app hash.
    net.assert_agree(ALL, range(1, 21))
    # The validator set is the one InitChain bonded from app_state.staking: power = self-delegation
    # // power_reduction (the default spec's 100000000 each: 100).
    genesis = json.loads((net.net.root / "genesis.json").read_text())
    expected = {v["consensus_pubkey"]: int(v["self_delegation"]) // 1_000_000
                for v in genesis["app_state"]["staking"]["validators"]}
    assert genesis["validators"] == [] and list(expected.values()) == [100] * 4
    for i in ALL:
        assert net.validators(i, 1) == expected
    # Consensus params from genesis: vote extensions from height 1, 4 MiB blocks, evidence limits.
    cp = rpc(net.url(3), "consensus_params", height=1)["consensus_params"]
    assert cp["abci"]["vote_extensions_enable_height"] == "1"
    assert cp["block"]["max_bytes"] == str(4 * 1024 * 1024)
    assert cp["evidence"]["max_age_num_blocks"] == "100000"
    assert cp["evidence"]["max_bytes"] == str(1024 * 1024)
    # Each node is connected to the three others.
    for i in ALL:
        assert int(rpc(net.url(i), "net_info")["n_peers"]) == 3


def _has_commands() -> str:
    """'' when `sidechain tx send` and `sidechain query balance` exist, else which is missing."""
    from sidechain.cli import cli

    missing = []
    for group, cmd in (("tx", "send"), ("query", "balance")):
        g = cli.commands.get(group)
        if g is None or cmd not in getattr(g, "commands", {}):
            missing.append(f"`sidechain {group} {cmd}`")
    return " and ".join(missing)


def _stake_of(doc: object) -> int:
    """The stake amount in a `query balance --output json` answer: {"address", "balances", "height"}."""
    assert isinstance(doc, dict) and isinstance(doc.get("balances"), list), doc
    return sum(int(c["amount"]) for c in doc["balances"] if c["denom"] == "stake")


_MISSING = _has_commands()


@pytest.mark.skipif(bool(_MISSING), reason=f"{_MISSING} not there yet (being written); un-skips itself then")
def test_transfer_sent_to_node1_is_queryable_on_node4(net: TestNetwork) -> None:
    client = net.net.keyring  # the client home with the funded test keys
    alice = next(k.address for k in net.net.keys if k.name == "alice")
    to = bech32_address(address_of_pubkey(bytes(SigningKey.generate().verify_key)), "side")

    def balance_on_node4(address: str) -> int:
        q = subprocess.run(
            SIDECHAIN + ["query", "balance", address, "--node", net.url(3), "--output", "json"],
            capture_output=True, text=True, cwd=REPO, timeout=30,
        )
        assert q.returncode == 0, q.stderr
        return _stake_of(json.loads(q.stdout))

    before = balance_on_node4(alice)
    assert balance_on_node4(to) == 0
    send = subprocess.run(
        SIDECHAIN + ["tx", "send", "alice", to, "25stake", "--fee", "1stake", "--home", str(client),
                     "--node", net.url(0)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "SIDECHAIN_KEYRING_PASSPHRASE": TEST_PASSPHRASE},
    )
    assert send.returncode == 0, send.stderr
    wait_until(lambda: balance_on_node4(to) == 25, 60, "the transfer to show on node 4")
    assert balance_on_node4(alice) == before - 26  # 25 sent + 1 fee


def test_one_validator_down_others_continue_and_it_catches_up(net: TestNetwork) -> None:
    net.stop([3])
    h0 = max(net.height(i) for i in (0, 1, 2))
    net.wait_height([0, 1, 2], h0 + 10, timeout=120)  # 3 of 4 = 75% of the power > 2/3
    net.assert_agree([0, 1, 2], range(h0, h0 + 10))
    net.start([3])
    target = max(net.height(i) for i in (0, 1, 2)) + 2
    net.wait_height(ALL, target, timeout=120)
    # It has the blocks made while it was down, identical to the others'.
    net.assert_agree(ALL, [h0 + 1, h0 + 5, h0 + 9, target])


def test_two_of_four_down_halts_and_resumes_when_one_returns(net: TestNetwork) -> None:
    net.stop([2, 3])
    time.sleep(1.5)  # a block already voted on when they stopped may still commit
    halted = {i: net.height(i) for i in (0, 1)}
    time.sleep(5)  # at ~0.3 s a block, about 15 blocks would be made if 50% of the power could commit
    assert {i: net.height(i) for i in (0, 1)} == halted, "a block was committed with only half the power"
    net.start([2])
    top = max(halted.values())
    net.wait_height([0, 1, 2], top + 3, timeout=120)
    net.assert_agree([0, 1, 2], [top, top + 1, top + 3])


def test_testnet_status_command_reports_agreement(net: TestNetwork) -> None:
    cmd = [sys.executable, "-m", "genesis.testnet", "--dir", str(net.net.root), "status"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = [ln.split() for ln in lines if ln.startswith("  val")]
    assert [r[1] for r in rows] == ["running"] * 4, out.stdout
    assert all(int(r[2]) >= 1 and r[4] == "3" for r in rows), out.stdout
    assert any(ln.startswith("agree: at height") and "all 4 running nodes" in ln for ln in lines), out.stdout
    ag = check_agreement(net.net.nodes)
    assert ag.agree and ag.height >= 1


def test_node_ids_and_keys_match_cometbft(net: TestNetwork) -> None:
    """The node ids computed in Python are the ones CometBFT itself reports."""
    for n in net.net.nodes:
        st = rpc(n.rpc_url, "status")
        assert st["node_info"]["id"] == n.node_id
        assert st["validator_info"]["address"] == n.validator_address
        assert st["validator_info"]["voting_power"] == str(n.power)
    # The funded test keys: one per validator operator and per named account, files mode 0600.
    files = sorted((net.net.keyring / "keyring").glob("*.key.json"))
    assert [f.name.split(".")[0] for f in files] == sorted(k.name for k in net.net.keys)
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
