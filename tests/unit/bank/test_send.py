"""MsgSend phases (sidechain/bank/msgs.py)."""

from __future__ import annotations

import pytest

from sidechain.bank.errors import SendDisabled
from sidechain.bank.state import get_balance
from sidechain.tx import build_signed_tx
from sidechain.txflow import check_stateful, check_stateless, deliver

from ..tx.chain import CHAIN_ID, addr, coin, env, genesis_json, key, new_state, send_msg, send_tx

A, B = key(0), key(1)


def test_multi_coin_send() -> None:
    state, rules = new_state([(addr(A), [coin(5, "l1/eth"), coin(10)])])
    raw = build_signed_tx(A, CHAIN_ID, [send_msg(A, addr(B), coin(2, "l1/eth"), coin(3))], 0, coin(1))
    r = deliver(state, check_stateless(raw, rules), env(rules))
    assert r.ok, r.log
    [transfer] = [e for e in r.events if e.type == "transfer"]
    assert {a.key: a.value for a in transfer.attributes}["amount"] == "2l1/eth,3stake"
    assert get_balance(state, addr(B), "l1/eth") == 2 and get_balance(state, addr(B), "stake") == 3
    assert get_balance(state, addr(A), "stake") == 6


def test_self_send_needs_only_the_fee_on_top() -> None:
    state, rules = new_state([(addr(A), [coin(10)])])
    tx = check_stateless(send_tx(A, addr(A), 9, 0), rules)
    check_stateful(state, tx, env(rules))
    assert get_balance(state, addr(A), "stake") == 9


def test_send_disabled() -> None:
    from sidechain.module import CHAIN
    from sidechain.store.backends import MemoryBackend
    from sidechain.store.cache import CacheKV

    g = genesis_json([(addr(A), [coin(10)])])
    g["bank"]["params"] = {"send_enabled": False}  # type: ignore[index]
    state = CacheKV(MemoryBackend())
    CHAIN.init_genesis(state, CHAIN.parse_genesis(g))
    rules = CHAIN.rules(state, CHAIN_ID)
    tx = check_stateless(send_tx(A, addr(B), 1, 0), rules)
    with pytest.raises(SendDisabled):
        check_stateful(state, tx, env(rules))
    r = deliver(state, tx, env(rules))
    assert r.code == SendDisabled.code and get_balance(state, addr(A), "stake") == 9  # fee still paid
