"""Reading and writing bank state (layout in keys.py)."""

from __future__ import annotations

from sidechain.bank.errors import InsufficientFunds, SupplyOverflow
from sidechain.bank.keys import (
    BALANCE_PREFIX,
    FEE_POOL_PREFIX,
    PARAMS_KEY,
    SUPPLY_PREFIX,
    address_balances_prefix,
    balance_key,
    denom_from_suffix,
    fee_pool_key,
    supply_key,
)
from sidechain.bank.params import BankParams
from sidechain.errors import AmountOverflow
from sidechain.store.api import KVReader, KVStore, prefix_end
from sidechain.types import ADDRESS_LEN, ZERO, Amount, Coin

_from_bytes = int.from_bytes
_new_amount = int.__new__


def _decode_amount(v: bytes | None) -> Amount:
    # Stored values were validated when written; skip Amount's checks on this hot path.
    return ZERO if v is None else _new_amount(Amount, _from_bytes(v, "big"))


def _put_amount(state: KVStore, key: bytes, amount: Amount) -> None:
    if amount:
        state.set(key, amount.to_bytes_min())
    else:
        state.delete(key)


# --- balances ------------------------------------------------------------------------------------


def get_balance(state: KVReader, address: bytes, denom: str) -> Amount:
    return _decode_amount(state.get(balance_key(address, denom)))


def set_balance(state: KVStore, address: bytes, denom: str, amount: Amount) -> None:
    _put_amount(state, balance_key(address, denom), amount)


def add_balance(state: KVStore, address: bytes, denom: str, amount: Amount) -> None:
    key = balance_key(address, denom)
    _put_amount(state, key, _decode_amount(state.get(key)) + amount)


def sub_balance(state: KVStore, address: bytes, denom: str, amount: Amount) -> None:
    key = balance_key(address, denom)
    have = _decode_amount(state.get(key))
    if have < amount:
        raise InsufficientFunds(f"insufficient funds: have {int(have)}{denom}, need {int(amount)}{denom}")
    _put_amount(state, key, have - amount)


def get_balances(state: KVReader, address: bytes) -> list[Coin]:
    """All non-zero balances of `address`, sorted by denom."""
    prefix = address_balances_prefix(address)
    out = [
        Coin(denom_from_suffix(k[len(prefix):]), _decode_amount(v))
        for k, v in state.iterate(prefix, prefix_end(prefix))
    ]
    return sorted(out, key=lambda c: c.denom)


def iterate_all_balances(state: KVReader) -> list[tuple[bytes, Coin]]:
    """(address, coin) for every non-zero balance, in key order."""
    start = 1 + ADDRESS_LEN
    return [
        (k[1:start], Coin(denom_from_suffix(k[start:]), _decode_amount(v)))
        for k, v in state.iterate(BALANCE_PREFIX, prefix_end(BALANCE_PREFIX))
    ]


class BankKeeper:
    """The balance operations other modules use (implements auth's `FeeBank` and the validators
    module's `StakingBank`): balances, transfers between accounts, minting, burning, the fee pool."""

    balance = staticmethod(get_balance)
    set_balance = staticmethod(set_balance)

    @staticmethod
    def send(state: KVStore, sender: bytes, recipient: bytes, coin: Coin) -> None:
        """Move `coin` (InsufficientFunds if the sender lacks it); supply is unchanged."""
        if coin.amount:
            sub_balance(state, sender, coin.denom, coin.amount)
            add_balance(state, recipient, coin.denom, coin.amount)

    @staticmethod
    def mint(state: KVStore, address: bytes, coin: Coin) -> None:
        mint(state, address, coin)

    @staticmethod
    def burn(state: KVStore, address: bytes, coin: Coin) -> None:
        burn(state, address, coin)

    @staticmethod
    def take_fee_pool(state: KVStore, recipient: bytes) -> list[Coin]:
        """Move everything in the fee pool to `recipient`'s balance (for distribution); supply unchanged."""
        pool = get_fee_pool(state)
        for c in pool:
            take_from_fee_pool(state, c)
            add_balance(state, recipient, c.denom, c.amount)
        return pool


# --- supply, minting, burning -----------------------------------------------------------------------


def get_supply(state: KVReader, denom: str) -> Amount:
    return _decode_amount(state.get(supply_key(denom)))


def set_supply(state: KVStore, denom: str, amount: Amount) -> None:
    _put_amount(state, supply_key(denom), amount)


def all_supply(state: KVReader) -> list[Coin]:
    out = [
        Coin(denom_from_suffix(k[1:]), _decode_amount(v))
        for k, v in state.iterate(SUPPLY_PREFIX, prefix_end(SUPPLY_PREFIX))
    ]
    return sorted(out, key=lambda c: c.denom)


def mint(state: KVStore, address: bytes, coin: Coin) -> None:
    """Create `coin` in `address` (the bridge, later). Supply grows by the same amount."""
    try:
        new_supply = get_supply(state, coin.denom) + coin.amount
    except AmountOverflow:
        raise SupplyOverflow(f"minting {coin} would overflow the supply of {coin.denom}") from None
    set_supply(state, coin.denom, new_supply)
    add_balance(state, address, coin.denom, coin.amount)


def burn(state: KVStore, address: bytes, coin: Coin) -> None:
    """Destroy `coin` from `address`'s balance (raises InsufficientFunds). Supply shrinks."""
    sub_balance(state, address, coin.denom, coin.amount)
    set_supply(state, coin.denom, get_supply(state, coin.denom) - coin.amount)


# --- fees ---------------------------------------------------------------------------------------


def get_fee_pool(state: KVReader) -> list[Coin]:
    """Fees collected and not yet distributed, sorted by denom."""
    out = [
        Coin(denom_from_suffix(k[1:]), _decode_amount(v))
        for k, v in state.iterate(FEE_POOL_PREFIX, prefix_end(FEE_POOL_PREFIX))
    ]
    return sorted(out, key=lambda c: c.denom)


def add_to_fee_pool(state: KVStore, coins: list[Coin]) -> None:
    for c in sorted(coins, key=lambda c: c.denom):
        key = fee_pool_key(c.denom)
        _put_amount(state, key, _decode_amount(state.get(key)) + c.amount)


def take_from_fee_pool(state: KVStore, coin: Coin) -> None:
    """For the distribution step (proof-of-stake issue): remove `coin` from the pool."""
    key = fee_pool_key(coin.denom)
    have = _decode_amount(state.get(key))
    if have < coin.amount:
        raise InsufficientFunds(f"fee pool has {int(have)}{coin.denom}, cannot take {coin}")
    _put_amount(state, key, have - coin.amount)


# --- params ---------------------------------------------------------------------------------------


def get_params(state: KVReader) -> BankParams:
    v = state.get(PARAMS_KEY)
    if v is None:
        raise LookupError("bank params are not in state (InitChain not run?)")
    return BankParams.decode(v)


def set_params(state: KVStore, params: BankParams) -> None:
    params.validate()
    state.set(PARAMS_KEY, params.encode())
