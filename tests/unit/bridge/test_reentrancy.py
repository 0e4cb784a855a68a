"""Rule 9: the transient reentrancy guard, attacked through a malicious ERC-20 and a recipient's fallback."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from bridge.protocol import ETH_TOKEN, Withdrawal
from tests.unit.bridge.conftest import ONE_ETH, RECIPIENT, World, fresh_address

GUARD_ERROR = keccak(text="ReentrancyGuardReentrantCall()")[:4]
REENTER, NORMAL = 1, 0


@pytest.fixture
def funded(world: World) -> World:
    world.fund_eth(10 * ONE_ETH)
    world.fund_token(world.evil, 10**6)  # deposited while the token still behaves
    return world


def _calldata(world: World, fn: object) -> bytes:
    return bytes.fromhex(fn._encode_transaction_data()[2:])  # type: ignore[attr-defined]


def test_token_reentering_deposit_from_transfer_from_is_stopped(funded: World) -> None:
    evil, bridge = funded.evil, funded.bridge
    inner = _calldata(funded, bridge.fn.depositERC20(evil.address, 1, RECIPIENT))
    funded.send(evil.functions.configure(NORMAL, REENTER, bridge.address, inner, False), funded.user)
    funded.send(evil.functions.mint(funded.user, 100), funded.user)
    funded.send(evil.functions.approve(bridge.address, 100), funded.user)
    nonce_before = bridge.event_nonce()
    receipt = bridge.deposit_erc20(evil.address, 100, RECIPIENT, funded.user)
    assert evil.functions.hookCalls().call() == 2  # starts at 1
    assert evil.functions.lastHookOk().call() is False
    assert bytes(evil.functions.lastHookReturn().call()) == GUARD_ERROR
    assert [e.args["amount"] for e in funded.events(receipt, "Deposit")] == [100]  # one deposit, not two
    assert bridge.event_nonce() == nonce_before + 1


def test_token_reentering_claim_during_a_batch_payout_is_stopped(funded: World) -> None:
    evil, bridge = funded.evil, funded.bridge
    # The token contract is owed ETH (it has no receive(), so its ETH withdrawal was deferred): without the
    # guard, its re-entrant claim would succeed in the middle of a batch.
    funded.submit([Withdrawal.of(ETH_TOKEN, evil.address, ONE_ETH, 0)])
    assert bridge.deferred(ETH_TOKEN, evil.address) == ONE_ETH
    refund_to = fresh_address(9)
    inner = _calldata(funded, bridge.fn.claimDeferred(ETH_TOKEN, refund_to))
    funded.send(evil.functions.configure(REENTER, NORMAL, bridge.address, inner, False), funded.user)
    receipt = funded.submit([Withdrawal.of(evil.address, funded.other, 500, 0)])
    assert bytes(evil.functions.lastHookReturn().call()) == GUARD_ERROR
    assert funded.client.balance(refund_to) == 0
    assert bridge.deferred(ETH_TOKEN, evil.address) == ONE_ETH
    assert funded.events(receipt, "DeferredClaimed") == []
    # When the token bubbles the guard's revert, its payout fails and is deferred; the batch still executes.
    funded.send(evil.functions.configure(REENTER, NORMAL, bridge.address, inner, True), funded.user)
    receipt = funded.submit([Withdrawal.of(evil.address, funded.other, 400, 0)])
    deferred = [(e.args["token"], e.args["amount"]) for e in funded.events(receipt, "WithdrawalDeferred")]
    assert deferred == [(evil.address, 400)]
    assert funded.client.balance(refund_to) == 0


def test_token_reentering_submit_batch_cannot_replay_or_nest(funded: World) -> None:
    evil, bridge = funded.evil, funded.bridge
    nested_batch = funded.batch()
    nested = funded.submit_calldata([Withdrawal.of(ETH_TOKEN, fresh_address(5), ONE_ETH, 0)], nested_batch)
    funded.send(evil.functions.configure(REENTER, NORMAL, bridge.address, nested, False), funded.user)
    receipt = funded.submit([Withdrawal.of(evil.address, funded.other, 500, 0)])
    assert bytes(evil.functions.lastHookReturn().call()) == GUARD_ERROR
    assert not bridge.batch_executed(nested_batch.nonce)
    assert funded.client.balance(fresh_address(5)) == 0
    # The token swallowed the failure and transferred: the outer payout succeeded.
    assert funded.events(receipt, "WithdrawalDeferred") == []
    assert funded.balance_of(evil.address, funded.other) == 500


def _reentry_calldata(world: World, target: str, attacker: str) -> bytes:
    bridge = world.bridge
    if target == "depositETH":
        return _calldata(world, bridge.fn.depositETH(RECIPIENT))
    if target == "claimDeferred":
        return _calldata(world, bridge.fn.claimDeferred(ETH_TOKEN, attacker))
    return world.submit_calldata([Withdrawal.of(ETH_TOKEN, attacker, ONE_ETH, 0)], world.batch())


@pytest.mark.parametrize("target", ["depositETH", "claimDeferred", "submitBatch"])
def test_recipient_fallback_reentering_is_stopped_and_deferred(funded: World, target: str) -> None:
    bridge = funded.bridge
    attacker = funded.deploy("ReentrantRecipient")
    inner = _reentry_calldata(funded, target, attacker.address)
    funded.send(attacker.functions.configure(bridge.address, inner, True), funded.user)
    receipt = funded.submit([Withdrawal.of(ETH_TOKEN, attacker.address, 2 * ONE_ETH, 0)])
    # Its fallback bubbled the guard's revert, so its payout is deferred (to claim later), not paid twice.
    assert [e.name for e in funded.events(receipt)] == ["WithdrawalDeferred", "BatchExecuted"]
    assert bridge.deferred(ETH_TOKEN, attacker.address) == 2 * ONE_ETH
    assert funded.client.balance(attacker.address) == 0
    assert funded.client.balance(bridge.address) == 10 * ONE_ETH
    assert bridge.event_nonce() == 4  # genesis, two funding deposits, this batch: no nested event


@pytest.mark.parametrize("target", ["depositETH", "claimDeferred", "submitBatch"])
def test_recipient_fallback_swallowing_the_guard_error_is_paid_once(funded: World, target: str) -> None:
    bridge = funded.bridge
    attacker = funded.deploy("ReentrantRecipient")
    inner = _reentry_calldata(funded, target, attacker.address)
    funded.send(attacker.functions.configure(bridge.address, inner, False), funded.user)
    funded.submit([Withdrawal.of(ETH_TOKEN, attacker.address, ONE_ETH, 0)])
    assert attacker.functions.calls().call() == 2  # starts at 1
    assert attacker.functions.lastOk().call() is False
    assert bytes(attacker.functions.lastReturn().call()) == GUARD_ERROR
    assert funded.client.balance(attacker.address) == ONE_ETH
    assert funded.client.balance(bridge.address) == 9 * ONE_ETH
    assert bridge.event_nonce() == 4
