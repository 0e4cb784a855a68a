"""A property over random deposits, withdrawals, cancels, delegations (the validator set and so the
valsets change), valset updates on L1, batch executions on L1 (only while the contract would accept
them: signed by the contract's valset, before the timeout, once per nonce; some with a payout
deferred; and unknown nonces too) and L1 blocks passing timeouts, run through the app block by
block. At every height, for every bridged denom:

    bank supply == bridged supply
    deposits applied == supply + queued + in batches + executed        (amount + fee)

each withdrawal's terminal status (executed, deferred, refunded, cancelled) never changes, none is both paid
on L1 and refunded, and every user's balance is its deposits less what it withdrew and did not get
back."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bridge.module.events import ZERO_ADDRESS, BatchExecuted, Deposit, ValsetUpdated
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as spb
from sidechain.tx import module_msg
from tests.unit.bridge.chain import POWER_REDUCTION
from tests.unit.bridge.wchain import TOKEN, WChain, addr, cancel_msg, withdraw_msg

DENOMS = {ZERO_ADDRESS: "l1/eth", TOKEN: "l1/0x" + TOKEN.hex()}
TIMEOUT = 10
TERMINAL = ("executed", "deferred", "refunded", "cancelled")

op = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 2), st.sampled_from(sorted(DENOMS)), st.integers(1, 500)),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.sampled_from(sorted(DENOMS)), st.integers(0, 300),
              st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(1, 12)),
    st.tuples(st.just("execute"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("execute-unknown"), st.integers(0, 3)),
    st.tuples(st.just("delegate"), st.integers(0, 2), st.integers(0, 3), st.integers(1, 8)),
    st.tuples(st.just("valset"),),
    st.tuples(st.just("advance"), st.integers(1, 4)),
    st.tuples(st.just("blocks"), st.integers(1, 3)),
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
        if status in ("queued", "batched", "executed", "deferred"):
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


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=10, max_size=24))
def test_supply_invariant_and_no_withdrawal_both_paid_and_refunded(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    c = WChain(params={"max_batch_size": 3, "batch_interval_blocks": 1, "batch_timeout_l1_blocks": TIMEOUT})
    c.step()
    for u in range(c.n_users):  # every user starts with both assets, so withdrawals happen early
        for token in sorted(DENOMS):
            c.l1_deposit(addr(c.users[u]), 400, token)
    c.settle()
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
            # The contract runs a batch once, only below its timeout and signed by its valset; nonce
            # 1000+ is one the chain never made. Some executions defer the first payout.
            pending = [p for p in c.pending() if c.l1_head + 1 < int(p["timeout_l1_block"])  # type: ignore[call-overload]
                       and int(p["nonce"]) not in executed_on_l1 and p["ready"]]  # type: ignore[call-overload]
            if pending:
                p = pending[o[1] % len(pending)]
                nonce = int(p["nonce"])  # type: ignore[call-overload]
                executed_on_l1.add(nonce)
                first = p["withdrawals"][0]  # type: ignore[index]
                owed = ((bytes.fromhex(first["recipient"][2:]), int(first["amount"])),)
                c._l1(BatchExecuted(nonce, len(p["withdrawals"]),  # type: ignore[arg-type]
                                    owed if o[2] and int(first["amount"]) else ()))
                event("a ready batch executed on L1" + (" with a payout deferred" if o[2] else ""))
        elif o[0] == "execute-unknown":
            c.l1_execute(1000 + o[1])
        elif o[0] == "delegate":
            txs.append(c.tx(o[1], module_msg("staking.MsgDelegate", spb.MsgDelegate(
                delegator=addr(c.users[o[1]]), validator=c.chain.keys[o[2]].operator,
                amount=str(o[3] * POWER_REDUCTION)))))
        elif o[0] == "valset":
            # The contract takes the newest pending valset the chain has ready (signed by its current one).
            ready = [v for v in c.query("/bridge/valsets/pending")["valsets"] if v["ready"]]  # type: ignore[attr-defined]
            if ready:
                v = ready[-1]
                c._l1(ValsetUpdated(int(v["nonce"]), tuple(bytes.fromhex(a[2:]) for a in v["validators"]),
                                    tuple(v["powers"])))
                event("a new valset run on L1")
        elif o[0] == "advance":
            c.l1_advance(o[1])
        c.step([t for t in txs if c.check(t).code == 0])
        check(c, seen)
        for _ in range(o[1] - 1 if o[0] == "blocks" else 0):
            c.step()
            check(c, seen)
    c.l1_advance(TIMEOUT + 3)  # everything left pending times out
    for _ in range(6):
        c.step()
        check(c, seen)
    for nonce in executed_on_l1:
        assert c.batch(nonce)["status"] == "executed"
