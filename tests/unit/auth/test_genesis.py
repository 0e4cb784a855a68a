"""Auth genesis (sidechain/auth/genesis.py)."""

from __future__ import annotations

import pytest

from sidechain.auth.genesis import AuthGenesis, export_genesis, init_genesis
from sidechain.auth.state import get_account, get_params
from sidechain.errors import InvalidGenesis
from sidechain.store.backends import MemoryBackend
from sidechain.store.cache import CacheKV
from sidechain.types import bech32_address

from ..tx.chain import addr, bech, key

K = key(7)


def test_default_and_round_trip() -> None:
    AuthGenesis.default().validate()
    gen = AuthGenesis.from_json(
        {"accounts": [{"address": bech(addr(K)), "public_key": bytes(K.verify_key).hex(), "sequence": 4}]}
    )
    state = CacheKV(MemoryBackend())
    init_genesis(state, gen)
    acct = get_account(state, addr(K))
    assert (acct.sequence, acct.public_key) == (4, bytes(K.verify_key))
    assert get_params(state) == gen.params
    assert export_genesis(state) == gen
    assert AuthGenesis.from_json(gen.to_json()) == gen


def test_absent_section_is_default() -> None:
    assert AuthGenesis.from_json(None) == AuthGenesis.default()


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"accounts": [{"address": bech32_address(bytes(20), "cosmos")}]}, "accounts[0].address"),
        ({"accounts": [{"address": "side1xyz"}]}, "accounts[0].address: invalid address 'side1xyz': wrong length"),
        ({"accounts": [{"public_key": "00" * 32}]}, "missing 'address'"),
        ({"accounts": [{"address": bech(addr(K)), "public_key": "00" * 32}]}, "does not belong"),
        ({"accounts": [{"address": bech(addr(K)), "public_key": "zz"}]}, "64 hex digits"),
        ({"accounts": [{"address": bech(addr(K)), "sequence": -1}]}, "sequence: -1 is out of range"),
        ({"accounts": [{"address": bech(addr(K))}, {"address": bech(addr(K))}]}, "accounts[1]: duplicate"),
        ({"params": {"max_tx_bytes": 10}}, "app_state.auth.params: max_tx_bytes 10"),
        ({"acounts": []}, "unknown field(s) 'acounts'"),
        ([], "expected an object"),
    ],
)
def test_errors_name_the_path(obj: object, match: str) -> None:
    with pytest.raises(InvalidGenesis) as ei:
        AuthGenesis.from_json(obj)
    assert match in str(ei.value)


def test_prefix_from_params_applies_to_accounts() -> None:
    a = bech32_address(addr(K), "zz")
    gen = AuthGenesis.from_json({"params": {"address_prefix": "zz"}, "accounts": [{"address": a}]})
    assert gen.accounts[0].address == addr(K)
    with pytest.raises(InvalidGenesis, match="prefix is 'side', expected 'zz'"):
        AuthGenesis.from_json({"params": {"address_prefix": "zz"}, "accounts": [{"address": bech(addr(K))}]})
