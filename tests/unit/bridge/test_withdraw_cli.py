"""`bridge withdraw`, `bridge cancel`, `bridge status withdrawal|batch|valset`, `bridge status --supply` with
withdrawals in flight, and `bridge guardian pause|unpause|set-daily-limit`, on the in-process L1 (the real
contract pays, defers or times out) against a sidechain node faked at its RPC seam
(tests/unit/bridge/fake_withdrawals.py: the chain's withdrawal records, batches signed with real validator keys
over the contract's digests, a relayer that submits them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

import sidechain.client as client_mod
import sidechain.commands.common as common
from bridge import deposit as deposit_mod
from bridge import withdraw as withdraw_mod
from bridge.cli import main
from bridge.l1 import L1Client
from bridge.protocol import ETH_TOKEN, Valset
from sidechain import keyring as kr
from tests.support.bridge_l1.validators import minimum_signers, sign_by
from tests.unit.bridge.conftest import ONE_ETH, World, fresh_address
from tests.unit.bridge.fake_chain import URL
from tests.unit.bridge.fake_withdrawals import FakeWithdrawalNode

PASS = "correct horse battery"
FEE = 10**15  # the relayer's fee in the tests' withdrawals (wei)
GUARDIAN_KEY = "0x" + keccak(text="withdraw-cli-guardian").hex()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A client home with keys alice and bob; their bech32 addresses."""
    home = tmp_path_factory.mktemp("withdraw") / "client"
    ring = kr.Keyring(home, kr.KdfCost.MIN)
    alice = ring.add("alice", PASS, seed=keccak(text="alice")).bech32("side")
    bob = ring.add("bob", PASS, seed=keccak(text="bob")).bech32("side")
    return home, alice, bob


def _bytes(bech32: str) -> bytes:
    from sidechain.types import bech32_decode

    return bech32_decode(bech32, "side")


@pytest.fixture
def node(world: World, keys: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWithdrawalNode]:
    """The fake node behind every --node; alice holds 10 ETH (deposited on L1, so the contract holds it), 1000
    TST and 1000 stake for tx fees."""
    home, alice, bob = keys
    fake = FakeWithdrawalNode(world)
    monkeypatch.setattr(common, "NodeClient", lambda url, source="": fake)
    monkeypatch.setattr(L1Client, "connect", classmethod(lambda cls, url, expected=None, **kw: world.l1.client))
    for module in (deposit_mod, withdraw_mod):
        monkeypatch.setattr(module, "POLL_INTERVAL", 0.0)
        monkeypatch.setattr(module, "RETRY_INTERVAL", 0.0)
    monkeypatch.setattr(client_mod, "POLL_SECONDS", 0.0)
    monkeypatch.setenv("SIDECHAIN_KEYRING_PASSPHRASE", PASS)
    for name in ("BRIDGE_PRIVATE_KEY", "BRIDGE_PASSPHRASE", "BRIDGE_KEYSTORE", "BRIDGE_PASSPHRASE_FILE",
                 "BRIDGE_L1_RPC", "BRIDGE_CONTRACT", "BRIDGE_CONFIG", "SIDECHAIN_HOME"):
        monkeypatch.delenv(name, raising=False)
    world.bridge.deposit_eth(_bytes(alice), 10 * ONE_ETH, world.user)
    world.send(world.token.functions.mint(world.user, 1000 * 10**18), world.user)
    world.send(world.token.functions.approve(world.bridge.address, 1000 * 10**18), world.user)
    world.bridge.deposit_erc20(world.token.address, 1000 * 10**18, _bytes(alice), world.user)
    for _ in range(fake.confirmations + 1):
        fake.tick()
    assert fake.last_event_nonce == 3
    fake.fund(alice, "stake", 1000)
    fake.fund(bob, "stake", 1000)
    yield fake


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def tst(world: World) -> str:
    return "l1/" + world.token.address.lower()


def withdraw(keys: tuple[Path, str, str], coin: str, to: str, *extra: str, fee: str | None = None,
             key: str = "alice") -> tuple[str, ...]:
    home = keys[0]
    return ("withdraw", coin, "--to", to, "--fee", fee if fee is not None else f"{FEE}l1/eth", "--from", key,
            "--home", str(home), "--node", URL, *extra)


