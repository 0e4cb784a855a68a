"""The key-value interface every state module is written against.

Modules (bank, staking, bridge) see state only through `KVStore`: a byte-keyed map with
ordered iteration. The authenticated store, its cache branches and the in-memory test store
all implement it, so a module never knows which one it runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class KVReader(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """The value at `key`, or None when absent."""
        ...

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs with start <= key < end (end None: no upper bound), ascending by key bytes."""
        ...


class KVStore(KVReader, Protocol):
    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no such key)."""
    b = bytearray(prefix)
    while b:
        if b[-1] != 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None
