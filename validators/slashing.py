"""Slashing: double signing (evidence from CometBFT) and downtime (the last commit's votes).

* Double signing: `slash_fraction_double_sign` of the stake the validator had at the infraction
  height (the power CometBFT reports with the evidence), taken first from the unbonding entries and
  redelegations that started at or after that height (that stake was at risk when it misbehaved),
  the rest from its tokens; then it is jailed and tombstoned (it can never unjail). Evidence older
  than both max ages is ignored; the same infraction is never slashed twice.
* Downtime: a sliding window of `signed_blocks_window` blocks per validator, a bit per block in the
  store (only missed blocks are stored), O(1) per validator per block. Below
  `min_signed_per_window`, the validator is slashed `slash_fraction_downtime` of its stake at the
  infraction height, jailed for `downtime_jail_duration`, and its window starts over.

Slashed tokens are burned: the supply falls by exactly the amount slashed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sidechain.blocks import BLOCK_ID_FLAG_ABSENT, BlockEnv, Misbehavior
from sidechain.store.api import KVReader, KVStore, prefix_end
from validators import distribution as dist
from validators import keys as k
from validators import state as st
from validators.params import BPS
from validators.staking import Ctx, jail, pool_of, remove_tokens, save
from validators.staking import must_get as sk_must
from validators.state import NOT_BONDED_POOL, Validator

TOMBSTONE_UNTIL = (1 << 64) - 1


@dataclass(slots=True)
class SigningInfo:
    start_height: int
    index_offset: int
    missed_blocks: int


def get_signing_info(state: KVReader, cons: bytes) -> SigningInfo | None:
    """Stored as start height || index offset || missed blocks, 8 bytes BE each (read every block)."""
    raw = state.get(k.SIGNING_INFO + cons)
    if raw is None:
        return None
    fb = int.from_bytes
    return SigningInfo(fb(raw[:8], "big"), fb(raw[8:16], "big"), fb(raw[16:24], "big"))


def set_signing_info(state: KVStore, cons: bytes, info: SigningInfo) -> None:
    state.set(k.SIGNING_INFO + cons, k.u64(info.start_height) + k.u64(info.index_offset) + k.u64(info.missed_blocks))


def reset_window(state: KVStore, cons: bytes, height: int) -> None:
    p = k.MISSED + cons
    for key, _ in list(state.iterate(p, prefix_end(p))):
        state.delete(key)
    set_signing_info(state, cons, SigningInfo(height, 0, 0))


@dataclass(frozen=True, slots=True)
class SlashResult:
    operator: bytes
    burned: int
    reason: str


def slash(ctx: Ctx, v: Validator, infraction_height: int, power: int, fraction_bps: int, reason: str) -> SlashResult:
    """Burn `fraction_bps` of the stake `v` had at `infraction_height` (`power` units of power)."""
    amount = power * ctx.reduction * fraction_bps // BPS
    remaining = amount
    burned = 0
    # unbonding entries that started at or after the infraction were at stake then
    for delegator, entries in st.unbondings_from(ctx.state, v.operator):
        changed = False
        for e in entries:
            if e.creation_height < infraction_height or e.balance == 0 or remaining == 0:
                continue
            cut = min(e.initial_balance * fraction_bps // BPS, e.balance, remaining)
            if cut:
                e.balance -= cut
                remaining -= cut
                burned += cut
                ctx.bank.burn(ctx.state, NOT_BONDED_POOL, ctx.coin(cut))
                changed = True
        if changed:
            st.set_unbonding(ctx.state, delegator, v.operator, entries)
    # so were redelegations that left after it: slashed at their destination
    for delegator, dst_op, red_entries in st.redelegations_from(ctx.state, v.operator):
        for r in red_entries:
            if r.creation_height < infraction_height or remaining == 0:
                continue
            dst = st.get_validator(ctx.state, dst_op)
            if dst is None:
                continue
            want = min(r.initial_balance * fraction_bps // BPS, remaining)
            have = st.get_delegation(ctx.state, delegator, dst_op)
            shares = min(dst.shares_to_remove(want), have)
            worth = dst.tokens_of(shares)
            if shares == 0 or worth == 0:
                continue  # nothing left of it at the destination (unbonded or slashed there already)
            tokens, _ = remove_tokens(ctx, dst, delegator, worth)
            ctx.bank.burn(ctx.state, pool_of(dst), ctx.coin(tokens))
            remaining -= min(tokens, remaining)
            burned += tokens
    cut = min(remaining, v.tokens)
    if cut:
        dist.record_slash(ctx.state, v, ctx.height, cut, v.tokens)
        old = replace(v)
        v.tokens -= cut
        save(ctx, v, old)
        ctx.bank.burn(ctx.state, pool_of(v), ctx.coin(cut))
        burned += cut
    return SlashResult(v.operator, burned, reason)


def process_evidence(ctx: Ctx, env: BlockEnv) -> list[SlashResult]:
    """Double signing (DUPLICATE_VOTE and LIGHT_CLIENT_ATTACK both are equivocation)."""
    params = ctx.params.slashing
    out = []
    for ev in sorted(env.misbehavior, key=_evidence_order):
        cons = ev.validator.address
        if ctx.height - ev.height > params.max_evidence_age_blocks and \
                env.time_ns - ev.time_ns > params.max_evidence_age_ns:
            continue  # too old to act on
        op = st.operator_by_consensus(ctx.state, cons)
        if op is None:
            continue
        done = k.SLASHED_EVIDENCE + cons + k.u64(ev.height)
        v = st.get_validator(ctx.state, op)
        if v is None or v.tombstoned or ctx.state.get(done) is not None:
            continue  # the same infraction is never slashed twice
        ctx.state.set(done, b"")
        res = slash(ctx, v, ev.height, ev.validator.power, params.slash_fraction_double_sign_bps, "double_sign")
        v = sk_must(ctx, op)
        jail(ctx, v)
        old = replace(v)
        v.tombstoned = True
        v.jailed_until_ns = TOMBSTONE_UNTIL
        save(ctx, v, old)
        out.append(res)
    return out


def _evidence_order(ev: Misbehavior) -> tuple[int, bytes, int]:
    return (ev.height, ev.validator.address, ev.kind)


def process_downtime(ctx: Ctx, env: BlockEnv) -> list[SlashResult]:
    """Record who signed the last block; jail and slash validators that missed too many."""
    params = ctx.params.slashing
    window = params.signed_blocks_window
    max_missed = window - window * params.min_signed_per_window_bps // BPS
    out = []
    for vote in sorted(env.last_commit.votes, key=lambda vt: vt.validator.address):
        cons = vote.validator.address
        info = get_signing_info(ctx.state, cons)
        if info is None:  # its first vote: a validator of ours? (only validators get signing info)
            if st.operator_by_consensus(ctx.state, cons) is None:
                continue
            info = SigningInfo(ctx.height, 0, 0)
        idx = info.index_offset % window
        key = k.MISSED + cons + k.u64(idx)
        was_missed = ctx.state.get(key) is not None
        missed = vote.block_id_flag == BLOCK_ID_FLAG_ABSENT
        if missed and not was_missed:
            ctx.state.set(key, b"")
            info.missed_blocks += 1
        elif not missed and was_missed:
            ctx.state.delete(key)
            info.missed_blocks -= 1
        info.index_offset += 1
        if missed and info.missed_blocks > max_missed and ctx.height > info.start_height + window:
            op = st.operator_by_consensus(ctx.state, cons)
            v = st.get_validator(ctx.state, op) if op is not None else None
            if v is not None and not v.jailed:
                # the infraction is at the last block's height; its power is what CometBFT reports
                res = slash(ctx, v, ctx.height - 1, vote.validator.power, params.slash_fraction_downtime_bps,
                            "missing_signature")
                v = sk_must(ctx, v.operator)
                jail(ctx, v)
                old = replace(v)
                v.jailed_until_ns = env.time_ns + params.downtime_jail_duration_ns
                save(ctx, v, old)
                reset_window(ctx.state, cons, ctx.height)
                out.append(res)
                continue
        set_signing_info(ctx.state, cons, info)
    return out