L1 = ("--l1-rpc", "http://l1.invalid:8545")


# -- paid -----------------------------------------------------------------------------------------------------


def test_paid_json_with_l1(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                           node: FakeWithdrawalNode) -> None:
    to = fresh_address(1)
    relayer_before = world.l1.client.balance(world.relayer)
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", to, *L1, "-o", "json"))
    assert code == 0, err
    assert err == ""  # --output json without a terminal: one JSON object on stdout, nothing else
    result = json.loads(out)
    assert {k: result[k] for k in ("status", "withdrawal_id", "batch_nonce", "recipient", "amount", "fee", "denom")} \
        == {"status": "paid", "withdrawal_id": 1, "batch_nonce": 1, "recipient": to, "amount": str(ONE_ETH),
            "fee": str(FEE), "denom": "l1/eth"}
    receipt = world.l1.w3.eth.get_transaction_receipt(result["l1_tx"])
    assert [e.name for e in world.bridge.events(receipt)][-1] == "BatchExecuted"
    assert result["l1_block"] == receipt["blockNumber"] and result["txhash"] in node.txs
    assert result["height"] == int(node.txs[result["txhash"]]["height"])
    assert world.l1.client.balance(to) == ONE_ETH  # exactly the amount reached the fresh address
    assert world.l1.client.balance(world.relayer) > relayer_before - 10**16  # paid the fee, spent some gas
    assert node.balances[(keys[1], "l1/eth")] == 10 * ONE_ETH - ONE_ETH - FEE
    assert node.balances[(keys[1], "stake")] == 999  # the chain's minimum tx fee, in the staking denom


def test_text_shows_each_step(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                              node: FakeWithdrawalNode) -> None:
    to = fresh_address(2)
    node.batch_interval = 2  # one look while it is queued
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH // 2}l1/eth", to, *L1, fee="0"))
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("tx ") and f"withdrawal 1 of {ONE_ETH // 2}l1/eth (fee 0) to {to}" in lines[0]
    assert any(line.startswith("queued: position 1 in the l1/eth queue") for line in lines), lines
    assert any(line.startswith("batched: batch 1 of 1 withdrawal(s), timeout at L1 block") for line in lines)
    signed = [line for line in lines if line.startswith("signed ")]
    assert signed[0].startswith("signed 25.00% of power (1 validator; more than 66.66% needed)"), signed
    assert signed[-1].startswith("signed 75.00% of power (3 validators): ready to relay"), signed
    assert any(line.startswith("executed on L1: tx 0x") for line in lines)
    assert lines[-1] == f"paid {ONE_ETH // 2}l1/eth to {to} on L1"
    assert out.startswith(f"paid: withdrawal 1 of {ONE_ETH // 2}l1/eth reached {to} (batch 1, L1 tx 0x")


