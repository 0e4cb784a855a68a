"""Store layout of the bank module (module prefixes 0x10-0x1F are bank's).

| key                                                    | value                              |
|--------------------------------------------------------|------------------------------------|
| 0x10 | address (20 bytes) | len(denom) (1 byte) | denom | balance: minimal big-endian amount |
| 0x11 | len(denom) (1 byte) | denom                       | supply of the denom                |
| 0x12 | len(denom) (1 byte) | denom                       | fee pool: fees collected in blocks |
|                                                        | and not yet distributed            |
| 0x13                                                   | params: canonical JSON             |

Amounts are minimal big-endian integers (1..32 bytes, never a leading zero byte). A zero balance,
supply or pool entry is deleted rather than stored, so equal states have equal key sets. Denoms
are ASCII (see sidechain.types.DENOM_RE), at most 59 bytes, so one length byte suffices. All of an
address's balances are the keys under 0x10 | address, ordered by (denom length, denom).
"""

from __future__ import annotations

BALANCE_PREFIX = b"\x10"
SUPPLY_PREFIX = b"\x11"
FEE_POOL_PREFIX = b"\x12"
PARAMS_KEY = b"\x13"

_DENOM_KEY: dict[str, bytes] = {}


def denom_key(denom: str) -> bytes:
    """len(denom) || denom (memoised: denoms are few and validated before they get here)."""
    k = _DENOM_KEY.get(denom)
    if k is None:
        raw = denom.encode("ascii")
        if not 0 < len(raw) < 256:
            raise ValueError(f"denom of {len(raw)} bytes cannot be a key")
        k = bytes((len(raw),)) + raw
        if len(_DENOM_KEY) < 4096:
            _DENOM_KEY[denom] = k
    return k


def balance_key(address: bytes, denom: str) -> bytes:
    return BALANCE_PREFIX + address + denom_key(denom)


def address_balances_prefix(address: bytes) -> bytes:
    return BALANCE_PREFIX + address


def supply_key(denom: str) -> bytes:
    return SUPPLY_PREFIX + denom_key(denom)


def fee_pool_key(denom: str) -> bytes:
    return FEE_POOL_PREFIX + denom_key(denom)


def denom_from_suffix(suffix: bytes) -> str:
    """Inverse of denom_key."""
    if not suffix or suffix[0] != len(suffix) - 1:
        raise ValueError(f"malformed denom key suffix {suffix.hex()}")
    return suffix[1:].decode("ascii")
