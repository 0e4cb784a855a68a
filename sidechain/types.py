"""Shared value types of the chain: amounts, coins (denom + amount) and addresses.

* `Amount`: an integer number of base units in [0, 2**256 - 1]. Arithmetic between two Amounts
  is checked and fails loudly (`AmountOverflow`/`AmountUnderflow`); mixing an Amount with a plain
  int, a float or anything else in arithmetic raises `TypeError` (a bug, not an input error).
  Comparisons with ints are allowed. There is no division producing a fraction.
* `Coin`: `(denom, amount)`; `str(coin)` is `"5stake"`. Denoms: `stake` (native), bridged ones such
  as `l1/eth` and `l1/0x<40 lowercase hex>` (lowercase only, so one token has one denom).
* `Address`: 20 bytes, the first 20 bytes of sha256(ed25519 public key), shown as bech32 (BIP-173)
  with a human-readable prefix set in genesis. Decoding errors always name the expected prefix.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sidechain.errors import (
    AmountOverflow,
    AmountUnderflow,
    InvalidAddress,
    InvalidAmount,
    InvalidCoins,
    InvalidDenom,
    InvalidPubKey,
)

# --- amounts ---------------------------------------------------------------------------------

AMOUNT_BITS = 256
AMOUNT_MAX = (1 << AMOUNT_BITS) - 1
# Canonical decimal: no sign, no leading zeros, no spaces/underscores; 78 digits cover 2**256 - 1.
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]{0,77}")


def _mixed(op: str, a: object, b: object) -> NoReturn:
    raise TypeError(f"Amount {op} {type(b).__name__}: both operands must be Amount (got {a!r}, {b!r})")


class Amount(int):
    """A number of base units of one denom, 0 <= value <= 2**256 - 1. Checked arithmetic only."""

    __slots__ = ()

    def __new__(cls, value: int) -> Amount:
        if type(value) is not int and type(value) is not Amount:  # bool, float, str, ... are bugs
            raise TypeError(f"Amount needs an int, got {type(value).__name__} {value!r}")
        if value < 0:
            raise AmountUnderflow(f"amount {value} is negative")
        if value > AMOUNT_MAX:
            raise AmountOverflow(f"amount {value} does not fit in {AMOUNT_BITS} bits")
        return int.__new__(cls, value)

    @classmethod
    def parse(cls, text: str) -> Amount:
        """A canonical decimal string ("0", "15", never "015", "+1", "1e3", "1.0") -> Amount."""
        if type(text) is not str or _DECIMAL_RE.fullmatch(text) is None:
            raise InvalidAmount(f"amount {text!r} is not a canonical non-negative decimal integer")
        return cls(int(text))

    def __add__(self, other: object) -> Amount:
        if type(other) is not Amount:
            _mixed("+", self, other)
        r = int.__add__(self, other)
        if r > AMOUNT_MAX:
            raise AmountOverflow(f"{int(self)} + {int(other)} does not fit in {AMOUNT_BITS} bits")
        return int.__new__(Amount, r)

    def __sub__(self, other: object) -> Amount:
        if type(other) is not Amount:
            _mixed("-", self, other)
        r = int.__sub__(self, other)
        if r < 0:
            raise AmountUnderflow(f"{int(self)} - {int(other)} is negative")
        return int.__new__(Amount, r)

    def __mul__(self, other: object) -> Amount:
        if type(other) is not Amount:
            _mixed("*", self, other)
        r = int.__mul__(self, other)
        if r > AMOUNT_MAX:
            raise AmountOverflow(f"{int(self)} * {int(other)} does not fit in {AMOUNT_BITS} bits")
        return int.__new__(Amount, r)

    def __floordiv__(self, other: object) -> Amount:
        """Integer division rounding toward zero (both operands are non-negative)."""
        if type(other) is not Amount:
            _mixed("//", self, other)
        if other == 0:
            raise ZeroDivisionError("Amount // 0")
        return int.__new__(Amount, int.__floordiv__(self, other))

    def __mod__(self, other: object) -> Amount:
        if type(other) is not Amount:
            _mixed("%", self, other)
        if other == 0:
            raise ZeroDivisionError("Amount % 0")
        return int.__new__(Amount, int.__mod__(self, other))

    def __radd__(self, other: object) -> NoReturn:
        _mixed("+", other, self)

    def __rsub__(self, other: object) -> NoReturn:
        _mixed("-", other, self)

    def __rmul__(self, other: object) -> NoReturn:
        _mixed("*", other, self)

    def __rfloordiv__(self, other: object) -> NoReturn:
        _mixed("//", other, self)

    def __rmod__(self, other: object) -> NoReturn:
        _mixed("%", other, self)

    def _forbidden(self, *args: object) -> NoReturn:
        raise TypeError("Amount supports only checked +, -, *, //, % with another Amount")

    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _forbidden
    __lshift__ = __rlshift__ = __rshift__ = __rrshift__ = __invert__ = _forbidden
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __divmod__ = __rdivmod__ = _forbidden

    def __repr__(self) -> str:
        return f"Amount({int.__repr__(self)})"

    __str__ = int.__repr__

    def to_bytes_min(self) -> bytes:
        """Minimal big-endian bytes (b"" for zero): the compact store encoding."""
        return int.to_bytes(self, (int.bit_length(self) + 7) >> 3, "big")

    @classmethod
    def from_bytes_min(cls, data: bytes) -> Amount:
        if len(data) > 32 or (data and data[0] == 0):
            raise ValueError(f"not a minimal big-endian amount encoding: {data.hex()}")
        return int.__new__(cls, int.from_bytes(data, "big"))


ZERO = Amount(0)

# --- denoms and coins ----------------------------------------------------------------------------

# `stake`; `l1/eth`; `l1/0x<40 lowercase hex>` (an L1 ERC-20); other `<base>/<name>` reserved for later.
DENOM_RE = re.compile(r"[a-z][a-z0-9]{1,15}(?:/(?:0x[0-9a-f]{40}|[a-z][a-z0-9]{1,31}))?")
NATIVE_DENOM = "stake"
_COIN_RE = re.compile(r"([0-9]+)([a-z][a-z0-9/]*)")


def validate_denom(denom: str) -> str:
    if type(denom) is not str or DENOM_RE.fullmatch(denom) is None:
        raise InvalidDenom(
            f"invalid denom {denom!r}: expected e.g. 'stake', 'l1/eth' or 'l1/0x' + 40 lowercase hex digits"
        )
    return denom


@dataclass(frozen=True, slots=True)
class Coin:
    denom: str
    amount: Amount

    @classmethod
    def of(cls, denom: str, amount: int) -> Coin:
        """A validated coin (denom checked, amount bounded)."""
        return cls(validate_denom(denom), amount if type(amount) is Amount else Amount(amount))

    @classmethod
    def parse(cls, text: str) -> Coin:
        """'5stake' / '100l1/eth' -> Coin."""
        m = _COIN_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise InvalidCoins(f"invalid coin {text!r}: expected <amount><denom>, e.g. 5stake")
        return cls(validate_denom(m.group(2)), Amount.parse(m.group(1)))

    def __str__(self) -> str:
        return f"{int(self.amount)}{self.denom}"


def parse_coins(text: str) -> tuple[Coin, ...]:
    """'5stake,3l1/eth' -> canonical coins (sorted by denom, no duplicates, no zero amounts)."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise InvalidCoins(f"invalid coins {text!r}: expected e.g. 5stake or 5stake,3l1/eth")
    return canonical_coins(Coin.parse(p) for p in parts)


