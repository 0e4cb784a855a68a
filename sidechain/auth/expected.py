"""What the auth module needs from other modules."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sidechain.store.api import KVReader, KVStore
from sidechain.types import Amount


@runtime_checkable
class FeeBank(Protocol):
    """Balances, to take fees from (the bank module implements this)."""

    def balance(self, state: KVReader, address: bytes, denom: str) -> Amount: ...

    def set_balance(self, state: KVStore, address: bytes, denom: str, amount: Amount) -> None: ...
