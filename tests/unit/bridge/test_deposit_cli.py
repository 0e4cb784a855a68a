"""`bridge deposit` and `bridge status` on the in-process L1, against a sidechain node faked at its RPC seam
(tests/unit/bridge/fake_chain.py: the bridge module's queries over a real Merkle store).

Amount parsing, the recipient checked before anything reaches L1, the exact ERC-20 approval, the amount
credited (fee on transfer), the JSON result, Ctrl-C and timeouts, one-line errors, `status` with its supply
invariant read at the audit height, and `--prove`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

import sidechain.commands.common as common
from bridge import deposit as deposit_mod
from bridge.cli import main
from bridge.deposit import ETH, Asset, parse_amount
from bridge.errors import ConfigError, UnexpectedAnswer
from bridge.l1 import L1Client
from bridge.module.errors import UnknownBridgeRecord
from bridge.protocol import checksum
from bridge.status import BridgeChain
from sidechain.types import bech32_address
from tests.unit.bridge.conftest import ONE_ETH, World
from tests.unit.bridge.fake_chain import URL, FakeBridgeNode

RECIPIENT = b"\x42" * 20
SIDE = bech32_address(RECIPIENT, "side")
KEY_HEX = "0x" + keccak(text="deposit-cli-key").hex()


@pytest.fixture
def depositor(world: World, monkeypatch: pytest.MonkeyPatch) -> LocalAccount:
    """A local key (as the CLI loads one) with 10 ETH and 1000 TST on the in-process L1."""
    account: LocalAccount = Account.from_key(KEY_HEX)
    world.l1.w3.eth.send_transaction({"from": world.user, "to": account.address, "value": 10 * ONE_ETH})
    world.send(world.token.functions.mint(account.address, 1000 * 10**18), world.user)
    world.send(world.fot.functions.mint(account.address, 10_000), world.user)
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", KEY_HEX)
    for name in ("BRIDGE_PASSPHRASE", "BRIDGE_KEYSTORE", "BRIDGE_PASSPHRASE_FILE", "BRIDGE_L1_RPC",
                 "BRIDGE_CONTRACT", "BRIDGE_CONFIG", "SIDECHAIN_HOME"):
        monkeypatch.delenv(name, raising=False)
    return account


@pytest.fixture
def node(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBridgeNode]:
    """The fake node every command reaches through --node, and the in-process L1 behind every --l1-rpc."""
    fake = FakeBridgeNode(world.l1, world.bridge, deployed_at=world.l1.block_number)
    monkeypatch.setattr(common, "NodeClient", lambda url, source="": fake)
    monkeypatch.setattr(L1Client, "connect", classmethod(lambda cls, url, expected=None, **kw: world.l1.client))
    monkeypatch.setattr(deposit_mod, "POLL_INTERVAL", 0.0)
    monkeypatch.setattr(deposit_mod, "RETRY_INTERVAL", 0.0)
    yield fake


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


L1 = ("--node", URL, "--l1-rpc", "http://l1.invalid:8545")


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


# -- amounts --------------------------------------------------------------------------------------------------

TST = Asset(checksum("0x" + "11" * 20), "TST", 6)


@pytest.mark.parametrize(
    ("text", "asset", "expected"),
    [
        ("1500000", ETH, 1500000),
        ("0.5eth", ETH, ONE_ETH // 2),
        ("0.5ETH", ETH, ONE_ETH // 2),
        ("0.5", ETH, ONE_ETH // 2),
        ("2eth", ETH, 2 * ONE_ETH),
        ("20gwei", ETH, 20 * 10**9),
        ("7wei", ETH, 7),
        (".25eth", ETH, ONE_ETH // 4),
        ("1500000", TST, 1500000),
        ("1.25", TST, 1_250_000),
        ("1.25TST", TST, 1_250_000),
        ("3tst", TST, 3_000_000),
        ("0.000001", TST, 1),
    ],
)
def test_amounts(text: str, asset: Asset, expected: int) -> None:
    assert parse_amount(text, asset) == expected


@pytest.mark.parametrize(
    ("text", "asset", "message"),
    [
        ("0", ETH, "must be more than 0"),
        ("0.0eth", ETH, "must be more than 0"),
        ("-1", ETH, "write base units"),
        ("1e18", ETH, "unit 'e18' is not an ETH unit"),
        ("abc", ETH, "write base units"),
        ("1.5 eth", ETH, "write base units"),
        ("5TST", ETH, "not an ETH unit (eth, gwei, wei); for an ERC-20 give --token"),
        ("0.5eth", TST, "unit 'eth' is not the token's symbol 'TST'"),
        ("1.0000001", TST, "more decimals than the 6 of its unit"),
        ("0.1wei", ETH, "more decimals than the 0 of its unit"),
        ("1.5", Asset(TST.token, "token", None), "has no decimals(), so give base units"),
        (str(2**256), ETH, "more than an L1 amount can be"),
    ],
)
def test_bad_amounts(text: str, asset: Asset, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_amount(text, asset)
    assert message in str(info.value), str(info.value)


def test_amounts_are_shown_in_whole_units() -> None:
    assert ETH.format(ONE_ETH // 2) == "0.5 ETH"
    assert ETH.format(3 * ONE_ETH) == "3 ETH"
    assert TST.format(1_250_000) == "1.25 TST"
    assert Asset(TST.token, "X", None).format(5) == "5 base units of X"


# -- the recipient is checked before anything reaches L1 ------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (bech32_address(RECIPIENT, "cosmos"), "prefix is 'cosmos', expected 'side'"),
        (SIDE[:-1] + ("q" if SIDE[-1] != "q" else "p"), "bad checksum"),
        ("side1qqqqqq", "wrong length"),
        ("0x" + "42" * 20, "no prefix separator"),
    ],
)
def test_bad_recipient_sends_nothing(
    capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount, node: FakeBridgeNode,
    monkeypatch: pytest.MonkeyPatch, to: str, message: str,
) -> None:
    connected: list[str] = []
    monkeypatch.setattr(L1Client, "connect", classmethod(lambda cls, url, *a, **k: connected.append(url)))
    node.mine_per_tick = 0  # the fake chain mines no L1 block of its own
    block = world.l1.block_number
    code, out, err = run(capsys, "deposit", "0.5eth", "--to", to, *L1)
    assert code == 1 and out == ""
    assert one_line(err).startswith("error: --to: invalid address") and message in err, err
    assert connected == [] and world.l1.block_number == block  # L1 not even reached
    assert world.l1.w3.eth.get_transaction_count(depositor.address) == 0


# -- ETH ---------------------------------------------------------------------------------------------------


def test_eth_deposit_json(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                          node: FakeBridgeNode) -> None:
    before = world.l1.client.balance(world.bridge.address)
    code, out, err = run(capsys, "deposit", "0.5eth", "--to", SIDE, *L1, "--output", "json")
    assert code == 0, err
    result = json.loads(out)
    receipt_tx = result["l1_tx"]
    receipt = world.l1.w3.eth.get_transaction_receipt(receipt_tx)
    assert receipt["from"] == depositor.address and receipt["status"] == 1
    assert {k: result[k] for k in ("status", "event_nonce", "denom", "amount", "recipient")} == {
        "status": "minted", "event_nonce": 2, "denom": "l1/eth", "amount": str(ONE_ETH // 2), "recipient": SIDE}
    assert result["height"] == node.deposits[2]["height"] and result["l1_block"] == receipt["blockNumber"]
    assert result["balance"] == str(ONE_ETH // 2)
    assert world.l1.client.balance(world.bridge.address) - before == ONE_ETH // 2
    assert err == ""  # --output json and no terminal: no progress lines, one JSON object on stdout


def test_eth_deposit_text_shows_each_step(capsys: pytest.CaptureFixture[str], world: World,
                                          depositor: LocalAccount, node: FakeBridgeNode) -> None:
    code, out, err = run(capsys, "deposit", "1500000000000000000", "--to", SIDE, *L1)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("L1 tx sent: 0x")
    assert lines[1].startswith("mined in L1 block") and "event nonce 2" in lines[1]
    confirmations = [line for line in lines if line.startswith("confirmations ")]
    assert confirmations[0].startswith(("confirmations 0/2", "confirmations 1/2")), lines
    assert confirmations[-1].startswith("confirmations 2/2"), lines
    assert any(line.startswith("waiting for attestation: the sidechain has applied events up to 1") for line in lines)
    assert any(line.startswith("attested: the sidechain applied event 2") for line in lines)
    assert any(line.startswith(f"minted 1.5 ETH ({15 * 10**17}l1/eth) to {SIDE} at height") for line in lines)
    assert lines[-1] == f"new balance of {SIDE}: 1.5 ETH ({15 * 10**17}l1/eth)"
    assert out.startswith(f"minted 1.5 ETH ({15 * 10**17}l1/eth) to {SIDE} at height") and "balance 1.5 ETH" in out


def test_no_wait_returns_after_mined(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                     node: FakeBridgeNode) -> None:
    node.apply_events = False
    code, out, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1, "--no-wait", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "sent" and result["event_nonce"] == 2 and result["amount"] == str(ONE_ETH)
    assert "/bridge/deposit/2" not in node.queries


# -- ERC-20: exact approval, the credited amount ------------------------------------------------------------


def _approvals(world: World, token: Any, owner: str) -> list[int]:
    logs = token.events.Approval().get_logs(from_block=0, argument_filters={"owner": owner})
    return [int(log["args"]["value"]) for log in logs if log["args"]["spender"] == world.bridge.address]


def test_erc20_approves_exactly_the_amount(capsys: pytest.CaptureFixture[str], world: World,
                                           depositor: LocalAccount, node: FakeBridgeNode) -> None:
    code, out, err = run(capsys, "deposit", "12.5", "--token", world.token.address, "--to", SIDE, *L1, "-o", "json")
    assert code == 0, err
    amount = 125 * 10**17
    # the approve events carry exactly the amount (OpenZeppelin emits none for transferFrom's spend)
    assert _approvals(world, world.token, depositor.address) == [amount]
    assert int(world.token.functions.allowance(depositor.address, world.bridge.address).call()) == 0
    result = json.loads(out)
    assert result["denom"] == "l1/" + world.token.address.lower() and result["amount"] == str(amount)
    assert node.balances[(SIDE, result["denom"])] == amount


def test_erc20_existing_allowance(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                  node: FakeBridgeNode) -> None:
    approve = world.token.functions.approve(world.bridge.address, 7)
    world.l1.client.transact(approve, depositor)
    code, _, err = run(capsys, "deposit", "5", "--token", world.token.address, "--to", SIDE, *L1, "-o", "json")
    assert code == 0, err
    assert _approvals(world, world.token, depositor.address) == [7, 0, 5]  # reset to 0 first, then exactly 5
    world.l1.client.transact(world.token.functions.approve(world.bridge.address, 3), depositor)
    code, _, err = run(capsys, "deposit", "3", "--token", world.token.address, "--to", SIDE, *L1, "-o", "json")
    assert code == 0, err
    assert _approvals(world, world.token, depositor.address) == [7, 0, 5, 3]  # already exactly 3: no approval


def test_fee_on_transfer_token_mints_what_was_credited(capsys: pytest.CaptureFixture[str], world: World,
                                                      depositor: LocalAccount, node: FakeBridgeNode) -> None:
    code, out, err = run(capsys, "deposit", "1000", "--token", world.fot.address, "--to", SIDE, *L1)
    assert code == 0, err
    assert "credited 0.00000000000000099 FOT of 0.000000000000001 FOT" in err  # 1 % fee: 990 of 1000
    assert out.startswith(f"minted 0.00000000000000099 FOT (990l1/{world.fot.address.lower()})")
    assert node.supply["l1/" + world.fot.address.lower()] == 990


# -- one-line errors ----------------------------------------------------------------------------------------


def test_insufficient_funds(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                            node: FakeBridgeNode) -> None:
    node.mine_per_tick = 0
    block = world.l1.block_number
    code, _, err = run(capsys, "deposit", "11eth", "--to", SIDE, *L1)
    assert code == 1 and f"{depositor.address} has 10 ETH on L1 chain" in one_line(err), err
    code, _, err = run(capsys, "deposit", "1001TST", "--token", world.token.address, "--to", SIDE, *L1)
    assert code == 1 and "holds 1000 TST" in one_line(err) and "the deposit is 1001 TST" in err, err
    assert world.l1.w3.eth.get_transaction_count(depositor.address) == 0
    assert world.l1.block_number == block  # nothing sent


def test_paused_bridge_is_refused_before_any_approval(capsys: pytest.CaptureFixture[str], world: World,
                                                      depositor: LocalAccount, node: FakeBridgeNode) -> None:
    world.bridge.pause(world.guardian)
    code, _, err = run(capsys, "deposit", "1", "--token", world.token.address, "--to", SIDE, *L1)
    assert code == 1 and one_line(err) == "error: contract reverted: BridgePaused()\n"
    assert world.l1.w3.eth.get_transaction_count(depositor.address) == 0


def test_paused_between_check_and_send_is_decoded(capsys: pytest.CaptureFixture[str], world: World,
                                                  depositor: LocalAccount, node: FakeBridgeNode,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deposit_mod, "check_can_deposit", lambda *a: world.bridge.pause(world.guardian))
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1)
    assert code == 1 and one_line(err) == "error: contract reverted: BridgePaused()\n"


def test_wrong_l1_chain_and_wrong_contract(capsys: pytest.CaptureFixture[str], world: World,
                                           depositor: LocalAccount, node: FakeBridgeNode) -> None:
    node.l1_chain_id = 1
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1)
    assert code == 1 and "serves chain id" in one_line(err) and "bridge is on L1 chain 1" in err
    node.l1_chain_id = world.l1.client.chain_id
    other = checksum("0x" + "cd" * 20)
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1, "--contract", other)
    assert code == 1 and one_line(err) == (f"error: --contract {other} is not the sidechain's bridge contract "
                                           f"{world.bridge.address}\n")
    assert world.l1.w3.eth.get_transaction_count(depositor.address) == 0


def test_chain_without_bridge(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                              node: FakeBridgeNode) -> None:
    node.enabled = False
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1)
    assert code == 1 and "the bridge is not enabled on this chain" in one_line(err)
    code, _, err = run(capsys, "status", "--node", URL)
    assert code == 1 and "the bridge is not enabled on this chain" in one_line(err)


def test_unreachable_node_and_l1(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, "--node", "127.0.0.1:9", "--l1-rpc", "http://x:1")
    assert code == 1 and "cannot reach the node's RPC at http://127.0.0.1:9" in one_line(err)
    fake = FakeBridgeNode(world.l1, world.bridge)
    monkeypatch.setattr(common, "NodeClient", lambda url, source="": fake)
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, "--node", URL, "--l1-rpc", "http://127.0.0.1:9")
    assert code == 1 and one_line(err) == "error: cannot reach the L1 RPC at http://127.0.0.1:9 (connection refused)\n"
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, "--node", URL)
    assert code == 1 and "bridge deposit needs the L1: give --l1-rpc URL" in one_line(err)


def test_timeout_says_where_it_stands(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                      node: FakeBridgeNode) -> None:
    node.apply_events = False
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1, "--wait-timeout", "0", "-o", "json")
    assert code == 1
    error = json.loads(err)["error"]
    assert error.startswith("not minted within 0 s: deposit 2 is not yet applied: the sidechain (height")
    assert "the deposit is in L1 block" in error and f"--node {URL} --wait`" in error


def test_ctrl_c_says_how_to_resume(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                   node: FakeBridgeNode) -> None:
    def interrupt(path: str) -> None:
        if path == "/bridge/state" and world.l1.w3.eth.get_transaction_count(depositor.address) > 0:
            raise KeyboardInterrupt

    node.on_query = interrupt
    code, out, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1)
    assert code == 130 and out == ""
    assert err.splitlines()[-1] == f"interrupted: deposit 2 is on L1; follow it with `bridge status deposit 2 " \
                                   f"--node {URL} --wait`"


# -- bridge status ----------------------------------------------------------------------------------------------


def _deposit(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "deposit", *args, "--to", SIDE, *L1, "-o", "json")
    assert code == 0, err
    return dict(json.loads(out))


def test_status_both_sides(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                           node: FakeBridgeNode) -> None:
    _deposit(capsys, "2eth")
    _deposit(capsys, "4TST", "--token", world.token.address)
    node.apply_events = False
    world.bridge.deposit_eth(RECIPIENT, ONE_ETH, world.user)  # on L1, not yet applied
    code, out, err = run(capsys, "status", *L1, "-o", "json")
    assert code == 0, err
    status = json.loads(out)
    side, l1 = status["sidechain"], status["l1"]
    assert side["last_event_nonce"] == 3 and l1["event_nonce"] == 4
    assert l1["head"] == world.l1.block_number and l1["lag"] == l1["head"] - side["observed_l1_height"]
    assert side["supply"] == {"l1/eth": str(2 * ONE_ETH), "l1/" + world.token.address.lower(): str(4 * 10**18)}
    assets = {a["denom"]: a for a in status["supply"]["assets"]}
    # read at the audit height: the third deposit (after it) is not in the contract's balance there
    assert assets["l1/eth"]["l1_balance"] == str(2 * ONE_ETH) and assets["l1/eth"]["surplus"] == "0"
    assert status["supply"]["ok"] is True and "in_batches" in status["supply"]["note"]
    code, out, _ = run(capsys, "status", *L1)
    assert code == 0 and "last event nonce 3 (L1 eventNonce() 4: 1 not applied yet)" in out
    assert "supply invariant at L1 block" in out and "holds" in out


def test_status_without_l1(capsys: pytest.CaptureFixture[str], node: FakeBridgeNode) -> None:
    code, out, err = run(capsys, "status", "--node", URL)
    assert code == 0, err
    assert "L1: not read (give --l1-rpc or --bridge-config)" in out
    code, _, err = run(capsys, "status", "--supply", "--node", URL)
    assert code == 1 and "bridge status --supply needs the L1" in one_line(err)


def test_supply_surplus_and_shortfall(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                                      node: FakeBridgeNode) -> None:
    _deposit(capsys, "4TST", "--token", world.token.address)
    denom = "l1/" + world.token.address.lower()
    world.l1.client.transact(world.token.functions.transfer(world.bridge.address, 10**18), depositor)  # no Deposit
    for _ in range(3):
        node.tick()  # the audit height passes the transfer
    code, out, err = run(capsys, "status", "--supply", *L1, "-o", "json")
    assert code == 0, err
    row = {a["denom"]: a for a in json.loads(out)["assets"]}[denom]
    assert (row["sidechain_supply"], row["l1_balance"], row["surplus"], row["ok"]) == (
        str(4 * 10**18), str(5 * 10**18), str(10**18), True)
    node.supply[denom] += 2 * 10**18  # the sidechain holds more than L1 backs
    code, out, err = run(capsys, "status", "--supply", *L1)
    assert code == 1
    assert f"{denom}: L1 balance {5 * 10**18} - deferred 0 >= supply {6 * 10**18} + queue 0 + batches 0: " \
           f"SHORTFALL {10**18}" in out


def test_status_deposit(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
                        node: FakeBridgeNode) -> None:
    minted = _deposit(capsys, "1eth")
    code, out, err = run(capsys, "status", "deposit", "2", "--node", URL, "-o", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "minted" and record["l1_tx"] == minted["l1_tx"] and record["height"] == minted["height"]
    assert record["sender"] == depositor.address and record["recipient"] == SIDE and "proof" not in record
    # not yet applied: where it stands, exit 1
    node.apply_events = False
    world.bridge.deposit_eth(RECIPIENT, ONE_ETH, world.user)
    code, out, _ = run(capsys, "status", "deposit", "3", *L1)
    assert code == 1 and out.startswith("deposit 3 is not yet applied: the sidechain (height")
    assert "the deposit is in L1 block" in out and "/2 confirmations" in out
    # by L1 tx hash, and --wait follows it to the mint
    node.apply_events = True
    tx = world.bridge.contract.events.Deposit().get_logs(from_block=0, argument_filters={"eventNonce": 3})[0]
    code, out, err = run(capsys, "status", "deposit", tx["transactionHash"].to_0x_hex(), *L1, "--wait")
    assert code == 0, err
    assert out.startswith(f"deposit 3: minted {ONE_ETH}l1/eth to {SIDE} at height")
    code, _, err = run(capsys, "status", "deposit", "1", "--node", URL)
    assert code == 1 and "event 1 is applied on the sidechain but it is not a deposit" in one_line(err)
    code, _, err = run(capsys, "status", "deposit", "x1", "--node", URL)
    assert code == 1 and "give a deposit's event nonce" in one_line(err)


@pytest.mark.parametrize("not_found", [("query", 5), ("query", 3), ("bridge", UnknownBridgeRecord.code),
                                       ("query", 4), ("bridge", 99)])
def test_deposit_record_not_found_codes(node: FakeBridgeNode, not_found: tuple[str, int]) -> None:
    """A missing record: the app's not-found, its bad request (what it makes of the route's UnknownBridgeRecord)
    or the module's own code; any other error is reported."""
    node.not_found = not_found
    chain = BridgeChain(node)
    if not_found in {("query", 5), ("query", 3), ("bridge", UnknownBridgeRecord.code)}:
        assert chain.deposit(9) is None
    else:
        with pytest.raises(UnexpectedAnswer, match="no value at this key"):
            chain.deposit(9)


