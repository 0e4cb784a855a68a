"""`bridge deposit` and `bridge status` end to end: real geth, 4 real validators watching it, the CLI as a
user runs it (a subprocess, no terminal, keys from the testnet's bridge.json).

ETH, the test ERC-20 and a fee-on-transfer token each arrive exactly once, at the amount the contract credited;
`bridge status --supply` finds the invariant holding; `bridge status deposit N --prove` verifies the record.
These run where the chain has the bridge module (its /bridge/* queries); a build without it skips them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge.l1 import L1Client
from genesis import l1 as l1net
from sidechain.types import bech32_address
from tests.support.cli import Run, bridge_argv, run_subprocess, sidechain_argv
from tests.support.testnet import TestNetwork, wait_until

if TYPE_CHECKING:
    from tests.integration.bridge.conftest import BridgeNetwork

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not l1net.bridge_module_enabled(),
                       reason="this build's chain has no bridge module (sidechain.module.CHAIN), so no /bridge/state"),
]

MINT_TIMEOUT = "180"  # seconds: L1 confirmations, then one or two sidechain blocks, on a loaded 2-core machine


@pytest.fixture(scope="module")
def network(bridge_network: BridgeNetwork) -> TestNetwork:
    return bridge_network.tn  # the package's network (conftest.py), shared with test_deposits_network.py


def bridge_json(net: TestNetwork) -> Path:
    return net.net.root / l1net.BRIDGE_JSON


def fresh_recipient(net: TestNetwork, tag: str) -> str:
    """A sidechain address nobody has used (its balances start at 0), with the chain's prefix."""
    prefix = net.net.keys[0].address.rpartition("1")[0]
    return bech32_address(os.urandom(12) + tag.encode().ljust(8, b"\0")[:8], prefix)


def bridge(net: TestNetwork, *args: str, timeout: float = 300) -> Run:
    return run_subprocess(bridge_argv(*args, "--node", net.url(0), "--bridge-config", str(bridge_json(net))),
                          timeout=timeout)


def deposit(net: TestNetwork, amount: str, to: str, *extra: str, key: str = "alice") -> dict[str, Any]:
    r = bridge(net, "deposit", amount, "--to", to, "--l1-key", key, "--wait-timeout", MINT_TIMEOUT, "-o", "json",
               *extra)
    assert r.code == 0, r.stderr
    assert r.stderr == ""  # no terminal and --output json: one JSON object on stdout, nothing else
    out = json.loads(r.stdout)
    assert out["status"] == "minted" and out["recipient"] == to, out
    return dict(out)


def balance(net: TestNetwork, address: str, denom: str, node: int = 0) -> int:
    r = run_subprocess(sidechain_argv("query", "balance", address, "--denom", denom, "--node", net.url(node),
                                      "-o", "json"))
    assert r.code == 0, r.stderr
    return int(json.loads(r.stdout)["amount"])


def l1_client(net: TestNetwork) -> L1Client:
    assert net.bridge is not None
    return L1Client.connect(net.bridge.l1_rpc)


def test_eth_deposit_arrives_once(network: TestNetwork) -> None:
    to = fresh_recipient(network, "eth")
    out = deposit(network, "0.5eth", to)
    amount = 5 * 10**17
    assert (out["denom"], out["amount"], out["balance"]) == ("l1/eth", str(amount), str(amount))
    height = int(out["height"])
    network.wait_height(network.indices, height + 3)
    assert [balance(network, to, "l1/eth", i) for i in network.indices] == [amount] * 4  # every node, once
    status = bridge(network, "status", "deposit", str(out["event_nonce"]), "--prove", "-o", "json")
    assert status.code == 0, status.stderr
    record = json.loads(status.stdout)
    assert (record["l1_tx"], record["height"], record["proof"]["verified"]) == (out["l1_tx"], height, True)


def test_erc20_deposit_approves_exactly_and_arrives_once(network: TestNetwork) -> None:
    assert network.bridge is not None and network.bridge.erc20 is not None
    token = network.bridge.erc20
    client = l1_client(network)
    erc20 = client.contract(l1net.TOKEN_ARTIFACT, token)
    bob = next(k for k in network.bridge.l1_keys if k.name == "bob")
    to = fresh_recipient(network, "erc20")
    out = deposit(network, "2.5", to, "--token", token, key="bob")
    amount = 25 * 10**17
    denom = "l1/" + token.lower()
    assert (out["denom"], out["amount"]) == (denom, str(amount))
    assert int(erc20.functions.allowance(bob.address, network.bridge.contract).call()) == 0  # exactly used up
    approvals = erc20.events.Approval().get_logs(from_block=0, argument_filters={"owner": bob.address})
    assert [int(a["args"]["value"]) for a in approvals] == [amount]
    network.wait_height(network.indices, int(out["height"]) + 3)
    assert balance(network, to, denom) == amount


def test_fee_on_transfer_token_mints_the_credited_amount(network: TestNetwork) -> None:
    assert network.bridge is not None
    client = l1_client(network)
    dev = client.w3.eth.accounts[0]
    fot = client.deploy("FeeOnTransferERC20", [100], dev)  # 1 % fee
    carol = next(k for k in network.bridge.l1_keys if k.name == "carol")
    client.transact(fot.functions.mint(carol.address, 10**6), dev)
    to = fresh_recipient(network, "fot")
    out = deposit(network, "100000", to, "--token", fot.address, key="carol")
    denom = "l1/" + fot.address.lower()
    assert (out["denom"], out["amount"]) == (denom, "99000")
    network.wait_height(network.indices, int(out["height"]) + 3)
    assert balance(network, to, denom) == 99000


def test_status_and_supply_invariant(network: TestNetwork) -> None:
    to = fresh_recipient(network, "status")
    deposit(network, "1gwei", to, key="dave")
    r = bridge(network, "status", "--supply", "--prove", "-o", "json")
    assert r.code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True and {a["denom"] for a in report["assets"]} >= {"l1/eth"}
    assert all(a["proof"]["verified"] for a in report["assets"])
    eth = next(a for a in report["assets"] if a["denom"] == "l1/eth")
    assert int(eth["sidechain_supply"]) >= 5 * 10**17 + 10**9 and int(eth["surplus"]) >= 0

    def status_agrees() -> bool:
        s = bridge(network, "status", "-o", "json")
        assert s.code == 0, s.stderr
        st = json.loads(s.stdout)
        return bool(st["sidechain"]["last_event_nonce"] == st["l1"]["event_nonce"])

    wait_until(status_agrees, 60, "every L1 event applied on the sidechain")
    text = bridge(network, "status")
    assert text.code == 0 and "supply invariant at L1 block" in text.stdout and "holds" in text.stdout, text
    not_deposit = bridge(network, "status", "deposit", "1")  # the constructor's ValsetUpdated
    assert not_deposit.code == 1 and not_deposit.stdout == ""
    assert not_deposit.stderr == "error: event 1 is applied on the sidechain but it is not a deposit (a valset " \
                                 "update or an executed batch)\n"
    later = bridge(network, "status", "deposit", "999999")
    assert later.code == 1 and later.stdout.startswith("deposit 999999 is not yet applied: the sidechain"), later