def canonical_coins(coins: Iterable[Coin]) -> tuple[Coin, ...]:
    """Sort by denom; refuse duplicates and zero amounts."""
    out = tuple(sorted(coins, key=lambda c: c.denom))
    check_coins(out)
    return out


def check_coins(coins: Sequence[Coin]) -> None:
    """Coins as carried in a message: non-empty, strictly increasing denoms, every amount > 0."""
    if not coins:
        raise InvalidCoins("no coins given")
    prev = ""
    for c in coins:
        if c.amount == 0:
            raise InvalidCoins(f"zero amount of {c.denom}")
        if c.denom <= prev:
            raise InvalidCoins(f"coins must be sorted by denom without duplicates: {coins_str(coins)}")
        prev = c.denom


def coins_str(coins: Iterable[Coin]) -> str:
    return ",".join(f"{int(c.amount)}{c.denom}" for c in coins)


# --- bech32 (BIP-173) ------------------------------------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# _POLY_STEP[b]: the XOR of the generators selected by the 5 bits shifted out of the checksum state.
_POLY_STEP = tuple(
    (_GEN[0] if b & 1 else 0) ^ (_GEN[1] if b & 2 else 0) ^ (_GEN[2] if b & 4 else 0)
    ^ (_GEN[3] if b & 8 else 0) ^ (_GEN[4] if b & 16 else 0)
    for b in range(32)
)
PREFIX_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
ADDRESS_LEN = 20
_DATA_CHARS = 32  # 20 bytes = 160 bits = 32 groups of 5 bits, no padding
_prefix_states: dict[str, int] = {}


def _polymod(chk: int, values: Iterable[int]) -> int:
    step = _POLY_STEP
    for v in values:
        chk = ((chk & 0x1FFFFFF) << 5) ^ v ^ step[chk >> 25]
    return chk


