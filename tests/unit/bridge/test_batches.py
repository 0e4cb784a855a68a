"""Rule 6: batch validity (replay, timeout, emptiness, recipients, balances) and its payouts and fees."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from bridge.protocol import ETH_TOKEN, Batch, Withdrawal
from tests.unit.bridge.conftest import ONE_ETH, World, fresh_address, reverts


@pytest.fixture
def funded(world: World) -> World:
    world.fund_eth(10 * ONE_ETH)
    world.fund_token(world.token, 10**24)
    return world


def _eth(world: World, amount: int = 1_000, fee: int = 0, to: str | None = None) -> Withdrawal:
    return Withdrawal.of(ETH_TOKEN, to or world.other, amount, fee)


def test_batch_pays_every_withdrawal_and_emits_batch_executed(funded: World) -> None:
    recipients = [fresh_address(i) for i in range(3)]
    withdrawals = [
        Withdrawal.of(ETH_TOKEN, recipients[0], 7 * 10**17, 10**15),
        Withdrawal.of(funded.token.address, recipients[1], 5 * 10**20, 10**18),
        Withdrawal.of(ETH_TOKEN, recipients[2], 2 * 10**17, 2 * 10**15),
    ]
    batch = funded.batch()
    receipt = funded.submit(withdrawals, batch=batch)
    assert funded.balance_of(ETH_TOKEN, recipients[0]) == 7 * 10**17
    assert funded.balance_of(funded.token.address, recipients[1]) == 5 * 10**20
    assert funded.balance_of(ETH_TOKEN, recipients[2]) == 2 * 10**17
    (event,) = funded.events(receipt, "BatchExecuted")
    assert event.args == {"eventNonce": 4, "batchNonce": batch.nonce, "withdrawals": 3}
    assert funded.bridge.batch_executed(batch.nonce)
    assert funded.events(receipt, "WithdrawalDeferred") == []


def test_fees_are_summed_per_token_and_paid_to_the_relayer_once(funded: World) -> None:
    withdrawals = [
        _eth(funded, 10, 3),
        Withdrawal.of(funded.token.address, funded.other, 10, 5),
        _eth(funded, 10, 4),
        Withdrawal.of(funded.token.address, funded.other, 10, 6),
    ]
    eth_before = funded.client.balance(funded.relayer)
    token_before = funded.balance_of(funded.token.address, funded.relayer)
    receipt = funded.submit(withdrawals)
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert funded.client.balance(funded.relayer) == eth_before - gas_cost + 7
    assert funded.balance_of(funded.token.address, funded.relayer) == token_before + 11
    # One Transfer to the relayer for the token's fees (not one per withdrawal).
    transfers = funded.token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [t["args"]["value"] for t in transfers if t["args"]["to"] == funded.relayer] == [11]


def test_zero_amount_pays_nothing_but_its_fee_is_paid(funded: World) -> None:
    target = fresh_address(50)
    receipt = funded.submit([_eth(funded, 0, 9, to=target)])
    assert funded.client.balance(target) == 0
    assert funded.events(receipt, "WithdrawalDeferred") == []


def test_replayed_batch_reverts_and_nonces_may_execute_in_any_order(funded: World) -> None:
    withdrawals = [_eth(funded)]
    batch = funded.batch(nonce=300)
    sigs = funded.sign(funded.bridge.domain.batch_digest(batch, withdrawals))
    funded.submit(withdrawals, batch=batch, sigs=sigs)
    with reverts("BatchAlreadyExecuted", batchNonce=300):
        funded.submit(withdrawals, batch=batch, sigs=sigs)
    for nonce in (2, 256, 255, 0, 2**256 - 1):
        funded.submit(withdrawals, batch=funded.batch(nonce=nonce))
    executed = {
        n for n in (0, 1, 2, 3, 254, 255, 256, 257, 299, 300, 301, 2**256 - 1) if funded.bridge.batch_executed(n)
    }
    assert executed == {0, 2, 255, 256, 300, 2**256 - 1}


def test_batch_at_or_after_its_timeout_reverts(funded: World) -> None:
    withdrawals = [_eth(funded)]
    next_block = funded.l1.block_number + 1  # eth-tester mines one block per transaction
    with reverts("BatchTimedOut", batchNonce=1, timeoutL1Block=next_block, blockNumber=next_block):
        funded.submit(withdrawals, batch=Batch(1, next_block))
    past = funded.l1.block_number - 1
    with reverts("BatchTimedOut", timeoutL1Block=past):
        funded.submit(withdrawals, batch=Batch(1, past))
    funded.submit(withdrawals, batch=Batch(1, funded.l1.block_number + 2))  # executes in the block before
    assert funded.bridge.batch_executed(1)


def test_empty_batch_reverts(funded: World) -> None:
    with reverts("EmptyBatch"):
        funded.submit([])


def test_withdrawal_to_zero_address_reverts(funded: World) -> None:
    zero = "0x" + "00" * 20
    with reverts("ZeroWithdrawalRecipient", index=1):
        funded.submit([_eth(funded), _eth(funded, to=zero), _eth(funded)])


def test_overflowing_batch_total_reverts(funded: World) -> None:
    with reverts("WithdrawalTotalOverflow", token=ETH_TOKEN):
        funded.submit([_eth(funded, 2**256 - 1, 1)])
    with reverts("WithdrawalTotalOverflow", token=ETH_TOKEN):
        funded.submit([_eth(funded, 2**255, 0), _eth(funded, 2**255, 0)])


def test_balance_must_cover_the_batch_per_token(funded: World) -> None:
    eth = funded.client.balance(funded.bridge.address)
    with reverts("InsufficientBalance", token=ETH_TOKEN, available=eth, required=eth + 1):
        funded.submit([_eth(funded, eth, 0, to=fresh_address(1)), _eth(funded, 0, 1)])
    tokens = funded.balance_of(funded.token.address, funded.bridge.address)
    with reverts("InsufficientBalance", token=funded.token.address, available=tokens, required=tokens + 2):
        funded.submit([_eth(funded), Withdrawal.of(funded.token.address, funded.other, tokens, 2)])
    noret = funded.noret.address
    with reverts("InsufficientBalance", token=noret, available=0, required=1):
        funded.submit([Withdrawal.of(noret, funded.other, 1, 0)])
    assert funded.client.balance(funded.bridge.address) == eth
    funded.submit([_eth(funded, eth - 5, 5, to=fresh_address(1))])  # exactly covered
    assert funded.client.balance(funded.bridge.address) == 0


def test_money_owed_to_deferrals_is_never_spent(funded: World) -> None:
    refuser = funded.deploy("RevertingRecipient")
    funded.submit([_eth(funded, 4 * ONE_ETH, 0, to=refuser.address)])
    assert funded.bridge.total_deferred(ETH_TOKEN) == 4 * ONE_ETH
    balance = funded.client.balance(funded.bridge.address)
    assert balance == 10 * ONE_ETH
    with reverts("InsufficientBalance", token=ETH_TOKEN, available=6 * ONE_ETH, required=6 * ONE_ETH + 1):
        funded.submit([_eth(funded, 6 * ONE_ETH + 1, 0, to=fresh_address(2))])
    funded.submit([_eth(funded, 6 * ONE_ETH, 0, to=fresh_address(2))])


def test_token_whose_balance_of_fails_reverts_the_batch(funded: World) -> None:
    eoa = fresh_address(3)  # no code: balanceOf returns nothing
    with reverts("BalanceQueryFailed", token=eoa):
        funded.submit([Withdrawal.of(eoa, funded.other, 1, 0)])
    burner = funded.deploy("GasBurningRecipient")  # no balanceOf: the call reverts
    with reverts("BalanceQueryFailed", token=burner.address):
        funded.submit([_eth(funded), Withdrawal.of(burner.address, funded.other, 1, 0)])


def test_withdrawal_to_the_bridge_itself_is_deferred_not_lost(funded: World) -> None:
    receipt = funded.submit([Withdrawal.of(funded.token.address, funded.bridge.address, 77, 0)])
    (event,) = funded.events(receipt, "WithdrawalDeferred")
    assert event.args["recipient"] == funded.bridge.address and event.args["amount"] == 77
    assert funded.bridge.total_deferred(funded.token.address) == 77
