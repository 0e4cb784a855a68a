"""Rule 6 payouts under hostile recipients and relayers (bounded gas, deferral) and rule 7 (deferred claims)."""

from __future__ import annotations

import pytest

from bridge.protocol import ETH_TOKEN, Withdrawal
from tests.unit.bridge.conftest import ONE_ETH, World, fresh_address, reverts

ERC20_MODE = {"Normal": 0, "Reenter": 1, "BurnGas": 2, "ReturnBomb": 3, "ReturnFalse": 4}


@pytest.fixture
def funded(world: World) -> World:
    world.fund_eth(10 * ONE_ETH)
    world.fund_token(world.token, 10**24)
    return world


def _eth(world: World, to: str, amount: int = 1_000, fee: int = 0) -> Withdrawal:
    return Withdrawal.of(ETH_TOKEN, to, amount, fee)


def _deferred_events(world: World, receipt: object) -> list[tuple[str, str, int]]:
    return [
        (e.args["token"], e.args["recipient"], e.args["amount"]) for e in world.events(receipt, "WithdrawalDeferred")
    ]


def test_reverting_recipient_is_deferred_and_claims_later_to_another_address(funded: World) -> None:
    refuser = funded.deploy("RevertingRecipient")
    paid = fresh_address(1)
    batch = funded.batch()
    receipt = funded.submit([_eth(funded, refuser.address, 3 * ONE_ETH), _eth(funded, paid, ONE_ETH)], batch=batch)
    assert _deferred_events(funded, receipt) == [(ETH_TOKEN, refuser.address, 3 * ONE_ETH)]
    assert funded.events(receipt, "WithdrawalDeferred")[0].args["batchNonce"] == batch.nonce
    assert funded.client.balance(paid) == ONE_ETH  # the rest of the batch executed
    assert funded.bridge.deferred(ETH_TOKEN, refuser.address) == 3 * ONE_ETH
    assert funded.bridge.total_deferred(ETH_TOKEN) == 3 * ONE_ETH

    elsewhere = fresh_address(2)
    receipt = funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, elsewhere), funded.user)
    (event,) = funded.events(receipt, "DeferredClaimed")
    assert event.args == {
        "token": ETH_TOKEN,
        "account": refuser.address,
        "to": elsewhere,
        "amount": 3 * ONE_ETH,
    }
    assert funded.client.balance(elsewhere) == 3 * ONE_ETH
    assert funded.bridge.deferred(ETH_TOKEN, refuser.address) == 0
    assert funded.bridge.total_deferred(ETH_TOKEN) == 0
    with reverts("NothingToClaim", token=ETH_TOKEN, account=refuser.address):
        funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, elsewhere), funded.user)


def test_claim_rules(funded: World) -> None:
    refuser = funded.deploy("RevertingRecipient")
    funded.submit([_eth(funded, refuser.address, 5)])
    zero = "0x" + "00" * 20
    with reverts("ZeroRecipient"):
        funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, zero), funded.user)
    with reverts("NothingToClaim", token=ETH_TOKEN, account=funded.user):
        funded.bridge.claim_deferred(ETH_TOKEN, funded.user, funded.user)
    # A claim whose transfer fails reverts and the balance stays owed.
    other_refuser = funded.deploy("RevertingRecipient")
    with reverts("ClaimFailed", token=ETH_TOKEN, to=other_refuser.address, amount=5):
        funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, other_refuser.address), funded.user)
    assert funded.bridge.deferred(ETH_TOKEN, refuser.address) == 5
    # Once it accepts, it can claim to itself.
    funded.send(refuser.functions.setAccept(True), funded.user)
    funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, refuser.address), funded.user)
    assert funded.client.balance(refuser.address) == 5


def test_blocklisted_erc20_holder_is_deferred_and_claims_elsewhere(funded: World) -> None:
    holder = funded.l1.accounts[6]
    funded.send(funded.token.functions.setBlocked(holder, True), funded.user)
    receipt = funded.submit([Withdrawal.of(funded.token.address, holder, 123, 0)])
    assert _deferred_events(funded, receipt) == [(funded.token.address, holder, 123)]
    funded.bridge.claim_deferred(funded.token.address, funded.other, holder)
    assert funded.balance_of(funded.token.address, funded.other) == 123
    assert funded.bridge.total_deferred(funded.token.address) == 0


def test_token_returning_false_is_deferred(funded: World) -> None:
    evil = funded.evil
    funded.fund_token(evil, 1_000)
    funded.send(evil.functions.configure(ERC20_MODE["ReturnFalse"], 0, ETH_TOKEN, b"", False), funded.user)
    receipt = funded.submit([Withdrawal.of(evil.address, funded.other, 400, 0)])
    assert _deferred_events(funded, receipt) == [(evil.address, funded.other, 400)]
    assert funded.balance_of(evil.address, funded.other) == 0


def test_relayer_that_cannot_receive_its_fee_is_deferred_too(funded: World) -> None:
    relayer = funded.deploy("NonReceivingRelayer")
    withdrawals = [_eth(funded, fresh_address(1), 1_000, 30), _eth(funded, fresh_address(2), 1_000, 12)]
    batch = funded.batch()
    data = funded.submit_calldata(withdrawals, batch)
    receipt = funded.send(relayer.functions.relay(funded.bridge.address, data), funded.user)
    assert _deferred_events(funded, receipt) == [(ETH_TOKEN, relayer.address, 42)]
    assert funded.client.balance(fresh_address(1)) == 1_000
    assert funded.bridge.deferred(ETH_TOKEN, relayer.address) == 42
    payee = fresh_address(3)
    funded.send(relayer.functions.claim(funded.bridge.address, ETH_TOKEN, payee), funded.user)
    assert funded.client.balance(payee) == 42


