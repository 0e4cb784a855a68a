"""Ante: timeout, fee and sequence checks and effects (sidechain/auth/ante.py)."""

from __future__ import annotations

import pytest

from sidechain.auth import ante
from sidechain.auth.errors import FeeDenomNotAccepted, FeeTooLow, InsufficientFeeFunds, WrongSequence
from sidechain.auth.state import get_account, set_account
from sidechain.bank.state import BankKeeper, get_balance
from sidechain.tx import TxTimedOut
from sidechain.txflow import check_stateless

from ..tx.chain import addr, coin, key, new_state, send_tx

A, B = key(0), key(1)
BANK = BankKeeper()


def test_apply_bumps_sequence_records_key_and_takes_fee() -> None:
    state, rules = new_state([(addr(A), [coin(10)])])
    tx = check_stateless(send_tx(A, addr(B), 1, 0, fee=3), rules)
    seq, fee_balance = ante.check_ante(state, tx, rules.params["auth"], 1, BANK)
    assert (seq, fee_balance) == (0, 10)
    ante.apply_ante(state, tx, seq, fee_balance, BANK)
    acct = get_account(state, addr(A))
    assert (acct.sequence, acct.public_key) == (1, bytes(A.verify_key))
    assert get_balance(state, addr(A), "stake") == 7


def test_replay_message_says_so() -> None:
    state, rules = new_state([(addr(A), [coin(10)])])
    set_account(state, addr(A), 5, bytes(A.verify_key))
    tx = check_stateless(send_tx(A, addr(B), 1, 4), rules)
    with pytest.raises(WrongSequence, match="expected 5, got 4 .already used: a replay"):
        ante.check_ante(state, tx, rules.params["auth"], 1, BANK)


def test_fee_checks() -> None:
    state, rules = new_state([(addr(A), [coin(1)])], min_fees=[coin(2)])
    with pytest.raises(FeeTooLow):
        ante.check_ante(state, check_stateless(send_tx(A, addr(B), 1, 0, fee=1), rules), rules.params["auth"], 1, BANK)
    with pytest.raises(FeeDenomNotAccepted):
        ante.check_ante(
            state, check_stateless(send_tx(A, addr(B), 1, 0, fee=coin(2, "l1/eth")), rules), rules.params["auth"], 1,
            BANK,
        )
    with pytest.raises(InsufficientFeeFunds, match="have 1stake, need 2stake"):
        ante.check_ante(state, check_stateless(send_tx(A, addr(B), 1, 0, fee=2), rules), rules.params["auth"], 1, BANK)


def test_zero_fee_when_minimum_is_zero() -> None:
    state, rules = new_state([(addr(A), [coin(5)])], min_fees=[coin(0)])
    tx = check_stateless(send_tx(A, addr(B), 1, 0, fee=0), rules)
    seq, bal = ante.check_ante(state, tx, rules.params["auth"], 1, BANK)
    ante.apply_ante(state, tx, seq, bal, BANK)
    assert get_balance(state, addr(A), "stake") == 5


def test_timeout() -> None:
    state, rules = new_state([(addr(A), [coin(5)])])
    tx = check_stateless(send_tx(A, addr(B), 1, 0, timeout_height=3), rules)
    ante.check_ante(state, tx, rules.params["auth"], 3, BANK)
    with pytest.raises(TxTimedOut):
        ante.check_ante(state, tx, rules.params["auth"], 4, BANK)
