"""Errors raised by the state store, all under `StoreError`, each with a stable numeric code.

Codes are part of the interface (queries and tx results report them): never renumber one; add new
errors with new codes.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error the store raises on purpose."""

    code: int = 1


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
