"""Slashing: double signing from CometBFT's evidence, downtime from the last commit's votes."""

from __future__ import annotations

from sidechain import blocks as b
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from tests.support.pos import validator_keys
from tests.unit.validators.chain import POWER, SELF, PosChain, addr_of, delegator_key
from validators.state import NOT_BONDED_POOL

D0 = delegator_key(0)


def evidence(c: PosChain, i: int, height: int, power: int, kind: int = b.MISBEHAVIOR_DUPLICATE_VOTE) -> b.Misbehavior:
    return b.Misbehavior(kind, b.Validator(validator_keys(i).consensus_address, power), height,
                         c.time_ns - 10**9, 100)


def test_double_sign_slashes_the_stake_at_the_infraction_jails_and_tombstones() -> None:
    c = PosChain()
    v1 = validator_keys(1)
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1.operator,
                                                            amount=str(10 * POWER)))])
    c.run(2)
    infraction = c.app.last_height  # v1 had 30 power here
    # after the infraction, D0 starts unbonding 4 units: that stake was at risk, so it is slashed too
    c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=addr_of(D0), validator=v1.operator,
                                                                amount=str(4 * POWER)))])
    supply = c.supply()
    d0_before = int(c.query(f"/staking/delegation/{_b(addr_of(D0))}/val1")["tokens"])
    out = c.block(misbehavior=[evidence(c, 1, infraction, 30)])
    fraction = 500  # bps
    expected = 30 * POWER * fraction // 10_000  # 1.5 units of power
    from_unbonding = 4 * POWER * fraction // 10_000
    v = c.validator(1)
    assert v.jailed and v.tombstoned
    assert v.tokens == 26 * POWER - (expected - from_unbonding)
    slash = [e for e in out.events if e.type == "slash"]
    assert slash and dict((a.key, a.value) for a in slash[0].attributes)["burned"] == str(expected)
    assert [(u.pub_key, u.power) for u in out.validator_updates] == [(v1.consensus_pubkey, 0)]
    # supply falls by exactly the burned amount (issuance of this block aside)
    assert c.supply() == supply - expected + 1000
    assert c.balance(NOT_BONDED_POOL) == v.tokens + 4 * POWER - from_unbonding  # v1 left the set: its tokens too
    d0_after = int(c.query(f"/staking/delegation/{_b(addr_of(D0))}/val1")["tokens"])
    # every delegator loses the same fraction of what it had at stake
    assert abs(d0_after * v.shares // v.shares - d0_before * (26 * POWER - expected + from_unbonding)
               // (26 * POWER)) <= 1
    c.check_invariants()
    # the same infraction again, or anything after tombstoning: no second slash
    out = c.block(misbehavior=[evidence(c, 1, infraction, 30), evidence(c, 1, infraction + 1, 30)])
    assert not [e for e in out.events if e.type == "slash"] and c.validator(1).tokens == v.tokens
    # a tombstoned validator can never unjail
    out = c.block([c.tx(v1.operator_key, "staking.MsgUnjail", pb.MsgUnjail(operator=v1.operator))])
    assert (out.tx_results[0].codespace, out.tx_results[0].code) == ("staking", 16)
    c.check_invariants()


def test_evidence_older_than_both_max_ages_is_ignored() -> None:
    c = PosChain()
    c.run(25)  # max_evidence_age_blocks is 20, max_evidence_age 100 s (20 blocks of 5 s)
    ev = b.Misbehavior(b.MISBEHAVIOR_DUPLICATE_VOTE, b.Validator(validator_keys(2).consensus_address, 30), 2,
                       c.time_ns - 200 * 10**9, 100)
    out = c.block(misbehavior=[ev])
    assert not [e for e in out.events if e.type == "slash"] and not c.validator(2).jailed


def test_downtime_jails_slashes_and_unjail_brings_it_back() -> None:
    c = PosChain()
    c.run(12)  # past the first window
    v0 = validator_keys(0)
    jailed_at = None
    for _ in range(10):
        out = c.block(absent=[0])
        if [e for e in out.events if e.type == "slash"]:
            jailed_at = c.app.last_height
            break
    assert jailed_at is not None  # more than half of a 10-block window missed
    v = c.validator(0)
    assert v.jailed and not v.tombstoned
    assert v.tokens == SELF - SELF * 100 // 10_000  # 1% of its stake at the infraction
    assert [(u.pub_key, u.power) for u in out.validator_updates] == [(v0.consensus_pubkey, 0)]
    out = c.block([c.tx(v0.operator_key, "staking.MsgUnjail", pb.MsgUnjail(operator=v0.operator))])
    assert (out.tx_results[0].codespace, out.tx_results[0].code) == ("staking", 17)  # jailed for 60 s
    c.run(12)
    out = c.block([c.tx(v0.operator_key, "staking.MsgUnjail", pb.MsgUnjail(operator=v0.operator))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert [(u.pub_key, u.power) for u in out.validator_updates] == [(v0.consensus_pubkey, 9)]
    info = c.query("/slashing/signing-info/val0")
    assert info["missed_blocks"] == 0 and not info["jailed"]
    c.check_invariants()


def test_signing_a_block_clears_the_missed_bit_of_its_slot() -> None:
    c = PosChain()
    c.run(2)
    c.run(3, absent=[3])
    assert c.query("/slashing/signing-info/val3")["missed_blocks"] == 3
    c.run(10)  # the window (10 blocks) comes round: the slots are signed now
    assert c.query("/slashing/signing-info/val3")["missed_blocks"] == 0


def _b(a: bytes) -> str:
    from sidechain.types import bech32_address

    return bech32_address(a, "side")


def test_a_redelegation_already_gone_from_its_destination_is_skipped() -> None:
    c = PosChain()
    v1, v2 = validator_keys(1), validator_keys(2)
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1.operator,
                                                            amount=str(2 * POWER)))])
    infraction = c.app.last_height
    c.block([c.tx(D0, "staking.MsgRedelegate", pb.MsgRedelegate(
        delegator=addr_of(D0), src_validator=v1.operator, dst_validator=v2.operator, amount=str(2 * POWER)))])
    c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=addr_of(D0), validator=v2.operator,
                                                                amount=str(2 * POWER)))])
    out = c.block(misbehavior=[evidence(c, 1, infraction + 1, 20)])  # after the redelegation started
    assert [e.type for e in out.events if e.type in ("slash", "jail")] == ["slash", "jail"]
    assert c.validator(1).tombstoned
    c.check_invariants()
