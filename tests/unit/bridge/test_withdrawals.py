"""BRIDGE.md section 5, steps 1 and 4-6, through the app with signed txs and signed extended commits:
MsgWithdraw and its refusals, MsgCancelWithdrawal, batch formation (fee order, ties, size, interval,
token order), the batch digest, BatchExecuted, timeouts and their refunds, and the queries."""

from __future__ import annotations

import pytest

from bridge.module import keys as k
from bridge.protocol import Batch, Domain, Withdrawal, checksum
from sidechain import blocks as b
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from tests.unit.bridge.wchain import (
    CONTRACT,
    L1_ADDR,
    TOKEN,
    TOKEN_DENOM,
    WChain,
    addr,
    cancel_msg,
    events_of,
    raw_withdraw_msg,
    withdraw_msg,
)

HOLD = {"batch_interval_blocks": 1000}  # no batch until the queue is full


def funded(params: dict[str, object] | None = None, eth: int = 1000, n_users: int = 3, **kw: object) -> WChain:
    c = WChain(n_users=n_users, params=params or {}, **kw)  # type: ignore[arg-type]
    c.step()
    for i in range(n_users):
        c.l1_deposit(addr(c.users[i]), eth)
    c.settle()
    assert [c.balance(i) for i in range(n_users)] == [eth] * n_users
    return c


def refused(r: b.TxResult, code: int, text: str, codespace: str = "bridge") -> None:
    assert (r.codespace, r.code) == (codespace, code), r
    assert text in r.log, r.log


# --- MsgWithdraw --------------------------------------------------------------------------------


def test_withdraw_burns_amount_and_fee_and_queues() -> None:
    c = funded(HOLD)
    r = c.withdraw(0, 300, 5)
    assert r.code == 0, r.log
    (ev,) = events_of(r, "bridge_withdrawal_queued")
    assert ev == {"id": "1", "sender": c.withdrawal(1)["sender"], "recipient": "0x" + L1_ADDR.hex(),
                  "denom": "l1/eth", "amount": "300", "fee": "5"}
    assert c.balance(0) == 695 and c.bank_supply("l1/eth") == 2695
    s = c.state()
    assert s["supply"] == {"l1/eth": "2695"} and s["queued"] == {"l1/eth": "305"} and s["in_batches"] == {}
    assert s["next_withdrawal_id"] == 2 and s["next_batch_nonce"] == 1
    w = c.withdrawal(1)
    assert w["status"] == "queued" and w["position"] == 1 and w["amount"] == "300" and w["fee"] == "5"
    assert w["token"] == "0x" + "00" * 20 and w["recipient"] == "0x" + L1_ADDR.hex()
    assert w["queued_height"] == c.height and "batch_nonce" not in w
    q = c.query("/bridge/queue/l1/eth")
    assert (q["queued"], q["amount"], q["fee"], q["total"]) == (1, "300", "5", "305")


def test_withdraw_refusals_have_stable_codes_and_change_nothing() -> None:
    c = funded({"max_queue_per_token": 2, **HOLD})
    me = addr(c.users[0])
    before = (c.balance(0), c.state())
    cases = [
        (withdraw_msg(me, 10, 0, denom="stake"), 8, "not a bridged denom"),
        (withdraw_msg(me, 10, 0, denom="l1/0xabc"), 14, "invalid denom"),  # not a denom at all (codespace tx)
        (withdraw_msg(me, 0, 1), 9, "amount to withdraw is 0"),
        (withdraw_msg(me, 10, 0, recipient=b"\0" * 20), 10, "zero address"),
        (withdraw_msg(me, 10, 0, recipient=CONTRACT), 10, "bridge contract itself"),
        (withdraw_msg(me, 1000, 1), 13, "have 1000l1/eth, need 1001l1/eth (amount 1000 + fee 1)"),
        (withdraw_msg(me, 10, 0, denom=TOKEN_DENOM), 13, f"have 0{TOKEN_DENOM}"),
    ]
    wrong_fee = pb.MsgWithdraw(sender=me, recipient=L1_ADDR, amount=tx_pb2.Coin(denom="l1/eth", amount="10"),
                               fee=tx_pb2.Coin(denom="stake", amount="1"))
    cases.append((raw_withdraw_msg(wrong_fee), 14, "fee is in stake"))
    for msg, code, text in cases:
        refused(c.send(0, msg), code, text, codespace="tx" if code == 14 and "denom" in text else "bridge")
    refused(c.send(0, withdraw_msg(addr(c.users[1]), 10)), 11, "not the address of the key", codespace="tx")
    short = pb.MsgWithdraw(sender=me, recipient=b"\1" * 19, amount=tx_pb2.Coin(denom="l1/eth", amount="10"))
    refused(c.send(0, raw_withdraw_msg(short)), 14, "recipient", codespace="tx")
    assert (c.balance(0), c.state()) == before
    # The queue holds max_queue_per_token (2): the third waits until batches take some.
    assert c.withdraw(0, 1).code == 0 and c.withdraw(1, 1).code == 0
    refused(c.withdraw(2, 1), 12, "withdrawal queue of l1/eth is full (2 waiting")
    assert c.balance(2) == 1000