def test_paid_without_l1_from_the_chains_record(capsys: pytest.CaptureFixture[str], world: World,
                                                keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    to = fresh_address(3)
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", to, "-o", "json"))
    assert code == 0, err
    result = json.loads(out)
    batch = node.batches[1]
    assert result["status"] == "paid" and result["chain_status"] == "executed"
    assert (result["l1_tx"], result["l1_block"]) == (batch["l1_tx"], batch["l1_block"])
    assert result["done_height"] == node.withdrawals[1]["done_height"]
    assert world.l1.client.balance(to) == ONE_ETH


def test_erc20_paid(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                    node: FakeWithdrawalNode) -> None:
    to = fresh_address(4)
    denom = tst(world)
    code, out, err = run(capsys, *withdraw(keys, f"{25 * 10**18}{denom}", to, *L1, "-o", "json", fee="7"))
    assert code == 0, err
    result = json.loads(out)
    assert (result["status"], result["denom"], result["fee"]) == ("paid", denom, "7")
    assert int(world.token.functions.balanceOf(to).call()) == 25 * 10**18
    assert int(world.token.functions.balanceOf(world.relayer).call()) == 7


# -- deferred, refunded ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_l1", [True, False])
def test_deferred_says_how_to_claim(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                    node: FakeWithdrawalNode, with_l1: bool) -> None:
    refuser = world.deploy("RevertingRecipient")
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", refuser.address, *(L1 if with_l1 else ())))
    assert code == 3, err
    assert out.startswith(f"deferred: withdrawal 1 of {ONE_ETH}l1/eth to {refuser.address} was executed on L1")
    assert (f"`bridge claim --l1-rpc URL --contract {world.bridge.address} --token {ETH_TOKEN} --to "
            "0xANOTHER_ADDRESS --keystore RECIPIENT_KEY.json`") in out
    assert world.bridge.deferred(ETH_TOKEN, refuser.address) == ONE_ETH
    code, out, _ = run(capsys, "status", "withdrawal", "1", "--node", URL, "-o", "json", *(L1 if with_l1 else ()))
    assert code == 3 and json.loads(out)["status"] == "deferred"


def test_refunded_after_the_l1_timeout(capsys: pytest.CaptureFixture[str], world: World,
                                       keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    node.relay = False  # no relayer: the batch times out on L1
    node.batch_timeout = 4
    before = node.balances[(keys[1], "l1/eth")]
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(5), *L1))
    assert code == 4, err
    assert any(line.startswith("L1 reached block") and "waiting for the sidechain's refund" in line
               for line in err.splitlines()), err
    assert out.startswith(f"refunded: withdrawal 1's batch 1 timed out on L1; {ONE_ETH + FEE}l1/eth (amount + fee) "
                          f"were minted back to {keys[1]} at height")
    assert node.balances[(keys[1], "l1/eth")] == before
    code, out, _ = run(capsys, "status", "withdrawal", "1", "--node", URL, "-o", "json")
    assert code == 4 and json.loads(out)["status"] == "refunded"
    assert not world.bridge.batch_executed(1)


def test_refunded_json(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                       node: FakeWithdrawalNode) -> None:
    node.relay = False
    node.batch_timeout = 4
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(6), "-o", "json"))
    assert code == 4 and err == ""
    result = json.loads(out)
    assert (result["status"], result["withdrawal_id"], result["batch_nonce"], result["l1_tx"]) == (
        "refunded", 1, 1, None)


# -- timeout, Ctrl-C, --no-wait ---------------------------------------------------------------------------------


def test_timeout_says_how_to_resume(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                    node: FakeWithdrawalNode) -> None:
    node.relay = False
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(7), "--timeout", "0", "-o",
                                           "json"))
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error.startswith("not paid within 0 s: withdrawal 1 is "), error
    assert error.endswith(f"keep following it with `bridge status withdrawal 1 --node {URL} --wait`")
    # and resuming it follows it to the end
    node.relay = True
    code, out, err = run(capsys, "status", "withdrawal", "1", "--wait", "--node", URL, *L1, "-o", "json")
    assert code == 0 and json.loads(out)["status"] == "paid", err


def test_ctrl_c_says_how_to_resume(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                   node: FakeWithdrawalNode) -> None:
    def interrupt(path: str) -> None:
        if path == "/bridge/withdrawal/1":
            raise KeyboardInterrupt

    node.on_query = interrupt
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(8)))
    assert code == 130 and out == ""
    assert err.splitlines()[-1] == (f"interrupted: withdrawal 1 is on its way; follow it with `bridge status "
                                    f"withdrawal 1 --node {URL} --wait`")


def test_no_wait_returns_once_queued(capsys: pytest.CaptureFixture[str], world: World,
                                     keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(9), "--no-wait", "-o", "json"))
    assert code == 0, err
    result = json.loads(out)
    assert (result["status"], result["withdrawal_id"], result["amount"]) == ("queued", 1, str(ONE_ETH))
    assert node.withdrawals[1]["status"] == "queued"


def test_the_chain_refusing_the_tx_is_one_line(capsys: pytest.CaptureFixture[str], world: World,
                                                keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    node.reject_next = (12, "bridge", "the withdrawal queue of l1/eth is full (10000 waiting)")
    code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(10)))
    assert code == 1 and one_line(err) == "error: rejected: the withdrawal queue of l1/eth is full (10000 waiting)\n"


