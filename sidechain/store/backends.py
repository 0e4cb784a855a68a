"""Storage backends under the authenticated store: a byte-ordered map with atomic batch writes.

`LevelDBBackend` is what nodes run on; `MemoryBackend` has the same semantics for tests. The store
and the app share one backend (the app's metadata goes in the same write batch as the store's
commit), so a backend knows nothing about tables or prefixes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import plyvel

from .errors import DatabaseLocked

# One write: (key, value) puts, (key, None) deletes. Applied in order, so a later op on a key wins.
WriteOp = tuple[bytes, bytes | None]


class Backend(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) with start <= key < end, ascending; a snapshot taken when called."""
        ...

    def write(self, ops: Sequence[WriteOp], sync: bool = True) -> None:
        """Apply all of `ops` or none of them."""
        ...

    def close(self) -> None: ...


class BackendView(Protocol):
    """A read-only, point-in-time view of a backend (`snapshot()`): later writes are not seen.

    A view may be read from another thread than the one writing the backend; it must be closed
    before the backend is."""

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...

    def close(self) -> None: ...


class _ListView:
    """MemoryBackend's view: a copy of the range it was asked for (tests only; O(n) to take)."""

    def __init__(self, items: list[tuple[bytes, bytes]]) -> None:
        self._items = items

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        keys = [k for k, _ in self._items]
        lo = bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        return iter(self._items[lo:hi])

    def close(self) -> None:
        self._items = []


class MemoryBackend:
    """A dict plus a lazily rebuilt sorted key list (sorting on demand keeps bulk loads linear)."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = []

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self._data)
        keys = self._sorted
        lo = bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        data = self._data
        snapshot = [(k, data[k]) for k in keys[lo:hi]]
        return iter(snapshot)

    def write(self, ops: Sequence[WriteOp], sync: bool = True) -> None:
        # Collect every op before touching the data, so a failure midway changes nothing.
        batch = [(bytes(key), None if value is None else bytes(value)) for key, value in ops]
        data = self._data
        for key, value in batch:
            if value is None:
                if data.pop(key, None) is not None and self._sorted is not None:
                    # Removing from the sorted list keeps it valid; O(n) but deletes are rare.
                    i = bisect_left(self._sorted, key)
                    del self._sorted[i]
            else:
                if key not in data:
                    self._sorted = None
                data[key] = value

    def snapshot(self, start: bytes = b"", end: bytes | None = None) -> BackendView:
        """A frozen copy of the keys in [start, end)."""
        return _ListView(list(self.iterate(start, end)))

    def close(self) -> None:
        pass


class _LevelDBView:
    """A LevelDB snapshot: a consistent, read-only view that costs nothing to take."""

    def __init__(self, snap: Any) -> None:  # plyvel._plyvel.Snapshot
        self._snap: Any = snap

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if self._snap is None:
            raise ValueError("the view is closed")
        if end is None:
            return iter(self._snap.iterator(start=start, fill_cache=False))
        return iter(self._snap.iterator(start=start, stop=end, fill_cache=False))

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()
            self._snap = None


class LevelDBBackend:
    """plyvel (LevelDB) database in `path`, created if missing."""

    def __init__(self, path: str, *, create_if_missing: bool = True, lru_cache_size: int = 64 << 20) -> None:
        self.path = path
        try:
            self._db = self._open(path, create_if_missing, lru_cache_size)
        except plyvel.IOError as e:
            if "lock" in str(e).lower():
                raise DatabaseLocked(f"the database {path} is in use by another process (a running node?)") from None
            raise

    @staticmethod
    def _open(path: str, create_if_missing: bool, lru_cache_size: int) -> plyvel.DB:
        return plyvel.DB(
            path,
            create_if_missing=create_if_missing,
            lru_cache_size=lru_cache_size,
            write_buffer_size=32 << 20,
        )

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if end is None:
            it = self._db.iterator(start=start)
        else:
            it = self._db.iterator(start=start, stop=end)
        return iter(it)

    def write(self, ops: Sequence[WriteOp], sync: bool = True) -> None:
        # Build the whole batch first: if anything fails before `write`, LevelDB has seen nothing.
        wb = self._db.write_batch(sync=sync)
        put = wb.put
        delete = wb.delete
        for key, value in ops:
            if value is None:
                delete(key)
            else:
                put(key, value)
        wb.write()

    def snapshot(self, start: bytes = b"", end: bytes | None = None) -> BackendView:
        """A LevelDB snapshot of the whole database as it is now (`start`/`end` only bound what the
        caller means to read; the snapshot itself is free)."""
        return _LevelDBView(self._db.snapshot())

    def compact(self) -> None:
        """Compact the whole key range now (e.g. after a bulk load, before measuring steady state)."""
        self._db.compact_range()

    def close(self) -> None:
        self._db.close()
