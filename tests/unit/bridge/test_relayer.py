"""The relayer (bridge/relayer.py, `bridge relay`) on the in-process EVM, against a sidechain node faked at its
query seam (tests/unit/bridge/relay_chain.py: the issue-11 schemas, real digests, real signatures).

Valsets before batches; what L1 did is skipped; two relayers racing on one batch; timeouts; the fee policy;
a paused bridge; daily limits; signatures aligned to L1's valset and power counted there, not the chain's word;
transport retries; bad answers; the JSON lines of `bridge relay --once`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.types import Wei

import sidechain.commands.common as common
from bridge.cli import main
from bridge.l1 import BridgeContract, L1Client
from bridge.protocol import ETH_TOKEN, Valset, Withdrawal
from bridge.relayer import Event, FeePolicy, Relayer, RoundFailed, align_signatures, parse_interval, run
from tests.support.bridge_l1.validators import equal_valset, validator_accounts
from tests.unit.bridge.conftest import ONE_ETH, World, fresh_address
from tests.unit.bridge.relay_chain import FakeRelayNode, eth_withdrawals, signature_hex

GWEI = 10**9
NEXT = validator_accounts(5, seed="relayer-next")  # the validators of valset 1
NEXT_VALSET = equal_valset(NEXT, nonce=1)


@pytest.fixture
def node(world: World) -> FakeRelayNode:
    world.fund_eth(10 * ONE_ETH)
    return FakeRelayNode(world.l1, world.bridge, world.valset, deployed_at=world.l1.block_number)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.events if e.event == name]

    def reasons(self) -> list[tuple[Any, Any]]:
        return [(e.fields.get("nonce"), e.fields.get("reason")) for e in self.events if e.event == "skipped"]


def relayer(world: World, node: FakeRelayNode, *, sender: str | None = None, client: L1Client | None = None,
            policy: FeePolicy | None = None, dedupe: bool = False, **kw: Any) -> tuple[Relayer, Recorder]:
    rec = Recorder()
    r = Relayer(node, lambda: client or world.client, sender or world.relayer, policy=policy or FeePolicy(check=False),
                report=rec, dedupe=dedupe, sleep=lambda s: None, **kw)
    return r, rec


def signers(world: World, *indexes: int) -> list[LocalAccount]:
    by_address = {a.address: a for a in world.validators}
    return [by_address[world.valset.validators[i]] for i in indexes]


def three(world: World) -> list[LocalAccount]:
    return signers(world, 0, 1, 2)


def timeout(world: World, blocks: int = 50) -> int:
    return world.l1.block_number + blocks


# -- valsets, then batches ------------------------------------------------------------------------------------


def test_valset_first_then_a_batch_signed_by_the_new_valset(world: World, node: FakeRelayNode) -> None:
    node.add_valset(NEXT_VALSET, three(world))
    paid = fresh_address(1)
    w = eth_withdrawals([paid], ONE_ETH, 5 * GWEI)
    node.add_batch(1, w, timeout(world), NEXT[:4], signed_in=NEXT_VALSET)  # only valid once L1 holds valset 1
    r, rec = relayer(world, node)
    summary = r.run_round()
    assert [n for n in rec.names() if n.endswith("_submitted")] == ["valset_submitted", "batch_submitted"]
    assert summary.valsets_submitted == 1 and summary.batches_submitted == 1
    assert world.bridge.valset_nonce() == 1
    assert world.bridge.valset_checkpoint() == world.bridge.domain.valset_digest(NEXT_VALSET)
    assert world.bridge.batch_executed(1)
    assert world.balance_of(ETH_TOKEN, paid) == ONE_ETH
    (v,) = rec.of("valset_submitted")
    assert v["nonce"] == 1 and v["signers"] == 3


def test_the_oldest_ready_valset_first_and_each_signed_by_the_one_before(world: World, node: FakeRelayNode) -> None:
    after = validator_accounts(3, seed="relayer-after")
    valset2 = equal_valset(after, nonce=2)
    node.add_valset(NEXT_VALSET, three(world))
    node.add_valset(valset2, NEXT[:4], signed_in=NEXT_VALSET)
    r, rec = relayer(world, node)
    r.run_round()
    assert [e["nonce"] for e in rec.of("valset_submitted")] == [1, 2]
    assert world.bridge.valset_nonce() == 2


def test_a_valset_l1_already_holds_is_not_sent_again(world: World, node: FakeRelayNode) -> None:
    body = node.add_valset(NEXT_VALSET, three(world))
    first, _ = relayer(world, node)
    first.run_round()
    node.valsets[1] = body  # the chain has not applied ValsetUpdated yet: it still lists valset 1 as pending
    balance = world.client.balance(world.other)
    second, rec = relayer(world, node, sender=world.other)
    second.run_round()
    assert rec.of("valset_submitted") == [] and world.client.balance(world.other) == balance


# -- what L1 already did, races -----------------------------------------------------------------------------


def test_a_batch_l1_executed_is_skipped(world: World, node: FakeRelayNode) -> None:
    w = eth_withdrawals([fresh_address(2)], ONE_ETH, GWEI)
    batch_json = node.add_batch(1, w, timeout(world), three(world))
    world.submit(w, batch=world.batch(nonce=1, timeout_in=batch_json["timeout_l1_block"] - world.l1.block_number))
    balance = world.client.balance(world.relayer)
    r, rec = relayer(world, node)
    summary = r.run_round()
    assert rec.reasons() == [(1, "executed")] and summary.batches_submitted == 0
    assert world.client.balance(world.relayer) == balance


def test_two_relayers_one_after_the_other_one_pays(world: World, node: FakeRelayNode) -> None:
    paid = fresh_address(3)
    node.add_batch(1, eth_withdrawals([paid], ONE_ETH, GWEI), timeout(world), three(world))
    a, rec_a = relayer(world, node)
    b, rec_b = relayer(world, node, sender=world.other)
    a.run_round()
    b.run_round()
    assert rec_a.of("batch_submitted") and not rec_b.of("batch_submitted")
    assert rec_b.reasons() == [(1, "executed")]
    assert world.balance_of(ETH_TOKEN, paid) == ONE_ETH


def test_a_relayer_whose_view_is_stale_gets_a_decoded_revert_and_sends_nothing(
    world: World, node: FakeRelayNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid = fresh_address(4)
    node.add_batch(1, eth_withdrawals([paid], ONE_ETH, GWEI), timeout(world), three(world))
    a, _ = relayer(world, node)
    b, rec_b = relayer(world, node, sender=world.other)
    b.bridge = BridgeContract(world.client, world.bridge.address)
    monkeypatch.setattr(b.bridge, "batch_executed", lambda nonce: False)  # B read L1 before A's tx was mined
    a.run_round()
    balance = world.client.balance(world.other)
    summary = b.run_round()
    (raced,) = rec_b.of("raced")
    assert raced["error"] == "BatchAlreadyExecuted" and "nothing sent" in raced["message"]
    assert summary.raced == 1 and summary.failed == 0
    assert world.client.balance(world.other) == balance
    assert world.balance_of(ETH_TOKEN, paid) == ONE_ETH


def test_a_relayer_beaten_between_its_estimate_and_inclusion_reports_a_clean_revert(
    world: World, node: FakeRelayNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B estimated and checked batchExecuted before A's tx landed; its own tx then reverts on L1: decoded, its
    gas reported, nobody paid twice."""
    paid = fresh_address(5)
    node.add_batch(1, eth_withdrawals([paid], ONE_ETH, GWEI), timeout(world), three(world))
    a, _ = relayer(world, node)
    b_client = L1Client(world.l1.w3, world.client.decoder)
    b, rec_b = relayer(world, node, sender=world.other, client=b_client)
    b.bridge = BridgeContract(b_client, world.bridge.address)
    monkeypatch.setattr(b.bridge, "batch_executed", lambda nonce: False)
    monkeypatch.setattr(b_client, "estimate_gas", lambda fn, sender, value=0: 300_000)
    a.run_round()
    summary = b.run_round()
    (raced,) = rec_b.of("raced")
    assert raced["error"] == "BatchAlreadyExecuted"
    assert summary.raced == 1 and summary.failed == 0 and summary.batches_submitted == 0
    assert world.balance_of(ETH_TOKEN, paid) == ONE_ETH
    assert raced["tx"] in raced["message"] and "sent and reverted" in raced["message"]
    assert int(raced["spent_wei"]) == raced["gas_used"] * int(raced["effective_gas_price"]) > 0  # what it cost
    assert summary.spent_wei == int(raced["spent_wei"])


