"""FinalizeBlock steps 1 and 2 (BRIDGE.md section 5): events applied when more than 2/3 of the
power reported them identically, and observed_l1_height vouched for by more than 2/3. Run through
the app with signed extended commits (tests/unit/bridge/chain.py) and on the pure rules."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.module.attest import Report, decide_events, decide_l1_height
from bridge.module.events import BatchExecuted, Deposit, L1Event, VoteExtension
from tests.unit.bridge.chain import BridgeChain, deposit

ALICE = b"\x07" * 20
BOB = b"\x08" * 20


def balance(c: BridgeChain, who: bytes, denom: str = "l1/eth") -> int:
    from sidechain.types import bech32_address

    return int(c.query(f"/balance/{bech32_address(who, 'side')}/{denom}")["amount"])  # type: ignore[arg-type]


def see(c: BridgeChain, which: list[int], events: tuple[L1Event, ...], final: int) -> None:
    for i in which:
        c.observers[i].events = events
        c.observers[i].final_height = final


def run(c: BridgeChain, blocks: int = 3) -> None:
    for _ in range(blocks):
        c.step()


def state(c: BridgeChain) -> dict[str, object]:
    return c.query("/bridge/state")


# --- step 1 under every split of power ----------------------------------------------------------


def test_all_agree_mints_once() -> None:
    c = BridgeChain([10, 10, 10, 10])
    see(c, [0, 1, 2, 3], (deposit(2, 500, ALICE), deposit(3, 7, BOB)), 50)
    run(c, 4)
    assert balance(c, ALICE) == 500 and balance(c, BOB) == 7
    s = state(c)
    assert s["last_event_nonce"] == 3 and s["supply"] == {"l1/eth": "507"} and s["observed_l1_height"] == 50


def test_exactly_two_thirds_is_not_enough() -> None:
    c = BridgeChain([10, 10, 10])
    see(c, [0, 1], (deposit(2, 500, ALICE),), 50)
    run(c, 3)
    assert balance(c, ALICE) == 0 and state(c)["last_event_nonce"] == 1
    see(c, [2], (deposit(2, 500, ALICE),), 50)  # the third one catches up: now all three
    run(c, 2)
    assert balance(c, ALICE) == 500


def test_just_over_two_thirds_is_enough() -> None:
    c = BridgeChain([34, 33, 33])  # 67 of 100
    see(c, [0, 1], (deposit(2, 500, ALICE),), 50)
    run(c, 3)
    assert balance(c, ALICE) == 500
    c = BridgeChain([33, 34, 33])  # 67 of 100 again, another pair
    see(c, [1, 2], (deposit(2, 500, ALICE),), 50)
    run(c, 3)
    assert balance(c, ALICE) == 500


def test_a_faulty_third_reporting_another_amount_or_recipient_is_outvoted_and_recorded() -> None:
    for lie in (deposit(2, 5_000_000, ALICE), deposit(2, 500, BOB)):
        c = BridgeChain([10, 10, 10, 10])
        see(c, [0, 1, 2], (deposit(2, 500, ALICE),), 50)
        see(c, [3], (lie,), 50)
        run(c, 3)
        assert balance(c, ALICE) == 500 and balance(c, BOB) == 0
        assert state(c)["supply"] == {"l1/eth": "500"}
        dis = c.query("/bridge/disagreements")["disagreements"]
        assert dis == [{"event_nonce": 2, "validator": c.keys[3].consensus_address.hex().upper(), "height": 1}]


def test_a_faulty_half_blocks_the_event_and_nothing_is_minted() -> None:
    c = BridgeChain([10, 10, 10, 10])
    see(c, [0, 1], (deposit(2, 500, ALICE),), 50)
    see(c, [2, 3], (deposit(2, 900, ALICE),), 50)
    run(c, 3)
    assert balance(c, ALICE) == 0 and state(c)["last_event_nonce"] == 1
    assert state(c)["observed_l1_height"] == 10 + 2 - 1  # below the disputed event's block for everyone


def test_reports_that_skip_a_nonce_stop_at_the_gap() -> None:
    c = BridgeChain([10, 10, 10, 10])
    # One watcher missed event 3: its view has a gap, so it reports only event 2 (the rest waits).
    see(c, [0, 1, 2], (deposit(2, 1, ALICE), deposit(3, 2, ALICE), deposit(4, 4, ALICE)), 50)
    see(c, [3], (deposit(2, 1, ALICE), deposit(4, 4, ALICE)), 50)
    run(c, 3)
    assert balance(c, ALICE) == 7  # three of four (30 of 40) carry 3 and 4
    c = BridgeChain([10, 10, 10, 10])
    see(c, [0, 1], (deposit(2, 1, ALICE), deposit(3, 2, ALICE)), 50)
    see(c, [2, 3], (deposit(2, 1, ALICE), deposit(4, 4, ALICE)), 50)
    run(c, 3)
    assert balance(c, ALICE) == 1 and state(c)["last_event_nonce"] == 2


def test_absent_validators_count_as_silent() -> None:
    c = BridgeChain([10, 10, 10, 10])
    see(c, [0, 1, 2, 3], (deposit(2, 500, ALICE),), 50)
    c.step()
    c.last_commit = c.commit_info(1, c.extensions(2), voters=[0, 1, 2])  # one vote missing: 30 of 40
    c.step()
    assert balance(c, ALICE) == 500


# --- step 2: observed_l1_height ------------------------------------------------------------------


def test_a2_sixty_forty_split_leaves_the_height_below_an_event_only_sixty_percent_saw() -> None:
    """A batch executed on L1 at block 120 seen by 60% of the power: a median would move the
    observed height past 120 (and step 4 could then refund a batch paid on L1). More than 2/3
    must vouch, and each report is capped below the first event the chain did not apply."""
    c = BridgeChain([20, 20, 20, 20, 20])
    executed = L1Event(2, 120, b"\x02" * 32, BatchExecuted(1, 3))
    see(c, [0, 1, 2], (executed,), 130)
    see(c, [3, 4], (), 110)  # their watchers are behind: final at 110
    run(c, 3)
    s = state(c)
    assert s["last_event_nonce"] == 1
    assert s["observed_l1_height"] == 110 < 120
    see(c, [3], (executed,), 130)  # now 80%
    run(c, 2)
    s = state(c)
    assert s["last_event_nonce"] == 2 and s["observed_l1_height"] >= 120


def test_observed_height_never_decreases() -> None:
    c = BridgeChain([10, 10, 10])
    see(c, [0, 1, 2], (), 500)
    run(c, 3)
    assert state(c)["observed_l1_height"] == 500
    see(c, [0, 1, 2], (), 300)
    run(c, 3)
    assert state(c)["observed_l1_height"] == 500


def test_pure_height_rule_thresholds() -> None:
    def r(power: int, h: int) -> Report:
        return Report(b"", power, VoteExtension((), h))

    applied = lambda e: True  # noqa: E731
    assert decide_l1_height([r(1, 10), r(1, 20), r(1, 30)], 3, applied) == 10
    assert decide_l1_height([r(2, 30), r(1, 10)], 3, applied) == 10  # 2 of 3 is not more than 2/3
    assert decide_l1_height([r(3, 30), r(1, 10)], 4, applied) == 30
    assert decide_l1_height([r(1, 30), Report(b"", 3, None)], 4, applied) == 0


# --- property: supply is exactly the deposits applied, none twice -----------------------------------


def _pattern() -> st.SearchStrategy[list[tuple[int, int, int]]]:
    # per block: (validators that see, how many events are visible to them, a liar index or -1)
    return st.lists(st.tuples(st.integers(0, 15), st.integers(0, 6), st.integers(-1, 3)), min_size=3, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pattern())
def test_bridged_supply_is_the_sum_of_applied_deposits(pattern: list[tuple[int, int, int]]) -> None:
    c = BridgeChain([10, 10, 10, 10])
    truth = [deposit(n, 1000 + n, ALICE if n % 2 else BOB, l1_block=20 + n) for n in range(2, 9)]
    for mask, visible, liar in pattern:
        for i in range(4):
            events = tuple(truth[:visible]) if mask >> i & 1 else ()
            if i == liar and events:
                e = events[0]
                assert isinstance(e.kind, Deposit)
                events = (replace(e, kind=replace(e.kind, amount=e.kind.amount * 1000)), *events[1:])
            c.observers[i].events = events
            c.observers[i].final_height = 20 + 2 + visible if events else 0
        c.step()
    s = state(c)
    last = int(s["last_event_nonce"])  # type: ignore[call-overload]
    applied = truth[: last - 1]
    assert balance(c, ALICE) + balance(c, BOB) == sum(e.kind.amount for e in applied)  # type: ignore[union-attr]
    assert int(s["supply"].get("l1/eth", "0")) == sum(e.kind.amount for e in applied)  # type: ignore[attr-defined, union-attr]
    for e in applied:  # each applied once, with the true amount
        rec = c.query(f"/bridge/deposit/{e.nonce}")
        assert rec["amount"] == str(e.kind.amount)  # type: ignore[union-attr]


def test_pure_decide_events_applies_in_order_and_only_identical_reports() -> None:
    a = L1Event(2, 5, b"\x01" * 32, Deposit(b"\x00" * 20, b"\x01" * 20, ALICE, 5))
    b2 = replace(a, l1_tx=b"\x02" * 32)  # same deposit, another tx hash: not identical
    n3 = L1Event(3, 6, b"\x03" * 32, BatchExecuted(1, 1))
    reports = [Report(b"1", 1, VoteExtension((a, n3), 6)), Report(b"2", 1, VoteExtension((a, n3), 6)),
               Report(b"3", 1, VoteExtension((b2,), 6)), Report(b"4", 1, VoteExtension((a, n3), 6))]
    assert decide_events(reports, 4, 1) == [a, n3]
    assert decide_events(reports[:3], 4, 1) == []


def test_a_block_split_by_the_event_cap_moves_the_audit_height_not_the_observed_height() -> None:
    """40 deposits in one L1 block: the first extension carries 32 and claims a height below that
    block, so events above observed_l1_height are applied; the supply invariant must then be read at
    the block of the last applied event (whose later events only add to the contract's balance)."""
    c = BridgeChain([10, 10, 10])
    see(c, [0, 1, 2], tuple(deposit(n, 1, ALICE, l1_block=77) for n in range(2, 42)), 90)
    c.step()
    c.step()
    s = state(c)
    assert s["last_event_nonce"] == 33 and s["observed_l1_height"] == 76
    assert s["last_event_l1_block"] == 77 and s["audit_l1_height"] == 77
    c.step()
    s = state(c)
    assert s["last_event_nonce"] == 41 and s["observed_l1_height"] == 90 and s["audit_l1_height"] == 90