# -- refused before signing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coin", "to", "fee", "message"),
    [
        ("5stake", "fresh", "0", "COIN 5stake: 'stake' is not a bridged denom: only l1/eth and l1/0x<token> go back "
                                 "to L1"),
        ("5l1/0x" + "ee" * 20, "fresh", "0", "this chain has no l1/0x" + "ee" * 20 + " (nothing of it was "
                                            "deposited; bridged denoms: l1/0x"),
        ("5l1/0x" + "EE" * 20, "fresh", "0", "write the token address in lowercase: 5l1/0x" + "ee" * 20),
        ("0l1/eth", "fresh", "0", "the amount to withdraw must be more than 0"),
        ("5l1/eth", "0x" + "00" * 20, "0", "--to is the zero address: the coins would be lost"),
        ("5l1/eth", "contract", "0", "is the bridge contract itself"),
        ("5l1/eth", "0x12", "0", "--to '0x12'"),
        ("5l1/eth", "fresh", "1stake", "--fee 1stake: the fee is in stake but the withdrawal in l1/eth: the relayer is "
                                      "paid on L1 in the withdrawn token"),
        (f"{10 * ONE_ETH}l1/eth", "fresh", "1", f"the withdrawal needs {10 * ONE_ETH + 1}l1/eth (amount "
                                                f"{10 * ONE_ETH} + fee 1)"),
        ("5l1/eth", "fresh", "x", "--fee 'x': invalid coin"),
    ],
)
def test_refused_before_signing(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                node: FakeWithdrawalNode, coin: str, to: str, fee: str, message: str) -> None:
    address = {"fresh": fresh_address(11), "contract": world.bridge.address}.get(to, to)
    code, out, err = run(capsys, *withdraw(keys, coin, address, fee=fee))
    assert code == 1 and out == ""
    assert message in one_line(err), err
    assert node.sequences == {} and node.mempool == [] and node.withdrawals == {}  # nothing signed or sent


def test_insufficient_for_the_tx_fee(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                     node: FakeWithdrawalNode) -> None:
    code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(12), "--tx-fee", "5000stake"))
    assert code == 1 and "has 1000stake, the tx fee is 5000stake" in one_line(err)
    code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(12), "--tx-fee", "1l1/eth"))
    assert code == 1 and "fees are not accepted in 'l1/eth'" in one_line(err)
    assert node.sequences == {}


# -- cancel -----------------------------------------------------------------------------------------------------