def _prefix_state(prefix: str) -> int:
    st = _prefix_states.get(prefix)
    if st is None:
        expanded = [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]
        st = _polymod(1, expanded)
        _prefix_states[prefix] = st
    return st


def validate_prefix(prefix: str) -> str:
    if type(prefix) is not str or PREFIX_RE.fullmatch(prefix) is None:
        raise InvalidAddress(f"invalid address prefix {prefix!r}: expected 1-16 lowercase letters/digits")
    return prefix


def bech32_encode(prefix: str, data: bytes) -> str:
    """Bech32 of 20 bytes of data under `prefix` (lowercase)."""
    if len(data) != ADDRESS_LEN:
        raise InvalidAddress(f"an address is {ADDRESS_LEN} bytes, got {len(data)}")
    n = int.from_bytes(data, "big")
    groups = [(n >> s) & 31 for s in range(155, -1, -5)]
    chk = _polymod(_prefix_state(prefix), groups)
    chk = _polymod(chk, (0, 0, 0, 0, 0, 0)) ^ 1
    cs = _CHARSET
    return (
        prefix + "1" + "".join([cs[g] for g in groups])
        + "".join([cs[(chk >> s) & 31] for s in (25, 20, 15, 10, 5, 0)])
    )


def bech32_decode(text: str, expected_prefix: str) -> bytes:
    """Bech32 string -> 20 bytes. Every error names the expected prefix."""

    def bad(why: str) -> InvalidAddress:
        return InvalidAddress(
            f"invalid address {text!r}: {why} (expected a bech32 address with prefix {expected_prefix!r}, "
            f"like {expected_prefix}1...)"
        )

    if not isinstance(text, str):
        raise InvalidAddress(f"invalid address {text!r}: expected a string with prefix {expected_prefix!r}")
    if len(text) > 90:
        raise bad("too long")
    lower = text.lower()
    if lower != text and text.upper() != text:
        raise bad("mixed case")
    pos = lower.rfind("1")
    if pos < 1:
        raise bad("no prefix separator '1'")
    prefix, data_part = lower[:pos], lower[pos + 1 :]
    if prefix != expected_prefix:
        raise InvalidAddress(
            f"invalid address {text!r}: prefix is {prefix!r}, expected {expected_prefix!r}"
        )
    rev = _CHARSET_REV
    try:
        values = [rev[c] for c in data_part]
    except KeyError as e:
        raise bad(f"invalid character {e.args[0]!r}") from None
    if len(values) != _DATA_CHARS + 6:
        raise bad(f"wrong length for a {ADDRESS_LEN}-byte address")
    if _polymod(_prefix_state(prefix), values) != 1:
        raise bad("checksum mismatch")
    n = 0
    for v in values[:_DATA_CHARS]:
        n = (n << 5) | v
    return n.to_bytes(ADDRESS_LEN, "big")


class Address(bytes):
    """A 20-byte account address."""

    __slots__ = ()

    def __new__(cls, data: bytes) -> Address:
        if len(data) != ADDRESS_LEN:
            raise InvalidAddress(f"an address is {ADDRESS_LEN} bytes, got {len(data)}")
        return bytes.__new__(cls, data)

    @classmethod
    def from_pubkey(cls, public_key: bytes) -> Address:
        return cls(address_of_pubkey(public_key))

    @classmethod
    def from_bech32(cls, text: str, prefix: str) -> Address:
        return cls(bech32_decode(text, prefix))

    def to_bech32(self, prefix: str) -> str:
        return bech32_address(self, prefix)

    def __repr__(self) -> str:
        return f"Address({bytes.hex(self)})"


PUBKEY_LEN = 32


def address_of_pubkey(public_key: bytes) -> bytes:
    """20 bytes of sha256(ed25519 public key)."""
    if len(public_key) != PUBKEY_LEN:
        raise InvalidPubKey(f"an ed25519 public key is {PUBKEY_LEN} bytes, got {len(public_key)}")
    return hashlib.sha256(public_key).digest()[:ADDRESS_LEN]


# Bech32 is pure Python (~5 us); events need it for every sender and recipient. A bounded
# memo of recent addresses affects speed only, never results.
_BECH32_MEMO: dict[tuple[bytes, str], str] = {}
_BECH32_MEMO_MAX = 1 << 16


def bech32_address(address: bytes, prefix: str) -> str:
    key = (bytes(address), prefix)
    s = _BECH32_MEMO.get(key)
    if s is None:
        s = bech32_encode(prefix, key[0])
        if len(_BECH32_MEMO) >= _BECH32_MEMO_MAX:
            _BECH32_MEMO.clear()
        _BECH32_MEMO[key] = s
    return s
