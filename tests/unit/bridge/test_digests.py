"""Section 4: the Python digests equal the contract's, for random valsets, batches and guardian changes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidValsetError
from bridge.l1 import BridgeContract
from bridge.protocol import (
    ETH_TOKEN,
    MAX_TOTAL_POWER,
    POWER_THRESHOLD,
    Batch,
    Domain,
    Valset,
    Withdrawal,
    checksum,
    valset_struct_hash,
)
from tests.support.bridge_l1.validators import equal_valset, validator_accounts
from tests.unit.bridge.conftest import World, reverts

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

addresses = st.binary(min_size=20, max_size=20).map(checksum)
uint256 = st.one_of(st.integers(0, 2**256 - 1), st.integers(0, 10**30), st.sampled_from([0, 1, 2**256 - 1]))


@st.composite
def valid_valsets(draw: st.DrawFn) -> Valset:
    members = draw(st.lists(addresses, min_size=1, max_size=24, unique_by=lambda a: int(a, 16)))
    members = sorted((a for a in members if int(a, 16) != 0), key=lambda a: int(a, 16))
    if not members:
        members = [checksum("0x" + "00" * 19 + "01")]
    total = draw(st.integers(POWER_THRESHOLD + len(members), MAX_TOTAL_POWER))
    # Split `total` into len(members) positive parts.
    cuts = sorted(
        draw(st.lists(st.integers(1, total - 1), min_size=len(members) - 1, max_size=len(members) - 1, unique=True))
    )
    powers = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return Valset.of(draw(st.integers(0, 2**128)), members, powers)


withdrawal = st.builds(
    Withdrawal.of,
    st.one_of(st.just(ETH_TOKEN), addresses),
    addresses,
    uint256,
    uint256,
)


@pytest.fixture
def harness(world: World) -> BridgeContract:
    valset = equal_valset(validator_accounts(3, seed="harness"))
    return BridgeContract.deploy(
        world.client, valset, world.guardian, world.deployer, artifact="SidechainBridgeHarness"
    )


@SETTINGS
@given(valset=valid_valsets())
def test_valset_checkpoint_matches_python(world: World, valset: Valset) -> None:
    valset.validate()
    bridge = BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
    assert bridge.valset_checkpoint() == Domain(world.client.chain_id, bridge.address).valset_digest(valset)
    assert bridge.valset_nonce() == valset.nonce


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nonce=uint256, timeout=uint256, withdrawals=st.lists(withdrawal, min_size=0, max_size=12))
def test_batch_digest_matches_python(harness: BridgeContract, nonce: int, timeout: int, withdrawals: list) -> None:
    batch = Batch(nonce, timeout)
    onchain = bytes(harness.fn.batchDigest(batch.to_abi(), [w.to_abi() for w in withdrawals]).call())
    assert onchain == harness.domain.batch_digest(batch, withdrawals)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nonce=uint256, guardian=addresses)
def test_guardian_change_digest_matches_python(harness: BridgeContract, nonce: int, guardian: str) -> None:
    onchain = bytes(harness.fn.guardianChangeDigest(nonce, guardian).call())
    assert onchain == harness.domain.guardian_change_digest(nonce, guardian)


def test_digests_depend_on_every_field(harness: BridgeContract) -> None:
    domain = harness.domain
    w = Withdrawal.of(ETH_TOKEN, "0x" + "11" * 20, 5, 1)
    base = domain.batch_digest(Batch(1, 100), [w])
    variants = [
        domain.batch_digest(Batch(2, 100), [w]),
        domain.batch_digest(Batch(1, 101), [w]),
        domain.batch_digest(Batch(1, 100), [Withdrawal(w.token, w.recipient, 6, 1)]),
        domain.batch_digest(Batch(1, 100), [Withdrawal(w.token, w.recipient, 5, 2)]),
        domain.batch_digest(Batch(1, 100), [w, w]),
        Domain(domain.chain_id + 1, domain.contract).batch_digest(Batch(1, 100), [w]),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    valset = equal_valset(validator_accounts(3, seed="d"))
    assert valset_struct_hash(valset) != valset_struct_hash(Valset(1, valset.validators, valset.powers))


@st.composite
def arbitrary_valsets(draw: st.DrawFn) -> Valset:
    """Mostly malformed valsets: any addresses, any powers, any lengths."""
    pool = [checksum("0x" + "00" * 20), *(checksum(f"0x{i:040x}") for i in (1, 2, 3, 0xFF, 2**159))]
    members = draw(st.lists(st.sampled_from(pool), max_size=5))
    powers = draw(
        st.lists(
            st.one_of(st.integers(0, 3), st.sampled_from([2**30, 2**31, POWER_THRESHOLD, 2**32, 2**32 + 1, 2**255])),
            min_size=max(0, len(members) - 1),
            max_size=len(members) + 1,
        )
    )
    return Valset.of(0, members, powers)


@SETTINGS
@given(valset=arbitrary_valsets())
def test_python_valset_rules_agree_with_the_contract(world: World, valset: Valset) -> None:
    try:
        valset.validate()
        python_ok = True
    except InvalidValsetError:
        python_ok = False
    try:
        BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
        contract_ok = True
    except Exception as exc:  # ContractRevertError (or a Panic) from the constructor
        assert type(exc).__name__ == "ContractRevertError"
        contract_ok = False
    assert python_ok == contract_ok


def test_genesis_nonce_is_bounded(world: World) -> None:
    valset = equal_valset(validator_accounts(3, seed="g"), nonce=2**128 + 1)
    with reverts("GenesisValsetNonceTooLarge", nonce=2**128 + 1, maximum=2**128):
        BridgeContract.deploy(world.client, valset, world.guardian, world.deployer)
    ok = equal_valset(validator_accounts(3, seed="g"), nonce=2**128)
    assert BridgeContract.deploy(world.client, ok, world.guardian, world.deployer).valset_nonce() == 2**128
