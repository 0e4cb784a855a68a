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
    SidechainError,
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
            if type(text) is str and text.isascii() and text.isdigit() and text[0] != "0":
                raise InvalidAmount(f"amount {text[:12]}... ({len(text)} digits) is too large: "
                                    f"at most 2**256 - 1 ({len(str(AMOUNT_MAX))} digits)")
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


def _bech32_encode_slow(prefix: str, data: bytes) -> str:
    """The textbook BIP-173 encoding (kept as the reference the fast path is tested against)."""
    n = int.from_bytes(data, "big")
    groups = [(n >> s) & 31 for s in range(155, -1, -5)]
    chk = _polymod(_prefix_state(prefix), [*groups, 0, 0, 0, 0, 0, 0]) ^ 1
    return prefix + "1" + "".join(_CHARSET[g] for g in groups) + "".join(
        _CHARSET[(chk >> s) & 31] for s in (25, 20, 15, 10, 5, 0)
    )


# Fast path. The checksum is affine over GF(2) in the data bits: polymod(state, data ++ 0^6) equals
# polymod(state, 0^38) XOR polymod(0, data ++ 0^6), and the second term is the XOR of one table
# entry per data byte (_BYTE_TABLES[j][byte j]). The 32 data characters come two per lookup from the
# 160 bits, taken 10 at a time.
def _build_byte_tables() -> tuple[tuple[int, ...], ...]:
    basis = []
    for p in range(8 * ADDRESS_LEN):  # bit p of the data, 0 = most significant bit of byte 0
        groups = [0] * (_DATA_CHARS + 6)
        groups[p // 5] = 1 << (4 - p % 5)
        basis.append(_polymod(0, groups))
    tables = []
    for j in range(ADDRESS_LEN):
        t = [0] * 256
        for b in range(1, 256):
            low = b & -b  # lowest set bit; bit value 1 << k is data bit 8j + 7 - k
            t[b] = t[b ^ low] ^ basis[8 * j + 7 - (low.bit_length() - 1)]
        tables.append(tuple(t))
    return tuple(tables)


_BYTE_TABLES = _build_byte_tables()
_CHAR_PAIRS = tuple(_CHARSET[i >> 5] + _CHARSET[i & 31] for i in range(1024))  # 10 bits -> 2 characters
_PAIR_SHIFTS = tuple(range(150, -1, -10))
_prefix_zero_states: dict[str, int] = {}


def bech32_encode(prefix: str, data: bytes) -> str:
    """Bech32 of 20 bytes of data under `prefix` (lowercase)."""
    if len(data) != ADDRESS_LEN:
        raise InvalidAddress(f"an address is {ADDRESS_LEN} bytes, got {len(data)}")
    chk = _prefix_zero_states.get(prefix)
    if chk is None:
        chk = _polymod(_prefix_state(validate_prefix(prefix)), [0] * (_DATA_CHARS + 6)) ^ 1
        _prefix_zero_states[prefix] = chk
    for table, byte in zip(_BYTE_TABLES, data, strict=True):
        chk ^= table[byte]
    n = int.from_bytes(data, "big")
    pairs = _CHAR_PAIRS
    return "".join((
        prefix, "1", *[pairs[(n >> s) & 1023] for s in _PAIR_SHIFTS],
        pairs[(chk >> 20) & 1023], pairs[(chk >> 10) & 1023], pairs[chk & 1023],
    ))


def bech32_decode(text: str, expected_prefix: str) -> bytes:
    """Bech32 string -> 20 bytes. Every error says what is wrong (prefix, characters, length or
    checksum) and names the expected prefix."""

    def bad(why: str) -> InvalidAddress:
        return InvalidAddress(
            f"invalid address {text!r}: {why} (expected a bech32 address with prefix {expected_prefix!r}, "
            f"like {expected_prefix}1...)"
        )

    if not isinstance(text, str):
        raise InvalidAddress(f"invalid address {text!r}: expected a string with prefix {expected_prefix!r}")
    if len(text) > 90:
        raise bad(f"too long ({len(text)} characters; an address has {len(expected_prefix) + 1 + _DATA_CHARS + 6})")
    lower = text.lower()
    if lower != text and text.upper() != text:
        raise bad("mixed case (use all lowercase)")
    if lower.startswith(expected_prefix + "1"):
        # The right prefix: a '1' further on is a mistyped character, not another separator.
        prefix, data_part = expected_prefix, lower[len(expected_prefix) + 1 :]
    else:
        pos = lower.rfind("1")
        if pos < 1:
            raise bad("no prefix separator '1'")
        prefix, data_part = lower[:pos], lower[pos + 1 :]
        raise InvalidAddress(
            f"invalid address {text!r}: prefix is {prefix!r}, expected {expected_prefix!r}"
        )
    def wrong(why: str) -> InvalidAddress:  # the prefix is right: no need to repeat it
        return InvalidAddress(f"invalid address {text!r}: {why}")

    rev = _CHARSET_REV
    for i, c in enumerate(data_part):
        if c not in rev:
            raise wrong(f"invalid character {c!r} at position {len(prefix) + 2 + i} "
                        "(bech32 uses 0-9 and a-z except 1, b, i and o)")
    values = [rev[c] for c in data_part]
    if len(values) != _DATA_CHARS + 6:
        raise wrong(f"wrong length: {len(values)} characters after '{prefix}1', "
                    f"a {ADDRESS_LEN}-byte address has {_DATA_CHARS + 6}")
    if _polymod(_prefix_state(prefix), values) != 1:
        raise wrong("bad checksum: a character is mistyped, missing or swapped")
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


# --- reading JSON (genesis, params): every error names the path of the bad value -------------------


def json_object(obj: object, path: str, keys: Sequence[str], err: type[SidechainError]) -> dict[str, object]:
    """`obj` as a dict whose keys are all in `keys` (an unknown key is refused: typos fail loudly)."""
    if not isinstance(obj, dict):
        raise err(f"{path}: expected an object, got {type(obj).__name__}")
    unknown = sorted(k for k in obj if k not in keys)
    if unknown:
        raise err(f"{path}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(keys)}")
    return obj


def json_list(obj: object, path: str, err: type[SidechainError]) -> list[object]:
    if not isinstance(obj, list):
        raise err(f"{path}: expected a list, got {type(obj).__name__}")
    return obj


def json_int(obj: object, path: str, lo: int, hi: int, err: type[SidechainError]) -> int:
    """An integer in [lo, hi], as a JSON number or a canonical decimal string ("12")."""
    if isinstance(obj, str) and _DECIMAL_RE.fullmatch(obj):
        obj = int(obj)
    if type(obj) is not int:
        raise err(f"{path}: expected an integer, got {obj!r}")
    if not lo <= obj <= hi:
        raise err(f"{path}: {obj} is out of range [{lo}, {hi}]")
    return obj


def json_str(obj: object, path: str, err: type[SidechainError]) -> str:
    if not isinstance(obj, str):
        raise err(f"{path}: expected a string, got {obj!r}")
    return obj


def json_bool(obj: object, path: str, err: type[SidechainError]) -> bool:
    if type(obj) is not bool:
        raise err(f"{path}: expected true or false, got {obj!r}")
    return obj


def json_coin(obj: object, path: str, err: type[SidechainError]) -> Coin:
    """{"denom": "stake", "amount": "5"} -> Coin (amounts are strings: 256 bits overflow JSON numbers)."""
    d = json_object(obj, path, ("denom", "amount"), err)
    if "denom" not in d or "amount" not in d:
        raise err(f"{path}: a coin needs 'denom' and 'amount'")
    try:
        denom = validate_denom(json_str(d["denom"], f"{path}.denom", err))
    except InvalidDenom as e:
        raise err(f"{path}.denom: {e.message}") from None
    amount = d["amount"]
    if type(amount) is int and amount >= 0:
        amount = str(amount)
    try:
        return Coin(denom, Amount.parse(json_str(amount, f"{path}.amount", err)))
    except InvalidAmount as e:
        raise err(f"{path}.amount: {e.message}") from None


def coin_json(coin: Coin) -> dict[str, str]:
    return {"denom": coin.denom, "amount": str(int(coin.amount))}


def json_address(obj: object, path: str, prefix: str, err: type[SidechainError]) -> bytes:
    try:
        return bech32_decode(json_str(obj, path, err), prefix)
    except InvalidAddress as e:
        raise err(f"{path}: {e.message}") from None
