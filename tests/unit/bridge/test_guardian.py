"""Rule 8 (guardian: pause, daily limits, replacement by the validators) and the daily-limit part of rule 6."""

from __future__ import annotations

import pytest

from bridge.protocol import ETH_TOKEN, NO_SIGNATURE, Valset, Withdrawal
from tests.support.bridge_l1.validators import equal_valset, sign_by, validator_accounts
from tests.unit.bridge.conftest import ONE_ETH, RECIPIENT, World, reverts

DAY = 86_400
STATE_CHANGING = {
    "depositETH",
    "depositERC20",
    "updateValset",
    "submitBatch",
    "claimDeferred",
    "setGuardian",
    "pause",
    "unpause",
    "setDailyLimit",
}


@pytest.fixture
def funded(world: World) -> World:
    world.fund_eth(10 * ONE_ETH)
    world.fund_token(world.token, 10**24)
    return world


def _eth(world: World, amount: int, fee: int = 0, to: str | None = None) -> Withdrawal:
    return Withdrawal.of(ETH_TOKEN, to or world.other, amount, fee)


def _guardian_sigs(world: World, new_guardian: str, nonce: int, signers: list[int] | None = None) -> list:
    return world.sign(world.bridge.domain.guardian_change_digest(nonce, new_guardian), signers=signers)


def test_abi_has_exactly_the_specified_state_changing_functions(world: World) -> None:
    mutating = {
        item["name"]
        for item in world.bridge.contract.abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }
    assert mutating == STATE_CHANGING  # nothing else: no admin withdrawal, no upgrade, no setValset


def test_only_the_guardian_can_pause_unpause_and_set_limits(funded: World) -> None:
    for fn in (
        funded.bridge.fn.pause(),
        funded.bridge.fn.unpause(),
        funded.bridge.fn.setDailyLimit(ETH_TOKEN, 1),
    ):
        with reverts("NotGuardian", caller=funded.user, guardian=funded.guardian):
            funded.send(fn, funded.user)


def test_pause_stops_deposits_batches_and_claims_but_not_valset_or_guardian_updates(funded: World) -> None:
    refuser = funded.deploy("RevertingRecipient")
    funded.submit([_eth(funded, 5, to=refuser.address)])
    receipts = [funded.bridge.pause(funded.guardian), funded.bridge.pause(funded.guardian)]  # idempotent
    assert [len(funded.events(r, "Paused")) for r in receipts] == [1, 1]
    assert funded.bridge.paused()

    with reverts("BridgePaused"):
        funded.bridge.deposit_eth(RECIPIENT, 1, funded.user)
    funded.send(funded.token.functions.approve(funded.bridge.address, 1), funded.user)
    with reverts("BridgePaused"):
        funded.bridge.deposit_erc20(funded.token.address, 1, RECIPIENT, funded.user)
    with reverts("BridgePaused"):
        funded.submit([_eth(funded, 1)])
    with reverts("BridgePaused"):
        funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, funded.other), funded.user)

    new_accounts = validator_accounts(4, seed="paused")
    new = equal_valset(new_accounts, nonce=1)
    funded.bridge.update_valset(new, funded.valset, funded.sign(funded.bridge.domain.valset_digest(new)), funded.user)
    sigs = sign_by(new, new_accounts, funded.bridge.domain.guardian_change_digest(1, funded.other))
    funded.bridge.set_guardian(funded.other, 1, new, sigs, funded.user)
    assert funded.bridge.guardian() == funded.other

    receipts = [funded.bridge.unpause(funded.other), funded.bridge.unpause(funded.other)]
    assert [len(funded.events(r, "Unpaused")) for r in receipts] == [1, 1]
    funded.bridge.deposit_eth(RECIPIENT, 1, funded.user)


def test_guardian_cannot_move_funds_or_change_the_valset(funded: World) -> None:
    g = funded.guardian
    withdrawals = [_eth(funded, ONE_ETH, to=g)]
    batch = funded.batch()
    with reverts("InsufficientPower", signed=0):
        funded.submit(withdrawals, batch=batch, sigs=[NO_SIGNATURE] * 4, sender=g)
    own = Valset.of(1, [g], [2**32])
    with reverts("InsufficientPower"):
        funded.bridge.update_valset(own, funded.valset, [NO_SIGNATURE] * 4, g)
    with reverts("ValsetCheckpointMismatch"):  # it cannot pretend to be the current valset either
        funded.bridge.update_valset(own, own, [NO_SIGNATURE], g)
    with reverts("NothingToClaim"):
        funded.bridge.claim_deferred(ETH_TOKEN, g, g)
    with reverts("InsufficientPower"):
        funded.bridge.set_guardian(g, 1, funded.valset, [NO_SIGNATURE] * 4, g)
    # Its powers do not move funds either: a 1-wei limit only makes batches revert.
    funded.bridge.set_daily_limit(ETH_TOKEN, 1, g)
    with reverts("DailyLimitExceeded"):
        funded.submit(withdrawals, batch=batch, sender=g)
    assert funded.client.balance(funded.bridge.address) == 10 * ONE_ETH


