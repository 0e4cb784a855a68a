"""Attestation: what a validator puts in its vote extension, what others accept from it, and what
the chain decides from the extensions of a commit (BRIDGE.md section 5, FinalizeBlock steps 1-2).

Pure functions of their arguments (no state, no network), so every rule here is a unit test.
Powers are integers; "more than 2/3" is `3 * power > 2 * total`, never a rounded fraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.module.errors import MalformedExtension
from bridge.module.events import (
    L1Event,
    VoteExtension,
    check_contiguous,
    decode_extension,
    encode_event,
)
from bridge.module.observe import Observed
from bridge.module.params import BridgeParams

# Bytes the l1_height field may take (tag + a 64-bit varint).
_HEIGHT_FIELD_MAX = 11


def more_than_two_thirds(power: int, total: int) -> bool:
    return 3 * power > 2 * total


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def build_extension(observed: Observed, last_event_nonce: int, params: BridgeParams) -> VoteExtension:
    """This validator's extension from what its watcher has seen: the events from
    `last_event_nonce + 1` on, contiguous, at most `max_events_per_extension` of them and within
    `max_extension_bytes`; `l1_height` is the watcher's final height, or, when the list is cut
    short, one below the L1 block of the first event left out (so that it stays complete)."""
    events: list[L1Event] = []
    size = _HEIGHT_FIELD_MAX
    l1_height = observed.final_height
    expected = last_event_nonce + 1
    for e in observed.events:
        if e.nonce < expected:
            continue  # applied already (the watcher hears of progress after Commit)
        if e.nonce > expected:
            # A gap: the watcher's list is not complete from here; claim nothing at or above it.
            l1_height = min(l1_height, e.l1_block - 1)
            break
        n = len(encode_event(e))
        item = 1 + _varint_len(n) + n
        if len(events) == params.max_events_per_extension or size + item > params.max_extension_bytes:
            l1_height = min(l1_height, e.l1_block - 1)
            break
        if e.l1_block > observed.final_height:
            break  # never report above what the watcher considers final
        events.append(e)
        size += item
        expected += 1
    return VoteExtension(tuple(events), max(l1_height, 0))


def check_format(data: bytes, params: BridgeParams) -> VoteExtension:
    """The extension in `data` if it is well formed on its own: within the byte and event limits,
    canonical, events contiguous among themselves. MalformedExtension otherwise."""
    if len(data) > params.max_extension_bytes:
        raise MalformedExtension(f"the extension is {len(data)} bytes, over the limit of {params.max_extension_bytes}")
    ext = decode_extension(data)
    if len(ext.events) > params.max_events_per_extension:
        raise MalformedExtension(f"the extension carries {len(ext.events)} events, over the limit of "
                                 f"{params.max_events_per_extension}")
    if ext.events:
        check_contiguous(ext.events, ext.events[0].nonce)
    return ext


def verify_extension(data: bytes, last_event_nonce: int, params: BridgeParams) -> VoteExtension:
    """`check_format`, and its events start where the block voted for leaves the chain
    (VerifyVoteExtension, on the state before that block). The block may itself apply events (its
    extended commit), so a validator starts after those: at the chain's next nonce, or up to
    `max_events_per_extension` beyond it (the most one block applies: an event needs reports from
    honest validators, whose extensions start at the next nonce and carry at most that many)."""
    ext = check_format(data, params)
    if ext.events:
        first, lo = ext.events[0].nonce, last_event_nonce + 1
        hi = lo + params.max_events_per_extension
        if not lo <= first <= hi:
            raise MalformedExtension(f"the events start at nonce {first}; with the chain's next at {lo} they "
                                     f"must start in [{lo}, {hi}]")
    return ext


@dataclass(frozen=True, slots=True)
class Report:
    """One vote of the commit: its validator, its power, its extension (None: malformed or none)."""

    validator: bytes
    power: int
    extension: VoteExtension | None

    def event(self, nonce: int) -> L1Event | None:
        ext = self.extension
        if ext is None or not ext.events:
            return None
        i = nonce - ext.events[0].nonce
        return ext.events[i] if 0 <= i < len(ext.events) else None


def decide_events(reports: Sequence[Report], total_power: int, last_event_nonce: int) -> list[L1Event]:
    """Step 1: event n = last + 1 is decided when reports with more than 2/3 of the power carry the
    identical event n; then n + 1, and so on, until one is not."""
    decided: list[L1Event] = []
    n = last_event_nonce + 1
    while True:
        tally: dict[L1Event, int] = {}
        for r in reports:
            e = r.event(n)
            if e is not None:
                tally[e] = tally.get(e, 0) + r.power
        winner = next((e for e, p in tally.items() if more_than_two_thirds(p, total_power)), None)
        if winner is None:
            return decided
        decided.append(winner)
        n += 1


def capped_height(report: Report, is_applied: Callable[[L1Event], bool]) -> int:
    """Step 2's cap: a report's `l1_height`, lowered to one below the L1 block of the first event it
    carries that the chain has not applied (as reported)."""
    ext = report.extension
    if ext is None:
        return 0
    h = ext.l1_height
    for e in ext.events:
        if not is_applied(e):
            h = min(h, e.l1_block - 1)
    return max(h, 0)


def decide_l1_height(reports: Sequence[Report], total_power: int, is_applied: Callable[[L1Event], bool]) -> int:
    """Step 2: the highest H such that reports with more than 2/3 of the power have a capped
    height >= H (0 when there is none). Not a median: the threshold is step 1's."""
    heights = sorted(((capped_height(r, is_applied), r.power) for r in reports), key=lambda hp: -hp[0])
    acc = 0
    for h, p in heights:
        acc += p
        if more_than_two_thirds(acc, total_power):
            return h
    return 0
