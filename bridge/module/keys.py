"""Store keys of the bridge module (prefixes 0x40-0x4F). Heights and nonces are 8 bytes big-endian,
so keys sort in numeric order.

    0x40                      params (JSON, canonical)
    0x41                      the bridge's fixed facts: L1 chain id, contract, deployment block (JSON)
    0x42                      last applied event nonce (8 bytes)
    0x43                      observed_l1_height (8 bytes)
    0x44                      the L1 valset the contract holds (L1Valset)
    0x45 | denom              bridged supply of a denom (uint256, minimal big-endian)
    0x46 | nonce              deposit record (DepositRecord), by event nonce
    0x47 | nonce | address    a validator's report that disagreed with applied event `nonce` (Disagreement)
    0x48 | nonce              sha256 of the applied event `nonce` (to compare later reports against)
    0x49                      L1 block of the last applied event (8 bytes)
"""

from __future__ import annotations

PARAMS = b"\x40"
CONFIG = b"\x41"
LAST_EVENT_NONCE = b"\x42"
OBSERVED_L1_HEIGHT = b"\x43"
L1_VALSET = b"\x44"
SUPPLY = b"\x45"
DEPOSIT = b"\x46"
DISAGREEMENT = b"\x47"
APPLIED = b"\x48"
LAST_EVENT_L1_BLOCK = b"\x49"


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def supply_key(denom: str) -> bytes:
    return SUPPLY + denom.encode()


def deposit_key(nonce: int) -> bytes:
    return DEPOSIT + u64(nonce)


def disagreement_key(nonce: int, validator: bytes) -> bytes:
    return DISAGREEMENT + u64(nonce) + validator
