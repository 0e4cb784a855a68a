"""Bank state: balances, supply, minting/burning, the fee pool (sidechain/bank/state.py, keys.py)."""

from __future__ import annotations

import pytest

from sidechain.bank import keys
from sidechain.bank.errors import InsufficientFunds, SupplyOverflow
from sidechain.bank.state import (
    add_to_fee_pool,
    burn,
    get_balance,
    get_balances,
    get_fee_pool,
    get_supply,
    mint,
    set_balance,
    sub_balance,
    take_from_fee_pool,
)
from sidechain.env import CollectedFees
from sidechain.store.backends import MemoryBackend
from sidechain.store.cache import CacheKV
from sidechain.types import AMOUNT_MAX, Amount

from ..tx.chain import coin

A, B = b"\x01" * 20, b"\x02" * 20


@pytest.fixture
def state() -> CacheKV:
    return CacheKV(MemoryBackend())


def test_key_layout() -> None:
    assert keys.balance_key(A, "stake") == b"\x10" + A + b"\x05stake"
    assert keys.supply_key("l1/eth") == b"\x11\x06l1/eth"
    assert keys.denom_from_suffix(b"\x06l1/eth") == "l1/eth"


def test_balances_compact_and_zero_deleted(state: CacheKV) -> None:
    set_balance(state, A, "stake", Amount(258))
    assert state.get(keys.balance_key(A, "stake")) == b"\x01\x02"
    sub_balance(state, A, "stake", Amount(258))
    assert state.get(keys.balance_key(A, "stake")) is None
    assert get_balance(state, A, "stake") == 0
    with pytest.raises(InsufficientFunds, match="have 0stake, need 1stake"):
        sub_balance(state, A, "stake", Amount(1))


def test_get_balances_sorted(state: CacheKV) -> None:
    set_balance(state, A, "stake", Amount(1))
    set_balance(state, A, "l1/eth", Amount(2))
    set_balance(state, B, "stake", Amount(3))
    assert get_balances(state, A) == [coin(2, "l1/eth"), coin(1)]


def test_mint_and_burn_keep_supply(state: CacheKV) -> None:
    mint(state, A, coin(10, "l1/eth"))
    mint(state, B, coin(5, "l1/eth"))
    assert get_supply(state, "l1/eth") == 15
    burn(state, A, coin(4, "l1/eth"))
    assert get_supply(state, "l1/eth") == 11 and get_balance(state, A, "l1/eth") == 6
    with pytest.raises(InsufficientFunds):
        burn(state, B, coin(6, "l1/eth"))
    with pytest.raises(SupplyOverflow):
        mint(state, A, coin(AMOUNT_MAX, "l1/eth"))


def test_collected_fees_sorted_and_pooled(state: CacheKV) -> None:
    fees = CollectedFees()
    assert not fees
    fees.add(coin(2))
    fees.add(coin(0, "l1/eth"))
    fees.add(coin(3, "l1/eth"))
    fees.add(coin(1))
    assert fees.coins() == [coin(3, "l1/eth"), coin(3)]
    add_to_fee_pool(state, fees.coins())
    add_to_fee_pool(state, [coin(1)])
    assert get_fee_pool(state) == [coin(3, "l1/eth"), coin(4)]
    take_from_fee_pool(state, coin(4))
    assert get_fee_pool(state) == [coin(3, "l1/eth")]
    with pytest.raises(InsufficientFunds):
        take_from_fee_pool(state, coin(4, "l1/eth"))