def test_prove(capsys: pytest.CaptureFixture[str], world: World, depositor: LocalAccount,
               node: FakeBridgeNode) -> None:
    minted = _deposit(capsys, "1eth", "--prove")
    assert minted["proof"]["verified"] is True
    code, out, err = run(capsys, "status", "deposit", "2", "--node", URL, "--prove")
    assert code == 0, err
    assert "proof verified against the app hash of block" in out
    code, out, err = run(capsys, "status", "--supply", "--prove", *L1, "-o", "json")
    assert code == 0, err
    assert all(a["proof"]["verified"] for a in json.loads(out)["assets"])
    node.tamper_headers = True
    code, _, err = run(capsys, "status", "deposit", "2", "--node", URL, "--prove")
    assert code == 1 and "proof does not verify against block" in one_line(err)
    code, _, err = run(capsys, "status", "--supply", "--prove", *L1)
    assert code == 1 and "proof does not verify against block" in one_line(err)


def test_bridge_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Any, world: World,
                            depositor: LocalAccount, node: FakeBridgeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.keys import write_keystore

    monkeypatch.delenv("BRIDGE_PRIVATE_KEY")
    write_keystore(depositor, tmp_path / "keys" / "alice.json", "pw", iterations=2)
    (tmp_path / "keys" / "alice.pass").write_text("pw\n")
    config = tmp_path / "bridge.json"
    config.write_text(json.dumps({
        "l1_rpc": "http://l1.invalid:8545", "l1_chain_id": world.l1.client.chain_id,
        "contract": world.bridge.address, "erc20": world.token.address,
        "l1_keys": [{"name": "alice", "address": depositor.address, "keystore": "keys/alice.json",
                     "passphrase_file": "keys/alice.pass"}],
    }))
    code, out, err = run(capsys, "deposit", "1eth", "--to", SIDE, "--node", URL, "--bridge-config", str(config),
                         "--l1-key", "alice", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["status"] == "minted"
    code, _, err = run(capsys, "deposit", "1eth", "--to", SIDE, "--node", URL, "--bridge-config", str(config),
                       "--l1-key", "bob")
    assert code == 1 and "--l1-key 'bob' is not in" in one_line(err) and "(its keys: alice)" in err
    code, out, err = run(capsys, "status", "--node", URL, "--bridge-config", str(config), "-o", "json")
    assert code == 0 and json.loads(out)["supply"]["ok"] is True, err


def test_progress_on_a_terminal_is_a_live_display(capsys: pytest.CaptureFixture[str], world: World,
                                                  depositor: LocalAccount, node: FakeBridgeNode,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    code, out, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1, "-o", "json")
    assert code == 0 and json.loads(out)["status"] == "minted"  # stdout: still one JSON object
    done = [line for line in err.splitlines() if "✓" in line]
    assert any("L1 tx sent: 0x" in line for line in done) and any("minted 1 ETH" in line for line in done), err
    assert any("new balance of" in line for line in done)


def test_a_node_restarting_while_waiting_is_retried(capsys: pytest.CaptureFixture[str], world: World,
                                                    depositor: LocalAccount, node: FakeBridgeNode) -> None:
    from sidechain.client import ClientError

    failures = [ClientError("cannot reach the node's RPC at http://127.0.0.1:26657 (connection refused)")] * 2

    def flaky(path: str) -> None:
        if path == "/bridge/state" and world.l1.w3.eth.get_transaction_count(depositor.address) > 0 and failures:
            raise failures.pop()

    node.on_query = flaky
    code, out, err = run(capsys, "deposit", "1eth", "--to", SIDE, *L1)
    assert code == 0, err
    assert err.count("(connection refused); retrying ...") == 1  # shown once while it lasts
    assert out.startswith("minted 1 ETH") and failures == []


def test_supply_is_read_at_the_audit_height(capsys: pytest.CaptureFixture[str], world: World,
                                            depositor: LocalAccount, node: FakeBridgeNode) -> None:
    """An extension cut at its event cap leaves observed_l1_height below the block of events already applied:
    the invariant is read at max(observed_l1_height, the last applied event's block), where it holds."""
    minted = _deposit(capsys, "1eth")
    node.auto_tick = False
    node.observed = minted["l1_block"] - 1  # as if the cut fell inside the deposit's L1 block
    node.commit()
    code, out, err = run(capsys, "status", "--supply", *L1, "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    eth = {a["denom"]: a for a in report["assets"]}["l1/eth"]
    assert report["l1_block"] == minted["l1_block"] and (eth["l1_balance"], eth["surplus"]) == (str(ONE_ETH), "0")
