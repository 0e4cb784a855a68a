"""Property tests over random tx sequences (hypothesis), against a plain-Python model of the rules.

Invariants checked after every tx:
* supply is conserved: per denom, balances + fee pool + the block's pending fees == genesis supply;
* no balance is negative (zero balances are deleted, stored ones decode to > 0);
* each account's sequence moves only by +1 (strictly increasing over its included txs);
* a replay of an included tx and a tx signed for another chain are rejected and change nothing;
* a tx whose messages fail still pays its fee and bumps its sequence; its transfers are discarded;
* CheckTx (check_stateful on a branch) accepts a tx exactly when FinalizeBlock executes it fully,
  and leaves the same state behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidechain.auth.errors import WrongSequence
from sidechain.auth.state import get_sequence
from sidechain.bank.state import get_fee_pool, iterate_all_balances
from sidechain.block import process_collect_fees
from sidechain.errors import InvalidInput
from sidechain.module import CHAIN
from sidechain.store.cache import CacheKV
from sidechain.tx import InvalidSignature, build_signed_tx
from sidechain.txflow import (
    SignatureCache,
    check_stateful,
    check_stateless,
    deliver,
    deliver_raw,
)

from .chain import CHAIN_ID, addr, coin, env, key, new_state, send_msg

N_ACCOUNTS = 5
KEYS = [key(100 + i) for i in range(N_ACCOUNTS)]
ADDRS = [addr(k) for k in KEYS]
DENOMS = ("l1/eth", "stake")
MIN_FEES = {"l1/eth": 2, "stake": 1}


@dataclass(frozen=True)
class Send:
    to: int
    denom: str
    amount: int


@dataclass(frozen=True)
class TxSpec:
    signer: int
    sends: tuple[Send, ...]
    fee_denom: str
    fee: int
    seq_offset: int  # 0: the account's next sequence; else a stale or future one
    other_chain: bool
    replay: int | None  # resubmit the n-th previously included tx instead


sends = st.builds(Send, st.integers(0, N_ACCOUNTS - 1), st.sampled_from(DENOMS), st.integers(0, 60))
tx_specs = st.builds(
    TxSpec,
    signer=st.integers(0, N_ACCOUNTS - 1),
    sends=st.lists(sends, min_size=1, max_size=3).map(tuple),
    fee_denom=st.sampled_from((*DENOMS, "uatom")),
    fee=st.integers(0, 4),
    seq_offset=st.sampled_from((0, 0, 0, 0, 0, -1, 1)),
    other_chain=st.sampled_from((False, False, False, True)),
    replay=st.none() | st.none() | st.integers(0, 50),
)
genesis_balances = st.lists(
    st.tuples(st.integers(0, 120), st.integers(0, 40)), min_size=N_ACCOUNTS, max_size=N_ACCOUNTS
)


class Model:
    """The rules, written as plainly as possible."""

    def __init__(self, balances: dict[tuple[int, str], int]) -> None:
        self.bal = dict(balances)
        self.seq = [0] * N_ACCOUNTS
        self.pool: dict[str, int] = {}

    def apply(self, spec: TxSpec, sequence: int) -> str:
        """-> "rejected" (nothing happens), "failed" (fee + sequence only) or "ok"."""
        s = spec.signer
        if spec.other_chain or any(m.amount == 0 for m in spec.sends):  # bad signature / invalid message
            return "rejected"
        if spec.fee_denom not in MIN_FEES or spec.fee < MIN_FEES[spec.fee_denom]:
            return "rejected"
        if sequence != self.seq[s]:
            return "rejected"
        if self.bal.get((s, spec.fee_denom), 0) < spec.fee:
            return "rejected"
        self.bal[(s, spec.fee_denom)] -= spec.fee
        self.pool[spec.fee_denom] = self.pool.get(spec.fee_denom, 0) + spec.fee
        self.seq[s] += 1
        tmp = dict(self.bal)
        for m in spec.sends:
            if tmp.get((s, m.denom), 0) < m.amount:
                return "failed"
            tmp[(s, m.denom)] -= m.amount
            tmp[(m.to, m.denom)] = tmp.get((m.to, m.denom), 0) + m.amount
        self.bal = tmp
        return "ok"


def build(spec: TxSpec, sequence: int) -> bytes:
    k = KEYS[spec.signer]
    msgs = [send_msg(k, ADDRS[m.to], coin(m.amount, m.denom)) for m in spec.sends]
    return build_signed_tx(
        k, "other-chain" if spec.other_chain else CHAIN_ID, msgs, sequence, coin(spec.fee, spec.fee_denom)
    )


def state_balances(state: CacheKV) -> dict[tuple[int, str], int]:
    index = {a: i for i, a in enumerate(ADDRS)}
    out = {}
    for a, c in iterate_all_balances(state):
        assert c.amount > 0, "zero balances must be deleted"
        out[(index[a], c.denom)] = int(c.amount)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    genesis=genesis_balances, specs=st.lists(tx_specs, min_size=1, max_size=30), block_size=st.integers(1, 8)
)
def test_random_tx_sequences(genesis: list[tuple[int, int]], specs: list[TxSpec], block_size: int) -> None:
    initial = {}
    for i, (stake, eth) in enumerate(genesis):
        initial.update({(i, "stake"): stake} if stake else {})
        initial.update({(i, "l1/eth"): eth} if eth else {})
    state, rules = new_state(
        [
            (ADDRS[i], [coin(v, d) for (j, d), v in sorted(initial.items()) if j == i])
            for i in range(N_ACCOUNTS)
        ],
        min_fees=[coin(MIN_FEES["l1/eth"], "l1/eth"), coin(MIN_FEES["stake"])],
    )
    supply = {d: sum(v for (_, dd), v in initial.items() if dd == d) for d in DENOMS}
    model = Model(initial)
    cache = SignatureCache(CHAIN_ID)
    included: list[tuple[bytes, TxSpec]] = []
    height = 1
    tx_env = env(rules, height)

    for n, spec in enumerate(specs):
        if spec.replay is not None and included:
            raw, original = included[spec.replay % len(included)]
            before = (state_balances(state), [get_sequence(state, a) for a in ADDRS])
            r = deliver_raw(state, raw, tx_env, cache)
            assert (r.code, r.codespace) == (WrongSequence.code, "auth"), "a replay must be rejected"
            assert (state_balances(state), [get_sequence(state, a) for a in ADDRS]) == before
            continue
        sequence = max(0, model.seq[spec.signer] + spec.seq_offset)
        raw = build(spec, sequence)
        seq_before = [get_sequence(state, a) for a in ADDRS]

        # CheckTx on a throwaway branch must agree with execution in the block
        branch = CacheKV(state)
        try:
            check_stateful(branch, check_stateless(raw, rules, cache), env(rules, height))
            check_ok = True
        except InvalidInput:
            check_ok = False

        expected = model.apply(spec, sequence)
        r = deliver_raw(state, raw, tx_env, cache)
        if spec.other_chain and all(m.amount for m in spec.sends):
            assert (r.code, r.codespace) == (InvalidSignature.code, "tx")
        assert r.ok == (expected == "ok"), (expected, r)
        assert check_ok == (expected == "ok")
        if check_ok:
            assert state_balances(branch) == state_balances(state)
        if expected != "rejected":
            included.append((raw, spec))
            assert any(e.type == "fee" for e in r.events)
        if expected == "failed":
            assert not any(e.type == "transfer" for e in r.events)

        # sequences: the signer's moves by exactly one iff the tx was included; nobody else's moves
        seq_after = [get_sequence(state, a) for a in ADDRS]
        for i in range(N_ACCOUNTS):
            bump = 1 if (i == spec.signer and expected != "rejected") else 0
            assert seq_after[i] == seq_before[i] + bump
        assert seq_after == model.seq

        # balances match the model (hence none negative) and supply is conserved
        balances = state_balances(state)
        assert balances == {k: v for k, v in model.bal.items() if v}
        pool = {c.denom: int(c.amount) for c in get_fee_pool(state)}
        pending = {c.denom: int(c.amount) for c in tx_env.fees.coins()}
        for d in DENOMS:
            held = sum(v for (_, dd), v in balances.items() if dd == d)
            assert held + pool.get(d, 0) + pending.get(d, 0) == supply[d]

        if (n + 1) % block_size == 0:  # end of block: fees go to the pool in one write per denom
            process_collect_fees(state, tx_env.fees, CHAIN)
            height += 1
            tx_env = env(rules, height)

    process_collect_fees(state, tx_env.fees, CHAIN)
    pool = {c.denom: int(c.amount) for c in get_fee_pool(state)}
    assert pool == {d: v for d, v in model.pool.items() if v}


@settings(max_examples=25, deadline=None)
@given(specs=st.lists(tx_specs, min_size=1, max_size=10))
def test_deliver_without_checktx_never_raises(specs: list[TxSpec]) -> None:
    """FinalizeBlock gets txs CheckTx never saw (other proposers): invalid input is a result, not a crash."""
    state, rules = new_state([(a, [coin(50)]) for a in ADDRS])
    tx_env = env(rules, 1)
    for spec in specs:
        raw = build(spec, max(0, spec.seq_offset))
        try:
            tx = check_stateless(raw, rules)
        except InvalidInput:
            continue
        deliver(state, tx, tx_env)