# -- timeouts ------------------------------------------------------------------------------------------------


def test_a_batch_whose_timeout_is_at_most_the_next_block_is_skipped(world: World, node: FakeRelayNode) -> None:
    head = world.l1.block_number
    node.add_batch(1, eth_withdrawals([fresh_address(6)], ONE_ETH, GWEI), head + 1, three(world))
    node.add_batch(2, eth_withdrawals([fresh_address(7)], ONE_ETH, GWEI), head + 2, three(world))
    r, rec = relayer(world, node)
    r.run_round()
    assert rec.reasons() == [(1, "timeout")]
    assert rec.of("skipped")[0]["l1_head"] == head  # refused from the L1 head, not by an estimate that reverts
    assert [e["nonce"] for e in rec.of("batch_submitted")] == [2]
    assert not world.bridge.batch_executed(1) and world.bridge.batch_executed(2)


# -- the fee policy ------------------------------------------------------------------------------------------


def test_an_unprofitable_eth_batch_is_refused_and_the_flag_overrides(world: World, node: FakeRelayNode) -> None:
    node.add_batch(1, eth_withdrawals([fresh_address(8)], ONE_ETH, 1), timeout(world), three(world))
    balance = world.client.balance(world.relayer)
    r, rec = relayer(world, node, policy=FeePolicy())
    r.run_round()
    (skip,) = rec.of("skipped")
    assert skip["reason"] == "unprofitable" and int(skip["estimated_cost_wei"]) > 1
    assert world.client.balance(world.relayer) == balance and not world.bridge.batch_executed(1)
    forced, rec2 = relayer(world, node, policy=FeePolicy(check=False))
    forced.run_round()
    assert rec2.of("batch_submitted") and world.bridge.batch_executed(1)


