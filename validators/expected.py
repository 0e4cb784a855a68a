"""What the validators module needs from other modules."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sidechain.store.api import KVReader, KVStore
from sidechain.types import Amount, Coin


@runtime_checkable
class StakingBank(Protocol):
    """Balances and supply (the bank module implements this): bonded tokens sit in pool accounts,
    rewards in the distribution account; slashed tokens are burned; issuance is minted."""

    def balance(self, state: KVReader, address: bytes, denom: str) -> Amount: ...

    def send(self, state: KVStore, sender: bytes, recipient: bytes, coin: Coin) -> None: ...

    def mint(self, state: KVStore, address: bytes, coin: Coin) -> None: ...

    def burn(self, state: KVStore, address: bytes, coin: Coin) -> None: ...

    def take_fee_pool(self, state: KVStore, recipient: bytes) -> list[Coin]: ...
