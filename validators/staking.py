"""Staking: validators, delegations as shares of a validator's tokens, unbonding, redelegation, the set.

Tokens of validators in the bonded set sit in the bonded pool account; those of other validators
and of unbonding entries in the not-bonded pool; moving between the set and outside it moves the
tokens between the pools. A delegation is a number of shares: slashing a validator's tokens lowers
every delegator's stake at once (O(1) per validator). Voting power is tokens // power_reduction;
the bonded set is the top `max_validators` unjailed validators by power (ties: lower operator
address first).

Every function takes a `Ctx` (state, bank, params, block height and time) and raises a
StakingError (an InvalidInput) for anything a tx could get wrong; the caller discards the writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sidechain.blocks import ValidatorUpdate
from sidechain.store.api import KVReader, KVStore
from sidechain.types import Amount, Coin
from validators import distribution as dist
from validators import keys as k
from validators import state as st
from validators.errors import (
    DelegationNotFound,
    InsufficientShares,
    SelfRedelegation,
    TooManyEntries,
    TransitiveRedelegation,
    ValidatorNotFound,
    ZeroShares,
)
from validators.expected import StakingBank
from validators.params import PosParams
from validators.state import BONDED, BONDED_POOL, NOT_BONDED_POOL, UNBONDED, UNBONDING, Validator


@dataclass(frozen=True, slots=True)
class Ctx:
    state: KVStore
    bank: StakingBank
    params: PosParams
    height: int
    time_ns: int

    @property
    def denom(self) -> str:
        return self.params.staking.bond_denom

    @property
    def reduction(self) -> int:
        return self.params.staking.power_reduction

    def coin(self, amount: int) -> Coin:
        return Coin(self.denom, Amount(amount))


def pool_of(v: Validator) -> bytes:
    return BONDED_POOL if v.status == BONDED else NOT_BONDED_POOL


def must_get(ctx: Ctx | KVReader, operator: bytes) -> Validator:
    """The validator of `operator` (from a Ctx's state or any reader), or ValidatorNotFound."""
    state = ctx.state if isinstance(ctx, Ctx) else ctx
    v = st.get_validator(state, operator)
    if v is None:
        raise ValidatorNotFound(f"no validator with operator address {operator.hex()}")
    return v


def save(ctx: Ctx, v: Validator, old: Validator | None) -> None:
    st.set_validator(ctx.state, v, ctx.reduction, old)


# --- delegations ----------------------------------------------------------------------------------


def add_tokens(ctx: Ctx, v: Validator, delegator: bytes, amount: int, source: bytes | None) -> int:
    """Delegate `amount` to `v` for `delegator`, paid from `source`'s balance (None: the tokens are
    already in v's pool, e.g. a redelegation). Returns the shares issued. Rewards are settled first."""
    shares = v.shares_for(amount)
    if shares == 0:
        raise ZeroShares(f"{amount}{ctx.denom} buys no share of this validator's tokens")
    settle_rewards(ctx, v, delegator)
    if source is not None:
        ctx.bank.send(ctx.state, source, pool_of(v), ctx.coin(amount))
    old = replace(v)
    v.tokens += amount
    v.shares += shares
    save(ctx, v, old)
    st.set_delegation(ctx.state, delegator, v.operator, st.get_delegation(ctx.state, delegator, v.operator) + shares)
    restart_rewards(ctx, v, delegator)
    return shares


def remove_tokens(ctx: Ctx, v: Validator, delegator: bytes, amount: int) -> tuple[int, int]:
    """Take `amount` of `delegator`'s stake out of `v` (rounded in the validator's favour).
    Returns (tokens removed, shares removed); the tokens stay in v's pool for the caller to move."""
    have = st.get_delegation(ctx.state, delegator, v.operator)
    if have == 0:
        raise DelegationNotFound(f"no delegation from {delegator.hex()} to validator {v.operator.hex()}")
    shares = v.shares_to_remove(amount)
    if shares > have:
        raise InsufficientShares(
            f"the delegation is worth {v.tokens_of(have)}{ctx.denom}, less than {amount}{ctx.denom}")
    if shares == 0:
        raise ZeroShares("the amount is worth no shares of this validator")
    settle_rewards(ctx, v, delegator)
    tokens = v.tokens_of(shares)
    old = replace(v)
    v.tokens -= tokens
    v.shares -= shares
    save(ctx, v, old)
    st.set_delegation(ctx.state, delegator, v.operator, have - shares)
    if have - shares:
        restart_rewards(ctx, v, delegator)
    return tokens, shares


def settle_rewards(ctx: Ctx, v: Validator, delegator: bytes) -> list[Coin]:
    """Withdraw the delegation's rewards before its stake changes (paid to the delegator)."""
    stake = v.tokens_of(st.get_delegation(ctx.state, delegator, v.operator))
    return dist.withdraw_rewards(ctx.state, ctx.bank, v, delegator, stake, ctx.height)


def restart_rewards(ctx: Ctx, v: Validator, delegator: bytes) -> None:
    stake = v.tokens_of(st.get_delegation(ctx.state, delegator, v.operator))
    dist.init_delegation(ctx.state, v, delegator, stake, ctx.height)


def self_tokens(ctx: Ctx, v: Validator) -> int:
    return v.tokens_of(st.get_delegation(ctx.state, v.operator, v.operator))


def jail(ctx: Ctx, v: Validator) -> None:
    """Out of the candidates (the set drops it at the end of the block); its stake stays."""
    if v.jailed:
        return
    old = replace(v)
    v.jailed = True
    save(ctx, v, old)


def undelegate(ctx: Ctx, v: Validator, delegator: bytes, amount: int) -> int:
    """Tokens leave the validator now and return to the delegator after unbonding_time. Returns the
    completion time."""
    entries = st.get_unbonding(ctx.state, delegator, v.operator)
    if len(entries) >= ctx.params.staking.max_entries:
        raise TooManyEntries(f"already {len(entries)} unbonding entries from this validator (the maximum); "
                             "wait for the oldest to complete")
    tokens, _ = remove_tokens(ctx, v, delegator, amount)
    if v.status == BONDED:
        ctx.bank.send(ctx.state, BONDED_POOL, NOT_BONDED_POOL, ctx.coin(tokens))
    done = ctx.time_ns + ctx.params.staking.unbonding_time_ns
    entries.append(st.UnbondingEntry(ctx.height, done, tokens, tokens))
    st.set_unbonding(ctx.state, delegator, v.operator, entries)
    ctx.state.set(k.UNBONDING_QUEUE + k.u64(done) + delegator + v.operator, b"")
    if delegator == v.operator and not v.jailed and self_tokens(ctx, v) < v.min_self_delegation:
        jail(ctx, v)  # below its own promise: out of the set until it delegates again and unjails
    return done


def redelegate(ctx: Ctx, src: Validator, dst: Validator, delegator: bytes, amount: int) -> int:
    if src.operator == dst.operator:
        raise SelfRedelegation("the source and destination validators are the same")
    if st.has_redelegation_into(ctx.state, delegator, src.operator):
        raise TransitiveRedelegation(
            "this stake arrived at the source validator by a redelegation that has not matured; "
            "wait until it completes")
    entries = st.get_redelegation(ctx.state, delegator, src.operator, dst.operator)
    if len(entries) >= ctx.params.staking.max_entries:
        raise TooManyEntries(f"already {len(entries)} redelegations between these validators (the maximum)")
    tokens, _ = remove_tokens(ctx, src, delegator, amount)
    if pool_of(src) != pool_of(dst):
        ctx.bank.send(ctx.state, pool_of(src), pool_of(dst), ctx.coin(tokens))
    shares = add_tokens(ctx, dst, delegator, tokens, None)
    done = ctx.time_ns + ctx.params.staking.unbonding_time_ns
    if src.status != UNBONDED:  # stake from an unbonded validator is not slashable for it: no entry
        entries.append(st.RedelegationEntry(ctx.height, done, tokens, shares))
        st.set_redelegation(ctx.state, delegator, src.operator, dst.operator, entries)
        ctx.state.set(k.REDELEGATION_QUEUE + k.u64(done) + delegator + src.operator + dst.operator, b"")
    if delegator == src.operator and not src.jailed and self_tokens(ctx, src) < src.min_self_delegation:
        jail(ctx, src)
    return done


# --- end of block ----------------------------------------------------------------------------------


def process_unbonding_queue(ctx: Ctx) -> list[tuple[bytes, bytes, int]]:
    """Pay out every unbonding entry whose time has come. Returns (delegator, operator, amount)."""
    end = k.UNBONDING_QUEUE + k.u64(ctx.time_ns + 1)
    paid = []
    for key, _ in list(ctx.state.iterate(k.UNBONDING_QUEUE, end)):
        ctx.state.delete(key)
        delegator, operator = key[9:29], key[29:49]
        entries = st.get_unbonding(ctx.state, delegator, operator)
        keep = []
        for e in entries:
            if e.completion_ns <= ctx.time_ns:
                if e.balance:
                    ctx.bank.send(ctx.state, NOT_BONDED_POOL, delegator, ctx.coin(e.balance))
                paid.append((delegator, operator, e.balance))
            else:
                keep.append(e)
        st.set_unbonding(ctx.state, delegator, operator, keep)
    return paid


def process_redelegation_queue(ctx: Ctx) -> None:
    end = k.REDELEGATION_QUEUE + k.u64(ctx.time_ns + 1)
    for key, _ in list(ctx.state.iterate(k.REDELEGATION_QUEUE, end)):
        ctx.state.delete(key)
        delegator, src, dst = key[9:29], key[29:49], key[49:69]
        keep = [e for e in st.get_redelegation(ctx.state, delegator, src, dst) if e.completion_ns > ctx.time_ns]
        st.set_redelegation(ctx.state, delegator, src, dst, keep)


def process_validator_queue(ctx: Ctx) -> None:
    """Unbonding validators whose unbonding time has passed become unbonded."""
    end = k.VALIDATOR_QUEUE + k.u64(ctx.time_ns + 1)
    for key, _ in list(ctx.state.iterate(k.VALIDATOR_QUEUE, end)):
        ctx.state.delete(key)
        v = st.get_validator(ctx.state, key[9:29])
        if v is not None and v.status == UNBONDING and v.unbonding_done_ns <= ctx.time_ns:
            old = replace(v)
            v.status = UNBONDED
            save(ctx, v, old)


def process_validator_set(ctx: Ctx, set_height: int) -> list[ValidatorUpdate]:
    """The top validators by power become the bonded set; the changes against the set last sent to
    CometBFT are returned as updates (power 0 removes). `set_height`: where the set takes effect
    (H + 2 for an end-block at H), for the historical record.

    Cost: the candidates' powers come from the power index keys and the last set's from its own
    records (power, consensus key, bridge address), so only validators that enter or leave the set
    are read in full."""
    params = ctx.params.staking
    if ctx.state.get(k.SET_DIRTY) is None and st.get_historical(ctx.state, set_height) is not None:
        return []  # no validator's power, jailing or bridge key changed in this block
    new = dict(st.candidate_powers(ctx.state, params.max_validators))
    last = st.last_set(ctx.state)
    updates: list[tuple[bytes, ValidatorUpdate]] = []
    changed = False
    for op in sorted(new):
        power = new[op]
        was = last.get(op)
        if was is not None and was.power == power:
            continue
        changed = True
        if was is None:  # entering the set
            v = must_get(ctx, op)
            old = replace(v)
            if v.status == UNBONDING:
                ctx.state.delete(k.VALIDATOR_QUEUE + k.u64(v.unbonding_done_ns) + op)
            ctx.bank.send(ctx.state, NOT_BONDED_POOL, BONDED_POOL, ctx.coin(v.tokens))
            v.status = BONDED
            v.unbonding_height = v.unbonding_done_ns = 0
            save(ctx, v, old)
            member = st.SetMember(op, v.consensus_pubkey, v.bridge_address, power)
        else:
            member = st.SetMember(op, was.consensus_pubkey, was.bridge_address, power)
        st.set_last(ctx.state, member)
        last[op] = member
        updates.append((op, ValidatorUpdate("ed25519", member.consensus_pubkey, power)))
    for op in sorted(last):
        if op in new:
            continue
        changed = True
        v = must_get(ctx, op)
        old = replace(v)
        ctx.bank.send(ctx.state, BONDED_POOL, NOT_BONDED_POOL, ctx.coin(v.tokens))
        v.status = UNBONDING
        v.unbonding_height = ctx.height
        v.unbonding_done_ns = ctx.time_ns + params.unbonding_time_ns
        save(ctx, v, old)
        ctx.state.set(k.VALIDATOR_QUEUE + k.u64(v.unbonding_done_ns) + op, b"")
        ctx.state.delete(k.LAST_POWER + op)
        updates.append((op, ValidatorUpdate("ed25519", v.consensus_pubkey, 0)))
        del last[op]
    current = st.get_historical(ctx.state, set_height)
    members = sorted(last.values(), key=lambda m: (-m.power, m.operator))
    if changed or current is None or list(current.members) != members:
        st.set_historical(ctx.state, set_height, members, params.historical_entries)
    ctx.state.delete(k.SET_DIRTY)
    return [u for _, u in sorted(updates, key=lambda x: x[0])]


def bonded_tokens(ctx: Ctx) -> int:
    return int(ctx.bank.balance(ctx.state, BONDED_POOL, ctx.denom))
