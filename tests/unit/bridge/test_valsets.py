"""Rules 3 and 5: well-formed valsets (at construction too), the current valset, valset updates."""

from __future__ import annotations

import pytest

from bridge.errors import InvalidValsetError
from bridge.l1 import BridgeContract
from bridge.protocol import (
    ETH_TOKEN,
    MAX_TOTAL_POWER,
    MAX_VALSET_NONCE_JUMP,
    NO_SIGNATURE,
    POWER_THRESHOLD,
    Valset,
    Withdrawal,
)
from tests.support.bridge_l1.validators import equal_valset, minimum_signers, sign_by, validator_accounts
from tests.unit.bridge.conftest import ONE_ETH, World, reverts

ACCOUNTS = validator_accounts(4, seed="valsets")
ADDRS = [a.address for a in ACCOUNTS]  # ascending
ZERO = "0x" + "00" * 20
QUARTER = 2**30

# (description, valset, expected error, expected fields)
MALFORMED: list[tuple[str, Valset, str, dict]] = [
    ("empty", Valset.of(0, [], []), "EmptyValset", {}),
    (
        "mismatched lengths",
        Valset.of(0, ADDRS, [QUARTER] * 3),
        "ValsetLengthMismatch",
        {"validators": 4, "powers": 3},
    ),
    (
        "duplicate validator",
        Valset.of(0, [ADDRS[0], ADDRS[1], ADDRS[1], ADDRS[3]], [QUARTER] * 4),
        "ValidatorsNotAscending",
        {"index": 2},
    ),
    (
        "unsorted validators",
        Valset.of(0, [ADDRS[1], ADDRS[0], ADDRS[2], ADDRS[3]], [QUARTER] * 4),
        "ValidatorsNotAscending",
        {"index": 1},
    ),
    ("zero address", Valset.of(0, [ZERO, *ADDRS[1:]], [QUARTER] * 4), "ZeroValidatorAddress", {"index": 0}),
    ("zero power", Valset.of(0, ADDRS, [QUARTER, 0, QUARTER * 2, QUARTER]), "ZeroPower", {"index": 1}),
    (
        "total power at the threshold",
        Valset.of(0, ADDRS, [POWER_THRESHOLD - 3, 1, 1, 1]),
        "TotalPowerTooLow",
        {"total": POWER_THRESHOLD},
    ),
    ("total power under the threshold", Valset.of(0, ADDRS, [1, 1, 1, 1]), "TotalPowerTooLow", {"total": 4}),
    (
        "total power over 2^32",
        Valset.of(0, ADDRS, [QUARTER, QUARTER, QUARTER, QUARTER + 1]),
        "TotalPowerTooHigh",
        {"total": MAX_TOTAL_POWER + 1},
    ),
    (
        "a single power over 2^32 (no overflow trick)",
        Valset.of(0, ADDRS, [2**256 - 1, 1, 1, 1]),
        "TotalPowerTooHigh",
        {"total": 2**256 - 1},
    ),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_genesis_valset_is_rejected_at_construction(world: World, case: tuple) -> None:
    _, valset, error, fields = case
    with pytest.raises(InvalidValsetError):
        valset.validate()  # the Python mirror agrees
    with reverts(error, **fields):
        BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_new_valset_is_rejected_by_update(world: World, case: tuple) -> None:
    _, valset, error, fields = case
    new = Valset(world.valset.nonce + 1, valset.validators, valset.powers)
    sigs = world.sign(world.bridge.domain.valset_digest(new))
    with reverts(error, **fields):
        world.bridge.update_valset(new, world.valset, sigs, world.relayer)


def test_zero_guardian_is_rejected_at_construction(world: World) -> None:
    with reverts("ZeroGuardian"):
        BridgeContract.deploy(world.client, world.valset, ZERO, world.deployer)


def test_boundary_valsets_are_accepted(world: World) -> None:
    for powers in ([POWER_THRESHOLD + 1], [MAX_TOTAL_POWER]):
        valset = Valset.of(7, [ADDRS[0]], powers)
        valset.validate()
        bridge = BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
        assert bridge.valset_nonce() == 7
        assert bridge.valset_checkpoint() == bridge.domain.valset_digest(valset)


def _update(world: World, new: Valset, current: Valset | None = None, signers: list[int] | None = None) -> object:
    current = current or world.valset
    sigs = world.sign(world.bridge.domain.valset_digest(new), signers=signers, valset=current)
    return world.bridge.update_valset(new, current, sigs, world.relayer)


def test_update_valset_replaces_checkpoint_and_emits(world: World) -> None:
    new = equal_valset(validator_accounts(5, seed="next"), nonce=1)
    receipt = _update(world, new)
    (event,) = world.events(receipt, "ValsetUpdated")
    assert event.args["valsetNonce"] == 1 and event.args["eventNonce"] == 2
    assert list(event.args["validators"]) == list(new.validators)
    assert world.bridge.valset_nonce() == 1
    assert world.bridge.valset_checkpoint() == world.bridge.domain.valset_digest(new)


def test_stale_current_valset_is_rejected_everywhere(world: World) -> None:
    world.fund_eth(ONE_ETH)
    old = world.valset
    new_accounts = validator_accounts(5, seed="next")
    new = equal_valset(new_accounts, nonce=1)
    _update(world, new)
    newer = equal_valset(validator_accounts(3, seed="newer"), nonce=2)
    stored = world.bridge.valset_checkpoint()
    with reverts("ValsetCheckpointMismatch", stored=stored, provided=world.bridge.domain.valset_digest(old)):
        _update(world, newer, current=old)
    with reverts("ValsetCheckpointMismatch", stored=stored):
        world.submit([Withdrawal.of(ETH_TOKEN, world.other, 1, 0)])  # still passes the old valset
    # A current valset that differs from the stored one only in its nonce or in one power is stale too
    # (the checkpoint is checked before any signature, so none are needed to show it).
    no_sigs = [NO_SIGNATURE] * len(new.validators)
    with reverts("ValsetCheckpointMismatch"):
        world.bridge.update_valset(newer, Valset(0, new.validators, new.powers), no_sigs, world.relayer)
    tweaked = Valset(1, new.validators, (new.powers[0] - 1, *new.powers[1:]))
    with reverts("ValsetCheckpointMismatch"):
        world.bridge.update_valset(newer, tweaked, no_sigs, world.relayer)
    new_sigs = sign_by(new, new_accounts, world.bridge.domain.valset_digest(newer))
    world.bridge.update_valset(newer, new, new_sigs, world.relayer)
    assert world.bridge.valset_nonce() == 2


def test_signatures_must_come_from_the_current_valset(world: World) -> None:
    new_accounts = validator_accounts(4, seed="next")
    new = equal_valset(new_accounts, nonce=1)
    digest = world.bridge.domain.valset_digest(new)
    self_signed = sign_by(new, new_accounts, digest)  # the new valset vouching for itself
    with reverts("InvalidSignature", index=0):
        world.bridge.update_valset(new, world.valset, self_signed, world.relayer)
    with reverts("InsufficientPower"):
        _update(world, new, signers=[0, 1])


@pytest.mark.parametrize("new_nonce", [0, -1])
def test_nonce_must_increase(world: World, new_nonce: int) -> None:
    start = equal_valset(ACCOUNTS, nonce=10)
    bridge = BridgeContract.deploy(world.client, start, world.guardian, world.deployer)
    new = equal_valset(validator_accounts(3, seed="n"), nonce=10 + new_nonce)
    sigs = sign_by(start, ACCOUNTS, bridge.domain.valset_digest(new), minimum_signers(start))
    with reverts("ValsetNonceNotIncreasing", current=10, proposed=10 + new_nonce):
        bridge.update_valset(new, start, sigs, world.relayer)


def test_nonce_jump_is_capped(world: World) -> None:
    current = world.valset
    too_far = equal_valset(validator_accounts(3, seed="far"), nonce=MAX_VALSET_NONCE_JUMP + 1)
    with reverts(
        "ValsetNonceJumpTooLarge",
        current=0,
        proposed=MAX_VALSET_NONCE_JUMP + 1,
        maxJump=MAX_VALSET_NONCE_JUMP,
    ):
        _update(world, too_far)
    huge = equal_valset(validator_accounts(3, seed="far"), nonce=2**256 - 1)
    with reverts("ValsetNonceJumpTooLarge"):
        _update(world, huge)
    just_enough = equal_valset(validator_accounts(3, seed="far"), nonce=MAX_VALSET_NONCE_JUMP)
    _update(world, just_enough, current=current)
    assert world.bridge.valset_nonce() == MAX_VALSET_NONCE_JUMP


def test_valset_update_replay_is_rejected(world: World) -> None:
    new = equal_valset(validator_accounts(5, seed="next"), nonce=1)
    digest = world.bridge.domain.valset_digest(new)
    sigs = world.sign(digest)
    world.bridge.update_valset(new, world.valset, sigs, world.relayer)
    with reverts("ValsetCheckpointMismatch"):
        world.bridge.update_valset(new, world.valset, sigs, world.relayer)


def test_python_valset_from_stakes_normalises_as_section_2(world: World) -> None:
    stakes: dict[str, int] = {ADDRS[3]: 5, ADDRS[0]: 3, ADDRS[2]: 2, ADDRS[1]: 0}
    valset = Valset.from_stakes(4, stakes)
    assert valset.validators == (ADDRS[0], ADDRS[2], ADDRS[3])  # ascending, zero stake left out
    assert valset.powers == (3 * 2**32 // 10, 2 * 2**32 // 10, 5 * 2**32 // 10)
    bridge = BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
    assert bridge.valset_checkpoint() == bridge.domain.valset_digest(valset)
