"""Rechecks that reuse a tx's recorded check (sidechain/recheck.py) give exactly the answers, and leave
exactly the check-state, of rechecks that run every check in full."""

from __future__ import annotations

import random

import pytest

from sidechain.app import Application
from sidechain.auth.keys import ACCOUNT_PREFIX
from sidechain.bank.keys import balance_key
from sidechain.recheck import RecheckMemo
from tests.unit.app.appchain import new_app, run_block
from tests.unit.tx.chain import addr, coin, key, send_tx

KEYS = [key(i) for i in range(1, 7)]
ADDRS = [addr(k) for k in KEYS]


class _NeverReuse(RecheckMemo):
    def new_pass(self, same_rules: bool) -> None:
        super().new_pass(False)


def _apps() -> tuple[Application, Application]:
    balances = [(a, [coin(300 + 100 * i)]) for i, a in enumerate(ADDRS[:5])]  # the sixth starts empty
    fast, full = new_app(balances), new_app(balances)
    full.recheck_memo = _NeverReuse()
    for app in (fast, full):
        run_block(app, [])
    return fast, full


def _check_state_view(app: Application) -> list[bytes | None]:
    state = app._check_state
    assert state is not None
    return [state.get(k) for a in ADDRS for k in (ACCOUNT_PREFIX + a, balance_key(a, "stake"))]


def _both(fast: Application, full: Application, tx: bytes, recheck: bool) -> bool:
    a, b = fast.check_tx(tx, recheck), full.check_tx(tx, recheck)
    assert (a.code, a.codespace, a.log) == (b.code, b.codespace, b.log)
    return a.code == 0


@pytest.mark.parametrize("seed", range(8))
def test_rechecks_that_reuse_agree_with_full_rechecks(seed: int) -> None:
    rng = random.Random(seed)
    fast, full = _apps()
    mempool: list[bytes] = []
    next_seq = [0] * len(KEYS)  # what each client believes its next sequence is
    for _block in range(40):
        for _ in range(rng.randrange(1, 12)):
            i = rng.randrange(len(KEYS))
            seq = next_seq[i] + rng.choice([0, 0, 0, 0, 1, -1])  # now and then out of order, or a replay
            to = ADDRS[rng.randrange(len(ADDRS))]
            tx = send_tx(KEYS[i], to, rng.choice([1, 5, 40, 250]), max(seq, 0), fee=rng.choice([1, 1, 2]))
            if _both(fast, full, tx, recheck=False):
                mempool.append(tx)
                next_seq[i] = max(seq, 0) + 1
        assert _check_state_view(fast) == _check_state_view(full)
        # The block: some of the mempool, in order, now and then with a tx from elsewhere first (another
        # node's: the same sender, a sequence a pending tx also uses, another recipient).
        block = [t for t in mempool if rng.random() < 0.5]
        if rng.random() < 0.3:
            i = rng.randrange(len(KEYS))
            block.insert(0, send_tx(KEYS[i], ADDRS[rng.randrange(len(ADDRS))], 3, max(next_seq[i] - 1, 0)))
        outs = [run_block(app, block) for app in (fast, full)]
        assert [r.code for r in outs[0].tx_results] == [r.code for r in outs[1].tx_results]
        assert fast.last_app_hash == full.last_app_hash
        left = [t for t in mempool if t not in block and rng.random() > 0.05]  # now and then one is evicted
        mempool = [t for t in left if _both(fast, full, t, recheck=True)]
        assert _check_state_view(fast) == _check_state_view(full)
        if rng.random() < 0.2:  # clients learn the truth now and then (the committed sequences)
            next_seq = [_sequence(fast, a) for a in ADDRS]
    assert fast.recheck_memo.reused > 0  # the shortcut was taken: the agreement above means something
    assert full.recheck_memo.reused == 0


def _sequence(app: Application, a: bytes) -> int:
    state = app._check_state
    assert state is not None
    v = state.get(ACCOUNT_PREFIX + a)
    return 0 if v is None else int.from_bytes(v[:8], "big")


def test_a_recheck_reads_again_what_the_block_wrote() -> None:
    fast, _full = _apps()
    alice, bob, carol = KEYS[0], KEYS[1], KEYS[2]
    spend_all = send_tx(alice, ADDRS[2], 299, 0)  # alice holds 300: 299 + fee 1
    untouched = send_tx(bob, ADDRS[3], 10, 0)
    assert fast.check_tx(spend_all, False).code == 0 and fast.check_tx(untouched, False).code == 0
    # Another node's tx takes alice's sequence 0 first: her pending tx must fail its recheck.
    run_block(fast, [send_tx(alice, ADDRS[4], 1, 0)])
    r = fast.check_tx(spend_all, True)
    assert r.code != 0 and "sequence" in r.log
    assert fast.check_tx(untouched, True).code == 0
    assert fast.recheck_memo.reused == 1  # bob's: the block wrote none of what it read
    # A block that credits carol's account leaves bob's tx (which does not read it) reusable.
    run_block(fast, [send_tx(carol, ADDRS[2], 7, 0)])
    assert fast.check_tx(untouched, True).code == 0
    assert fast.recheck_memo.reused == 2


