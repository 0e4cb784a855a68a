"""Protobuf's unsigned varint: the length prefix of ABCI socket frames (abci_app/framing.py) and of
CometBFT's length-delimited sign bytes (sidechain/extcommit.py)."""

from __future__ import annotations


def encode_uvarint(n: int) -> bytes:
    if n < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
