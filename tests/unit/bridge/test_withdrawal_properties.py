"""A property over random deposits, withdrawals, cancels, batch executions on L1 (only while the
contract would accept them: before the timeout, once per nonce, and unknown nonces too) and L1 blocks
passing timeouts, run through the app block by block. At every height, for every bridged denom:

    bank supply == bridged supply
    deposits applied == supply + queued + in batches + executed        (amount + fee)

each withdrawal's terminal status (executed, refunded, cancelled) never changes, none is both paid
on L1 and refunded, and every user's balance is its deposits less what it withdrew and did not get
back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.module.events import ZERO_ADDRESS, Deposit
from tests.unit.bridge.wchain import TOKEN, WChain, addr, cancel_msg, withdraw_msg

DENOMS = {ZERO_ADDRESS: "l1/eth", TOKEN: "l1/0x" + TOKEN.hex()}
TIMEOUT = 6
TERMINAL = ("executed", "refunded", "cancelled")

op = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 2), st.sampled_from(sorted(DENOMS)), st.integers(1, 500)),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.sampled_from(sorted(DENOMS)), st.integers(0, 300),
              st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(1, 12)),
    st.tuples(st.just("execute"), st.integers(0, 3)),
    st.tuples(st.just("advance"), st.integers(1, 4)),
    st.tuples(st.just("block"),),
)


def check(c: WChain, seen: dict[int, str]) -> None:
    s = c.state()
    applied = [e for e in c.l1_events if e.nonce <= s["last_event_nonce"]]  # type: ignore[operator]
    for token, denom in DENOMS.items():
        deposited = sum(e.kind.amount for e in applied if isinstance(e.kind, Deposit) and e.kind.token == token)
        supply = int(s["supply"].get(denom, 0))  # type: ignore[attr-defined]
        assert c.bank_supply(denom) == supply
        parts = [int(s[key].get(denom, 0)) for key in ("queued", "in_batches", "executed")]  # type: ignore[attr-defined]
        assert deposited == supply + sum(parts), (denom, deposited, supply, parts)
    n = int(s["next_withdrawal_id"]) - 1  # type: ignore[call-overload]
    back: dict[tuple[int, str], int] = {}
    for wid in range(1, n + 1):
        w = c.withdrawal(wid)
        status = str(w["status"])
        if seen.get(wid) in TERMINAL:
            assert status == seen[wid], (wid, seen[wid], status)  # never both paid and refunded
        seen[wid] = status
        if status in ("queued", "batched", "executed"):
            key = (_user(c, str(w["sender"])), str(w["denom"]))
            back[key] = back.get(key, 0) + int(w["amount"]) + int(w["fee"])  # type: ignore[call-overload]
        if status == "batched":
            assert c.batch(int(w["batch_nonce"]))["status"] == "pending"  # type: ignore[call-overload]
    for p in c.pending():  # step 4 leaves no batch pending past its timeout
        assert int(p["timeout_l1_block"]) > int(s["observed_l1_height"])  # type: ignore[call-overload]
    for u in range(c.n_users):
        for token, denom in DENOMS.items():
            got = sum(e.kind.amount for e in applied if isinstance(e.kind, Deposit) and e.kind.token == token
                      and e.kind.recipient == addr(c.users[u]))
            assert c.balance(u, denom) == got - back.get((u, denom), 0)


def _user(c: WChain, bech: str) -> int:
    from sidechain.types import bech32_address

    return [bech32_address(addr(k), "side") for k in c.users].index(bech)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=4, max_size=14))
def test_supply_invariant_and_no_withdrawal_both_paid_and_refunded(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    c = WChain(params={"max_batch_size": 3, "batch_interval_blocks": 2, "batch_timeout_l1_blocks": TIMEOUT})
    c.step()
    seen: dict[int, str] = {}
    executed_on_l1: set[int] = set()
    for o in ops:
        txs = []
        if o[0] == "deposit":
            c.l1_deposit(addr(c.users[o[1]]), o[3], o[2])
        elif o[0] == "withdraw":
            txs.append(c.tx(o[1], withdraw_msg(addr(c.users[o[1]]), o[3], o[4], DENOMS[o[2]])))
        elif o[0] == "cancel":
            txs.append(c.tx(o[1], cancel_msg(addr(c.users[o[1]]), o[2])))
        elif o[0] == "execute":
            # The contract runs a batch once and only below its timeout; nonce 1000+ is one the chain never made.
            pending = [p for p in c.pending() if c.l1_head + 1 < int(p["timeout_l1_block"])  # type: ignore[call-overload]
                       and int(p["nonce"]) not in executed_on_l1]  # type: ignore[call-overload]
            if o[1] < len(pending):
                nonce = int(pending[o[1]]["nonce"])  # type: ignore[call-overload]
                executed_on_l1.add(nonce)
                c.l1_execute(nonce, len(pending[o[1]]["withdrawals"]))  # type: ignore[arg-type]
            else:
                c.l1_execute(1000 + o[1])
        elif o[0] == "advance":
            c.l1_advance(o[1])
        c.step([t for t in txs if c.check(t).code == 0])
        check(c, seen)
    c.l1_advance(TIMEOUT + 3)  # everything left pending times out
    for _ in range(6):
        c.step()
        check(c, seen)
    for nonce in executed_on_l1:
        assert c.batch(nonce)["status"] == "executed"
