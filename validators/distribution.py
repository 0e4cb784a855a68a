"""Rewards: each block's fees and issuance to the validators that signed, F1 style.

Amounts here are `dec` units: 10^18 per token, integers, always rounded down; what rounding leaves
goes to the community pool, so that at every height

    balance of the distribution account * 10^18 == sum of outstanding rewards + community pool

to the last dec unit (the property tests check it). Per block the work is O(validators in the last
commit); a delegator's rewards are computed only when its delegation changes or it withdraws (F1):

* every validator has a current period and the rewards its delegators earned in it (`current`);
* ending a period adds current / tokens to the validator's cumulative reward ratio (`historical[p]`);
* a delegation remembers the period it started after and its stake (tokens) then (`starting info`);
  its rewards are stake * (ratio[now] - ratio[start]), stake reduced by each slash in between
  (slash events end a period and record the fraction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sidechain.store.api import KVReader, KVStore, prefix_end
from sidechain.types import Amount, Coin
from validators import keys as k
from validators.expected import StakingBank
from validators.params import BPS, PosParams
from validators.state import DISTRIBUTION, Validator

DEC = 10**18
DecCoins = dict[str, int]


def _enc(coins: Mapping[str, int]) -> bytes:
    return json.dumps([[d, str(coins[d])] for d in sorted(coins) if coins[d]], separators=(",", ":")).encode()


def _dec(raw: bytes | None) -> DecCoins:
    return {} if raw is None else {d: int(a) for d, a in json.loads(raw)}


def _add(a: DecCoins, b: Mapping[str, int]) -> DecCoins:
    out = dict(a)
    for d in sorted(b):
        out[d] = out.get(d, 0) + b[d]
    return {d: v for d, v in out.items() if v}


def _sub(a: DecCoins, b: Mapping[str, int]) -> DecCoins:
    out = dict(a)
    for d in sorted(b):
        out[d] = out.get(d, 0) - b[d]
        if out[d] < 0:
            raise ArithmeticError(f"distribution: {d} would go negative")
    return {d: v for d, v in out.items() if v}


def _scale(a: Mapping[str, int], num: int, den: int) -> DecCoins:
    return {d: a[d] * num // den for d in sorted(a) if a[d] * num // den}


# --- records -------------------------------------------------------------------------------------
#
# One record per validator holds what every block touches (so allocating a block's rewards is one
# read and one write per validator): the current period, the commission rate, and per denom the
# current period's rewards, the accumulated commission and the outstanding rewards:
#     period (8 BE) || commission bps (2 BE) || per denom, in denom order:
#         len (1) || denom || then current, commission, outstanding, each as len (1) || big-endian
# (a binary layout: this record is read and written for every signer of every block)


def _get_rec(state: KVReader, op: bytes) -> tuple[int, int, dict[str, list[int]]]:
    raw = state.get(k.CURRENT_REWARDS + op)
    if raw is None:
        return 0, 0, {}
    rows: dict[str, list[int]] = {}
    i, n, fb = 10, len(raw), int.from_bytes
    while i < n:
        ln = raw[i]
        denom = raw[i + 1:i + 1 + ln].decode()
        i += 1 + ln
        vals = []
        for _ in range(3):
            ln = raw[i]
            vals.append(fb(raw[i + 1:i + 1 + ln], "big"))
            i += 1 + ln
        rows[denom] = vals
    return fb(raw[:8], "big"), fb(raw[8:10], "big"), rows


def _put_rec(state: KVStore, op: bytes, period: int, rate: int, rows: dict[str, list[int]]) -> None:
    out = bytearray(k.u64(period) + rate.to_bytes(2, "big"))
    for d in sorted(rows):
        r = rows[d]
        if not any(r):
            continue
        db = d.encode()
        out.append(len(db))
        out += db
        for a in r:
            ab = a.to_bytes((a.bit_length() + 7) // 8, "big")
            out.append(len(ab))
            out += ab
    state.set(k.CURRENT_REWARDS + op, bytes(out))


def _column(rows: dict[str, list[int]], col: int) -> DecCoins:
    return {d: r[col] for d, r in sorted(rows.items()) if r[col]}


def get_current(state: KVReader, op: bytes) -> tuple[int, DecCoins]:
    period, _, rows = _get_rec(state, op)
    return period, _column(rows, 0)


def get_commission(state: KVReader, op: bytes) -> DecCoins:
    return _column(_get_rec(state, op)[2], 1)


def get_outstanding(state: KVReader, op: bytes) -> DecCoins:
    return _column(_get_rec(state, op)[2], 2)


def _update(state: KVStore, op: bytes, col: int, delta: Mapping[str, int], period: int | None = None,
            reset: bool = False) -> None:
    """Add `delta` to one column (0 current, 1 commission, 2 outstanding); `reset` zeroes it first."""
    p, rate, rows = _get_rec(state, op)
    for r in rows.values():
        if reset:
            r[col] = 0
    for d in sorted(delta):
        r = rows.setdefault(d, [0, 0, 0])
        r[col] += delta[d]
        if r[col] < 0:
            raise ArithmeticError(f"distribution: {d} would go negative")
    _put_rec(state, op, p if period is None else period, rate, rows)


def set_commission_rate(state: KVStore, op: bytes, rate: int) -> None:
    p, _, rows = _get_rec(state, op)
    _put_rec(state, op, p, rate, rows)


def _get_hist(state: KVReader, op: bytes, period: int) -> tuple[DecCoins, int]:
    raw = state.get(k.HISTORICAL_REWARDS + op + k.u64(period))
    if raw is None:
        raise LookupError(f"no historical rewards for period {period}")
    refs = int.from_bytes(raw[:4], "big")
    return _dec(raw[4:]), refs


def _set_hist(state: KVStore, op: bytes, period: int, ratio: DecCoins, refs: int) -> None:
    state.set(k.HISTORICAL_REWARDS + op + k.u64(period), refs.to_bytes(4, "big") + _enc(ratio))


def _ref(state: KVStore, op: bytes, period: int, delta: int) -> None:
    ratio, refs = _get_hist(state, op, period)
    refs += delta
    if refs == 0:
        state.delete(k.HISTORICAL_REWARDS + op + k.u64(period))
    else:
        _set_hist(state, op, period, ratio, refs)


def get_community_pool(state: KVReader) -> DecCoins:
    return _dec(state.get(k.COMMUNITY_POOL))


def _put(state: KVStore, key: bytes, coins: DecCoins) -> None:
    if coins:
        state.set(key, _enc(coins))
    else:
        state.delete(key)


def add_to_community_pool(state: KVStore, coins: Mapping[str, int]) -> None:
    _put(state, k.COMMUNITY_POOL, _add(get_community_pool(state), coins))


# --- validator lifecycle ------------------------------------------------------------------------


def init_validator(state: KVStore, op: bytes, commission_bps: int) -> None:
    """A new validator: period 1 starts, period 0 is the zero ratio (referenced by period 1)."""
    _set_hist(state, op, 0, {}, 1)
    _put_rec(state, op, 1, commission_bps, {})


def increment_period(state: KVStore, v: Validator) -> int:
    """End the validator's current period; returns the period that ended."""
    period, current = get_current(state, v.operator)
    if v.tokens == 0:  # nobody to pay: the rewards of the period go to the community pool
        increment: DecCoins = {}
        dust = current
    else:
        increment = {d: current[d] * DEC // v.tokens for d in sorted(current)}
        paid = {d: increment[d] * v.tokens // DEC for d in sorted(increment)}
        dust = _sub(current, paid)  # what rounding the ratio down leaves: to the community pool
    if dust:
        add_to_community_pool(state, dust)
        _update(state, v.operator, 2, {d: -a for d, a in dust.items()})
    prev, _ = _get_hist(state, v.operator, period - 1)
    _ref(state, v.operator, period - 1, -1)
    _set_hist(state, v.operator, period, _add(prev, increment), 1)
    _update(state, v.operator, 0, {}, period=period + 1, reset=True)
    return period


def allocate_to_validator(state: KVStore, op: bytes, reward: Mapping[str, int]) -> None:
    """One read and one write: the commission at the validator's rate, the rest to its delegators."""
    period, rate, rows = _get_rec(state, op)
    for d in sorted(reward):
        r = rows.setdefault(d, [0, 0, 0])
        commission = reward[d] * rate // BPS
        r[0] += reward[d] - commission
        r[1] += commission
        r[2] += reward[d]
    _put_rec(state, op, period, rate, rows)


def record_slash(state: KVStore, v: Validator, height: int, fraction_num: int, fraction_den: int) -> None:
    """Before a slash changes v.tokens: end the period and remember the fraction (for F1)."""
    ended = increment_period(state, v)
    _ref(state, v.operator, ended, +1)
    p = k.SLASH_EVENT + v.operator + k.u64(height)
    seq = sum(1 for _ in state.iterate(p, prefix_end(p)))
    state.set(p + k.u64(seq), k.u64(ended) + json.dumps([str(fraction_num), str(fraction_den)]).encode())


def _slash_events(state: KVReader, op: bytes, after_height: int, upto_height: int) -> list[tuple[int, int, int]]:
    start = k.SLASH_EVENT + op + k.u64(after_height + 1)
    end = k.SLASH_EVENT + op + k.u64(upto_height + 1)
    out = []
    for _, raw in state.iterate(start, end):
        num, den = json.loads(raw[8:])
        out.append((int.from_bytes(raw[:8], "big"), int(num), int(den)))
    return out


# --- delegations ----------------------------------------------------------------------------------


def _get_start(state: KVReader, delegator: bytes, op: bytes) -> tuple[int, int, int] | None:
    raw = state.get(k.STARTING_INFO + delegator + op)
    if raw is None:
        return None
    return int.from_bytes(raw[:8], "big"), int(raw[16:].decode()), int.from_bytes(raw[8:16], "big")


def init_delegation(state: KVStore, v: Validator, delegator: bytes, stake_tokens: int, height: int) -> None:
    """After a delegation is created or changed: it earns from the period after the current one ends."""
    ended = increment_period(state, v)
    _ref(state, v.operator, ended, +1)
    state.set(k.STARTING_INFO + delegator + v.operator, k.u64(ended) + k.u64(height) + str(stake_tokens).encode())


def pending_rewards(state: KVReader, v: Validator, delegator: bytes, height: int, end_ratio: DecCoins,
                    stake_now: int) -> DecCoins:
    start = _get_start(state, delegator, v.operator)
    if start is None:
        return {}
    period, stake, start_height = start
    rewards: DecCoins = {}
    for ev_period, num, den in _slash_events(state, v.operator, start_height, height):
        ratio_start, _ = _get_hist(state, v.operator, period)
        ratio_end, _ = _get_hist(state, v.operator, ev_period)
        rewards = _add(rewards, {d: (ratio_end.get(d, 0) - ratio_start.get(d, 0)) * stake // DEC
                                 for d in sorted(ratio_end)})
        stake -= -((-stake * num) // den) if num else 0  # the slashed share, rounded up: never overpay
        period = ev_period
    stake = min(stake, stake_now)  # rounding can leave the recorded stake a unit above the real one
    ratio_start, _ = _get_hist(state, v.operator, period)
    rewards = _add(rewards, {d: (end_ratio.get(d, 0) - ratio_start.get(d, 0)) * stake // DEC
                             for d in sorted(end_ratio)})
    return {d: a for d, a in rewards.items() if a > 0}


def pending_now(state: KVReader, v: Validator, delegator: bytes, stake: int) -> DecCoins:
    """What a withdrawal would pay now, read only: as if the current period ended here."""
    period, current = get_current(state, v.operator)
    if period == 0:
        return {}
    ratio, _ = _get_hist(state, v.operator, period - 1)
    if v.tokens:
        ratio = _add(ratio, {d: current[d] * DEC // v.tokens for d in sorted(current)})
    return pending_rewards(state, v, delegator, k.U64_MAX - 1, ratio, stake)


def withdraw_rewards(state: KVStore, bank: StakingBank, v: Validator, delegator: bytes, stake_now: int,
                     height: int) -> list[Coin]:
    """Pay the delegation's rewards (whole tokens; the fraction goes to the community pool) and end
    its starting info (the caller re-inits it if the delegation goes on)."""
    start = _get_start(state, delegator, v.operator)
    if start is None:
        return []
    ended = increment_period(state, v)
    end_ratio, _ = _get_hist(state, v.operator, ended)
    rewards = pending_rewards(state, v, delegator, height, end_ratio, stake_now)
    outstanding = get_outstanding(state, v.operator)
    rewards = {d: min(a, outstanding.get(d, 0)) for d, a in rewards.items()}
    _update(state, v.operator, 2, {d: -a for d, a in rewards.items()})
    paid = _pay(state, bank, delegator, rewards)
    _ref(state, v.operator, start[0], -1)
    state.delete(k.STARTING_INFO + delegator + v.operator)
    return paid


def withdraw_commission(state: KVStore, bank: StakingBank, v: Validator) -> list[Coin]:
    commission = get_commission(state, v.operator)
    if not commission:
        return []
    _update(state, v.operator, 2, {d: -a for d, a in commission.items()})
    _update(state, v.operator, 1, {}, reset=True)
    return _pay(state, bank, v.operator, commission)


def _pay(state: KVStore, bank: StakingBank, to: bytes, rewards: DecCoins) -> list[Coin]:
    whole = {d: a // DEC for d, a in rewards.items() if a // DEC}
    dust = _sub(rewards, {d: a * DEC for d, a in whole.items()})
    if dust:
        add_to_community_pool(state, dust)
    coins = [Coin(d, Amount(whole[d])) for d in sorted(whole)]
    for c in coins:
        bank.send(state, DISTRIBUTION, to, c)
    return coins


# --- the per-block step --------------------------------------------------------------------------


def issuance(params: PosParams, bonded_tokens: int) -> int:
    d = params.distribution
    if d.issuance_per_block:
        return d.issuance_per_block
    return bonded_tokens * d.inflation_bps // (BPS * d.blocks_per_year)


def allocate(state: KVStore, bank: StakingBank, params: PosParams, collected: Mapping[str, int],
             voters: list[tuple[bytes, int]], proposer: bytes | None) -> None:
    """Split `collected` (whole tokens, already in the distribution account) among the voters of
    the last commit by power: proposer bonus, community tax, the rest by power; dust to the pool."""
    total: DecCoins = {d: a * DEC for d, a in collected.items() if a}
    if not total:
        return
    signed_power = sum(p for _, p in voters)
    if signed_power == 0:
        add_to_community_pool(state, total)
        return
    dist = params.distribution
    remaining = dict(total)
    if proposer is not None and dist.proposer_bonus_bps:
        bonus = _scale(total, dist.proposer_bonus_bps, BPS)
        allocate_to_validator(state, proposer, bonus)
        remaining = _sub(remaining, bonus)
    share_bps = BPS - dist.community_tax_bps - (dist.proposer_bonus_bps if proposer is not None else 0)
    den = BPS * signed_power
    for op, power in voters:
        num = share_bps * power
        reward = {d: a * num // den for d, a in total.items() if a * num // den}
        if reward:
            allocate_to_validator(state, op, reward)
            for d, a in reward.items():
                remaining[d] -= a
    add_to_community_pool(state, remaining)  # the community tax and every rounding remainder