def _gas_against_a_plain_refuser(world: World, hostile: str) -> tuple[int, object]:
    """Gas of a batch paying `hostile` minus that of the same batch paying a plain reverting recipient, both
    run after a warm-up batch so that every storage slot they write is in the same state."""
    paid = fresh_address(1)
    warm, plain = world.deploy("RevertingRecipient"), world.deploy("RevertingRecipient")
    world.submit([_eth(world, warm.address, 77), _eth(world, paid, 1)])
    hostile_receipt = world.submit([_eth(world, hostile, 77), _eth(world, paid, 1)])
    assert _deferred_events(world, hostile_receipt) == [(ETH_TOKEN, hostile, 77)]
    assert world.client.balance(paid) == 2  # the rest of the batch executed
    plain_receipt = world.submit([_eth(world, plain.address, 77), _eth(world, paid, 1)])
    return hostile_receipt["gasUsed"] - plain_receipt["gasUsed"], hostile_receipt


def test_gas_burning_recipient_is_deferred_with_bounded_gas(funded: World) -> None:
    burner = funded.deploy("GasBurningRecipient")
    extra, _ = _gas_against_a_plain_refuser(funded, burner.address)
    # The burner costs the bridge its allowance (50,000 + the 2,300 stipend) and nothing more.
    assert 40_000 < extra <= 52_300


def test_return_data_bomb_is_not_copied(funded: World) -> None:
    bomb = funded.deploy("ReturnBombRecipient")
    extra, _ = _gas_against_a_plain_refuser(funded, bomb.address)
    # The 100 kB payload costs the callee about 28,000 gas of memory, within its allowance; copying it into
    # the bridge's memory would cost the bridge as much again, which this bound excludes.
    assert 20_000 < extra < 40_000


@pytest.mark.parametrize("mode", ["BurnGas", "ReturnBomb"])
def test_hostile_token_payout_is_bounded_and_deferred(funded: World, mode: str) -> None:
    evil = funded.evil
    funded.fund_token(evil, 1_000)
    paid = fresh_address(1)

    def run(token_mode: str, recipient: str) -> object:
        funded.send(evil.functions.configure(ERC20_MODE[token_mode], 0, ETH_TOKEN, b"", False), funded.user)
        receipt = funded.submit([Withdrawal.of(evil.address, recipient, 10, 0), _eth(funded, paid, 3)])
        assert _deferred_events(funded, receipt) == [(evil.address, recipient, 10)]
        return receipt

    run("ReturnFalse", fresh_address(2))  # warm-up: every slot written below is already non-zero
    hostile = run(mode, fresh_address(3))
    plain = run("ReturnFalse", fresh_address(4))
    assert funded.client.balance(paid) == 9  # the ETH payouts of all three batches executed
    # Bounded by the token allowance (150,000); copying a 200 kB return payload would add ~95,000 more.
    assert 50_000 < hostile["gasUsed"] - plain["gasUsed"] <= 150_000


def test_low_gas_limit_reverts_the_whole_batch_and_defers_nothing(funded: World) -> None:
    recipients = [fresh_address(10 + i) for i in range(3)]
    withdrawals = [_eth(funded, r, 1_000, 1) for r in recipients]
    batch = funded.batch()
    sigs = funded.sign(funded.bridge.domain.batch_digest(batch, withdrawals))
    fn = funded.bridge.fn.submitBatch(
        funded.valset.to_abi(), [s.to_abi() for s in sigs], batch.to_abi(), [w.to_abi() for w in withdrawals]
    )
    needed = fn.estimate_gas({"from": funded.relayer})
    with reverts("InsufficientGasForPayout"):
        funded.submit(withdrawals, batch=batch, sigs=sigs, gas=needed - 60_000)
    assert not funded.bridge.batch_executed(batch.nonce)
    assert funded.bridge.total_deferred(ETH_TOKEN) == 0
    assert all(funded.client.balance(r) == 0 for r in recipients)
    funded.submit(withdrawals, batch=batch, sigs=sigs, gas=needed)
    assert all(funded.client.balance(r) == 1_000 for r in recipients)


def test_no_gas_limit_can_force_a_payout_into_deferral(funded: World) -> None:
    """Sweep the relayer's gas limit across the payouts: a hungry (but honest) recipient is either paid or
    the whole batch reverts; it is never deferred."""
    hungry = [funded.deploy("GasHungryRecipient", 25_000) for _ in range(2)]
    withdrawals = [_eth(funded, hungry[0].address, 100), _eth(funded, fresh_address(1), 100, 7)]
    withdrawals.append(_eth(funded, hungry[1].address, 100))
    batch = funded.batch(timeout_in=10_000)
    sigs = funded.sign(funded.bridge.domain.batch_digest(batch, withdrawals))
    fn = funded.bridge.fn.submitBatch(
        funded.valset.to_abi(), [s.to_abi() for s in sigs], batch.to_abi(), [w.to_abi() for w in withdrawals]
    )
    needed = fn.estimate_gas({"from": funded.relayer})
    outcomes = set()
    snapshot = funded.l1.snapshot()
    for gas in range(needed - 300_000, needed + 1, 9_973):
        try:
            receipt = funded.submit(withdrawals, batch=batch, sigs=sigs, gas=gas)
        except Exception as exc:  # out of gas before the payouts, or the payout gas check
            outcomes.add(type(exc).__name__ + getattr(exc, "name", ""))
            continue
        outcomes.add("executed")
        assert funded.events(receipt, "WithdrawalDeferred") == []
        assert [int(h.functions.received().call()) for h in hungry] == [100, 100]
        funded.l1.revert(snapshot)
    assert "executed" in outcomes and "ContractRevertErrorInsufficientGasForPayout" in outcomes