def test_two_withdrawals_beyond_the_balance_the_proposer_keeps_only_the_first() -> None:
    c = funded(HOLD)
    txs = [c.tx(0, withdraw_msg(addr(c.users[0]), 600, 0)), c.tx(0, withdraw_msg(addr(c.users[0]), 600, 0))]
    out = c.step(txs)
    assert len(out.tx_results) == 2 and out.tx_results[1].code == 0  # the extended commit, then the first
    assert c.balance(0) == 400 and c.state()["queued"] == {"l1/eth": "600"}
    refused(c.check(txs[1]), 13, "have 400l1/eth, need 600l1/eth")


def test_a_chain_without_a_bridge_refuses_withdrawals() -> None:
    c = WChain(bridge=False)
    c.step()
    refused(c.withdraw(0, 10), 11, "this chain has no bridge")
    assert c.state() == {"enabled": False}


# --- MsgCancelWithdrawal ------------------------------------------------------------------------


def test_cancel_returns_amount_and_fee_to_the_sender_only_while_queued() -> None:
    c = funded(HOLD)
    assert c.withdraw(0, 300, 7).code == 0 and c.withdraw(1, 100, 1).code == 0
    refused(c.send(1, cancel_msg(addr(c.users[1]), 1)), 15, "withdrawal 1 is not yours")
    refused(c.send(0, cancel_msg(addr(c.users[0]), 9)), 6, "no withdrawal 9")
    r = c.send(0, cancel_msg(addr(c.users[0]), 1))
    assert r.code == 0, r.log
    assert events_of(r, "bridge_withdrawal_cancelled")[0]["amount"] == "300"
    assert c.balance(0) == 1000 and c.bank_supply("l1/eth") == 2899  # user 1's 101 still queued
    assert c.withdrawal(1)["status"] == "cancelled" and "position" not in c.withdrawal(1)
    assert c.state()["queued"] == {"l1/eth": "101"} and c.state()["supply"] == {"l1/eth": "2899"}
    assert c.withdrawal(2)["position"] == 1
    refused(c.send(0, cancel_msg(addr(c.users[0]), 1)), 16, "withdrawal 1 is cancelled")


def test_a_batched_withdrawal_cannot_be_cancelled() -> None:
    c = funded({"batch_interval_blocks": 0})
    assert c.withdraw(0, 300, 7).code == 0  # batched in the block that queued it (interval 0)
    assert c.withdrawal(1)["status"] == "batched" and c.withdrawal(1)["batch_nonce"] == 1
    refused(c.send(0, cancel_msg(addr(c.users[0]), 1)), 16, "withdrawal 1 is batched (batch 1)")
    assert c.balance(0) == 693


# --- batches (step 6) ---------------------------------------------------------------------------


def test_batch_takes_the_highest_fees_ties_by_lowest_id_up_to_max_size() -> None:
    c = funded({"max_batch_size": 3, "batch_interval_blocks": 3}, n_users=5)
    fees = [5, 9, 5, 1, 9]
    txs = [c.tx(i, withdraw_msg(addr(c.users[i]), 10 + i, fee)) for i, fee in enumerate(fees)]
    out = c.step(txs[:2])  # ids 1, 2 at height h
    queued_at = c.height
    assert not events_of(out, "bridge_batch_created")
    c.step(txs[2:])  # ids 3, 4, 5: the queue holds 5 >= max_batch_size: a batch at once
    (created,) = [e for e in c.pending()]
    assert [w["id"] for w in created["withdrawals"]] == [2, 5, 1]  # fee 9 (id 2), 9 (id 5), then 5 (id 1)
    assert created["nonce"] == 1 and created["status"] == "pending"
    assert c.withdrawal(3)["position"] == 1 and c.withdrawal(4)["position"] == 2
    assert c.state()["queued"] == {"l1/eth": "31"}  # (12 + 5) + (13 + 1)
    assert c.state()["in_batches"] == {"l1/eth": str(11 + 9 + 14 + 9 + 10 + 5)}
    # The rest (2 < max_batch_size) waits until its oldest (id 3, queued at h + 1) has waited 3 blocks.
    while c.height < queued_at + 1 + 3 - 1:
        c.step()
        assert len(c.pending()) == 1
    c.step()
    second = c.batch(2)
    assert [w["id"] for w in second["withdrawals"]] == [3, 4] and second["created_height"] == queued_at + 4
    assert c.withdrawal(4)["status"] == "batched" and c.withdrawal(4)["batch_nonce"] == 2
    assert c.state()["queued"] == {} and c.query("/bridge/queue/l1/eth")["in_batches"]["withdrawals"] == 5


