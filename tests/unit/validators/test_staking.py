"""Staking through the application: genesis, each message, the bonded set and its updates."""

from __future__ import annotations

import pytest

from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from tests.support.pos import validator_keys
from tests.unit.validators.chain import FUND, POWER, SELF, PosChain, addr_of, delegator_key
from validators.bridgekey import sign_bridge_proof
from validators.state import BONDED, BONDED_POOL, NOT_BONDED_POOL, UNBONDING

D0 = delegator_key(0)


def code(out, i: int = 0) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    r = out.tx_results[i]
    return (r.codespace, r.code)


def create_msg(chain: PosChain, key, consensus_pub: bytes, bridge_priv: bytes, amount: int = SELF,  # type: ignore[no-untyped-def]
               commission: int = 500, max_rate: int = 2000, max_change: int = 100, min_self: int = 1,
               proof_chain: str | None = None, moniker: str = "newval") -> pb.MsgCreateValidator:
    from tests.unit.validators.chain import CHAIN_ID

    op = addr_of(key)
    bridge, proof = sign_bridge_proof(bridge_priv, proof_chain or CHAIN_ID, op)
    return pb.MsgCreateValidator(operator=op, consensus_pubkey=consensus_pub, bridge_address=bridge,
                                 bridge_key_proof=proof, moniker=moniker, commission_bps=commission,
                                 max_commission_bps=max_rate, max_change_bps=max_change,
                                 min_self_delegation=str(min_self), self_delegation=str(amount))


def test_genesis_bonds_from_operators_and_returns_the_set() -> None:
    c = PosChain()
    assert sorted(u.power for u in c.init_updates) == [10, 20, 30, 40]
    for i in range(4):
        v = c.validator(i)
        assert (v.status, v.tokens) == (BONDED, SELF * (i + 1))
        assert c.balance(validator_keys(i).operator) == FUND - SELF * (i + 1)
    assert c.balance(BONDED_POOL) == SELF * 10
    assert c.supply() == c.genesis_supply  # bonding moves tokens, it creates none
    assert [m.power for m in c.set_at(1).members] == [40, 30, 20, 10]  # by power, descending
    c.check_invariants()


def test_create_validator_joins_the_set_with_its_power() -> None:
    c = PosChain()
    c.block()
    cons = bytes(range(32))
    out = c.block([c.tx(D0, "staking.MsgCreateValidator", create_msg(c, D0, cons, b"\x07" * 32, amount=25 * POWER))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert [(u.pub_key, u.power) for u in out.validator_updates] == [(cons, 25)]
    h = c.app.last_height
    assert any(m.power == 25 for m in c.set_at(h + 2).members)  # CometBFT applies it at H+2
    assert c.query("/staking/validator/newval")["status"] == "bonded"
    c.check_invariants()


@pytest.mark.parametrize(("change", "expected"), [
    (dict(consensus_pub=validator_keys(1).consensus_pubkey), ("staking", 3)),  # key used before
    (dict(proof_chain="other-chain"), ("staking", 5)),  # proof for another chain
    (dict(bridge_priv=__import__("hashlib").sha256(b"bridge-2").digest()), ("staking", 4)),  # address registered
    (dict(commission=3000), ("staking", 7)),  # above the max rate
    (dict(amount=0), ("staking", 20)),
    (dict(min_self=50 * POWER), ("staking", 8)),  # self-delegation below its own minimum
    (dict(amount=2 * FUND), ("bank", 2)),  # cannot pay
])
def test_create_validator_refusals(change: dict, expected: tuple[str, int]) -> None:  # type: ignore[type-arg]
    c = PosChain()
    c.block()
    args = dict(consensus_pub=bytes(range(32)), bridge_priv=b"\x07" * 32)
    args.update(change)
    msg = create_msg(c, D0, **args)
    out = c.block([c.tx(D0, "staking.MsgCreateValidator", msg)])
    assert code(out) == expected, out.tx_results[0].log
    assert c.query("/staking/validators")["validators"].__len__() == 4
    c.check_invariants()


def test_an_operator_has_one_validator_and_keys_are_never_reused() -> None:
    c = PosChain()
    op = validator_keys(0)
    out = c.block([c.tx(op.operator_key, "staking.MsgCreateValidator",
                        create_msg(c, op.operator_key, bytes(range(32)), b"\x09" * 32))])
    assert code(out) == ("staking", 2)


def test_delegation_moves_power_and_undelegation_returns_after_unbonding_time() -> None:
    c = PosChain()
    c.block()
    v1 = validator_keys(1).operator
    out = c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1,
                                                                  amount=str(5 * POWER)))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert [u.power for u in out.validator_updates] == [25]
    assert c.query(f"/staking/delegation/{_b(addr_of(D0))}/val1")["tokens"] == str(5 * POWER)
    before = c.balance(addr_of(D0))
    out = c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=addr_of(D0), validator=v1,
                                                                      amount=str(2 * POWER)))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert [u.power for u in out.validator_updates] == [23]  # the tokens leave at once
    assert c.balance(NOT_BONDED_POOL) == 2 * POWER
    c.check_invariants()
    c.run(19)  # 95 s of block time: not yet (unbonding_time is 100 s)
    assert c.balance(NOT_BONDED_POOL) == 2 * POWER
    paid_at = None
    for _ in range(3):
        out = c.block()
        if any(e.type == "complete_unbonding" for e in out.events):
            paid_at = c.app.last_height
    assert paid_at is not None and c.balance(NOT_BONDED_POOL) == 0
    assert c.balance(addr_of(D0)) >= before + 2 * POWER  # the tokens came back (and rewards on the way)
    c.check_invariants()