def test_a_profitable_eth_batch_is_relayed_and_pays_the_relayer(world: World, node: FakeRelayNode) -> None:
    fee = 10**15  # far above ~150k gas x 1 gwei
    node.add_batch(1, eth_withdrawals([fresh_address(9), fresh_address(10)], ONE_ETH, fee), timeout(world),
                   three(world))
    balance = world.client.balance(world.relayer)
    r, rec = relayer(world, node, policy=FeePolicy())
    r.run_round()
    (sent,) = rec.of("batch_submitted")
    spent = int(sent["spent_wei"])
    assert spent == sent["gas_used"] * int(sent["effective_gas_price"]) > 0
    assert int(sent["spent_per_withdrawal_wei"]) == spent // 2 and sent["withdrawals"] == 2
    assert world.client.balance(world.relayer) == balance + 2 * fee - spent


def test_erc20_fees_need_a_price_or_the_explicit_flag(world: World, node: FakeRelayNode) -> None:
    world.fund_token(world.token, 10**21)
    token = world.token.address
    w = [Withdrawal(token, fresh_address(11), 10**18, 10**18)]  # a fee of one whole token
    node.add_batch(1, w, timeout(world), three(world))
    r, rec = relayer(world, node, policy=FeePolicy())
    r.run_round()
    assert rec.reasons() == [(1, "unpriced")] and "--token-price" in rec.of("skipped")[0]["message"]
    cheap, rec_cheap = relayer(world, node, policy=FeePolicy(token_prices={token: 1}))  # 1 wei per token
    cheap.run_round()
    assert rec_cheap.reasons() == [(1, "unprofitable")]
    priced, rec_priced = relayer(world, node, policy=FeePolicy(token_prices={token: 10**16}))
    priced.run_round()
    assert rec_priced.of("batch_submitted") and world.bridge.batch_executed(1)
    assert world.balance_of(token, world.relayer) == 10**18


def test_unpriced_erc20_batches_relayed_with_the_explicit_flag(world: World, node: FakeRelayNode) -> None:
    world.fund_token(world.token, 10**21)
    node.add_batch(1, [Withdrawal(world.token.address, fresh_address(12), 10**18, 1)], timeout(world), three(world))
    r, rec = relayer(world, node, policy=FeePolicy(relay_unpriced=True))
    r.run_round()
    assert rec.of("batch_submitted")