def test_the_next_tx_of_an_account_whose_last_tx_was_committed_is_reused() -> None:
    """The block wrote the values the committed tx's check had written: what its successor read is unchanged."""
    fast, full = _apps()
    first, second = send_tx(KEYS[0], ADDRS[1], 10, 0), send_tx(KEYS[0], ADDRS[1], 20, 1)
    for app in (fast, full):
        assert app.check_tx(first, False).code == 0 and app.check_tx(second, False).code == 0
        run_block(app, [first])
        assert app.check_tx(second, True).code == 0
    assert fast.recheck_memo.reused == 1
    assert _check_state_view(fast) == _check_state_view(full)


def test_a_tx_gone_from_the_mempool_makes_what_followed_it_run_in_full() -> None:
    """alice's tx is evicted (never rechecked): bob's tx after it had read the balance alice's tx wrote."""
    fast, full = _apps()
    alice, bob = KEYS[0], KEYS[1]
    first = send_tx(alice, ADDRS[5], 100, 0)
    second = send_tx(bob, ADDRS[5], 50, 0)  # reads the sixth account's balance, which `first` raised
    for app in (fast, full):
        assert app.check_tx(first, False).code == 0 and app.check_tx(second, False).code == 0
        run_block(app, [])
        assert app.check_tx(second, True).code == 0
    assert fast.recheck_memo.reused == 0
    assert _check_state_view(fast) == _check_state_view(full)


def test_nothing_is_reused_after_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = new_app([(ADDRS[0], [coin(100)])], tmp_path)
    run_block(app, [])
    tx = send_tx(KEYS[0], ADDRS[1], 5, 0)
    assert app.check_tx(tx, False).code == 0
    run_block(app, [])
    app.close()
    reopened = Application(tmp_path)
    assert reopened.check_tx(tx, True).code == 0
    assert reopened.recheck_memo.reused == 0
    reopened.close()


def test_a_message_type_that_did_not_opt_in_is_always_checked_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from sidechain.bank.msgs import SendHandler

    monkeypatch.setattr(SendHandler, "reuse_on_recheck", False)
    fast, _full = _apps()
    tx = send_tx(KEYS[1], ADDRS[3], 10, 0)
    assert fast.check_tx(tx, False).code == 0
    run_block(fast, [])  # touches nothing the tx read
    assert fast.check_tx(tx, True).code == 0
    assert fast.recheck_memo.reused == 0 and fast.recheck_memo.checked == 2


def test_other_tx_rules_are_never_the_same() -> None:
    import dataclasses

    from sidechain.recheck import same_tx_rules

    fast, _full = _apps()
    rules = fast._rules
    assert rules is not None and same_tx_rules(rules, fast.modules.rules(fast.store.committed(), fast.chain_id))
    bank = dataclasses.replace(rules.params["bank"], send_enabled=not rules.params["bank"].send_enabled)
    assert not same_tx_rules(rules, dataclasses.replace(rules, params={**rules.params, "bank": bank}))
    limits = dataclasses.replace(rules.limits, max_memo_bytes=rules.limits.max_memo_bytes + 1)  # type: ignore[type-var]
    assert not same_tx_rules(rules, dataclasses.replace(rules, limits=limits))
    assert not same_tx_rules(rules, dataclasses.replace(rules, module_accounts=frozenset({b"\x01" * 20})))
    assert not same_tx_rules(None, rules)


def test_a_check_that_iterated_is_always_run_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from sidechain.bank.msgs import SendHandler

    plain = SendHandler.check_stateful

    def iterating(self, state, msg, env):  # type: ignore[no-untyped-def]
        list(state.iterate(b"\x00", b"\x00\x01"))  # a range read: no set of values to compare
        plain(self, state, msg, env)

    monkeypatch.setattr(SendHandler, "check_stateful", iterating)
    fast, _full = _apps()
    tx = send_tx(KEYS[1], ADDRS[3], 10, 0)
    assert fast.check_tx(tx, False).code == 0
    run_block(fast, [])
    assert fast.check_tx(tx, True).code == 0
    assert fast.recheck_memo.reused == 0
