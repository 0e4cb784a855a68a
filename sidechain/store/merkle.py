"""The versioned authenticated store: working state, Merkle root (the app hash), commits, history, proofs.

Shape and hashing: `smt` (16-ary sparse Merkle tree over sha256(key), path-compressed). Layout:
`keys`. How versions work:

- The database holds the latest committed state as the flat table (key -> value, for fast reads
  and ordered iteration), overwritten in place by each commit. The tree is not stored: it is a
  function of the key/value set, so opening the store rebuilds it in memory from the flat table
  (`tree`: native code when built, ~1-2 s per million keys) and checks it against the stored root.
  A commit therefore writes one put per changed key plus a handful of records, whatever the depth.
- Each commit also writes one undo log for its version: the previous value of every key it changed.
  Reading version v < latest applies the undo logs of versions latest..v+1 (newest first, so the
  oldest wins) over the flat table. The tree of version v is the latest tree with those keys
  reverted, staged next to the committed one for proofs.
- Keeping N versions means keeping the roots of the newest N versions and the undo logs of the
  newest N-1; pruning deletes one root and one log per commit, never a scan of what became stale.
- The next root is computed once per change of the working state (`working_root`, cached) as a
  stage of the in-memory tree over the sorted changed keys; `commit` writes the batch and only
  then makes the stage the committed tree, so a failed write changes nothing.
- Crash safety: everything a commit persists goes in one synced LevelDB batch; after a crash the
  flat table is exactly that of the last commit, and so is the rebuilt tree.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from hashlib import sha256

from .api import prefix_end
from .backends import Backend, WriteOp
from .errors import CorruptStore, InvalidVersion, ReservedKey, VersionNotFound
from .keys import (
    STORE_PREFIX,
    TABLE_FLAT,
    TABLE_META,
    TABLE_ROOTS,
    TABLE_UNDO_VALUES,
    version_bytes,
)
from .proof import OP_TYPE, ProofOp, encode_proof_data
from .smt import EMPTY_ROOT, HASH_LEN, nibbles
from .tree import HISTORY, WORKING, Tree, new_tree

_U32 = struct.Struct(">I")


# Undo log record: klen(4 BE) key, then 0x00 (absent) or 0x01 vlen(4 BE) value. Short lengths come
# from precomputed tables (the encoder runs over every changed key of every block).
_KLEN = [_U32.pack(n) for n in range(256)]
_VLEN = [b"\x01" + _U32.pack(n) for n in range(256)]


def _encode_undo(entries: list[tuple[bytes, bytes | None]]) -> bytes:
    pack = _U32.pack
    klen, vlen = _KLEN, _VLEN
    parts: list[bytes] = []
    extend = parts.extend
    for key, value in entries:
        kl = len(key)
        if value is None:
            extend((klen[kl] if kl < 256 else pack(kl), key, b"\x00"))
        else:
            vl = len(value)
            extend(
                (klen[kl] if kl < 256 else pack(kl), key, vlen[vl] if vl < 256 else b"\x01" + pack(vl), value)
            )
    return b"".join(parts)


def _decode_undo(blob: bytes) -> dict[bytes, bytes | None]:
    unpack = _U32.unpack_from
    out: dict[bytes, bytes | None] = {}
    pos = 0
    n = len(blob)
    try:
        while pos < n:
            (klen,) = unpack(blob, pos)
            pos += 4
            key = blob[pos : pos + klen]
            pos += klen
            flag = blob[pos]
            pos += 1
            if flag == 0:
                out[key] = None
            else:
                (vlen,) = unpack(blob, pos)
                pos += 4
                out[key] = blob[pos : pos + vlen]
                pos += vlen
    except (struct.error, IndexError) as exc:
        raise CorruptStore("bad undo log") from exc
    if pos != n:
        raise CorruptStore("bad undo log length")
    return out


class _Pending:
    """The next version computed by `working_root`, valid while the working state is unchanged."""

    __slots__ = ("root", "staged", "value_writes", "value_undo")

    def __init__(
        self,
        root: bytes,
        staged: bool,
        value_writes: list[tuple[bytes, bytes | None]],
        value_undo: list[tuple[bytes, bytes | None]],
    ) -> None:
        self.root = root
        self.staged = staged  # the tree holds this version as its WORKING stage
        self.value_writes = value_writes
        self.value_undo = value_undo


class MerkleStore:
    """KVStore over the working (uncommitted) state of a versioned Merkle store.

    `get`/`set`/`delete`/`iterate` act on the working state; `committed()` reads the last commit;
    `working_root()` is the root the working state would commit to; `commit(version, extra_writes)`
    persists it atomically; `reader_at(v)` and `prove(v, key)` serve the last `keep_versions` versions.
    Not thread-safe: the app calls it from one thread.
    """

    def __init__(
        self,
        backend: Backend,
        keep_versions: int = 100,
        *,
        prefix: bytes = STORE_PREFIX,
        value_cache_size: int = 1 << 18,
        undo_cache_size: int = 64,
        tree: str | None = None,
    ) -> None:
        if keep_versions < 1:
            raise ValueError("keep_versions must be at least 1")
        if not prefix:
            raise ValueError("the store needs a non-empty key prefix")
        self._backend = backend
        self._keep = keep_versions
        self._prefix = prefix
        self._end = prefix_end(prefix)
        self._flat = prefix + TABLE_FLAT
        self._flat_end = prefix_end(self._flat)
        self._undo_values_t = prefix + TABLE_UNDO_VALUES
        self._roots = prefix + TABLE_ROOTS
        self._meta = prefix + TABLE_META
        self._dirty: dict[bytes, bytes | None] = {}
        self._pending: _Pending | None = None
        # Committed values read recently; consulted for reads and for the old values in undo logs.
        self._value_cache: dict[bytes, bytes | None] = {}
        self._value_cache_size = value_cache_size
        self._undo_cache: OrderedDict[tuple[bytes, int], dict[bytes, bytes | None]] = OrderedDict()
        self._undo_cache_size = undo_cache_size
        self._history_staged: tuple[int, int] | None = None  # (latest, version) staged as HISTORY
        self._tree_impl = tree  # "native" | "python" | "auto"; None: the process default (tree.py)
        self._load()

    # --- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        self._tree: Tree = new_tree(self._tree_impl)
        meta = self._backend.get(self._meta)
        if meta is None:
            self._version = 0
            self._oldest = 0
            self._root_hash = EMPTY_ROOT
            return
        if len(meta) != 8 + HASH_LEN:
            raise CorruptStore("bad store metadata")
        self._version = int.from_bytes(meta[:8], "big")
        self._root_hash = meta[8:]
        oldest = next(self._backend.iterate(self._roots, prefix_end(self._roots)), None)
        if oldest is None:
            self._oldest = self._version
        else:
            self._oldest = int.from_bytes(oldest[0][len(self._roots) :], "big")
        root = self._tree.load(self._backend.iterate(self._flat, self._flat_end), skip=len(self._flat))
        if root != self._root_hash:
            raise CorruptStore(
                f"the flat table hashes to {root.hex()}, not to the committed root {self._root_hash.hex()}"
            )

    # --- committed state -------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The last committed version (0 before the first commit)."""
        return self._version

    @property
    def root(self) -> bytes:
        """The root of the last committed version (EMPTY_ROOT before the first commit)."""
        return self._root_hash

    @property
    def oldest_version(self) -> int:
        """The oldest version still queryable."""
        return self._oldest

    @property
    def keep_versions(self) -> int:
        return self._keep

    @property
    def flat_prefix(self) -> bytes:
        """The database prefix of the flat table: prefix + store key -> committed value. A state
        snapshot is exactly this range of a backend view taken right after a commit."""
        return self._flat

    @property
    def tree_impl(self) -> str | None:
        return self._tree_impl

    def _committed_get(self, key: bytes) -> bytes | None:
        cache = self._value_cache
        if key in cache:
            return cache[key]
        value: bytes | None = self._backend.get(self._flat + key)
        if len(cache) >= self._value_cache_size:
            cache.clear()
        cache[key] = value
        return value

    def _committed_iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        flat = self._flat
        cut = len(flat)
        stop = flat + end if end is not None else self._flat_end
        for key, value in self._backend.iterate(flat + start, stop):
            yield key[cut:], value

    def committed(self) -> CommittedReader:
        """A reader of the latest committed state, unaffected by the working state."""
        return CommittedReader(self)

    # --- working state (KVStore) -----------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        dirty = self._dirty
        if key in dirty:
            return dirty[key]
        return self._committed_get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError("keys and values must be bytes")
        self._dirty[key] = value
        self._pending = None

    def delete(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError("keys must be bytes")
        self._dirty[key] = None
        self._pending = None

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        from .cache import _merge

        dirty = self._dirty
        mine = sorted((k, v) for k, v in dirty.items() if k >= start and (end is None or k < end))
        return _merge(mine, self._committed_iterate(start, end))

    def has_changes(self) -> bool:
        return bool(self._dirty)

    def reset_working(self) -> None:
        """Drop the working state (back to the last commit)."""
        self._dirty = {}
        self._pending = None
        self._tree.discard(WORKING)

    # --- the next root ---------------------------------------------------------------------

    def working_root(self) -> bytes:
        """The root the working state would commit to. Writes nothing; cached until the next change."""
        return self._compute().root

    def _compute(self) -> _Pending:
        pending = self._pending
        if pending is not None:
            return pending
        value_writes: list[tuple[bytes, bytes | None]] = []
        value_undo: list[tuple[bytes, bytes | None]] = []
        committed_get = self._committed_get
        cache = self._value_cache
        for key, value in sorted(self._dirty.items()):
            old = cache[key] if key in cache else committed_get(key)
            if old == value:
                continue
            value_writes.append((key, value))
            value_undo.append((key, old))
        if value_writes:
            root = self._tree.stage(WORKING, value_writes)
        else:
            self._tree.discard(WORKING)
            root = self._root_hash
        pending = _Pending(root, bool(value_writes), value_writes, value_undo)
        self._pending = pending
        return pending

    # --- commit ----------------------------------------------------------------------------

    def commit(self, version: int, extra_writes: Iterable[WriteOp] = ()) -> bytes:
        """Persist the working state as `version` together with `extra_writes`, in one synced batch.

        `version` must be the last version + 1 (any version >= 1 for the first commit). Extra writes
        are the app's own (key, value | None) ops and must lie outside the store's prefix. On any
        failure nothing is written and the store is unchanged. Returns the new root.
        """
        if version <= self._version or (self._version != 0 and version != self._version + 1):
            raise InvalidVersion(f"cannot commit version {version} after {self._version}")
        extra: list[WriteOp] = []
        prefix = self._prefix
        for key, value in extra_writes:
            if key.startswith(prefix):
                raise ReservedKey(f"extra write {key[:16]!r} inside the store prefix")
            extra.append((key, value))
        pending = self._compute()
        root_hash = pending.root
        vb = version_bytes(version)

        ops: list[WriteOp] = []
        flat = self._flat
        ops.extend([(flat + key, value) for key, value in pending.value_writes])
        if self._version != 0:
            # The first version needs no undo: nothing older is ever read.
            if pending.value_undo:
                ops.append((self._undo_values_t + vb, _encode_undo(pending.value_undo)))
        ops.append((self._roots + vb, root_hash))
        ops.append((self._meta, vb + root_hash))
        # Kept: roots of versions oldest..version and undo logs of versions oldest+1..version.
        if self._version == 0:
            oldest = version
            pruned = range(0)
        else:
            oldest = max(self._oldest, version - self._keep + 1)
            pruned = range(self._oldest, oldest + 1)
        for old in pruned:
            ob = version_bytes(old)
            if old < oldest:
                ops.append((self._roots + ob, None))
            ops.append((self._undo_values_t + ob, None))
        ops.extend(extra)

        self._backend.write(ops, sync=True)

        # The batch is durable: only now does the in-memory state move to the new version.
        cache = self._value_cache
        if len(cache) + len(pending.value_writes) >= self._value_cache_size:
            cache.clear()
        cache.update(pending.value_writes)
        for gone in pruned:
            self._undo_cache.pop((self._undo_values_t, gone), None)
        if pending.staged:
            self._tree.commit(WORKING)
        self._history_staged = None  # the tree drops every other stage on commit
        self._root_hash = root_hash
        self._version = version
        self._oldest = oldest
        self._dirty = {}
        self._pending = None
        return root_hash

    # --- history ---------------------------------------------------------------------------

    def _check_version(self, version: int) -> None:
        if self._version == 0 and version == 0:
            return
        if not (self._oldest <= version <= self._version) or self._version == 0:
            raise VersionNotFound(f"version {version} is not kept (kept: {self._oldest}..{self._version})")

    def _undo(self, table: bytes, version: int) -> dict[bytes, bytes | None]:
        cache = self._undo_cache
        slot = (table, version)
        found = cache.get(slot)
        if found is not None:
            cache.move_to_end(slot)
            return found
        blob = self._backend.get(table + version_bytes(version))
        parsed = {} if blob is None else _decode_undo(blob)
        cache[slot] = parsed
        if len(cache) > self._undo_cache_size:
            cache.popitem(last=False)
        return parsed

    def _overlay(self, table: bytes, version: int, key: bytes) -> tuple[bool, bytes | None]:
        """(found, old) from the undo logs of versions version+1..latest (the oldest change wins)."""
        for later in range(version + 1, self._version + 1):
            log = self._undo(table, later)
            if key in log:
                return True, log[key]
        return False, None

    def get_at(self, version: int, key: bytes) -> bytes | None:
        self._check_version(version)
        if version != self._version:
            found, old = self._overlay(self._undo_values_t, version, key)
            if found:
                return old
        return self._committed_get(key)

    def iterate_at(
        self, version: int, start: bytes, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check_version(version)
        if version == self._version:
            return self._committed_iterate(start, end)
        overlay: dict[bytes, bytes | None] = {}
        for later in range(self._version, version, -1):  # newest first: older logs overwrite
            for key, old in self._undo(self._undo_values_t, later).items():
                if key >= start and (end is None or key < end):
                    overlay[key] = old
        from .cache import _merge

        return _merge(sorted(overlay.items()), self._committed_iterate(start, end))

    def reader_at(self, version: int) -> VersionReader:
        """A KVReader of committed `version`; raises VersionNotFound if it is not kept."""
        self._check_version(version)
        return VersionReader(self, version)

    def root_at(self, version: int) -> bytes:
        self._check_version(version)
        if version == self._version:
            return self._root_hash
        root = self._backend.get(self._roots + version_bytes(version))
        if root is None:
            raise VersionNotFound(f"no root for version {version}")
        return root

    def _stage_history(self, version: int) -> None:
        """Stage the tree of `version` (< latest) as HISTORY, unless it already is.

        Old trees are not stored: the tree is a function of the key set, so the tree of `version`
        is the latest tree with every key changed since put back to its value at `version` (from
        the value undo logs). Cost: one tree update over the keys changed since.
        """
        if self._history_staged == (self._version, version):
            return
        reverted: dict[bytes, bytes | None] = {}
        for later in range(self._version, version, -1):  # newest first: older logs overwrite
            reverted.update(self._undo(self._undo_values_t, later))
        self._history_staged = None
        root = self._tree.stage(HISTORY, sorted(reverted.items()))
        if root != self.root_at(version):
            self._tree.discard(HISTORY)
            raise CorruptStore(f"the undo logs do not rebuild the root of version {version}")
        self._history_staged = (self._version, version)

    def prove(self, version: int, key: bytes) -> tuple[bytes | None, list[ProofOp]]:
        """(value, proof ops) for `key` at committed `version`: membership if present, else absence."""
        self._check_version(version)
        value = self.get_at(version, key)
        slot: int | None = None
        if version != self._version:
            self._stage_history(version)
            slot = HISTORY
        kh = sha256(key).digest()
        levels, terminal = self._tree.path(slot, kh)
        data = encode_proof_data(levels, nibbles(kh), terminal)
        return value, [ProofOp(OP_TYPE, key, data)]


def restored_version_writes(version: int, root: bytes, prefix: bytes = STORE_PREFIX) -> list[WriteOp]:
    """The records that make a database whose flat table was filled from a snapshot a store at
    `version` with `root` (no history: that version is the oldest kept). The caller checks the root
    (`tree.new_tree().load` over the flat table) before writing them; opening the store checks again."""
    if version < 1 or len(root) != HASH_LEN:
        raise InvalidVersion(f"cannot restore version {version} with a {len(root)}-byte root")
    vb = version_bytes(version)
    return [(prefix + TABLE_ROOTS + vb, root), (prefix + TABLE_META, vb + root)]


class CommittedReader:
    """KVReader of the latest committed state (what CheckTx and proposal branches start from)."""

    __slots__ = ("_store",)

    def __init__(self, store: MerkleStore) -> None:
        self._store = store

    def get(self, key: bytes) -> bytes | None:
        return self._store._committed_get(key)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self._store._committed_iterate(start, end)


class VersionReader:
    """KVReader of one committed version; raises VersionNotFound once that version is pruned."""

    __slots__ = ("_store", "version")

    def __init__(self, store: MerkleStore, version: int) -> None:
        self._store = store
        self.version = version

    def get(self, key: bytes) -> bytes | None:
        return self._store.get_at(self.version, key)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self._store.iterate_at(self.version, start, end)
