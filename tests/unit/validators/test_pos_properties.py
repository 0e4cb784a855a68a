"""Random sequences of every staking message, with blocks of random absent signers and evidence.

After every block: the supply is genesis + issuance - burns to the unit; the bonded pool holds
exactly the bonded validators' tokens and the not-bonded pool the others' plus the unbonding
entries; shares add up and never go negative; the rewards account holds exactly the outstanding
rewards plus the community pool (so withdrawable rewards never exceed what was distributed); and
a second app fed the same blocks has the same app hash.
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidechain import blocks as b
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from tests.support.pos import validator_keys
from tests.unit.validators.chain import POWER, PosChain, addr_of, delegator_key
from validators.bridgekey import sign_bridge_proof

N_VAL, N_DEL = 4, 3

action = st.one_of(
    st.tuples(st.just("delegate"), st.integers(0, N_DEL - 1), st.integers(0, N_VAL), st.integers(1, 30)),
    st.tuples(st.just("undelegate"), st.integers(0, N_DEL - 1), st.integers(0, N_VAL), st.integers(1, 30)),
    st.tuples(st.just("redelegate"), st.integers(0, N_DEL - 1), st.integers(0, N_VAL), st.integers(0, N_VAL),
              st.integers(1, 30)),
    st.tuples(st.just("withdraw"), st.integers(0, N_DEL - 1)),
    st.tuples(st.just("commission"), st.integers(0, N_VAL - 1)),
    st.tuples(st.just("unjail"), st.integers(0, N_VAL - 1)),
    st.tuples(st.just("self_unbond"), st.integers(0, N_VAL - 1), st.integers(1, 40)),
    st.tuples(st.just("create"), st.integers(0, N_DEL - 1)),
    st.tuples(st.just("evidence"), st.integers(0, N_VAL - 1), st.integers(0, 3)),
    st.tuples(st.just("blocks"), st.integers(1, 6), st.sets(st.integers(0, N_VAL - 1), max_size=2)),
)


def _operator(i: int, c: PosChain) -> bytes:
    if i < N_VAL:
        return validator_keys(i).operator
    return addr_of(delegator_key(0))  # maybe a validator created in the run, maybe nobody


def _tx(c: PosChain, act: tuple) -> tuple[bytes | None, list[b.Misbehavior], int, set[int]]:  # type: ignore[type-arg]
    kind = act[0]
    if kind == "blocks":
        return None, [], act[1], act[2]
    if kind == "evidence":
        i, back = act[1], act[2]
        h = max(1, c.app.last_height - back)
        vs = c.set_at(h)
        cons = validator_keys(i).consensus_address
        member = [m for m in vs.members if hashlib.sha256(m.consensus_pubkey).digest()[:20] == cons]
        power = member[0].power if member else 1
        ev = b.Misbehavior(b.MISBEHAVIOR_DUPLICATE_VOTE, b.Validator(cons, power), h, c.time_ns, 100)
        return None, [ev], 1, set()
    if kind == "delegate":
        d = delegator_key(act[1])
        return c.tx(d, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(d), validator=_operator(act[2], c),
                                                             amount=str(act[3] * POWER // 10))), [], 1, set()
    if kind == "undelegate":
        d = delegator_key(act[1])
        return c.tx(d, "staking.MsgUndelegate", pb.MsgUndelegate(
            delegator=addr_of(d), validator=_operator(act[2], c), amount=str(act[3] * POWER // 10))), [], 1, set()
    if kind == "redelegate":
        d = delegator_key(act[1])
        return c.tx(d, "staking.MsgRedelegate", pb.MsgRedelegate(
            delegator=addr_of(d), src_validator=_operator(act[2], c), dst_validator=_operator(act[3], c),
            amount=str(act[4] * POWER // 10))), [], 1, set()
    if kind == "withdraw":
        d = delegator_key(act[1])
        return c.tx(d, "staking.MsgWithdrawRewards", pb.MsgWithdrawRewards(delegator=addr_of(d))), [], 1, set()
    if kind == "commission":
        v = validator_keys(act[1])
        return c.tx(v.operator_key, "staking.MsgWithdrawCommission",
                    pb.MsgWithdrawCommission(operator=v.operator)), [], 1, set()
    if kind == "unjail":
        v = validator_keys(act[1])
        return c.tx(v.operator_key, "staking.MsgUnjail", pb.MsgUnjail(operator=v.operator)), [], 1, set()
    if kind == "self_unbond":
        v = validator_keys(act[1])
        return c.tx(v.operator_key, "staking.MsgUndelegate", pb.MsgUndelegate(
            delegator=v.operator, validator=v.operator, amount=str(act[2] * POWER // 10))), [], 1, set()
    if kind == "create":
        d = delegator_key(act[1])
        op = addr_of(d)
        from tests.unit.validators.chain import CHAIN_ID

        bridge, proof = sign_bridge_proof(hashlib.sha256(b"b" + op).digest(), CHAIN_ID, op)
        return c.tx(d, "staking.MsgCreateValidator", pb.MsgCreateValidator(
            operator=op, consensus_pubkey=hashlib.sha256(b"c" + op).digest(), bridge_address=bridge,
            bridge_key_proof=proof, moniker=f"new{act[1]}", commission_bps=500, max_commission_bps=1000,
            max_change_bps=100, min_self_delegation="1", self_delegation=str(5 * POWER))), [], 1, set()
    raise AssertionError(kind)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=5, max_size=25))
def test_random_staking_keeps_every_invariant(actions: list[tuple]) -> None:  # type: ignore[type-arg]
    chains = [PosChain(N_VAL, N_DEL), PosChain(N_VAL, N_DEL)]
    burned = 0
    blocks = 0
    for act in actions:
        tx, misbehavior, n, absent = _tx(chains[0], act)
        if tx is not None:
            _tx(chains[1], act)  # keep the second chain's sequences in step
        for k in range(n):
            outs = [c.block([tx] if tx is not None and k == 0 else [], absent=absent,
                            misbehavior=misbehavior if k == 0 else ()) for c in chains]
            blocks += 1
            assert outs[0].app_hash == outs[1].app_hash
            assert outs[0].tx_results == outs[1].tx_results
            for e in outs[0].events:
                if e.type == "slash":
                    burned += int(dict((a.key, a.value) for a in e.attributes)["burned"])
            chains[0].check_invariants()
    c = chains[0]
    assert c.supply() == c.genesis_supply + 1000 * blocks - burned
