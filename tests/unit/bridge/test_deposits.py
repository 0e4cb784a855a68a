"""Rule 2 (deposits) and rule 1 (one event counter across Deposit, ValsetUpdated, BatchExecuted)."""

from __future__ import annotations

from bridge.protocol import ETH_TOKEN, Withdrawal
from tests.unit.bridge.conftest import ONE_ETH, RECIPIENT, World, fresh_address, reverts


def test_event_nonce_is_one_after_deployment_and_genesis_valset_is_logged(world: World) -> None:
    assert world.bridge.event_nonce() == 1
    logs = world.bridge.contract.events.ValsetUpdated().get_logs(from_block=0)
    assert len(logs) == 1
    assert logs[0]["args"]["eventNonce"] == 1
    assert list(logs[0]["args"]["validators"]) == list(world.valset.validators)
    assert list(logs[0]["args"]["powers"]) == list(world.valset.powers)


def test_deposit_eth_emits_deposit_with_next_event_nonce(world: World) -> None:
    before = world.client.balance(world.bridge.address)
    receipt = world.bridge.deposit_eth(RECIPIENT, 3 * ONE_ETH, world.user)
    (event,) = world.events(receipt, "Deposit")
    assert event.args == {
        "eventNonce": 2,
        "token": ETH_TOKEN,
        "sender": world.user,
        "recipient": RECIPIENT,
        "amount": 3 * ONE_ETH,
    }
    assert world.client.balance(world.bridge.address) - before == 3 * ONE_ETH
    assert world.bridge.event_nonce() == 2


def test_deposit_eth_rejects_zero_amount_and_zero_recipient(world: World) -> None:
    with reverts("ZeroAmount"):
        world.bridge.deposit_eth(RECIPIENT, 0, world.user)
    with reverts("ZeroRecipient"):
        world.bridge.deposit_eth(b"\0" * 20, ONE_ETH, world.user)
    assert world.bridge.event_nonce() == 1


def test_plain_eth_transfer_to_the_bridge_is_refused(world: World) -> None:
    # No receive(): ETH that does not come through depositETH would be unaccounted.
    tx = {"from": world.user, "to": world.bridge.address, "value": ONE_ETH, "gas": 100_000}
    receipt = world.l1.w3.eth.wait_for_transaction_receipt(world.l1.w3.eth.send_transaction(tx))
    assert receipt["status"] == 0


def test_deposit_erc20_credits_the_amount(world: World) -> None:
    receipt = world.fund_token(world.token, 500)
    (event,) = world.events(receipt, "Deposit")
    assert event.args["token"] == world.token.address
    assert event.args["amount"] == 500
    assert event.args["sender"] == world.user
    assert world.balance_of(world.token.address, world.bridge.address) == 500


def test_deposit_erc20_rejects_zero_amount_zero_recipient_and_non_tokens(world: World) -> None:
    with reverts("ZeroAmount"):
        world.bridge.deposit_erc20(world.token.address, 0, RECIPIENT, world.user)
    with reverts("ZeroRecipient"):
        world.bridge.deposit_erc20(world.token.address, 1, b"\0" * 20, world.user)
    with reverts("InvalidToken", token=ETH_TOKEN):
        world.bridge.deposit_erc20(ETH_TOKEN, 1, RECIPIENT, world.user)
    codeless = fresh_address(1)
    with reverts("InvalidToken", token=codeless):
        world.bridge.deposit_erc20(codeless, 1, RECIPIENT, world.user)


def test_deposit_erc20_without_allowance_reverts(world: World) -> None:
    world.send(world.token.functions.mint(world.user, 10), world.user)
    with reverts("ERC20InsufficientAllowance"):
        world.bridge.deposit_erc20(world.token.address, 10, RECIPIENT, world.user)


def test_token_whose_transfer_credits_nothing_is_refused(world: World) -> None:
    noop = world.deploy("NoopERC20")
    world.send(noop.functions.mint(world.user, 100), world.user)
    world.send(noop.functions.approve(world.bridge.address, 100), world.user)
    with reverts("NothingReceived", token=noop.address, balanceBefore=0, balanceAfter=0):
        world.bridge.deposit_erc20(noop.address, 100, RECIPIENT, world.user)
    assert world.bridge.event_nonce() == 1


def test_fee_on_transfer_token_is_credited_by_the_balance_increase(world: World) -> None:
    receipt = world.fund_token(world.fot, 10_000)  # 1 % is burned in transit
    (event,) = world.events(receipt, "Deposit")
    assert event.args["amount"] == 9_900
    assert world.balance_of(world.fot.address, world.bridge.address) == 9_900
    # The credited amount is fully withdrawable; more is not.
    world.submit([Withdrawal.of(world.fot.address, world.other, 9_900, 0)])
    assert world.balance_of(world.fot.address, world.bridge.address) == 0
    assert world.balance_of(world.fot.address, world.other) == 9_801  # the token takes its 1 % again


def test_no_return_token_deposits_and_withdraws(world: World) -> None:
    world.send(world.noret.functions.mint(world.user, 1_000), world.user)
    world.send(world.noret.functions.approve(world.bridge.address, 1_000), world.user)
    receipt = world.bridge.deposit_erc20(world.noret.address, 1_000, RECIPIENT, world.user)
    assert world.events(receipt, "Deposit")[0].args["amount"] == 1_000
    receipt = world.submit([Withdrawal.of(world.noret.address, world.other, 600, 0)])
    assert world.events(receipt, "WithdrawalDeferred") == []
    assert world.balance_of(world.noret.address, world.other) == 600


def test_event_nonces_strictly_increase_across_all_three_kinds(world: World) -> None:
    from tests.support.bridge_l1.validators import equal_valset, validator_accounts

    seen = [1]
    seen.append(world.events(world.bridge.deposit_eth(RECIPIENT, ONE_ETH, world.user), "Deposit")[0].args["eventNonce"])
    seen.append(world.events(world.fund_token(world.token, 5), "Deposit")[0].args["eventNonce"])
    receipt = world.submit([Withdrawal.of(ETH_TOKEN, world.other, 1, 0)])
    seen.append(world.events(receipt, "BatchExecuted")[0].args["eventNonce"])
    new_valset = equal_valset(validator_accounts(5, seed="next"), nonce=1)
    sigs = world.sign(world.bridge.domain.valset_digest(new_valset))
    receipt = world.bridge.update_valset(new_valset, world.valset, sigs, world.relayer)
    seen.append(world.events(receipt, "ValsetUpdated")[0].args["eventNonce"])
    seen.append(world.events(world.bridge.deposit_eth(RECIPIENT, ONE_ETH, world.user), "Deposit")[0].args["eventNonce"])
    assert seen == list(range(1, 7))  # strictly increasing and contiguous
    assert world.bridge.event_nonce() == 6
