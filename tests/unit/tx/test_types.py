"""Amounts, coins, denoms and bech32 addresses (sidechain/types.py)."""

from __future__ import annotations

import os

import pytest

from sidechain.errors import (
    AmountOverflow,
    AmountUnderflow,
    InvalidAddress,
    InvalidAmount,
    InvalidCoins,
    InvalidDenom,
)
from sidechain.types import (
    AMOUNT_MAX,
    Address,
    Amount,
    Coin,
    _bech32_encode_slow,
    bech32_address,
    bech32_decode,
    bech32_encode,
    coins_str,
    parse_coins,
    validate_denom,
)

# --- Amount ---------------------------------------------------------------------------------------


def test_amount_bounds() -> None:
    assert Amount(0) == 0
    assert Amount(AMOUNT_MAX) == AMOUNT_MAX
    with pytest.raises(AmountOverflow):
        Amount(AMOUNT_MAX + 1)
    with pytest.raises(AmountUnderflow):
        Amount(-1)


def test_amount_checked_arithmetic() -> None:
    assert Amount(5) + Amount(7) == Amount(12)
    assert type(Amount(5) + Amount(7)) is Amount
    assert Amount(7) - Amount(7) == 0
    assert Amount(7) * Amount(3) == 21
    assert Amount(7) // Amount(2) == 3
    assert Amount(7) % Amount(2) == 1
    with pytest.raises(AmountOverflow):
        Amount(AMOUNT_MAX) + Amount(1)
    with pytest.raises(AmountUnderflow):
        Amount(5) - Amount(6)
    with pytest.raises(AmountOverflow):
        Amount(1 << 200) * Amount(1 << 60)
    with pytest.raises(ZeroDivisionError):
        Amount(1) // Amount(0)


@pytest.mark.parametrize("other", [1, 1.0, True, "1"])
def test_amount_refuses_mixing(other: object) -> None:
    a = Amount(5)
    for op in (
        lambda: a + other,
        lambda: a - other,
        lambda: a * other,
        lambda: a // other,
        lambda: a % other,
    ):
        with pytest.raises(TypeError):
            op()


def test_int_on_the_left_is_refused_too() -> None:
    # (A float or bool on the left is beyond an int subclass's reach: Python asks them first.)
    a = Amount(5)
    for op in (lambda: 1 + a, lambda: 1 - a, lambda: 2 * a, lambda: 10 // a, lambda: 10 % a):
        with pytest.raises(TypeError):
            op()


def test_amount_refuses_fractions_and_non_ints() -> None:
    with pytest.raises(TypeError):
        Amount(5) / Amount(2)  # noqa: B018
    with pytest.raises(TypeError):
        -Amount(5)  # noqa: B018
    with pytest.raises(TypeError):
        Amount(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Amount(True)
    with pytest.raises(TypeError):
        sum([Amount(1), Amount(2)])  # sum starts from int 0: mixing


def test_amount_parse_is_canonical() -> None:
    assert Amount.parse("0") == 0
    assert Amount.parse(str(AMOUNT_MAX)) == AMOUNT_MAX
    for bad in ["", "01", "+1", "-1", "1e3", "1.0", " 1", "1_000", "０", str(AMOUNT_MAX + 1)]:
        with pytest.raises(InvalidAmount):
            Amount.parse(bad)


def test_amount_min_bytes_round_trip() -> None:
    for v in [0, 1, 255, 256, AMOUNT_MAX]:
        a = Amount(v)
        assert Amount.from_bytes_min(a.to_bytes_min()) == a
    assert Amount(0).to_bytes_min() == b""
    with pytest.raises(ValueError):
        Amount.from_bytes_min(b"\x00\x01")


def test_amount_str_and_repr() -> None:
    assert str(Amount(5)) == "5"
    assert f"{Amount(5)}" == "5"
    assert repr(Amount(5)) == "Amount(5)"


# --- denoms and coins ------------------------------------------------------------------------------


@pytest.mark.parametrize("denom", ["stake", "l1/eth", "l1/0x" + "ab" * 20, "uatom"])
def test_good_denoms(denom: str) -> None:
    assert validate_denom(denom) == denom


@pytest.mark.parametrize(
    "denom",
    ["", "s", "Stake", "l1/0x" + "AB" * 20, "l1/0x" + "ab" * 19, "1stake", "stake/", "a/b/c", "st ake"],
)
def test_bad_denoms(denom: str) -> None:
    with pytest.raises(InvalidDenom):
        validate_denom(denom)


def test_coin_parse_and_str() -> None:
    c = Coin.parse("5stake")
    assert c == Coin("stake", Amount(5)) and str(c) == "5stake"
    assert str(Coin.parse("12l1/eth")) == "12l1/eth"
    with pytest.raises(InvalidCoins):
        Coin.parse("stake")
    with pytest.raises(InvalidAmount):
        Coin.parse("05stake")


def test_parse_coins_sorts_and_refuses_duplicates_and_zero() -> None:
    coins = parse_coins("3stake,2l1/eth")
    assert coins_str(coins) == "2l1/eth,3stake"
    with pytest.raises(InvalidCoins):
        parse_coins("1stake,2stake")
    with pytest.raises(InvalidCoins):
        parse_coins("0stake")


# --- bech32 addresses -----------------------------------------------------------------------------

BIP173_20_BYTES = "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"  # BIP-173 valid vector, 32 data chars


def test_bip173_vector() -> None:
    data = bech32_decode(BIP173_20_BYTES, "abcdef")
    assert data.hex() == "00443214c74254b635cf84653a56d7c675be77df"
    assert bech32_encode("abcdef", data) == BIP173_20_BYTES
    assert bech32_decode(BIP173_20_BYTES.upper(), "abcdef") == data


def test_fast_encoder_matches_reference() -> None:
    for _ in range(300):
        data = os.urandom(20)
        for prefix in ("side", "a", "cosmos", "x9"):
            s = bech32_encode(prefix, data)
            assert s == _bech32_encode_slow(prefix, data)
            assert bech32_decode(s, prefix) == data


def test_wrong_prefix_names_expected_prefix() -> None:
    s = bech32_encode("cosmos", bytes(20))
    with pytest.raises(InvalidAddress, match="prefix is 'cosmos', expected 'side'"):
        bech32_decode(s, "side")


@pytest.mark.parametrize(
    "text",
    [
        "side1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",  # bad checksum
        "side1",  # no data
        "sideqqqq",  # no separator
        "Side1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqyy4xyr",  # mixed case
        "side1bqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",  # 'b' is not a bech32 character
        "",
    ],
)
def test_bad_addresses_name_expected_prefix(text: str) -> None:
    with pytest.raises(InvalidAddress, match="side"):
        bech32_decode(text, "side")


def test_one_flipped_character_is_detected() -> None:
    s = bech32_encode("side", os.urandom(20))
    i = len(s) - 10
    flipped = s[:i] + ("q" if s[i] != "q" else "p") + s[i + 1 :]
    with pytest.raises(InvalidAddress, match="checksum"):
        bech32_decode(flipped, "side")


def test_address_type() -> None:
    pk = bytes(range(32))
    a = Address.from_pubkey(pk)
    assert len(a) == 20
    assert Address.from_bech32(a.to_bech32("side"), "side") == a
    assert bech32_address(a, "side") == a.to_bech32("side")
    with pytest.raises(InvalidAddress):
        Address(b"\x00" * 19)
