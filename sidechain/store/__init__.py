"""The state store: KV interface, cache branches, the versioned Merkle store, backends and proofs."""

from .api import KVReader, KVStore, prefix_end
from .backends import Backend, LevelDBBackend, MemoryBackend, WriteOp
from .cache import CacheKV
from .errors import (
    CorruptStore,
    DatabaseLocked,
    InvalidVersion,
    ProofError,
    ProofInvalid,
    ProofMalformed,
    ReservedKey,
    StoreError,
    VersionNotFound,
)
from .merkle import CommittedReader, MerkleStore, VersionReader
from .proof import OP_TYPE, ProofOp, verify
from .smt import EMPTY_ROOT

__all__ = [
    "EMPTY_ROOT",
    "OP_TYPE",
    "Backend",
    "CacheKV",
    "CommittedReader",
    "CorruptStore",
    "DatabaseLocked",
    "InvalidVersion",
    "KVReader",
    "KVStore",
    "LevelDBBackend",
    "MemoryBackend",
    "MerkleStore",
    "ProofError",
    "ProofInvalid",
    "ProofMalformed",
    "ProofOp",
    "ReservedKey",
    "StoreError",
    "VersionNotFound",
    "VersionReader",
    "WriteOp",
    "prefix_end",
    "verify",
]
