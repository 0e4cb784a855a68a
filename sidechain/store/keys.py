"""Byte layout of everything the authenticated store keeps in its database.

All store keys start with the store prefix (default `STORE_PREFIX`); the app must keep its own
keys (height, app hash, ...) outside it, and `MerkleStore.commit` refuses extra writes inside it.
Under the prefix, one table byte:

- `f` + key                        -> latest committed value (the flat table: fast reads, ordered scans)
- `t`                              -> reserved: tree records of the first store format, no longer
                                      written or read (the tree lives in memory, rebuilt from `f`)
- `u` + version(8 BE)              -> value undo log of that version (old values of the keys it changed)
- `r` + version(8 BE)              -> root hash, for every version still kept
- `m`                              -> latest version(8 BE) + its root(32)

Versions are fixed-width big-endian so byte order is numeric order.
"""

from __future__ import annotations

STORE_PREFIX = b"S/"

TABLE_FLAT = b"f"
TABLE_TREE = b"t"  # reserved (see above)
TABLE_UNDO_VALUES = b"u"
TABLE_ROOTS = b"r"
TABLE_META = b"m"


def version_bytes(version: int) -> bytes:
    return version.to_bytes(8, "big")