def test_batch_interval_one_batches_in_the_next_block_and_zero_in_the_same() -> None:
    c = funded()
    assert c.withdraw(0, 10).code == 0
    assert c.pending() == []  # the oldest has waited 0 blocks
    c.step()
    assert [p["withdrawals"][0]["id"] for p in c.pending()] == [1]
    c = funded({"batch_interval_blocks": 0})
    assert c.withdraw(0, 10).code == 0
    assert len(c.pending()) == 1


def test_batch_digest_timeout_and_token_order() -> None:
    c = funded({"batch_timeout_l1_blocks": 50})
    c.l1_deposit(addr(c.users[1]), 500, TOKEN)
    c.settle()
    observed = c.state()["observed_l1_height"]
    assert isinstance(observed, int)
    txs = [c.tx(1, withdraw_msg(addr(c.users[1]), 200, 3, denom=TOKEN_DENOM)),
           c.tx(0, withdraw_msg(addr(c.users[0]), 100, 2))]
    c.step(txs)
    out = c.step()
    created = events_of(out, "bridge_batch_created")
    assert [e["denom"] for e in created] == ["l1/eth", TOKEN_DENOM]  # token order: ETH (address 0) first
    eth, tok = c.batch(1), c.batch(2)
    assert eth["timeout_l1_block"] == tok["timeout_l1_block"] == observed + 50
    domain = Domain(1337, checksum(CONTRACT))
    expected = domain.batch_digest(Batch(2, observed + 50), [Withdrawal.of(checksum(TOKEN), checksum(L1_ADDR), 200, 3)])
    assert tok["digest"] == "0x" + expected.hex() and created[1]["digest"] == tok["digest"]
    assert tok["token"] == "0x" + TOKEN.hex() and tok["amount"] == "200" and tok["fee"] == "3"


# --- BatchExecuted (step 1) and timeouts (step 4) -------------------------------------------------


def test_batch_executed_completes_it_and_it_is_never_refunded() -> None:
    c = funded({"batch_timeout_l1_blocks": 10})
    assert c.withdraw(0, 300, 5).code == 0 and c.withdraw(1, 100, 0).code == 0
    c.step()
    timeout = c.batch(1)["timeout_l1_block"]
    c.l1_execute(1, withdrawals=2)
    c.settle()
    done = c.batch(1)
    assert done["status"] == "executed" and done["l1_block"] == c.l1_events[-1].l1_block
    assert done["l1_tx"] == "0x" + c.l1_events[-1].l1_tx.hex() and done["event_nonce"] == c.l1_events[-1].nonce
    assert [c.withdrawal(i)["status"] for i in (1, 2)] == ["executed", "executed"]
    s = c.state()
    assert s["in_batches"] == {} and s["executed"] == {"l1/eth": "405"} and s["supply"] == {"l1/eth": "2595"}
    assert c.pending() == []
    c.l1_advance(int(timeout) + 5 - c.l1_head)  # type: ignore[call-overload]
    c.settle()
    assert c.state()["observed_l1_height"] >= timeout  # type: ignore[operator]
    assert c.batch(1)["status"] == "executed" and c.balance(0) == 695 and c.balance(1) == 900


def test_execution_and_timeout_seen_in_the_same_block_pay_and_never_refund() -> None:
    c = funded({"batch_timeout_l1_blocks": 10})
    assert c.withdraw(0, 300, 5).code == 0
    c.step()
    timeout = c.batch(1)["timeout_l1_block"]
    c.l1_execute(1)  # in an L1 block below the timeout ...
    c.l1_advance(int(timeout) + 3 - c.l1_head)  # type: ignore[call-overload]  # ... and the head past it, at once
    out = c.step()
    out2 = c.step()
    both = [*out.events, *out2.events]
    assert [e.type for e in both if e.type in ("bridge_batch_executed", "bridge_batch_refunded")] == \
        ["bridge_batch_executed"]
    assert c.batch(1)["status"] == "executed" and c.balance(0) == 695


