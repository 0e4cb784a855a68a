"""Rule 4: signatures by the current valset over the right digest, each valid or absent (v == 0)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak

from bridge.protocol import ETH_TOKEN, NO_SIGNATURE, POWER_THRESHOLD, Domain, Signature, Valset, Withdrawal
from bridge.signing import SECP256K1_N, sign_digest
from tests.support.bridge_l1.validators import sign_by, validator_accounts
from tests.unit.bridge.conftest import ONE_ETH, World, fresh_address, reverts


@pytest.fixture
def funded(world: World) -> World:
    world.fund_eth(ONE_ETH)
    return world


def _batch_and_digest(world: World) -> tuple:
    withdrawals = [Withdrawal.of(ETH_TOKEN, world.other, 1_000, 10)]
    batch = world.batch()
    return batch, withdrawals, world.bridge.domain.batch_digest(batch, withdrawals)


def test_valid_signatures_execute_the_batch(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    funded.submit(withdrawals, batch=batch, sigs=funded.sign(digest))
    assert funded.bridge.batch_executed(batch.nonce)


def test_forged_signature_reverts(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest)
    index = next(i for i, s in enumerate(sigs) if s.v)
    forged = Signature(27, int.from_bytes(keccak(text="r"), "big") % SECP256K1_N, 12345)
    sigs[index] = forged
    with reverts("InvalidSignature", index=index, expected=funded.valset.validators[index]):
        funded.submit(withdrawals, batch=batch, sigs=sigs)
    assert not funded.bridge.batch_executed(batch.nonce)


def test_signature_by_non_member_reverts(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    outsider = Account.from_key(keccak(text="outsider"))
    sigs = funded.sign(digest, signers=[0, 1, 2])
    sigs[3] = sign_digest(outsider, digest)
    with reverts("InvalidSignature", index=3, expected=funded.valset.validators[3], recovered=outsider.address):
        funded.submit(withdrawals, batch=batch, sigs=sigs)


def test_member_signature_at_another_members_index_reverts(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest, signers=[0, 1, 2])
    sigs[3] = sigs[0]
    with reverts("InvalidSignature", index=3, recovered=funded.valset.validators[0]):
        funded.submit(withdrawals, batch=batch, sigs=sigs)


def test_high_s_malleated_signature_reverts(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest, signers=[0, 1, 2])
    good = sigs[1]
    malleated = Signature(55 - good.v, good.r, SECP256K1_N - good.s)  # same signer, other (s, v)
    sigs[1] = malleated
    with reverts("MalleableSignature", index=1, s=malleated.s.to_bytes(32, "big")):
        funded.submit(withdrawals, batch=batch, sigs=sigs)


@pytest.mark.parametrize("v", [1, 26, 29, 255])
def test_v_other_than_0_27_28_reverts(funded: World, v: int) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest, signers=[0, 1, 2])
    sigs[2] = Signature(v, sigs[2].r, sigs[2].s)
    with reverts("InvalidSignatureV", index=2, v=v):
        funded.submit(withdrawals, batch=batch, sigs=sigs)


def test_v_zero_is_skipped_even_with_garbage_r_s(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest, signers=[0, 1, 2])
    sigs[3] = Signature(0, 1, 2)
    funded.submit(withdrawals, batch=batch, sigs=sigs)


def test_signatures_over_another_chain_id_revert(funded: World) -> None:
    batch, withdrawals, _ = _batch_and_digest(funded)
    wrong = Domain(funded.client.chain_id + 1, funded.bridge.address).batch_digest(batch, withdrawals)
    with reverts("InvalidSignature", index=0):
        funded.submit(withdrawals, batch=batch, sigs=funded.sign(wrong))


def test_signatures_over_another_contract_address_revert(funded: World) -> None:
    batch, withdrawals, _ = _batch_and_digest(funded)
    wrong = Domain(funded.client.chain_id, fresh_address(7)).batch_digest(batch, withdrawals)
    with reverts("InvalidSignature", index=0):
        funded.submit(withdrawals, batch=batch, sigs=funded.sign(wrong))


def test_signatures_over_another_batch_revert(funded: World) -> None:
    batch, withdrawals, _ = _batch_and_digest(funded)
    other = [Withdrawal.of(ETH_TOKEN, funded.other, 1_001, 10)]
    sigs = funded.sign(funded.bridge.domain.batch_digest(batch, other))
    with reverts("InvalidSignature"):
        funded.submit(withdrawals, batch=batch, sigs=sigs)


def test_signature_count_must_equal_validator_count(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    sigs = funded.sign(digest)
    with reverts("SignatureCountMismatch", signatures=3, validators=4):
        funded.submit(withdrawals, batch=batch, sigs=sigs[:3])
    with reverts("SignatureCountMismatch", signatures=5, validators=4):
        funded.submit(withdrawals, batch=batch, sigs=[*sigs, NO_SIGNATURE])


def test_too_little_power_reverts(funded: World) -> None:
    batch, withdrawals, digest = _batch_and_digest(funded)
    power = funded.valset.powers[0] * 2
    with reverts("InsufficientPower", signed=power, required=POWER_THRESHOLD + 1):
        funded.submit(withdrawals, batch=batch, sigs=funded.sign(digest, signers=[0, 1]))
    with reverts("InsufficientPower", signed=0):
        funded.submit(withdrawals, batch=batch, sigs=[NO_SIGNATURE] * 4)


def test_power_threshold_is_exact(world: World) -> None:
    """Signed power of exactly 2863311530 fails; 2863311531 passes (same valset, one more validator)."""
    accounts = validator_accounts(4, seed="threshold")
    addresses = [a.address for a in accounts]
    # Powers laid out so that validators {0, 1} sign exactly the threshold, {0, 1, 2} one more.
    valset = Valset.of(0, addresses, [POWER_THRESHOLD - 1, 1, 1, 2**32 - POWER_THRESHOLD - 1])
    valset.validate()
    from bridge.l1 import BridgeContract

    bridge = BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
    bridge.deposit_eth(b"\x01" * 20, ONE_ETH, world.user)
    withdrawals = [Withdrawal.of(ETH_TOKEN, world.other, 5, 0)]
    batch = world.batch()
    digest = bridge.domain.batch_digest(batch, withdrawals)
    with reverts("InsufficientPower", signed=POWER_THRESHOLD, required=POWER_THRESHOLD + 1):
        bridge.submit_batch(valset, sign_by(valset, accounts, digest, [0, 1]), batch, withdrawals, world.relayer)
    bridge.submit_batch(valset, sign_by(valset, accounts, digest, [0, 1, 2]), batch, withdrawals, world.relayer)
    assert bridge.batch_executed(batch.nonce)