def test_cancel_a_queued_withdrawal(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                                    node: FakeWithdrawalNode) -> None:
    home, alice, _ = keys
    node.batch_interval = 1000  # it stays queued
    before = node.balances[(alice, "l1/eth")]
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(13), "--no-wait"))
    assert code == 0, err
    code, out, err = run(capsys, "cancel", "1", "--from", "bob", "--home", str(home), "--node", URL)
    assert code == 1 and f"withdrawal 1 is not yours: its sender is {alice}" in one_line(err)
    code, out, err = run(capsys, "cancel", "1", "--from", "alice", "--home", str(home), "--node", URL, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["status"] == "cancelled" and node.withdrawals[1]["status"] == "cancelled"
    assert node.balances[(alice, "l1/eth")] == before
    code, _, err = run(capsys, "cancel", "1", "--from", "alice", "--home", str(home), "--node", URL)
    assert code == 1 and "withdrawal 1 is cancelled: only a queued withdrawal can be cancelled" in one_line(err)
    code, _, err = run(capsys, "cancel", "9", "--from", "alice", "--home", str(home), "--node", URL)
    assert code == 1 and "no withdrawal 9 on this chain" in one_line(err)


# -- bridge status withdrawal | batch | valset ------------------------------------------------------------------


def test_status_withdrawal_while_queued_and_when_paid(capsys: pytest.CaptureFixture[str], world: World,
                                                      keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    node.batch_interval = 1000
    for i in range(2):
        code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(20 + i), "--no-wait",
                                             fee=str(FEE * (i + 1))))
        assert code == 0, err
    code, out, _ = run(capsys, "status", "withdrawal", "1", "--node", URL)
    assert code == 1  # on its way
    assert "queued: position 2 in the l1/eth queue" in out  # withdrawal 2 pays a higher fee: it goes first
    node.batch_interval = 0
    code, out, err = run(capsys, "status", "--node", URL, "withdrawal", "1", "--wait", *L1)
    assert code == 0, err
    code, out, err = run(capsys, "status", "withdrawal", "1", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "paid" and shown["withdrawal"]["status"] == "executed"
    assert shown["batch"]["nonce"] == 1 and [w["id"] for w in shown["batch"]["withdrawals"]] == [2, 1]
    code, _, err = run(capsys, "status", "withdrawal", "7", "--node", URL)
    assert code == 1 and "no withdrawal 7 on this chain" in one_line(err)


def test_status_batch(capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str],
                      node: FakeWithdrawalNode) -> None:
    node.relay = False
    code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(30), "--no-wait"))
    assert code == 0, err
    for _ in range(4):
        node.tick()
    code, out, err = run(capsys, "status", "batch", "1", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    batch = json.loads(out)
    assert batch["status"] == "pending" and batch["ready"] is True and len(batch["signatures"]) >= 3
    assert batch["l1"]["executed"] is False and batch["l1"]["l1_tx"] is None
    assert batch["digest"] == node.batches[1]["digest"]
    code, out, _ = run(capsys, "status", "batch", "1", "--node", URL)
    assert code == 0 and "signed 100.00% of power by 4 validator(s), ready since height" in out
    node.relay = True
    node.tick()
    code, out, err = run(capsys, "status", "batch", "1", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    batch = json.loads(out)
    assert batch["l1"]["executed"] is True and batch["l1"]["l1_tx"].startswith("0x")
    code, _, err = run(capsys, "status", "batch", "5", "--node", URL)
    assert code == 1 and "no batch 5 on this chain" in one_line(err)


def test_status_valset(capsys: pytest.CaptureFixture[str], world: World, node: FakeWithdrawalNode) -> None:
    code, out, err = run(capsys, "status", "valset", "0", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    current = json.loads(out)
    assert current["status"] == "current" and current["l1"]["is_current"] is True
    assert current["l1"]["valset_nonce"] == 0
    new = Valset.of(1, world.valset.validators, world.valset.powers)
    node.add_valset(new, signers=[0, 2])
    code, out, err = run(capsys, "status", "valset", "latest", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    latest = json.loads(out)
    assert (latest["nonce"], latest["status"], latest["ready"], len(latest["signatures"])) == (1, "pending", False, 2)
    assert latest["l1"]["is_current"] is False
    code, out, _ = run(capsys, "status", "valset", "latest", "--node", URL)
    assert code == 0 and out.startswith("valset 1: 4 validator(s)") and out.count(" signed") >= 2
    code, _, err = run(capsys, "status", "valset", "9", "--node", URL)
    assert code == 1 and "no valset 9 on this chain" in one_line(err)


# -- the supply invariant with withdrawals in flight ------------------------------------------------------------


def _eth_row(out: str) -> dict[str, Any]:
    return {a["denom"]: a for a in json.loads(out)["assets"]}["l1/eth"]


def test_supply_counts_the_queue_and_the_batches(capsys: pytest.CaptureFixture[str], world: World,
                                                 keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    node.batch_interval = 1000
    code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(40), "--no-wait"))
    assert code == 0, err
    code, out, err = run(capsys, "status", "--supply", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    row = _eth_row(out)
    assert (row["sidechain_supply"], row["withdrawal_queue"], row["pending_batches"], row["surplus"]) == (
        str(9 * ONE_ETH - FEE), str(ONE_ETH + FEE), "0", "0")
    node.batch_interval, node.relay = 0, False
    node.tick()
    code, out, err = run(capsys, "status", "--supply", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    row = _eth_row(out)
    assert (row["withdrawal_queue"], row["pending_batches"], row["surplus"]) == ("0", str(ONE_ETH + FEE), "0")
    code, out, _ = run(capsys, "status", "--node", URL, *L1)
    assert code == 0 and f"withdrawals (amount + fee): l1/eth: queue 0, batches {ONE_ETH + FEE}" in out
    # the chain holding more than L1 backs: a shortfall, exit 1
    node.supply["l1/eth"] += 1
    node.commit()
    code, out, _ = run(capsys, "status", "--supply", "--node", URL, *L1)
    assert code == 1 and f"batches {ONE_ETH + FEE}: SHORTFALL 1" in out


def test_supply_leaves_out_a_batch_l1_executed_at_the_audit_height(
    capsys: pytest.CaptureFixture[str], world: World, keys: tuple[Path, str, str], node: FakeWithdrawalNode
) -> None:
    """A BatchExecuted in the audit block after last_event_nonce (not applied yet): the contract's balance there
    has paid the batch, which the chain still counts in in_batches; it is not counted twice."""
    code, out, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", fresh_address(41), *L1, "-o", "json"))
    assert code == 0 and json.loads(out)["chain_status"] == "batched", err  # paid on L1, not applied yet
    l1_block = json.loads(out)["l1_block"]
    node.auto_tick, node.apply_events = False, False
    node.observed = l1_block  # as if an extension cut at its cap put the audit height on the execution's block
    node.commit()
    code, out, err = run(capsys, "status", "--supply", "--node", URL, *L1, "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    row = _eth_row(out)
    assert report["l1_block"] == l1_block and row["pending_batches"] == "0" and row["surplus"] == "0", row


# -- bridge guardian --------------------------------------------------------------------------------------------


@pytest.fixture
def guardian(world: World, monkeypatch: pytest.MonkeyPatch) -> LocalAccount:
    """A local key made the contract's guardian (setGuardian with the validators' signatures)."""
    account: LocalAccount = Account.from_key(GUARDIAN_KEY)
    world.l1.w3.eth.send_transaction({"from": world.user, "to": account.address, "value": ONE_ETH})
    digest = world.bridge.domain.guardian_change_digest(1, account.address)
    sigs = sign_by(world.valset, world.validators, digest, minimum_signers(world.valset))
    world.bridge.set_guardian(account.address, 1, world.valset, sigs, world.user)
    for name in ("BRIDGE_KEYSTORE", "BRIDGE_PASSPHRASE", "BRIDGE_L1_RPC", "BRIDGE_CONTRACT", "BRIDGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", GUARDIAN_KEY)
    monkeypatch.setattr(L1Client, "connect", classmethod(lambda cls, url, expected=None, **kw: world.l1.client))
    return account


def test_guardian_pause_then_unpause(capsys: pytest.CaptureFixture[str], world: World,
                                     guardian: LocalAccount) -> None:
    where = (*L1, "--contract", world.bridge.address)
    code, out, err = run(capsys, "guardian", "pause", *where, "--output", "json")
    assert code == 0, err
    result = json.loads(out)
    assert world.bridge.paused() is True and result["paused"] is True and result["was_paused"] is False
    receipt = world.l1.w3.eth.get_transaction_receipt(result["l1_tx"])
    assert [e.name for e in world.bridge.events(receipt)] == ["Paused"] and receipt["from"] == guardian.address
    code, out, err = run(capsys, "guardian", "pause", *where)
    assert code == 0 and out.startswith(f"paused the bridge {world.bridge.address} (it already was): L1 tx 0x")
    code, out, err = run(capsys, "guardian", "unpause", *where)
    assert code == 0 and out.startswith(f"unpaused the bridge {world.bridge.address}: L1 tx 0x"), err
    assert world.bridge.paused() is False


def test_guardian_daily_limit(capsys: pytest.CaptureFixture[str], world: World, guardian: LocalAccount) -> None:
    where = (*L1, "--contract", world.bridge.address)
    code, out, err = run(capsys, "guardian", "set-daily-limit", "eth", "5eth", *where)
    assert code == 0, err
    assert out.startswith(f"daily limit of ETH ({ETH_TOKEN}) set to 5 ETH ({5 * ONE_ETH} base units), was "
                          "unlimited: L1 tx 0x")
    assert world.bridge.daily_limit(ETH_TOKEN) == 5 * ONE_ETH
    code, out, err = run(capsys, "guardian", "set-daily-limit", "l1/" + world.token.address.lower(), "2.5", *where,
                         "--output", "json")
    assert code == 0, err
    assert json.loads(out)["limit"] == str(25 * 10**17) and world.bridge.daily_limit(world.token.address) == 25 * 10**17
    code, out, err = run(capsys, "guardian", "set-daily-limit", ETH_TOKEN, "unlimited", *where)
    assert code == 0 and "set to unlimited, was 5 ETH" in out and world.bridge.daily_limit(ETH_TOKEN) == 0
    code, _, err = run(capsys, "guardian", "set-daily-limit", "dollars", "5", *where)
    assert code == 1 and "TOKEN 'dollars': give eth, an ERC-20 address" in one_line(err)


def test_not_the_guardian_is_refused_before_sending(capsys: pytest.CaptureFixture[str], world: World,
                                                    guardian: LocalAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    other = Account.from_key("0x" + keccak(text="not-the-guardian").hex())
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", other.key.hex())
    for args in (("pause",), ("unpause",), ("set-daily-limit", "eth", "1")):
        code, _, err = run(capsys, "guardian", *args, *L1, "--contract", world.bridge.address)
        assert code == 1
        assert one_line(err) == (f"error: {other.address} is not the guardian of {world.bridge.address} (the guardian "
                                 f"is {guardian.address}): {args[0]} needs the guardian's key\n")
    assert world.l1.w3.eth.get_transaction_count(other.address) == 0 and world.bridge.paused() is False


def test_guardian_key_from_the_bridge_config(capsys: pytest.CaptureFixture[str], tmp_path: Path, world: World,
                                             guardian: LocalAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.keys import write_keystore

    monkeypatch.delenv("BRIDGE_PRIVATE_KEY")
    write_keystore(guardian, tmp_path / "keys" / "guardian.json", "pw", iterations=2)
    (tmp_path / "keys" / "guardian.pass").write_text("pw\n")
    config = tmp_path / "bridge.json"
    config.write_text(json.dumps({
        "l1_rpc": "http://l1.invalid:8545", "l1_chain_id": world.l1.client.chain_id, "contract": world.bridge.address,
        "guardian": {"name": "guardian", "address": guardian.address, "keystore": "keys/guardian.json",
                     "passphrase_file": "keys/guardian.pass"},
        "l1_keys": []}))
    code, out, err = run(capsys, "guardian", "pause", "--bridge-config", str(config), "--l1-key", "guardian")
    assert code == 0 and world.bridge.paused() is True, err
    code, _, err = run(capsys, "guardian", "pause", "--bridge-config", str(config), "--l1-key", "alice")
    assert code == 1 and "--l1-key 'alice' is not in" in one_line(err) and "guardian: guardian" in err


def test_status_shows_paused_and_daily_limits(capsys: pytest.CaptureFixture[str], world: World,
                                              node: FakeWithdrawalNode, guardian: LocalAccount) -> None:
    where = (*L1, "--contract", world.bridge.address)
    assert run(capsys, "guardian", "set-daily-limit", "eth", "3eth", *where)[0] == 0
    assert run(capsys, "guardian", "pause", *where)[0] == 0
    code, out, err = run(capsys, "status", "--node", URL, *L1, "-o", "json")
    assert code == 0, err
    l1 = json.loads(out)["l1"]
    assert l1["paused"] is True and l1["daily_limits"] == {"l1/eth": str(3 * ONE_ETH), tst(world): "0"}
    code, out, _ = run(capsys, "status", "--node", URL, *L1)
    assert f"contract PAUSED; daily limits: {tst(world)} unlimited, l1/eth {3 * ONE_ETH}" in out


def test_one_payout_of_a_batch_deferred_the_other_paid(capsys: pytest.CaptureFixture[str], world: World,
                                                       keys: tuple[Path, str, str], node: FakeWithdrawalNode) -> None:
    """The receipt's WithdrawalDeferred logs are matched to the batch's entries in order: only the reverting
    recipient's payout is deferred."""
    refuser = world.deploy("RevertingRecipient")
    to = fresh_address(50)
    node.batch_interval = 1000
    for recipient in (refuser.address, to):
        code, _, err = run(capsys, *withdraw(keys, f"{ONE_ETH}l1/eth", recipient, "--no-wait"))
        assert code == 0, err
    node.batch_interval = 0
    outcome = {}
    for wid in (1, 2):
        code, out, err = run(capsys, "status", "withdrawal", str(wid), "--wait", "--node", URL, *L1, "-o", "json")
        outcome[wid] = (code, json.loads(out)["status"], json.loads(out)["batch_nonce"])
    assert outcome == {1: (3, "deferred", 1), 2: (0, "paid", 1)}
    assert world.l1.client.balance(to) == ONE_ETH and world.bridge.deferred(ETH_TOKEN, refuser.address) == ONE_ETH
