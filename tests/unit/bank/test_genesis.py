"""Bank genesis (sidechain/bank/genesis.py) and the combined app_state entry point (sidechain/module.py)."""

from __future__ import annotations

import pytest

from sidechain.bank.genesis import BankGenesis, export_genesis
from sidechain.bank.state import get_balance, get_supply
from sidechain.errors import InvalidGenesis
from sidechain.module import CHAIN
from sidechain.store.backends import MemoryBackend
from sidechain.store.cache import CacheKV
from sidechain.types import AMOUNT_MAX, bech32_address

from ..tx.chain import coin

A, B = b"\x01" * 20, b"\x02" * 20


def bal(address: bytes, *coins: tuple[str, str], prefix: str = "side") -> dict[str, object]:
    return {
        "address": bech32_address(address, prefix),
        "coins": [{"denom": d, "amount": a} for a, d in coins],
    }


def test_init_and_export() -> None:
    app_state = {"bank": {"balances": [bal(B, ("5", "stake")), bal(A, ("7", "stake"), ("2", "l1/eth"))]}}
    gen = CHAIN.parse_genesis(app_state)
    assert gen.section("bank").supply == (coin(2, "l1/eth"), coin(12))
    assert [b.address for b in gen.section("bank").balances] == [A, B]  # sorted
    state = CacheKV(MemoryBackend())
    CHAIN.init_genesis(state, gen)
    assert get_balance(state, A, "stake") == 7 and get_supply(state, "stake") == 12
    assert export_genesis(state) == gen.section("bank")


def test_default_genesis_json_is_valid() -> None:
    gen = CHAIN.parse_genesis(CHAIN.default_genesis_json())
    assert gen.section("bank") == BankGenesis.default() and gen.section("auth").params.address_prefix == "side"


def test_given_supply_must_match() -> None:
    ok = {"balances": [bal(A, ("7", "stake"))], "supply": [{"denom": "stake", "amount": "7"}]}
    BankGenesis.from_json(ok, "side")
    bad = {**ok, "supply": [{"denom": "stake", "amount": "8"}]}
    with pytest.raises(InvalidGenesis, match="supply is 8stake but the balances add up to 7stake"):
        BankGenesis.from_json(bad, "side")


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"balances": [bal(A, ("1", "stake"), prefix="cosmos")]}, "balances[0].address: invalid address"),
        ({"balances": [bal(A, ("1", "stake")), bal(A, ("1", "stake"))]}, "balances[1]: duplicate entry"),
        ({"balances": [bal(A, ("1.5", "stake"))]}, "balances[0].coins[0].amount"),
        ({"balances": [bal(A, ("-1", "stake"))]}, "balances[0].coins[0].amount"),
        ({"balances": [bal(A, ("1", "ST"))]}, "balances[0].coins[0].denom"),
        ({"balances": [bal(A, ("0", "stake"))]}, "zero amount"),
        ({"balances": [bal(A, ("1", "stake"), ("2", "stake"))]}, "duplicate denom"),
        (
            {"balances": [bal(A, (str(AMOUNT_MAX), "stake")), bal(B, ("1", "stake"))]},
            "total supply of stake exceeds",
        ),
        ({"params": {"send_enabled": "yes"}}, "app_state.bank.params.send_enabled: expected true or false"),
        ({"balance": []}, "unknown field(s) 'balance'"),
    ],
)
def test_errors_name_the_path(obj: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidGenesis) as ei:
        BankGenesis.from_json(obj, "side")
    assert match in str(ei.value)


def test_app_state_must_be_an_object() -> None:
    with pytest.raises(InvalidGenesis, match="app_state: expected a JSON object"):
        CHAIN.parse_genesis([])
