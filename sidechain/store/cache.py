"""Cache branches: buffered, discardable views over another store (tx over block over committed).

A `CacheKV` holds its writes in a dict until `write()` flushes them into the parent in key order;
dropping the object discards them. Reads fall through to the parent, so branches nest freely.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from .api import KVReader, KVStore


class CacheKV:
    __slots__ = ("_parent", "_writes", "_sorted", "_new")

    def __init__(self, parent: KVReader) -> None:
        self._parent = parent
        self._writes: dict[bytes, bytes | None] = {}  # None marks a delete that hides the parent's key
        # Buffered keys in order, made on the first iterate; keys that arrive later wait in `_new` and
        # are merged in at the next iterate (two sorted runs: a linear merge, not a full sort).
        self._sorted: list[bytes] | None = None
        self._new: list[bytes] = []

    @property
    def parent(self) -> KVReader:
        return self._parent

    def get(self, key: bytes) -> bytes | None:
        writes = self._writes
        if key in writes:
            return writes[key]
        return self._parent.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("values must be bytes")
        if key not in self._writes and self._sorted is not None:
            self._new.append(key)
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        if key not in self._writes and self._sorted is not None:
            self._new.append(key)
        self._writes[key] = None

    def __len__(self) -> int:
        """Number of buffered writes (sets and deletes)."""
        return len(self._writes)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        # Buffered entries of the range are snapshotted now; writes made while iterating are not seen.
        if self._sorted is None:
            self._sorted = sorted(self._writes)
        elif self._new:
            self._new.sort()
            self._sorted += self._new
            self._sorted.sort()  # two sorted runs: Timsort merges them in linear time
            self._new = []
        keys = self._sorted
        lo = bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        writes = self._writes
        mine = [(k, writes[k]) for k in keys[lo:hi]]
        return _merge(mine, self._parent.iterate(start, end))

    def write(self) -> None:
        """Flush buffered writes, in key order, into the parent (which must be a KVStore), then clear."""
        if not hasattr(self._parent, "set"):
            raise TypeError("the parent of this branch is read-only")
        store: KVStore = self._parent  # type: ignore[assignment]
        writes = self._writes
        for key in sorted(writes):
            value = writes[key]
            if value is None:
                store.delete(key)
            else:
                store.set(key, value)
        self.discard()

    def discard(self) -> None:
        self._writes = {}
        self._sorted = None
        self._new = []


def _merge(
    mine: list[tuple[bytes, bytes | None]],
    theirs: Iterator[tuple[bytes, bytes]],
) -> Iterator[tuple[bytes, bytes]]:
    i = 0
    n = len(mine)
    for key, value in theirs:
        while i < n and mine[i][0] < key:
            mk, mv = mine[i]
            i += 1
            if mv is not None:
                yield mk, mv
        if i < n and mine[i][0] == key:
            mk, mv = mine[i]
            i += 1
            if mv is not None:
                yield mk, mv
            continue
        yield key, value
    while i < n:
        mk, mv = mine[i]
        i += 1
        if mv is not None:
            yield mk, mv
