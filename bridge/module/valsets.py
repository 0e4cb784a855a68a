"""Valsets as the sidechain makes them (BRIDGE.md sections 2 and 5 step 7): the bonded validators'
bridge addresses with normalised powers, and when a new one is due.

    p_i = floor(stake_i * 2^32 / total); a validator whose p_i is 0 is left out; ascending address order.

A new valset is due when there is none yet, when membership changed, or when the normalised powers
moved by more than 5% in total: sum over the union of members of |p_new - p_old| > 5% of 2^32
(integers only: 20 * moved > 2^32).
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.module.events import MAX_POWER
from bridge.module.genesis import L1Valset

MOVE_DENOMINATOR = 20  # 1/20 = 5%


def normalised(nonce: int, members: Iterable[tuple[bytes, int]]) -> L1Valset:
    """From (bridge address, voting power) pairs; pairs with the same address are one member."""
    stakes: dict[bytes, int] = {}
    for address, power in members:
        if power > 0:
            stakes[address] = stakes.get(address, 0) + power
    total = sum(stakes.values())
    rows = sorted((a, s * MAX_POWER // total) for a, s in stakes.items()) if total else []
    rows = [(a, p) for a, p in rows if p > 0]
    return L1Valset(nonce, tuple(a for a, _ in rows), tuple(p for _, p in rows))


def power_moved(old: L1Valset, new: L1Valset) -> int:
    a = dict(zip(old.validators, old.powers, strict=True))
    b = dict(zip(new.validators, new.powers, strict=True))
    return sum(abs(b.get(x, 0) - a.get(x, 0)) for x in sorted(a.keys() | b.keys()))


def new_valset_due(last: L1Valset | None, candidate: L1Valset) -> bool:
    if not candidate.validators:
        return False  # nobody to sign: never a valset the contract would refuse anyway
    if last is None:
        return True
    if last.validators != candidate.validators:
        return True
    return MOVE_DENOMINATOR * power_moved(last, candidate) > MAX_POWER
