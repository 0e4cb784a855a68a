"""Errors raised by the state store (codespace "store"), all under `StoreError`, each with a stable code.

Codes are part of the interface (queries report them): never renumber one; add new errors with new
codes. A store error in consensus code is not invalid input: the node stops (sidechain/errors.py).
"""

from __future__ import annotations

from sidechain.errors import SidechainError


class StoreError(SidechainError):
    """Root of every error the store raises on purpose."""

    codespace = "store"


class VersionNotFound(StoreError):
    """The requested version was never committed or has been pruned."""

    code = 2


class InvalidVersion(StoreError):
    """`commit` was asked for a version that does not follow the last committed one."""

    code = 3


class ReservedKey(StoreError):
    """An extra write passed to `commit` falls inside the store's own key prefix."""

    code = 4


class CorruptStore(StoreError):
    """The database contradicts itself (e.g. the stored root does not match the tree)."""

    code = 5


class ProofError(StoreError):
    """A proof does not prove the claimed (key, value) under the claimed root."""

    code = 10


class ProofMalformed(ProofError):
    """The proof bytes or ops cannot be decoded."""

    code = 11


class ProofInvalid(ProofError):
    """The proof decodes but does not hash to the root, or proves something else."""

    code = 12


class DatabaseLocked(StoreError):
    """The database is open in another process (LevelDB allows one)."""

    code = 6


class TreeMisuse(StoreError):
    """The in-memory Merkle tree was used against its contract (a duplicate key in a load or a stage,
    a stage that is not active) or its native library is unavailable: a bug in the caller or the build."""

    code = 7


class SnapshotInvalid(StoreError):
    """A state snapshot (its metadata or a chunk whose hash matches it) is not a valid format-1
    snapshot: the snapshot itself is bad, whoever sent it."""

    code = 20


class ChunkCorrupt(StoreError):
    """A snapshot chunk does not decompress, or does not hash to what the snapshot's metadata says
    (damaged in transit, or a chunk of another snapshot): refetch it from another peer."""

    code = 21


class ChunkOutOfOrder(StoreError):
    """A snapshot chunk was applied out of order (chunks are applied 0, 1, 2, ... exactly once)."""

    code = 22


class SnapshotRootMismatch(StoreError):
    """A fully restored snapshot hashes to another root than the trusted app hash: never used."""

    code = 23


class SnapshotTooLarge(StoreError):
    """A single key/value record does not fit in one snapshot chunk (at most 10 MB)."""

    code = 24
