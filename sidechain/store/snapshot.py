"""State snapshots, format 1: the store's flat table at one committed version, in sorted chunks.

Written down for other implementations in docs/STATESYNC.md; in short:

- A snapshot holds every (key, value) of the flat table (the authenticated state, every module's
  keys) at one committed version, in ascending key order, and nothing else.
- The records are cut into chunks; a chunk's *payload* (before compression) is
  `b"SCS1" | height (8, BE) | index (4, BE) | records`, each record `klen (4, BE) | key | vlen (4, BE)
  | value`. A chunk is cut before a record that would take the payload past `PAYLOAD_LIMIT`, so
  every chunk, compressed with zlib (level `ZLIB_LEVEL`), stays under `MAX_CHUNK_BYTES` (10 MiB;
  CometBFT's limit is 16 MB). An empty store still has one chunk (header only).
- The metadata (ABCI `Snapshot.metadata`) is canonical JSON (sorted keys, no spaces):
  `{"app_hash", "chunk_hashes", "chunks", "compression": "zlib", "format": 1, "height", "keys",
  "payload_bytes"}`, with `chunk_hashes[i]` = hex sha256 of chunk i's *uncompressed payload* (so a
  snapshot's identity does not depend on the zlib build that compressed it). ABCI `Snapshot.hash` is
  sha256 of the metadata bytes.

A restore (`Restorer`) checks each chunk against the metadata, writes its records into a fresh
backend, and at the end rebuilds the Merkle tree from that backend and refuses unless the root is the
trusted app hash. The metadata is only a claim of the peer that sent it; the root check is the proof.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import sha256

from .api import prefix_end
from .backends import Backend, WriteOp
from .errors import ChunkCorrupt, ChunkOutOfOrder, SnapshotInvalid, SnapshotRootMismatch, SnapshotTooLarge
from .keys import STORE_PREFIX, TABLE_FLAT
from .merkle import restored_version_writes
from .smt import HASH_LEN
from .tree import new_tree

FORMAT = 1
COMPRESSION = "zlib"
# On 100k bank balances (4 MB of payload): level 1 -> 62.3% in 90 ms, 3 -> 62.9% in 100 ms, 6 -> 61.6% in
# 159 ms, 9 -> 61.3% in 781 ms. State is mostly hashes: a higher level buys ~1% for 2-9x the time.
ZLIB_LEVEL = 1
MAX_CHUNK_BYTES = 10 * 1024 * 1024
# zlib expands incompressible input by at most ~0.03% + 13 bytes (deflateBound): 64 KiB of headroom
# keeps a compressed chunk under MAX_CHUNK_BYTES whatever the data.
PAYLOAD_LIMIT = MAX_CHUNK_BYTES - (64 << 10)
MAX_CHUNKS = 100_000  # 1 TB of state; an offer claiming more is refused before anything is fetched
_MAGIC = b"SCS1"
_HEADER = struct.Struct(">4sQI")
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class SnapshotMetadata:
    height: int
    app_hash: bytes
    chunk_hashes: tuple[bytes, ...]
    keys: int
    payload_bytes: int

    @property
    def chunks(self) -> int:
        return len(self.chunk_hashes)

    def to_bytes(self) -> bytes:
        doc = {
            "app_hash": self.app_hash.hex(),
            "chunk_hashes": [h.hex() for h in self.chunk_hashes],
            "chunks": self.chunks,
            "compression": COMPRESSION,
            "format": FORMAT,
            "height": self.height,
            "keys": self.keys,
            "payload_bytes": self.payload_bytes,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @property
    def hash(self) -> bytes:
        return sha256(self.to_bytes()).digest()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SnapshotMetadata:
        """Parse and check metadata; raises SnapshotInvalid saying what is wrong."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise SnapshotInvalid("snapshot metadata is not JSON") from None
        if not isinstance(doc, dict):
            raise SnapshotInvalid("snapshot metadata is not a JSON object")
        try:
            if doc.get("format") != FORMAT or doc.get("compression") != COMPRESSION:
                raise SnapshotInvalid(f"snapshot metadata is not format {FORMAT} with {COMPRESSION}")
            height, keys, payload = doc["height"], doc["keys"], doc["payload_bytes"]
            hashes = doc["chunk_hashes"]
            if not all(type(v) is int and v >= 0 for v in (height, keys, payload)) or height < 1:
                raise SnapshotInvalid("snapshot height, keys and payload_bytes must be non-negative integers")
            if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_CHUNKS or doc["chunks"] != len(hashes):
                raise SnapshotInvalid(f"snapshot must list 1-{MAX_CHUNKS} chunk hashes, as many as `chunks`")
            meta = cls(height=height, app_hash=_hex(doc["app_hash"]),
                       chunk_hashes=tuple(_hex(h) for h in hashes), keys=keys, payload_bytes=payload)
        except (KeyError, TypeError):
            raise SnapshotInvalid("snapshot metadata lacks a field or has one of the wrong type") from None
        if meta.to_bytes() != raw:
            raise SnapshotInvalid("snapshot metadata is not in canonical form")
        return meta


