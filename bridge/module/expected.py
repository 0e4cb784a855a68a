"""What the bridge module needs from other modules."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sidechain.store.api import KVReader, KVStore
from sidechain.types import Amount, Coin


@runtime_checkable
class BridgeBank(Protocol):
    """Balances and supply (the bank module): bridged coins are minted on deposit and on a refund,
    burned on withdrawal."""

    def balance(self, state: KVReader, address: bytes, denom: str) -> Amount: ...

    def mint(self, state: KVStore, address: bytes, coin: Coin) -> None: ...

    def burn(self, state: KVStore, address: bytes, coin: Coin) -> None: ...


@runtime_checkable
class BridgeValidators(Protocol):
    """The bonded validators with their registered bridge addresses (staking)."""

    def bridge_members(self, state: KVReader, height: int) -> tuple[tuple[bytes, bytes, int], ...] | None:
        """(consensus address, bridge address, power) of the set in force at `height`, or None."""
        ...

    def operator_of_bridge_key(self, state: KVReader, address: bytes) -> bytes | None: ...
