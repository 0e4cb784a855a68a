"""Auth params: defaults, validation, JSON form (sidechain/auth/params.py)."""

from __future__ import annotations

import pytest

from sidechain.auth.params import AuthParams
from sidechain.errors import InvalidParams
from sidechain.types import Amount, Coin


def test_default_is_valid_and_round_trips() -> None:
    p = AuthParams.default()
    p.validate()
    assert AuthParams.from_json(p.to_json()) == p
    assert AuthParams.decode(p.encode()) == p
    assert p.encode() == AuthParams.decode(p.encode()).encode()  # canonical
    assert p.min_fee("stake") == 1 and p.min_fee("l1/eth") == 10**12  # bridged ETH pays fees
    assert p.min_fee("l1/0x" + "ab" * 20) is None


def test_missing_fields_take_defaults() -> None:
    assert AuthParams.from_json({}) == AuthParams.default()


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"max_tx_bytes": 100}, "max_tx_bytes 100 is out of range"),
        ({"max_tx_bytes": "big"}, "auth.params.max_tx_bytes: expected an integer"),
        ({"max_tx_bytes": 1.5}, "expected an integer"),
        ({"max_memo_bytes": 9000}, "max_memo_bytes"),
        ({"max_msgs_per_tx": 0}, "max_msgs_per_tx"),
        ({"min_fees": []}, "min_fees is empty"),
        ({"min_fees": [{"denom": "stake", "amount": "1"}, {"denom": "l1/eth", "amount": "1"}]}, "sorted"),
        ({"min_fees": [{"denom": "stake", "amount": 1.5}]}, "min_fees[0].amount"),
        ({"min_fees": [{"denom": "STAKE", "amount": "1"}]}, "min_fees[0].denom"),
        ({"address_prefix": "Side"}, "address_prefix"),
        ({"adress_prefix": "side"}, "unknown field(s) 'adress_prefix'"),
    ],
)
def test_invalid_params_name_the_field(changes: dict[str, object], match: str) -> None:
    obj = {**AuthParams.default().to_json(), **changes}
    with pytest.raises(
        InvalidParams, match=match.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        AuthParams.from_json(obj)


def test_several_fee_denoms_and_free_denom() -> None:
    p = AuthParams.from_json(
        {"min_fees": [{"denom": "l1/eth", "amount": "0"}, {"denom": "stake", "amount": "3"}]}
    )
    assert p.min_fees == (Coin("l1/eth", Amount(0)), Coin("stake", Amount(3)))
    assert p.min_fee("l1/eth") == 0
