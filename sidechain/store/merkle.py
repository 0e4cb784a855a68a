"""The versioned authenticated store: working state, Merkle root (the app hash), commits, history, proofs.

Shape and hashing: `smt` (16-ary sparse Merkle tree over sha256(key), path-compressed). Layout:
`keys`. How versions work:

- The latest committed state lives in two tables: the flat table (key -> value, for fast reads and
  ordered iteration) and the tree table (position -> entry). Commit overwrites both in place.
- Each commit also writes one undo log for its version: the previous value of every key it changed.
  Reading version v < latest applies the undo logs of versions latest..v+1 (newest first, so the
  oldest wins) over the flat table. The tree of version v is not stored: the tree is a function of
  the key set, so it is rebuilt for proofs as the latest tree with those keys reverted.
- Keeping N versions means keeping the roots of the newest N versions and the undo logs of the
  newest N-1; pruning deletes one root and one log per commit, never a scan of what became stale.
  Commits stay cheap (one put per changed key and per changed tree position); reads and proofs at
  old versions pay instead, in proportion to the changes since (parsed logs are cached).
- The committed tree is cached in memory as it is read (lazily, one range scan per node) in a dict
  of position -> entry bytes. The next root is computed once per commit over the sorted changed
  keys, each touched node rebuilt once, into an overlay of changed positions, so `working_root`
  never disturbs the committed tree.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
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
    TABLE_TREE,
    TABLE_UNDO_VALUES,
    version_bytes,
)
from .proof import OP_TYPE, TERMINAL_EMPTY, TERMINAL_LEAF, ProofOp, Terminal, encode_proof_data
from .smt import EMPTY_ROOT, FANOUT, HASH_LEN, MAX_DEPTH, ZERO_HASH, nibbles

# In memory a tree entry is its own hash preimage: a leaf is `00 kh vh` (65 bytes) and an internal
# node `01 h0..h15` (513 bytes), so its hash is sha256(entry) either way. Entries live in one dict
# keyed by position: no per-node Python objects, which keeps the cyclic GC from walking the tree.
_LEAF_TAG = 0
_NODE_TAG = b"\x01"
_LEAF_LEN = 65
_NIBBLE = [bytes((i,)) for i in range(FANOUT)]
_U32 = struct.Struct(">I")

# A changed position: (new entry or None, its hash).
Write = tuple[bytes | None, bytes]


def _encode_undo(entries: list[tuple[bytes, bytes | None]]) -> bytes:
    pack = _U32.pack
    out: list[bytes] = []
    for key, value in entries:
        if value is None:
            out.append(pack(len(key)) + key + b"\x00")
        else:
            out.append(pack(len(key)) + key + b"\x01" + pack(len(value)) + value)
    return b"".join(out)


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

    __slots__ = ("generation", "root", "tree_writes", "value_writes", "value_undo")

    def __init__(
        self,
        generation: int,
        root: bytes,
        tree_writes: dict[bytes, Write],
        value_writes: list[tuple[bytes, bytes | None]],
        value_undo: list[tuple[bytes, bytes | None]],
    ) -> None:
        self.generation = generation
        self.root = root
        self.tree_writes = tree_writes
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
        self._tree = prefix + TABLE_TREE
        self._depth_keys = [self._tree + bytes((depth,)) for depth in range(MAX_DEPTH + 1)]
        self._undo_values_t = prefix + TABLE_UNDO_VALUES
        self._roots = prefix + TABLE_ROOTS
        self._meta = prefix + TABLE_META
        self._dirty: dict[bytes, bytes | None] = {}
        self._generation = 0
        self._pending: _Pending | None = None
        # Committed values read recently; consulted for reads and for the old values in undo logs.
        self._value_cache: dict[bytes, bytes | None] = {}
        self._value_cache_size = value_cache_size
        self._undo_cache: OrderedDict[tuple[bytes, int], dict[bytes, bytes | None]] = OrderedDict()
        self._undo_cache_size = undo_cache_size
        self._tree_cache: tuple[tuple[int, int], dict[bytes, Write]] | None = None
        self._load()

    # --- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        self._mem: dict[bytes, bytes] = {}  # committed tree entries by position, filled as they are read
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
        root = self._entry(b"", self._root_hash)
        if root is None and self._root_hash != EMPTY_ROOT:
            raise CorruptStore("the tree root is missing")

    def _entry(self, path: bytes, slot_hash: bytes) -> bytes | None:
        """The committed entry at `path`, whose hash its parent records as `slot_hash`."""
        entry = self._mem.get(path)
        if entry is not None:
            return entry
        if slot_hash == ZERO_HASH:
            return None
        record = self._backend.get(self._depth_keys[len(path)] + path)
        if record is None:
            if len(path) & 1 == 0:
                raise CorruptStore(f"tree entry at {path.hex()} is missing")
            entry = self._load_node(path)  # internal nodes at odd depths have no record
        elif record[0] == _LEAF_TAG and len(record) == _LEAF_LEN:
            entry = record
        elif record[:1] == _NODE_TAG and len(record) == 1 + HASH_LEN:
            entry = self._load_node(path)
        else:
            raise CorruptStore(f"bad tree record at {path.hex()}")
        if sha256(entry).digest() != slot_hash:
            raise CorruptStore(f"tree entry at {path.hex()} does not match its hash")
        self._mem[path] = entry
        return entry

    def _scan_level(self, path: bytes, depth: int) -> Iterator[tuple[bytes, bytes]]:
        """(position, record) of the stored entries `depth` levels below `path`, in order."""
        base = self._depth_keys[len(path) + depth] + path
        cut = len(self._depth_keys[0])
        for key, record in self._backend.iterate(base, base + b"\x10"):
            if len(key) != cut + len(path) + depth:
                raise CorruptStore("bad tree key")
            yield key[cut:], record

    def _load_node(self, path: bytes) -> bytes:
        """An internal node's entry, rebuilt from the records below it.

        Children at an even depth have records; internal children at an odd depth do not (it halves
        the records a commit writes), so their hashes are rebuilt from the grandchildren's records.
        """
        slots = [ZERO_HASH] * FANOUT
        mem = self._mem
        depth = len(path)
        for position, record in self._scan_level(path, 1):
            nib = position[depth]
            if record[0] == _LEAF_TAG and len(record) == _LEAF_LEN:
                slots[nib] = sha256(record).digest()
                mem[position] = record
            elif record[:1] == _NODE_TAG and len(record) == 1 + HASH_LEN:
                slots[nib] = record[1:]
            else:
                raise CorruptStore(f"bad tree record at {position.hex()}")
        if (depth + 1) & 1:
            grandchildren: list[list[bytes]] = [[] for _ in range(FANOUT)]
            for position, record in self._scan_level(path, 2):
                if record[0] == _LEAF_TAG and len(record) == _LEAF_LEN:
                    mem[position] = record
                    h = sha256(record).digest()
                elif record[:1] == _NODE_TAG and len(record) == 1 + HASH_LEN:
                    h = record[1:]
                else:
                    raise CorruptStore(f"bad tree record at {position.hex()}")
                nib = position[depth]
                kids = grandchildren[nib]
                if not kids:
                    kids.extend([ZERO_HASH] * FANOUT)
                kids[position[depth + 1]] = h
            for nib in range(FANOUT):
                kids = grandchildren[nib]
                if kids:
                    if slots[nib] != ZERO_HASH:
                        raise CorruptStore(f"a leaf at {(path + _NIBBLE[nib]).hex()} has entries below it")
                    child = _NODE_TAG + b"".join(kids)
                    slots[nib] = sha256(child).digest()
                    mem[path + _NIBBLE[nib]] = child
        return _NODE_TAG + b"".join(slots)

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

    # --- the next root ---------------------------------------------------------------------

    def working_root(self) -> bytes:
        """The root the working state would commit to. Writes nothing; cached until the next change."""
        return self._compute().root

    def _compute(self) -> _Pending:
        pending = self._pending
        if pending is not None:
            return pending
        self._generation += 1
        value_writes: list[tuple[bytes, bytes | None]] = []
        value_undo: list[tuple[bytes, bytes | None]] = []
        items: list[tuple[bytes, bytes, bytes | None]] = []  # (nibbles, kh, vh) sorted by kh
        committed_get = self._committed_get
        dirty = self._dirty
        for key in sorted(dirty):
            value = dirty[key]
            old = committed_get(key)
            if old == value:
                continue
            value_writes.append((key, value))
            value_undo.append((key, old))
            kh = sha256(key).digest()
            items.append((nibbles(kh), kh, None if value is None else sha256(value).digest()))
        items.sort()
        tree_writes: dict[bytes, Write] = {}
        root = self._entry(b"", self._root_hash)
        root_hash = self._root_hash
        if items:
            paths = [item[0] for item in items]
            new_root = self._update(root, b"", items, paths, 0, len(items), tree_writes)
            if new_root is not root:
                root_hash = ZERO_HASH if new_root is None else sha256(new_root).digest()
                tree_writes[b""] = (new_root, root_hash)
        pending = _Pending(self._generation, root_hash, tree_writes, value_writes, value_undo)
        self._pending = pending
        return pending

    def _update(
        self,
        entry: bytes | None,
        path: bytes,
        items: list[tuple[bytes, bytes, bytes | None]],
        paths: list[bytes],
        lo: int,
        hi: int,
        writes: dict[bytes, Write],
    ) -> bytes | None:
        """The new entry at `path` after applying items[lo:hi] (all under `path`) to `entry`.

        Returns `entry` itself when nothing changed. Records every changed position strictly below
        `path` in `writes`; the caller records `path` itself.
        """
        if entry is None:
            return self._build(path, [(it[1], it[2]) for it in items[lo:hi] if it[2] is not None], writes)
        if entry[0] == _LEAF_TAG:
            kh1 = entry[1:33]
            live: list[tuple[bytes, bytes]] = []
            replaced = False
            for _, kh, vh in items[lo:hi]:
                if kh == kh1:
                    replaced = True
                if vh is not None:
                    live.append((kh, vh))
            if not replaced:
                if not live:
                    return entry  # only deletes of absent keys
                live.append((kh1, entry[33:]))
                live.sort()
            elif len(live) == 1 and live[0][0] == kh1 and live[0][1] == entry[33:]:
                return entry
            return self._build(path, live, writes)
        if hi - lo == 1:
            # Below the top levels most touched nodes see one key: walk down and back up, no grouping.
            return self._update_one(entry, path, items[lo], writes)

        buf = bytearray(entry)
        depth = len(path)
        changed = False
        shrunk = False
        i = lo
        while i < hi:
            nib = paths[i][depth]
            j = hi if nib == 15 else bisect_left(paths, path + _NIBBLE[nib + 1], i, hi)
            off = 1 + (nib << 5)
            old_hash = entry[off : off + HASH_LEN]
            child_path = path + _NIBBLE[nib]
            old = None if old_hash == ZERO_HASH else self._entry(child_path, old_hash)
            new = self._update(old, child_path, items, paths, i, j, writes)
            if new is not old:
                changed = True
                if new is None:
                    new_hash = ZERO_HASH
                    shrunk = True
                else:
                    new_hash = sha256(new).digest()
                    if new[0] == _LEAF_TAG and old is not None and old[0] != _LEAF_TAG:
                        shrunk = True
                writes[child_path] = (new, new_hash)
                buf[off : off + HASH_LEN] = new_hash
            i = j
        if not changed:
            return entry
        result = bytes(buf)
        if shrunk:
            return self._compress(result, path, writes)
        return result

    def _compress(self, entry: bytes, path: bytes, writes: dict[bytes, Write]) -> bytes | None:
        """Path compression after a subtree shrank: an empty node vanishes, a lone leaf moves up."""
        live = [n for n in range(FANOUT) if entry[1 + (n << 5) : 33 + (n << 5)] != ZERO_HASH]
        if not live:
            return None
        if len(live) > 1:
            return entry
        only_path = path + _NIBBLE[live[0]]
        slot_hash = entry[1 + (live[0] << 5) : 33 + (live[0] << 5)]
        if only_path in writes:
            only = writes[only_path][0]
        else:
            only = self._entry(only_path, slot_hash)
        if only is None or only[0] != _LEAF_TAG:
            return entry  # a lone internal child still holds two or more keys: the node stays
        writes[only_path] = (None, ZERO_HASH)
        return only

    def _update_one(
        self,
        entry: bytes,
        path: bytes,
        item: tuple[bytes, bytes, bytes | None],
        writes: dict[bytes, Write],
    ) -> bytes | None:
        """`_update` for a single item under an internal node (the common case at depth)."""
        nb, kh, vh = item
        depth = len(path)
        stack: list[bytes] = []
        cur: bytes | None = entry
        while cur is not None and cur[0] != _LEAF_TAG:
            stack.append(cur)
            off = 1 + (nb[depth] << 5)
            slot_hash = cur[off : off + HASH_LEN]
            depth += 1
            cur = None if slot_hash == ZERO_HASH else self._entry(nb[:depth], slot_hash)
        new: bytes | None
        if cur is None:
            if vh is None:
                return entry
            new = b"\x00" + kh + vh
        elif cur[1:33] == kh:
            if vh is None:
                new = None
            elif vh == cur[33:]:
                return entry
            else:
                new = b"\x00" + kh + vh
        else:
            if vh is None:
                return entry
            new = self._build(nb[:depth], sorted([(kh, vh), (cur[1:33], cur[33:])]), writes)
        old = cur
        while stack:
            parent = stack.pop()
            depth -= 1
            off = 1 + (nb[depth] << 5)
            child_path = nb[: depth + 1]
            new_hash = ZERO_HASH if new is None else sha256(new).digest()
            writes[child_path] = (new, new_hash)
            updated = parent[:off] + new_hash + parent[off + HASH_LEN :]
            if new is None or (new[0] == _LEAF_TAG and old is not None and old[0] != _LEAF_TAG):
                new = self._compress(updated, nb[:depth], writes)
            else:
                new = updated
            old = parent
        return new

    def _build(
        self,
        path: bytes,
        live: list[tuple[bytes, bytes]],
        writes: dict[bytes, Write],
    ) -> bytes | None:
        """A fresh subtree at `path` from (kh, vh) sorted by kh; every position below was empty before."""
        if not live:
            return None
        if len(live) == 1:
            kh, vh = live[0]
            return b"\x00" + kh + vh
        depth = len(path)
        groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(FANOUT)]
        byte = depth >> 1
        if depth & 1:
            for leaf in live:
                groups[leaf[0][byte] & 15].append(leaf)
        else:
            for leaf in live:
                groups[leaf[0][byte] >> 4].append(leaf)
        slots = [ZERO_HASH] * FANOUT
        for nib in range(FANOUT):
            group = groups[nib]
            if group:
                child_path = path + _NIBBLE[nib]
                kid = self._build(child_path, group, writes)
                kid_hash = sha256(kid).digest()  # type: ignore[arg-type]
                slots[nib] = kid_hash
                writes[child_path] = (kid, kid_hash)
        return _NODE_TAG + b"".join(slots)

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
        depth_keys = self._depth_keys
        mem_get = self._mem.get
        for p, (entry, entry_hash) in pending.tree_writes.items():
            if entry is None or entry[0] == _LEAF_TAG:
                ops.append((depth_keys[len(p)] + p, entry))
            elif len(p) & 1 == 0:
                ops.append((depth_keys[len(p)] + p, _NODE_TAG + entry_hash))
            else:
                # Odd depth: internal nodes are not stored, but a leaf they replace must go. Every
                # position the update visited is in the committed cache, so a miss means no record.
                replaced = mem_get(p)
                if replaced is not None and replaced[0] == _LEAF_TAG:
                    ops.append((depth_keys[len(p)] + p, None))
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
        for key, value in pending.value_writes:
            cache[key] = value
        for gone in pruned:
            self._undo_cache.pop((self._undo_values_t, gone), None)
        mem = self._mem
        mem.update({p: entry for p, (entry, _) in pending.tree_writes.items() if entry is not None})
        for p in [p for p, (entry, _) in pending.tree_writes.items() if entry is None]:
            mem.pop(p, None)
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

    def _tree_at(self, version: int) -> dict[bytes, Write]:
        """Tree entries of `version` that differ from the latest, as an overlay of positions.

        Old trees are not stored: the tree is a function of the key set, so the tree of `version`
        is the latest tree with every key changed since put back to its value at `version` (from
        the value undo logs). Cost: one tree update over the keys changed since; the last overlay
        is cached until the next commit.
        """
        cached = self._tree_cache
        if cached is not None and cached[0] == (self._version, version):
            return cached[1]
        reverted: dict[bytes, bytes | None] = {}
        for later in range(self._version, version, -1):  # newest first: older logs overwrite
            reverted.update(self._undo(self._undo_values_t, later))
        items = []
        for key, value in reverted.items():
            kh = sha256(key).digest()
            items.append((nibbles(kh), kh, None if value is None else sha256(value).digest()))
        items.sort()
        writes: dict[bytes, Write] = {}
        root = self._entry(b"", self._root_hash)
        if items:
            new_root = self._update(root, b"", items, [item[0] for item in items], 0, len(items), writes)
            if new_root is not root:
                writes[b""] = (new_root, ZERO_HASH if new_root is None else sha256(new_root).digest())
        expected = self.root_at(version)
        got = writes[b""][1] if b"" in writes else self._root_hash
        if got != expected:
            raise CorruptStore(f"the undo logs do not rebuild the root of version {version}")
        self._tree_cache = ((self._version, version), writes)
        return writes

    def prove(self, version: int, key: bytes) -> tuple[bytes | None, list[ProofOp]]:
        """(value, proof ops) for `key` at committed `version`: membership if present, else absence."""
        self._check_version(version)
        value = self.get_at(version, key)
        overlay = self._tree_at(version) if version != self._version else {}
        kh = sha256(key).digest()
        path = nibbles(kh)
        levels: list[list[bytes]] = []
        depth = 0
        slot_hash = self.root_at(version)
        while True:
            here = path[:depth]
            if here in overlay:
                entry = overlay[here][0]
            else:
                entry = None if slot_hash == ZERO_HASH else self._entry(here, slot_hash)
            if entry is None:
                terminal = Terminal(TERMINAL_EMPTY)
                break
            if entry[0] == _LEAF_TAG:
                terminal = Terminal(TERMINAL_LEAF, entry[1:33], entry[33:65])
                break
            children = [entry[1 + (n << 5) : 33 + (n << 5)] for n in range(FANOUT)]
            levels.append(children)
            slot_hash = children[path[depth]]
            depth += 1
        data = encode_proof_data(levels, path, terminal)
        return value, [ProofOp(OP_TYPE, key, data)]


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