def test_timeout_refunds_exactly_amount_and_fee_at_the_timeout_block() -> None:
    c = funded({"batch_timeout_l1_blocks": 10})
    assert c.withdraw(0, 300, 5).code == 0 and c.withdraw(1, 100, 0).code == 0
    c.step()
    timeout = int(c.batch(1)["timeout_l1_block"])  # type: ignore[call-overload]
    c.l1_advance(timeout - 1 - c.l1_head)
    c.settle()
    assert c.state()["observed_l1_height"] == timeout - 1 and c.batch(1)["status"] == "pending"
    c.l1_advance(1)
    out = c.step()
    out2 = c.step()
    refunds = events_of(out, "bridge_batch_refunded") + events_of(out2, "bridge_batch_refunded")
    assert refunds == [{"batch_nonce": "1", "denom": "l1/eth", "withdrawals": "2", "amount": "400", "fee": "5",
                        "timeout_l1_block": str(timeout), "observed_l1_height": str(timeout)}]
    assert c.balance(0) == 1000 and c.balance(1) == 1000  # exactly amount + fee back
    assert c.batch(1)["status"] == "refunded" and [c.withdrawal(i)["status"] for i in (1, 2)] == ["refunded"] * 2
    s = c.state()
    assert s["supply"] == {"l1/eth": "3000"} and s["in_batches"] == {} and s["queued"] == {} and s["executed"] == {}
    assert c.bank_supply("l1/eth") == 3000
    # L1 runs it late (the contract refuses that; here a faulty L1 view): recorded, nothing paid twice.
    c.l1_execute(1)
    c.settle()
    (u,) = c.query("/bridge/unexpected-executions")["executions"]  # type: ignore[misc]
    assert u["batch_nonce"] == 1 and u["reason"] == "refunded"
    assert c.batch(1)["status"] == "refunded" and c.balance(0) == 1000


def test_batch_executed_for_an_unknown_nonce_is_recorded_and_ignored() -> None:
    c = funded()
    before = c.state()
    e = c.l1_execute(77, withdrawals=3)
    c.settle()
    (u,) = c.query("/bridge/unexpected-executions")["executions"]  # type: ignore[misc]
    assert u == {"batch_nonce": 77, "event_nonce": e.nonce, "l1_tx": "0x" + e.l1_tx.hex(), "l1_block": e.l1_block,
                 "height": u["height"], "reason": "unknown"}
    after = c.state()
    assert after["last_event_nonce"] == e.nonce
    for key in ("supply", "queued", "in_batches", "executed", "next_batch_nonce"):
        assert after[key] == before[key]
    assert c.query_error("/bridge/batch/77").log.startswith("no batch 77")


# --- queries ------------------------------------------------------------------------------------


def test_queries_refuse_bad_arguments_and_prove_their_key() -> None:
    c = funded()
    assert c.withdraw(0, 10, 1).code == 0
    c.step()
    for path, text in (("/bridge/withdrawal/0", "out of range"), ("/bridge/withdrawal/x", "expected an integer"),
                       ("/bridge/withdrawal/2", "no withdrawal 2 (the next id is 2)"),
                       ("/bridge/batch/2", "no batch 2 (the next batch nonce is 2)"),
                       ("/bridge/queue/stake", "not a bridged denom"), ("/bridge/batches/all", "usage: ")):
        res = c.query_error(path)  # the app answers a route's input error as a bad request
        assert (res.codespace, res.code) == ("query", 3) and text in res.log, (path, res)
    for path, key in (("/bridge/withdrawal/1", k.withdrawal_key(1)), ("/bridge/batch/1", k.batch_key(1)),
                      ("/bridge/queue/l1/eth", k.token_totals_key(b"\0" * 20))):
        res = c.chain.app.query(b.QueryRequest(path=path, data=b"", height=0, prove=True))
        assert res.code == 0 and res.key == key and res.proof_ops, path


@pytest.mark.parametrize("bad", [{"max_batch_size": 0}, {"max_batch_size": 201}, {"batch_timeout_l1_blocks": 2},
                                 {"max_queue_per_token": 0}, {"batch_interval_blocks": -1}])
def test_params_out_of_range_are_refused_at_genesis(bad: dict[str, object]) -> None:
    from bridge.module.params import BridgeParams
    from sidechain.errors import InvalidParams

    with pytest.raises(InvalidParams):
        BridgeParams.from_json({"l1_confirmations": 2, **bad})
    assert BridgeParams.from_json({}).to_json()["max_batch_size"] == 100  # older genesis: the defaults
