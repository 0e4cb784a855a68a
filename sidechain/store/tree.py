"""The store's Merkle tree in memory: native (C, `native/smt16.c` via ctypes) when built, else pure Python.

Both implementations hold the whole tree of the latest committed version and give bit-identical
roots (hashing rules: `smt`); `PyTree` is the reference the shared test suite checks `NativeTree`
against. The tree is never persisted: it is a function of the key/value set, so `MerkleStore`
rebuilds it from its flat table when it opens (`load`).

Changes are applied as *stages*: `stage(slot, changes)` computes the tree of the committed state
with `changes` applied, without touching the committed tree; `commit(slot)` makes that the committed
tree (and drops the other slot); `discard(slot)` forgets it. Slot `WORKING` holds the block being
finalized, slot `HISTORY` an older version rebuilt for proofs; both can be read (`path`) at once.

Which implementation `new_tree(impl)` returns: `impl` = `native` | `python` | `auto` (native if
built), as configured (app.toml `store.tree` for a node); when not given, the process default
(`set_default_impl`, else `auto`).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from hashlib import sha256
from itertools import islice
from pathlib import Path
from typing import NamedTuple, Protocol

from .errors import CorruptStore, TreeMisuse
from .proof import TERMINAL_EMPTY, TERMINAL_LEAF, Terminal
from .smt import EMPTY_ROOT, FANOUT, HASH_LEN, MAX_DEPTH, ZERO_HASH, nibbles

WORKING = 0
HISTORY = 1
_SLOTS = (WORKING, HISTORY)

# A change: (key, new value), None deleting the key.
Change = tuple[bytes, bytes | None]
# A path from the root: the 16 child hashes of each internal node on it, then where it ends.
TreePath = tuple[list[list[bytes]], Terminal]

log = logging.getLogger(__name__)


class TreeStats(NamedTuple):
    hashes: int  # sha256 computations so far (key, value, leaf and node hashes)
    leaves: int  # live leaves (committed and staged)
    nodes: int  # live internal nodes (committed and staged)
    memory: int  # bytes held for nodes (native: slab bytes; Python: an estimate)


class Tree(Protocol):
    @property
    def root(self) -> bytes:
        """The committed root."""
        ...

    def load(self, pairs: Iterable[tuple[bytes, bytes]], skip: int = 0) -> bytes:
        """Build the committed tree of an empty Tree from (key, value) pairs (distinct keys, any order;
        the first `skip` bytes of each key are not part of it). Returns the root."""
        ...

    def stage(self, slot: int, changes: Sequence[Change]) -> bytes:
        """The root of the committed tree with `changes` (distinct keys) applied, kept as `slot`."""
        ...

    def commit(self, slot: int) -> None: ...

    def discard(self, slot: int) -> None: ...

    def path(self, slot: int | None, kh: bytes) -> TreePath:
        """The path of key hash `kh` in the committed tree (slot None) or in a staged one."""
        ...

    def stats(self) -> TreeStats: ...


# --- pure Python (the reference) ------------------------------------------------------------------

# An entry is its own hash preimage: a leaf is `00 kh vh` (65 bytes), an internal node `01 h0..h15`
# (513 bytes), so its hash is sha256(entry) either way. Entries live in one dict keyed by position
# (nibble path): no per-node Python objects for the cyclic GC to walk.
_LEAF_TAG = 0
_NODE_TAG = b"\x01"
_NIBBLE = [bytes((i,)) for i in range(FANOUT)]

# A changed position in a stage: (new entry or None, its hash).
_Write = tuple[bytes | None, bytes]


class PyTree:
    """The reference implementation: position -> entry dict, stages as overlays of changed positions."""

    def __init__(self) -> None:
        self._mem: dict[bytes, bytes] = {}
        self._root = EMPTY_ROOT
        self._stages: dict[int, tuple[bytes, dict[bytes, _Write]]] = {}
        self._hashes = 0

    @property
    def root(self) -> bytes:
        return self._root

    def _h(self, data: bytes) -> bytes:
        self._hashes += 1
        return sha256(data).digest()

    def load(self, pairs: Iterable[tuple[bytes, bytes]], skip: int = 0) -> bytes:
        if self._mem or self._stages:
            raise TreeMisuse("load needs an empty tree")
        h = self._h
        live = sorted((h(key[skip:]), h(value)) for key, value in pairs)
        for a, b in zip(live, live[1:], strict=False):
            if a[0] == b[0]:
                raise TreeMisuse("duplicate key")
        writes: dict[bytes, _Write] = {}
        root = self._build(b"", live, writes)
        if root is not None:
            self._mem = {p: e for p, (e, _) in writes.items() if e is not None}
            self._mem[b""] = root
            self._root = h(root)
        return self._root

    def stage(self, slot: int, changes: Sequence[Change]) -> bytes:
        if slot not in _SLOTS:
            raise ValueError(f"no stage slot {slot}")
        h = self._h
        items: list[tuple[bytes, bytes, bytes | None]] = []
        for key, value in changes:
            kh = h(key)
            items.append((nibbles(kh), kh, None if value is None else h(value)))
        items.sort()
        for a, b in zip(items, items[1:], strict=False):
            if a[1] == b[1]:
                raise TreeMisuse("duplicate key in a stage")
        writes: dict[bytes, _Write] = {}
        root_hash = self._root
        if items:
            root = self._mem.get(b"")
            new_root = self._update(root, b"", items, [it[0] for it in items], 0, len(items), writes)
            if new_root is not root:
                root_hash = ZERO_HASH if new_root is None else h(new_root)
                writes[b""] = (new_root, root_hash)
        self._stages[slot] = (root_hash, writes)
        return root_hash

    def commit(self, slot: int) -> None:
        if slot not in self._stages:
            raise TreeMisuse(f"stage {slot} is not active")
        root_hash, writes = self._stages[slot]
        self._stages = {}
        mem = self._mem
        for p, (entry, _) in writes.items():
            if entry is None:
                mem.pop(p, None)
            else:
                mem[p] = entry
        self._root = root_hash

    def discard(self, slot: int) -> None:
        self._stages.pop(slot, None)

    def path(self, slot: int | None, kh: bytes) -> TreePath:
        if slot is None:
            overlay: dict[bytes, _Write] = {}
            slot_hash = self._root
        else:
            if slot not in self._stages:
                raise TreeMisuse(f"stage {slot} is not active")
            slot_hash, overlay = self._stages[slot]
        nb = nibbles(kh)
        levels: list[list[bytes]] = []
        depth = 0
        while True:
            here = nb[:depth]
            if here in overlay:
                entry = overlay[here][0]
            else:
                entry = self._get(here, slot_hash)
            if entry is None:
                return levels, Terminal(TERMINAL_EMPTY)
            if entry[0] == _LEAF_TAG:
                return levels, Terminal(TERMINAL_LEAF, entry[1:33], entry[33:65])
            children = [entry[1 + (n << 5) : 33 + (n << 5)] for n in range(FANOUT)]
            levels.append(children)
            slot_hash = children[nb[depth]]
            depth += 1

    def stats(self) -> TreeStats:
        leaves = sum(1 for e in self._mem.values() if e[0] == _LEAF_TAG)
        nodes = len(self._mem) - leaves
        return TreeStats(self._hashes, leaves, nodes, leaves * 65 + nodes * 513)

    # --- the update ---------------------------------------------------------------------------

    def _get(self, path: bytes, slot_hash: bytes) -> bytes | None:
        """The committed entry at `path`, whose parent records it as `slot_hash`."""
        if slot_hash == ZERO_HASH:
            return None
        entry = self._mem.get(path)
        if entry is None:
            raise CorruptStore(f"tree entry at {path.hex()} is missing")
        return entry

    def _update(
        self,
        entry: bytes | None,
        path: bytes,
        items: list[tuple[bytes, bytes, bytes | None]],
        paths: list[bytes],
        lo: int,
        hi: int,
        writes: dict[bytes, _Write],
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
            old = self._get(child_path, old_hash)
            new = self._update(old, child_path, items, paths, i, j, writes)
            if new is not old:
                changed = True
                if new is None:
                    new_hash = ZERO_HASH
                    shrunk = True
                else:
                    new_hash = self._h(new)
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

    def _compress(self, entry: bytes, path: bytes, writes: dict[bytes, _Write]) -> bytes | None:
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
            only = self._get(only_path, slot_hash)
        if only is None or only[0] != _LEAF_TAG:
            return entry  # a lone internal child still holds two or more keys: the node stays
        writes[only_path] = (None, ZERO_HASH)
        return only

    def _update_one(
        self,
        entry: bytes,
        path: bytes,
        item: tuple[bytes, bytes, bytes | None],
        writes: dict[bytes, _Write],
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
            cur = self._get(nb[:depth], slot_hash)
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
            new_hash = ZERO_HASH if new is None else self._h(new)
            writes[child_path] = (new, new_hash)
            updated = parent[:off] + new_hash + parent[off + HASH_LEN :]
            if new is None or (new[0] == _LEAF_TAG and old is not None and old[0] != _LEAF_TAG):
                new = self._compress(updated, nb[:depth], writes)
            else:
                new = updated
            old = parent
        return new

    def _build(
        self, path: bytes, live: list[tuple[bytes, bytes]], writes: dict[bytes, _Write]
    ) -> bytes | None:
        """A fresh subtree at `path` from (kh, vh) sorted by kh; every position below was empty before."""
        if not live:
            return None
        if len(live) == 1:
            kh, vh = live[0]
            return b"\x00" + kh + vh
        depth = len(path)
        if depth >= MAX_DEPTH:
            raise TreeMisuse("duplicate key hash")
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
                kid_hash = self._h(kid)  # type: ignore[arg-type]
                slots[nib] = kid_hash
                writes[child_path] = (kid, kid_hash)
        return _NODE_TAG + b"".join(slots)


# --- native ---------------------------------------------------------------------------------------

ABI_VERSION = 1
NATIVE_PATH = Path(__file__).with_name("native") / "_smt16.so"
_LOAD_CHUNK = 1 << 16
_ERRORS = {
    -1: "out of memory",
    -2: "bad input",
    -3: "duplicate key hash",
    -4: "bad tree state",
    -5: "internal error",
}

_lib: ctypes.CDLL | None = None
_lib_error: str | None = None


def _load_lib() -> ctypes.CDLL | None:
    global _lib, _lib_error
    if _lib is not None or _lib_error is not None:
        return _lib
    try:
        lib = ctypes.CDLL(str(NATIVE_PATH))
        if lib.smt_abi_version() != ABI_VERSION:
            raise OSError(
                f"{NATIVE_PATH} has ABI {lib.smt_abi_version()}, expected {ABI_VERSION}: rebuild it"
            )
    except OSError as exc:
        _lib_error = str(exc)
        return None
    vp, cp, sz, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
    lib.smt_new.restype = vp
    lib.smt_new.argtypes = []
    lib.smt_free.restype = None
    lib.smt_free.argtypes = [vp]
    lib.smt_load_add.argtypes = [vp, cp, sz, vp, sz, cp, sz, vp, sz]
    lib.smt_load_finish.argtypes = [vp, cp]
    lib.smt_stage.argtypes = [vp, i, cp, sz, vp, cp, sz, vp, sz, cp]
    lib.smt_commit.argtypes = [vp, i]
    lib.smt_discard.argtypes = [vp, i]
    lib.smt_root.argtypes = [vp, i, cp]
    lib.smt_path.argtypes = [vp, i, cp, cp, sz, ctypes.POINTER(sz), cp]
    lib.smt_stats.argtypes = [vp, ctypes.POINTER(ctypes.c_uint64)]
    lib.smt_sha256.restype = None
    lib.smt_sha256.argtypes = [cp, sz, cp]
    lib.smt_sha256_impl.argtypes = [i]
    _lib = lib
    return lib


def native_available() -> bool:
    return _load_lib() is not None


def native_error() -> str | None:
    """Why the native tree could not be loaded (None if it can)."""
    _load_lib()
    return _lib_error


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise TreeMisuse(f"native tree: {what}: {_ERRORS.get(rc, rc)}")


def _pack_keys(keys: list[bytes]) -> tuple[bytes, array[int]]:
    return b"".join(keys), array("I", map(len, keys))


class NativeTree:
    """The tree in C memory (see native/smt16.c): no Python object per node.

    ctypes releases the GIL during each call, so a lock serializes them: two threads in the C code at
    once would corrupt its allocator rather than merely see an inconsistent store.
    """

    def __init__(self) -> None:
        lib = _load_lib()
        if lib is None:
            raise TreeMisuse(f"native tree unavailable: {_lib_error}")
        self._lib = lib
        handle = lib.smt_new()
        if not handle:
            raise MemoryError("smt_new")
        self._t = ctypes.c_void_p(handle)
        self._finalizer = weakref.finalize(self, lib.smt_free, self._t)
        self._out = ctypes.create_string_buffer(HASH_LEN)
        self._lock = threading.Lock()

    @property
    def root(self) -> bytes:
        with self._lock:
            _check(self._lib.smt_root(self._t, -1, self._out), "root")
            return self._out.raw

    def load(self, pairs: Iterable[tuple[bytes, bytes]], skip: int = 0) -> bytes:
        lib = self._lib
        it = iter(pairs)
        while True:
            chunk = list(islice(it, _LOAD_CHUNK))
            if not chunk:
                break
            kb, kl = _pack_keys([k for k, _ in chunk])
            values = [v for _, v in chunk]
            vb = b"".join(values)
            vl = array("q", map(len, values))
            with self._lock:
                rc = lib.smt_load_add(
                    self._t,
                    kb,
                    len(kb),
                    kl.buffer_info()[0],
                    skip,
                    vb,
                    len(vb),
                    vl.buffer_info()[0],
                    len(chunk),
                )
            _check(rc, "load")
        with self._lock:
            _check(lib.smt_load_finish(self._t, self._out), "load")
            return self._out.raw

    def stage(self, slot: int, changes: Sequence[Change]) -> bytes:
        if slot not in _SLOTS:
            raise ValueError(f"no stage slot {slot}")
        kb, kl = _pack_keys([k for k, _ in changes])
        vb = b"".join([v for _, v in changes if v is not None])
        vl = array("q", [-1 if v is None else len(v) for _, v in changes])
        with self._lock:
            rc = self._lib.smt_stage(
                self._t,
                slot,
                kb,
                len(kb),
                kl.buffer_info()[0],
                vb,
                len(vb),
                vl.buffer_info()[0],
                len(changes),
                self._out,
            )
            _check(rc, "stage")
            return self._out.raw

    def commit(self, slot: int) -> None:
        with self._lock:
            _check(self._lib.smt_commit(self._t, slot), f"commit stage {slot}")

    def discard(self, slot: int) -> None:
        with self._lock:
            _check(self._lib.smt_discard(self._t, slot), f"discard stage {slot}")

    def path(self, slot: int | None, kh: bytes) -> TreePath:
        if len(kh) != HASH_LEN:
            raise ValueError("a key hash is 32 bytes")
        levels_buf = ctypes.create_string_buffer(MAX_DEPTH * FANOUT * HASH_LEN)
        terminal = ctypes.create_string_buffer(1 + 2 * HASH_LEN)
        depth = ctypes.c_size_t(0)
        with self._lock:
            rc = self._lib.smt_path(
                self._t,
                -1 if slot is None else slot,
                kh,
                levels_buf,
                MAX_DEPTH,
                ctypes.byref(depth),
                terminal,
            )
        _check(rc, "path")
        raw = levels_buf.raw
        levels = []
        for d in range(depth.value):
            base = d * FANOUT * HASH_LEN
            levels.append([raw[base + n * HASH_LEN : base + (n + 1) * HASH_LEN] for n in range(FANOUT)])
        t = terminal.raw
        if t[0] == 0:
            return levels, Terminal(TERMINAL_EMPTY)
        return levels, Terminal(TERMINAL_LEAF, t[1:33], t[33:65])

    def stats(self) -> TreeStats:
        out = (ctypes.c_uint64 * 4)()
        with self._lock:
            _check(self._lib.smt_stats(self._t, out), "stats")
        return TreeStats(out[0], out[1], out[2], out[3])


def native_sha256(data: bytes) -> bytes:
    """sha256 by the native code (for tests of its two implementations)."""
    lib = _load_lib()
    if lib is None:
        raise TreeMisuse(f"native tree unavailable: {_lib_error}")
    out = ctypes.create_string_buffer(HASH_LEN)
    lib.smt_sha256(data, len(data), out)
    return out.raw


def native_sha256_impl(mode: int = -1) -> int:
    """-1: query; 0: force portable C; 1: SHA extensions if the CPU has them. Returns the one in use."""
    lib = _load_lib()
    if lib is None:
        raise TreeMisuse(f"native tree unavailable: {_lib_error}")
    result: int = lib.smt_sha256_impl(mode)
    return result


# --- choosing -------------------------------------------------------------------------------------

_IMPLS = ("auto", "native", "python")
_default: str | None = None
_warned = False


def set_default_impl(name: str | None) -> None:
    """The implementation of trees made from now on without an explicit one (None: back to auto)."""
    if name is not None and name not in _IMPLS:
        raise ValueError(f"tree implementation must be one of {_IMPLS}")
    global _default
    _default = name


def default_impl(name: str | None = None) -> str:
    """`native` or `python`: what `new_tree(name)` gives now."""
    name = name or _default or "auto"
    if name not in _IMPLS:
        raise ValueError(f"the tree implementation must be one of {_IMPLS}, not {name!r}")
    if name == "auto":
        return "native" if native_available() else "python"
    return name


def new_tree(name: str | None = None) -> Tree:
    global _warned
    impl = default_impl(name)
    if impl == "native":
        return NativeTree()
    if not _warned and (name or _default or "auto") == "auto":
        _warned = True
        log.warning("store: native Merkle tree not built (%s); using the slow pure-Python tree", _lib_error)
    return PyTree()