# -- paused, daily limits -----------------------------------------------------------------------------------


def test_paused_nothing_sent_but_a_valset_reported_once(world: World, node: FakeRelayNode) -> None:
    world.bridge.pause(world.guardian)
    node.add_valset(NEXT_VALSET, three(world))
    node.add_batch(1, eth_withdrawals([fresh_address(13)], ONE_ETH, GWEI), timeout(world), NEXT[:4],
                   signed_in=NEXT_VALSET)
    r, rec = relayer(world, node, dedupe=True)
    r.run_round()
    r.run_round()
    assert rec.names().count("paused") == 1
    assert len(rec.of("valset_submitted")) == 1 and world.bridge.valset_nonce() == 1
    assert not rec.of("batch_submitted") and not world.bridge.batch_executed(1)
    assert [e["reason"] for e in rec.of("held")] == ["paused"]
    world.bridge.unpause(world.guardian)
    r.run_round()
    assert "unpaused" in rec.names() and world.bridge.batch_executed(1)


def test_a_batch_over_the_days_limit_is_held_until_the_next_utc_day(world: World, node: FakeRelayNode) -> None:
    world.bridge.set_daily_limit(ETH_TOKEN, 3 * ONE_ETH, world.guardian)
    node.add_batch(1, eth_withdrawals([fresh_address(14)], 2 * ONE_ETH, 0), timeout(world, 500), three(world))
    node.add_batch(2, eth_withdrawals([fresh_address(15)], 2 * ONE_ETH, 0), timeout(world, 500), three(world))
    r, rec = relayer(world, node, dedupe=True)
    r.run_round()
    assert [e["nonce"] for e in rec.of("batch_submitted")] == [1]
    (held,) = rec.of("held")
    day = world.l1.timestamp // 86400
    assert held["nonce"] == 2 and held["reason"] == "daily_limit" and held["until_day"] == day + 1
    assert held["released_today"] == str(2 * ONE_ETH) and held["limit"] == str(3 * ONE_ETH)
    balance = world.client.balance(world.relayer)
    summary = r.run_round()  # the same day: held, nothing estimated or sent, nothing reported again
    assert summary.held == 1 and len(rec.of("held")) == 1 and world.client.balance(world.relayer) == balance
    world.l1.time_travel((day + 1) * 86400 + 10)
    r.run_round()
    assert [e["nonce"] for e in rec.of("batch_submitted")] == [1, 2] and world.bridge.batch_executed(2)


def test_a_batch_above_the_limit_itself_is_reported_and_never_sent(world: World, node: FakeRelayNode) -> None:
    world.bridge.set_daily_limit(ETH_TOKEN, ONE_ETH, world.guardian)
    node.add_batch(1, eth_withdrawals([fresh_address(16)], ONE_ETH, 1), timeout(world), three(world))
    r, rec = relayer(world, node)
    r.run_round()
    assert rec.reasons() == [(1, "over_daily_limit")] and not world.bridge.batch_executed(1)


# -- signatures: aligned to L1's valset, power counted here ------------------------------------------------


def test_signatures_aligned_to_the_contracts_valset_with_a_non_signer(world: World, node: FakeRelayNode) -> None:
    w = eth_withdrawals([fresh_address(17)], ONE_ETH, GWEI)
    body = node.add_batch(1, w, timeout(world), signers(world, 0, 2, 3))  # validator 1 did not sign
    outsider = Account.from_key(keccak(text="not-a-validator"))
    digest = bytes.fromhex(body["digest"][2:])
    from bridge.signing import sign_digest

    body["signatures"].append({"validator": outsider.address.lower(),
                               "signature": signature_hex(sign_digest(outsider, digest))})
    aligned = align_signatures(world.valset, digest, {
        world.valset.validators[i]: sign_digest(signers(world, i)[0], digest) for i in (0, 2, 3)})
    assert [s.v == 0 for s in aligned.signatures] == [False, True, False, False]
    r, rec = relayer(world, node)
    r.run_round()
    (sent,) = rec.of("batch_submitted")
    assert sent["signers"] == 3 and world.bridge.batch_executed(1)