def _hex(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_LEN:
        raise SnapshotInvalid("snapshot metadata holds a hash that is not 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SnapshotInvalid("snapshot metadata holds a hash that is not hex") from None


# --- writing ----------------------------------------------------------------------------------


def write_chunks(
    pairs: Iterable[tuple[bytes, bytes]],
    height: int,
    app_hash: bytes,
    emit: Callable[[int, bytes], None],
    *,
    skip: int = 0,
) -> SnapshotMetadata:
    """Cut `pairs` (ascending keys; the first `skip` bytes of each key are a table prefix to drop)
    into compressed chunks, calling `emit(index, chunk)` for each in order; returns the metadata."""
    pack = _U32.pack
    hashes: list[bytes] = []
    total = 0
    count = 0
    parts: list[bytes] = []
    size = _HEADER.size

    def flush() -> None:
        nonlocal parts, size, total
        payload = _HEADER.pack(_MAGIC, height, len(hashes)) + b"".join(parts)
        hashes.append(sha256(payload).digest())
        total += len(payload)
        emit(len(hashes) - 1, zlib.compress(payload, ZLIB_LEVEL))
        parts = []
        size = _HEADER.size

    for raw_key, value in pairs:
        key = raw_key[skip:] if skip else raw_key
        rec = 8 + len(key) + len(value)
        if _HEADER.size + rec > PAYLOAD_LIMIT:
            raise SnapshotTooLarge(f"the record of key {key[:32].hex()}... takes {rec} bytes, more than a chunk holds")
        if size + rec > PAYLOAD_LIMIT:
            flush()
        parts.extend((pack(len(key)), key, pack(len(value)), value))
        size += rec
        count += 1
    flush()  # the last chunk (the only one, header only, for an empty store)
    return SnapshotMetadata(height=height, app_hash=app_hash, chunk_hashes=tuple(hashes), keys=count,
                            payload_bytes=total)


# --- restoring --------------------------------------------------------------------------------


def decode_chunk(meta: SnapshotMetadata, index: int, chunk: bytes) -> list[tuple[bytes, bytes]]:
    """The records of chunk `index` of the snapshot `meta` describes. ChunkCorrupt if the chunk does
    not decompress to a payload with the listed hash (bad transfer, another snapshot's chunk);
    SnapshotInvalid if it does but the payload is malformed (the snapshot itself is bad)."""
    d = zlib.decompressobj()
    try:
        payload = d.decompress(chunk, PAYLOAD_LIMIT + 1)
    except zlib.error:
        raise ChunkCorrupt(f"chunk {index} does not decompress") from None
    if len(payload) > PAYLOAD_LIMIT or d.unconsumed_tail or not d.eof or d.unused_data:
        raise ChunkCorrupt(f"chunk {index} is not one zlib stream of at most {PAYLOAD_LIMIT} bytes")
    if sha256(payload).digest() != meta.chunk_hashes[index]:
        raise ChunkCorrupt(f"chunk {index} does not match its hash in the snapshot metadata")
    if len(payload) < _HEADER.size:
        raise SnapshotInvalid(f"chunk {index} is shorter than its header")
    magic, height, idx = _HEADER.unpack_from(payload, 0)
    if magic != _MAGIC or height != meta.height or idx != index:
        raise SnapshotInvalid(f"chunk {index} is labelled {magic!r} height {height} index {idx}")
    out: list[tuple[bytes, bytes]] = []
    unpack = _U32.unpack_from
    pos, n = _HEADER.size, len(payload)
    try:
        while pos < n:
            (kl,) = unpack(payload, pos)
            key = payload[pos + 4 : pos + 4 + kl]
            pos += 4 + kl
            (vl,) = unpack(payload, pos)
            value = payload[pos + 4 : pos + 4 + vl]
            pos += 4 + vl
            if len(key) != kl or len(value) != vl:
                raise SnapshotInvalid(f"chunk {index} ends inside a record")
            out.append((key, value))
    except struct.error:
        raise SnapshotInvalid(f"chunk {index} ends inside a record") from None
    return out


class Restorer:
    """Applies the chunks of one snapshot, in order, into `target` (a fresh, empty backend) as the flat
    table of a store under `store_prefix`; `finish` checks the root and writes the store's records.

    Nothing here makes `target` live: the caller installs it only after `finish` succeeds."""

    def __init__(self, meta: SnapshotMetadata, target: Backend, store_prefix: bytes = STORE_PREFIX) -> None:
        self.meta = meta
        self._target = target
        self._prefix = store_prefix
        self._flat = store_prefix + TABLE_FLAT
        self._next = 0
        self._last_key: bytes | None = None
        self._keys = 0

    @property
    def next_index(self) -> int:
        return self._next

    @property
    def complete(self) -> bool:
        return self._next == self.meta.chunks

    def apply(self, index: int, chunk: bytes) -> None:
        if index != self._next:
            raise ChunkOutOfOrder(f"chunk {index} applied while chunk {self._next} is next")
        records = decode_chunk(self.meta, index, chunk)
        last = self._last_key
        flat = self._flat
        ops: list[WriteOp] = []
        for key, value in records:
            if last is not None and key <= last:
                raise SnapshotInvalid(f"chunk {index}: keys are not in strictly ascending order")
            ops.append((flat + key, value))
            last = key
        self._target.write(ops, sync=False)
        self._last_key = last
        self._keys += len(records)
        self._next += 1

    def finish(self, trusted_app_hash: bytes, extra_writes: Iterable[WriteOp] = (), tree: str | None = None) -> bytes:
        """After the last chunk: rebuild the tree from what was written and refuse
        (SnapshotRootMismatch) unless its root is `trusted_app_hash`; then write the store's version
        records and `extra_writes` (the app's metadata) in one synced batch. Returns the root."""
        if not self.complete:
            raise ChunkOutOfOrder(f"finish after {self._next} of {self.meta.chunks} chunks")
        if self._keys != self.meta.keys:
            raise SnapshotInvalid(f"the chunks hold {self._keys} keys, the metadata says {self.meta.keys}")
        root = new_tree(tree).load(self._target.iterate(self._flat, prefix_end(self._flat)), skip=len(self._flat))
        if root != trusted_app_hash:
            raise SnapshotRootMismatch(
                f"the restored state hashes to {root.hex()}, not to the trusted app hash {trusted_app_hash.hex()}")
        ops = restored_version_writes(self.meta.height, root, self._prefix)
        ops.extend(extra_writes)
        self._target.write(ops, sync=True)
        return root