def test_daily_limit_counts_amount_plus_fee_per_utc_day(funded: World) -> None:
    day_start = (funded.l1.timestamp // DAY + 1) * DAY
    funded.l1.time_travel(day_start + 10)
    receipt = funded.bridge.set_daily_limit(ETH_TOKEN, 1_000, funded.guardian)
    assert funded.events(receipt, "DailyLimitSet")[0].args == {"token": ETH_TOKEN, "limit": 1_000}
    assert funded.bridge.daily_limit(ETH_TOKEN) == 1_000
    funded.submit([_eth(funded, 600, 0), _eth(funded, 290, 10)])  # 900 released
    with reverts("DailyLimitExceeded", token=ETH_TOKEN, releasedToday=900, requested=101, limit=1_000):
        funded.submit([_eth(funded, 100, 1)])
    funded.submit([_eth(funded, 99, 1)])  # exactly the limit
    with reverts("DailyLimitExceeded", releasedToday=1_000, requested=1):
        funded.submit([_eth(funded, 1)])
    # Other tokens have their own (unset) limits.
    funded.submit([Withdrawal.of(funded.token.address, funded.other, 10**22, 0)])
    funded.l1.time_travel(day_start + DAY)  # next UTC day
    funded.submit([_eth(funded, 1_000)])
    with reverts("DailyLimitExceeded", releasedToday=1_000):
        funded.submit([_eth(funded, 1)])
    funded.bridge.set_daily_limit(ETH_TOKEN, 0, funded.guardian)  # 0 = unlimited
    funded.submit([_eth(funded, ONE_ETH)])


def test_limit_set_mid_day_counts_what_the_day_already_released(funded: World) -> None:
    day_start = (funded.l1.timestamp // DAY + 1) * DAY
    funded.l1.time_travel(day_start + 100)
    funded.submit([_eth(funded, 700)])  # no limit yet, but counted
    funded.bridge.set_daily_limit(ETH_TOKEN, 1_000, funded.guardian)
    with reverts("DailyLimitExceeded", releasedToday=700, requested=301):
        funded.submit([_eth(funded, 301)])
    funded.submit([_eth(funded, 300)])


def test_deferred_amounts_count_when_their_batch_executes_and_claims_are_not_limited(funded: World) -> None:
    day_start = (funded.l1.timestamp // DAY + 1) * DAY
    funded.l1.time_travel(day_start + 100)
    refuser = funded.deploy("RevertingRecipient")
    funded.bridge.set_daily_limit(ETH_TOKEN, 1_000, funded.guardian)
    funded.submit([_eth(funded, 1_000, to=refuser.address)])  # deferred, but released as far as limits go
    with reverts("DailyLimitExceeded", releasedToday=1_000):
        funded.submit([_eth(funded, 1)])
    funded.send(refuser.functions.claim(funded.bridge.address, ETH_TOKEN, funded.other), funded.user)
    assert funded.bridge.deferred(ETH_TOKEN, refuser.address) == 0


def test_validators_replace_the_guardian(funded: World) -> None:
    new_guardian = funded.l1.accounts[7]
    old = funded.guardian
    with reverts("GuardianNonceMismatch", expected=1, provided=2):
        funded.bridge.set_guardian(new_guardian, 2, funded.valset, _guardian_sigs(funded, new_guardian, 2), old)
    with reverts("GuardianNonceMismatch", expected=1, provided=0):
        funded.bridge.set_guardian(new_guardian, 0, funded.valset, _guardian_sigs(funded, new_guardian, 0), old)
    with reverts("InsufficientPower"):
        funded.bridge.set_guardian(new_guardian, 1, funded.valset, _guardian_sigs(funded, new_guardian, 1, [0, 1]), old)
    with reverts("InvalidSignature"):  # signatures for another guardian address
        funded.bridge.set_guardian(new_guardian, 1, funded.valset, _guardian_sigs(funded, funded.other, 1), old)
    zero = "0x" + "00" * 20
    with reverts("ZeroGuardian"):
        funded.bridge.set_guardian(zero, 1, funded.valset, _guardian_sigs(funded, zero, 1), old)

    sigs = _guardian_sigs(funded, new_guardian, 1)
    receipt = funded.bridge.set_guardian(new_guardian, 1, funded.valset, sigs, funded.user)  # anyone may submit
    assert funded.events(receipt, "GuardianChanged")[0].args == {
        "previous": old,
        "guardian": new_guardian,
        "nonce": 1,
    }
    assert funded.bridge.guardian() == new_guardian and funded.bridge.guardian_nonce() == 1
    with reverts("GuardianNonceMismatch", expected=2, provided=1):  # replay
        funded.bridge.set_guardian(new_guardian, 1, funded.valset, sigs, funded.user)

    # The old guardian can do nothing any more; the new one can.
    for fn in (
        funded.bridge.fn.pause(),
        funded.bridge.fn.unpause(),
        funded.bridge.fn.setDailyLimit(ETH_TOKEN, 5),
    ):
        with reverts("NotGuardian", caller=old, guardian=new_guardian):
            funded.send(fn, old)
    funded.bridge.pause(new_guardian)
    assert funded.bridge.paused()


def test_guardian_change_signed_by_an_old_valset_is_useless_after_a_valset_update(funded: World) -> None:
    new_guardian = funded.l1.accounts[7]
    stale_sigs = _guardian_sigs(funded, new_guardian, 1)
    new = equal_valset(validator_accounts(4, seed="rotated"), nonce=1)
    funded.bridge.update_valset(new, funded.valset, funded.sign(funded.bridge.domain.valset_digest(new)), funded.user)
    with reverts("ValsetCheckpointMismatch"):
        funded.bridge.set_guardian(new_guardian, 1, funded.valset, stale_sigs, funded.user)
