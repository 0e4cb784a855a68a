"""Hashing rules of the 16-ary sparse Merkle tree: the part a verifier needs, shared by store and proofs.

The tree is keyed by kh = sha256(key), read as 64 nibbles. Its shape is a function of the key set
alone: a position (a nibble prefix p) holds
- nothing, if no key's kh starts with p;
- a leaf, if exactly one does and the parent position holds two or more (path compression);
- an internal node, if two or more do.
So the root depends only on the (key, value) set, never on insertion order or history.

Hashes (sha256, domain-separated by the first byte and by the preimage length):
- leaf:     sha256(0x00 || kh || sha256(value))                      (65-byte preimage)
- internal: sha256(0x01 || c0 || c1 || ... || c15)                    (513-byte preimage)
  where ci is the child's hash, or 32 zero bytes for an empty slot (no sha256 output is zero).
- empty tree root: EMPTY_ROOT = 32 zero bytes (the same placeholder as an empty slot).
"""

from __future__ import annotations

from hashlib import sha256

LEAF_DOMAIN = b"\x00"
NODE_DOMAIN = b"\x01"
HASH_LEN = 32
EMPTY_ROOT = bytes(HASH_LEN)
ZERO_HASH = EMPTY_ROOT
FANOUT = 16
MAX_DEPTH = 64  # nibbles in a sha256 digest

# bytes.translate table mapping the hex digits of kh.hex() to nibble values 0..15 (one byte each).
_HEX_TO_NIBBLE = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


def key_hash(key: bytes) -> bytes:
    return sha256(key).digest()


def value_hash(value: bytes) -> bytes:
    return sha256(value).digest()


def leaf_hash(kh: bytes, vh: bytes) -> bytes:
    return sha256(LEAF_DOMAIN + kh + vh).digest()


def node_hash(children: list[bytes]) -> bytes:
    """Hash of an internal node from its 16 child hashes (ZERO_HASH for empty slots)."""
    return sha256(NODE_DOMAIN + b"".join(children)).digest()


def nibbles(kh: bytes) -> bytes:
    """The 64 nibbles of a key hash, one per byte, so a position is a plain bytes prefix."""
    return kh.hex().encode("ascii").translate(_HEX_TO_NIBBLE)
