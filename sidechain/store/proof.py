"""Merkle proofs of the state store as CometBFT ProofOps, and their client-side verification.

A proof is a list of ops, each (type, key, data) as in `tendermint.crypto.ProofOp`; the ABCI adapter
converts them to protobuf. The store returns exactly one op:

    type = OP_TYPE ("sidechain:smt16:v1"), key = the queried key, data = the encoding below.

`data` (deterministic: one encoding per proof, anything else is rejected as malformed):

    format(1) = 0x01
    depth(1)  = number of internal nodes on the path from the root, 0..64
    depth times, root first:
        bitmap(2, big-endian): bit i set <=> slot i of that node is non-empty, for every slot i
                               other than the one on the path (whose bit must be clear)
        the hashes of those slots in slot order, 32 bytes each (never 32 zero bytes)
    terminal(1): 0x00 the path ends in an empty slot (or the tree is empty)
                 0x01 the path ends in a leaf, followed by its kh(32) and sha256(value)(32)

A membership proof ends in the key's own leaf; an absence proof ends in an empty slot or in the
leaf of another key whose kh shares the path's nibbles. Hashing rules: `sidechain.store.smt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .errors import ProofInvalid, ProofMalformed
from .smt import FANOUT, HASH_LEN, MAX_DEPTH, ZERO_HASH, key_hash, leaf_hash, nibbles, node_hash, value_hash

OP_TYPE = "sidechain:smt16:v1"
FORMAT = 1
TERMINAL_EMPTY = 0
TERMINAL_LEAF = 1


class ProofOp(NamedTuple):
    type: str
    key: bytes
    data: bytes


class Terminal(NamedTuple):
    kind: int
    kh: bytes = b""
    vh: bytes = b""


def encode_proof_data(levels: Sequence[Sequence[bytes]], path: bytes, terminal: Terminal) -> bytes:
    """`levels[i]` are the 16 child hashes of the i-th node on the path; `path` the key's nibbles."""
    out = [bytes((FORMAT, len(levels)))]
    for depth, children in enumerate(levels):
        on_path = path[depth]
        bitmap = 0
        hashes = []
        for slot in range(FANOUT):
            h = children[slot]
            if slot != on_path and h != ZERO_HASH:
                bitmap |= 1 << slot
                hashes.append(h)
        out.append(bitmap.to_bytes(2, "big"))
        out.extend(hashes)
    if terminal.kind == TERMINAL_EMPTY:
        out.append(b"\x00")
    else:
        out.append(b"\x01" + terminal.kh + terminal.vh)
    return b"".join(out)


class _Decoded(NamedTuple):
    levels: list[tuple[int, list[bytes]]]  # (bitmap, sibling hashes) root first
    terminal: Terminal


def _decode(data: bytes) -> _Decoded:
    if not isinstance(data, bytes | bytearray):
        raise ProofMalformed("proof data must be bytes")
    data = bytes(data)
    if len(data) < 3:
        raise ProofMalformed("proof data too short")
    if data[0] != FORMAT:
        raise ProofMalformed(f"unknown proof format {data[0]}")
    depth = data[1]
    if depth > MAX_DEPTH:
        raise ProofMalformed("proof deeper than a key hash")
    pos = 2
    levels: list[tuple[int, list[bytes]]] = []
    for _ in range(depth):
        if pos + 2 > len(data):
            raise ProofMalformed("truncated proof level")
        bitmap = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        count = bitmap.bit_count()
        end = pos + count * HASH_LEN
        if end > len(data):
            raise ProofMalformed("truncated sibling hashes")
        hashes = [data[i : i + HASH_LEN] for i in range(pos, end, HASH_LEN)]
        if ZERO_HASH in hashes:
            raise ProofMalformed("sibling hash of an empty slot listed")
        pos = end
        levels.append((bitmap, hashes))
    if pos >= len(data):
        raise ProofMalformed("missing terminal")
    kind = data[pos]
    pos += 1
    if kind == TERMINAL_EMPTY:
        terminal = Terminal(TERMINAL_EMPTY)
    elif kind == TERMINAL_LEAF:
        if pos + 2 * HASH_LEN > len(data):
            raise ProofMalformed("truncated leaf")
        terminal = Terminal(
            TERMINAL_LEAF, data[pos : pos + HASH_LEN], data[pos + HASH_LEN : pos + 2 * HASH_LEN]
        )
        pos += 2 * HASH_LEN
    else:
        raise ProofMalformed(f"unknown terminal kind {kind}")
    if pos != len(data):
        raise ProofMalformed("trailing bytes after proof")
    return _Decoded(levels, terminal)


def verify(
    proof_ops: Sequence[ProofOp | tuple[str, bytes, bytes]], root: bytes, key: bytes, value: bytes | None
) -> None:
    """Return if `proof_ops` prove that `key` maps to `value` (None: is absent) under `root`.

    Raises ProofMalformed when the ops cannot be decoded and ProofInvalid when they decode but do
    not prove the claim; never anything else, whatever the input bytes.
    """
    try:
        ops = list(proof_ops)
    except TypeError as exc:
        raise ProofMalformed("proof ops are not a sequence") from exc
    if len(ops) != 1:
        raise ProofMalformed(f"expected 1 proof op, got {len(ops)}")
    op = ops[0]
    if not isinstance(op, tuple) or len(op) != 3:
        raise ProofMalformed("a proof op is (type, key, data)")
    op_type, op_key, data = op
    if op_type != OP_TYPE:
        raise ProofMalformed(f"unknown proof op type {op_type!r}")
    if not isinstance(op_key, bytes | bytearray) or not isinstance(key, bytes | bytearray):
        raise ProofMalformed("keys must be bytes")
    if bytes(op_key) != bytes(key):
        raise ProofInvalid("the proof is for another key")
    if not isinstance(root, bytes | bytearray) or len(root) != HASH_LEN:
        raise ProofInvalid("a root is 32 bytes")
    if value is not None and not isinstance(value, bytes | bytearray):
        raise ProofInvalid("value must be bytes or None")
    decoded = _decode(data)

    kh = key_hash(bytes(key))
    path = nibbles(kh)
    depth = len(decoded.levels)
    terminal = decoded.terminal
    if value is None:
        if terminal.kind == TERMINAL_LEAF:
            if terminal.kh == kh:
                raise ProofInvalid("the proof shows the key present")
            if nibbles(terminal.kh)[:depth] != path[:depth]:
                raise ProofInvalid("the leaf does not sit on the key's path")
    else:
        if terminal.kind != TERMINAL_LEAF or terminal.kh != kh:
            raise ProofInvalid("the proof does not end in the key's leaf")
        if terminal.vh != value_hash(bytes(value)):
            raise ProofInvalid("the proven value differs")

    current = ZERO_HASH if terminal.kind == TERMINAL_EMPTY else leaf_hash(terminal.kh, terminal.vh)
    for level in range(depth - 1, -1, -1):
        bitmap, hashes = decoded.levels[level]
        on_path = path[level]
        if bitmap >> on_path & 1:
            raise ProofMalformed("the path's own slot is listed as a sibling")
        children = [ZERO_HASH] * FANOUT
        it = iter(hashes)
        for slot in range(FANOUT):
            if bitmap >> slot & 1:
                children[slot] = next(it)
        children[on_path] = current
        current = node_hash(children)
    if current != bytes(root):
        raise ProofInvalid("the proof does not hash to the root")