def test_at_most_max_entries_unbondings_per_pair() -> None:
    c = PosChain()
    v1 = validator_keys(1).operator
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1,
                                                            amount=str(10 * POWER)))])
    for _ in range(7):
        out = c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=addr_of(D0), validator=v1,
                                                                          amount=str(POWER)))])
        assert out.tx_results[0].code == 0
    out = c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=addr_of(D0), validator=v1,
                                                                      amount=str(POWER)))])
    assert code(out) == ("staking", 11)
    c.check_invariants()


def test_redelegation_and_its_transitive_refusal() -> None:
    c = PosChain()
    v1, v2, v3 = (validator_keys(i).operator for i in (1, 2, 3))
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1,
                                                            amount=str(4 * POWER)))])
    out = c.block([c.tx(D0, "staking.MsgRedelegate", pb.MsgRedelegate(
        delegator=addr_of(D0), src_validator=v1, dst_validator=v2, amount=str(3 * POWER)))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert sorted(u.power for u in out.validator_updates) == [21, 33]  # v1: 20 + 4 - 3; v2: 30 + 3
    out = c.block([c.tx(D0, "staking.MsgRedelegate", pb.MsgRedelegate(
        delegator=addr_of(D0), src_validator=v2, dst_validator=v3, amount=str(POWER)))])
    assert code(out) == ("staking", 12)  # v2's stake from D0 arrived by an unmatured redelegation
    out = c.block([c.tx(D0, "staking.MsgRedelegate", pb.MsgRedelegate(
        delegator=addr_of(D0), src_validator=v1, dst_validator=v1, amount=str(POWER)))])
    assert code(out) == ("staking", 13)
    c.run(21)  # matured: the hop is allowed now
    out = c.block([c.tx(D0, "staking.MsgRedelegate", pb.MsgRedelegate(
        delegator=addr_of(D0), src_validator=v2, dst_validator=v3, amount=str(POWER)))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    c.check_invariants()


def test_edit_validator_commission_rules() -> None:
    c = PosChain()
    op = validator_keys(0)
    edit = pb.MsgEditValidator(operator=op.operator, commission_bps=1100)
    out = c.block([c.tx(op.operator_key, "staking.MsgEditValidator", edit)])
    assert code(out) == ("staking", 7)  # genesis set the rate: not again within 24 h
    c.time_ns += 24 * 3600 * 10**9
    out = c.block([c.tx(op.operator_key, "staking.MsgEditValidator", pb.MsgEditValidator(
        operator=op.operator, commission_bps=1300))])
    assert code(out) == ("staking", 7)  # more than the max change of 100 bps
    out = c.block([c.tx(op.operator_key, "staking.MsgEditValidator", pb.MsgEditValidator(
        operator=op.operator, commission_bps=1100, details="hello"))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    v = c.validator(0)
    assert (v.commission_bps, v.details) == (1100, "hello")


def test_transfers_to_module_accounts_are_refused() -> None:
    from sidechain.bank.msgs import MsgSend
    from sidechain.tx import build_signed_tx
    from sidechain.types import Amount, Coin
    from tests.unit.validators.chain import CHAIN_ID

    c = PosChain()
    raw = build_signed_tx(D0, CHAIN_ID, [MsgSend(addr_of(D0), BONDED_POOL, (Coin("stake", Amount(5)),)).to_proto()],
                          0, Coin("stake", Amount(1)))
    out = c.block([raw])
    assert code(out) == ("bank", 5)
    c.check_invariants()


def test_permissioned_mode() -> None:
    c = PosChain(params={"staking": {"admin": _b(addr_of(D0)), "allowed_operators": [],
                                     "unbonding_time": "100s"},
                         "slashing": {"max_evidence_age": "100s"}})
    d1 = delegator_key(1)
    out = c.block([c.tx(d1, "staking.MsgSetAllowedOperators", pb.MsgSetAllowedOperators(
        admin=addr_of(d1), operators=[addr_of(d1)]))])
    assert code(out) == ("staking", 19)  # not the admin
    out = c.block([c.tx(D0, "staking.MsgSetAllowedOperators", pb.MsgSetAllowedOperators(
        admin=addr_of(D0), operators=[addr_of(d1)]))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    d2 = delegator_key(2)
    out = c.block([c.tx(d2, "staking.MsgCreateValidator", create_msg(c, d2, bytes(range(32)), b"\x07" * 32))])
    assert code(out) == ("staking", 18)
    out = c.block([c.tx(d1, "staking.MsgCreateValidator", create_msg(c, d1, bytes(range(32)), b"\x07" * 32))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log


def test_a_validator_below_its_minimum_is_jailed_and_leaves_the_set() -> None:
    c = PosChain()
    op = validator_keys(0)
    c.block([c.tx(op.operator_key, "staking.MsgEditValidator", pb.MsgEditValidator(
        operator=op.operator, min_self_delegation=str(SELF)))])
    out = c.block([c.tx(op.operator_key, "staking.MsgUndelegate", pb.MsgUndelegate(
        delegator=op.operator, validator=op.operator, amount=str(POWER)))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    assert [(u.pub_key, u.power) for u in out.validator_updates] == [(op.consensus_pubkey, 0)]
    v = c.validator(0)
    assert v.jailed and v.status == UNBONDING
    c.check_invariants()


def _b(a: bytes) -> str:
    from sidechain.types import bech32_address

    return bech32_address(a, "side")


def test_message_refusals_have_their_codes() -> None:
    c = PosChain()
    d, nobody = addr_of(D0), b"\x42" * 20
    v1 = validator_keys(1)
    cases = [
        ("staking.MsgDelegate", pb.MsgDelegate(delegator=d, validator=nobody, amount="5"), D0, 6),  # not found
        ("staking.MsgUndelegate", pb.MsgUndelegate(delegator=d, validator=v1.operator, amount="5"), D0, 9),
        ("staking.MsgWithdrawRewards", pb.MsgWithdrawRewards(delegator=d), D0, 22),  # no delegation
        ("staking.MsgUnjail", pb.MsgUnjail(operator=v1.operator), v1.operator_key, 15),  # not jailed
        ("staking.MsgEditValidator", pb.MsgEditValidator(operator=v1.operator, min_self_delegation="0"),
         v1.operator_key, 20),  # malformed on its own: a minimum is positive
        ("staking.MsgEditValidator", pb.MsgEditValidator(operator=v1.operator, min_self_delegation=str(10**30)),
         v1.operator_key, 8),  # above the self-delegation
    ]
    for name, msg, key, expected in cases:
        out = c.block([c.tx(key, name, msg)])
        assert code(out) == ("staking", expected), (name, out.tx_results[0].log)
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=d, validator=v1.operator, amount="10"))])
    out = c.block([c.tx(D0, "staking.MsgUndelegate", pb.MsgUndelegate(delegator=d, validator=v1.operator,
                                                                      amount="11"))])
    assert code(out) == ("staking", 10)  # more than the delegation is worth
    # another signer's address in the message: refused before any state is read
    out = c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=v1.operator, validator=v1.operator,
                                                                  amount="5"))])
    assert code(out) == ("tx", 11)
    c.check_invariants()