def test_a_chain_answer_below_the_threshold_in_l1s_valset_is_not_sent(world: World, node: FakeRelayNode) -> None:
    body = node.add_batch(1, eth_withdrawals([fresh_address(18)], ONE_ETH, GWEI), timeout(world), signers(world, 0, 1))
    body["ready"], body["signed_power"] = True, str(2**32 - 1)  # the chain's word, wrong
    vs = node.add_valset(NEXT_VALSET, NEXT[:4])  # signed by the new validators, not by L1's valset
    vs["ready"] = True
    balance = world.client.balance(world.relayer)
    r, rec = relayer(world, node)
    r.run_round()
    assert sorted(rec.reasons()) == [(1, "signatures"), (1, "signatures")]
    assert world.client.balance(world.relayer) == balance
    assert world.bridge.valset_nonce() == 0 and not world.bridge.batch_executed(1)


def test_a_forged_signature_is_dropped_and_the_rest_still_carries_the_batch(world: World,
                                                                            node: FakeRelayNode) -> None:
    w = eth_withdrawals([fresh_address(19)], ONE_ETH, GWEI)
    body = node.add_batch(1, w, timeout(world), signers(world, 0, 1, 2, 3))
    wrong = bytes(32)
    from bridge.signing import sign_digest

    body["signatures"][3]["signature"] = signature_hex(sign_digest(signers(world, 3)[0], wrong))
    r, rec = relayer(world, node)
    r.run_round()
    (sent,) = rec.of("batch_submitted")
    assert sent["signers"] == 3


def test_a_chain_valset_that_does_not_match_the_checkpoint_stops_the_round(world: World,
                                                                            node: FakeRelayNode) -> None:
    node.valsets[0]["powers"] = [p + 1 for p in node.valsets[0]["powers"]]
    node.state_valset = Valset.of(0, world.valset.validators, [p + 1 for p in world.valset.powers])
    node.add_batch(1, eth_withdrawals([fresh_address(20)], ONE_ETH, GWEI), timeout(world), three(world))
    r, rec = relayer(world, node)
    r.run_round()
    assert rec.names()[-1] == "waiting" and not world.bridge.batch_executed(1)


def test_a_wrong_digest_or_a_malformed_entry_skips_only_that_batch(world: World, node: FakeRelayNode) -> None:
    node.add_batch(1, eth_withdrawals([fresh_address(21)], ONE_ETH, GWEI), timeout(world), three(world))
    node.batches[1]["withdrawals"][0]["amount"] = str(2 * ONE_ETH)  # not what the validators signed
    node.add_batch(2, eth_withdrawals([fresh_address(22)], ONE_ETH, GWEI), timeout(world), three(world))
    node.batches[3] = {"nonce": 3, "status": "pending", "timeout_l1_block": "soon", "withdrawals": []}
    node.add_batch(4, eth_withdrawals([fresh_address(23)], ONE_ETH, GWEI), timeout(world), three(world))
    r, rec = relayer(world, node)
    r.run_round()
    assert (1, "bad_digest") in rec.reasons() and (None, "bad_answer") in rec.reasons()
    assert [e["nonce"] for e in rec.of("batch_submitted")] == [2, 4]


# -- transport -----------------------------------------------------------------------------------------------


def test_transport_errors_are_retried_with_backoff(world: World, node: FakeRelayNode) -> None:
    node.add_batch(1, eth_withdrawals([fresh_address(24)], ONE_ETH, GWEI), timeout(world), three(world))
    node.fail_next = 2
    slept: list[float] = []
    r, _ = relayer(world, node)
    r._sleep = slept.append
    assert r.run_round().batches_submitted == 1
    assert slept == [0.25, 0.5]


def test_a_node_that_stays_down_fails_the_round_bounded(world: World, node: FakeRelayNode) -> None:
    node.fail_next = 1000
    slept: list[float] = []
    r, rec = relayer(world, node, retries=6, max_backoff=2.0)
    r._sleep = slept.append
    with pytest.raises(RoundFailed, match="after 7 attempts"):
        r.run_round()
    assert slept == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert rec.names() == ["error"]
    node.fail_next = 0
    node.add_batch(1, eth_withdrawals([fresh_address(25)], ONE_ETH, GWEI), timeout(world), three(world))
    run(r, once=False, interval=0.0, sleep=lambda s: None, rounds=1)  # the loop goes on once it answers
    assert world.bridge.batch_executed(1)


def test_parse_interval() -> None:
    assert parse_interval("1s") == 1.0 and parse_interval("500ms") == 0.5 and parse_interval("2m") == 120.0
    assert parse_interval("1.5") == 1.5
    for bad in ("0s", "fast", "-1s", ""):
        with pytest.raises(Exception, match="--interval"):
            parse_interval(bad)


# -- the command ---------------------------------------------------------------------------------------------

RELAYER_KEY = "0x" + keccak(text="relayer-cli-key").hex()


@pytest.fixture
def cli_env(world: World, node: FakeRelayNode, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAccount]:
    account: LocalAccount = Account.from_key(RELAYER_KEY)
    world.l1.w3.eth.send_transaction({"from": world.user, "to": account.address, "value": Wei(10 * ONE_ETH)})
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", RELAYER_KEY)
    for name in ("BRIDGE_PASSPHRASE", "BRIDGE_KEYSTORE", "BRIDGE_PASSPHRASE_FILE", "BRIDGE_L1_RPC", "SIDECHAIN_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(common, "NodeClient", lambda url, source="": node)
    monkeypatch.setattr(L1Client, "connect", classmethod(lambda cls, url, expected=None, **kw: world.l1.client))
    yield account


def test_relay_once_json_lines(world: World, node: FakeRelayNode, cli_env: LocalAccount,
                               capsys: pytest.CaptureFixture[str]) -> None:
    node.add_valset(NEXT_VALSET, three(world))
    node.add_batch(1, eth_withdrawals([fresh_address(26)], ONE_ETH, GWEI), timeout(world), NEXT[:4],
                   signed_in=NEXT_VALSET)
    code = main(["relay", "--once", "--node", "http://127.0.0.1:26657", "--l1-rpc", "http://l1.invalid",
                 "--no-profit-check", "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["event"] for x in lines] == ["started", "valset_submitted", "batch_submitted", "round"]
    assert lines[0]["relayer"] == cli_env.address
    assert lines[-1]["batches_submitted"] == 1 and lines[-1]["valsets_submitted"] == 1
    assert int(lines[-1]["spent_wei"]) == int(lines[1]["spent_wei"]) + int(lines[2]["spent_wei"])
    assert RELAYER_KEY[2:] not in out + err


def test_relay_once_unreachable_l1_is_one_line_and_exit_1(world: World, node: FakeRelayNode, cli_env: LocalAccount,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.errors import L1ConnectionError

    def down(cls: Any, url: str, expected: Any = None, **kw: Any) -> L1Client:
        raise L1ConnectionError(f"cannot reach the L1 RPC at {url} (connection refused)")

    monkeypatch.setattr(L1Client, "connect", classmethod(down))
    code = main(["relay", "--once", "--retries", "1", "--node", "http://127.0.0.1:26657", "--l1-rpc",
                 "http://127.0.0.1:1"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: connecting to L1: cannot reach the L1 RPC"), err


def test_a_node_without_a_bridge_or_a_malformed_list_fails_the_round_in_one_line(world: World,
                                                                                 node: FakeRelayNode) -> None:
    node.enabled = False
    r, rec = relayer(world, node)
    with pytest.raises(RoundFailed, match="the bridge is not enabled"):
        r.run_round()
    node.enabled = True
    node.batches[1] = {"nonce": 1, "status": "pending", "timeout_l1_block": 5}
    original = node._query

    def broken(path: str, height: int, prove: bool) -> dict[str, Any]:
        if path == "/bridge/batches/pending":
            return node._json(["not", "an", "object"], node.height)
        return original(path, height, prove)

    node._query = broken  # type: ignore[method-assign]
    with pytest.raises(RoundFailed, match="/bridge/batches/pending"):
        r.run_round()
    assert [e.event for e in rec.events].count("error") == 2


def test_the_gas_limit_has_headroom_within_the_transaction_gas_cap() -> None:
    from bridge.relayer import MAX_TX_GAS, _with_headroom

    assert _with_headroom(100_000) == 130_000
    assert _with_headroom(14_000_000) == MAX_TX_GAS == 2**24  # 1.2 x would exceed what a transaction may use
