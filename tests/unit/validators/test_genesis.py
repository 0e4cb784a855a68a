from __future__ import annotations

import base64

import pytest

from validators.genesis import MAX_TOTAL_VOTING_POWER, InvalidValidatorsGenesis, parse_validators

K1 = base64.b64encode(b"\x01" * 32).decode()
K2 = base64.b64encode(b"\x02" * 32).decode()


def test_parse_valid_set() -> None:
    vals = parse_validators([{"name": "a", "pub_key": K1, "power": "10"}, {"name": "b", "pub_key": K2, "power": 5}])
    assert [(v.name, v.power) for v in vals] == [("a", 10), ("b", 5)]
    assert len(vals[0].address) == 20


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"),
    ({"name": "a"}, "non-empty list"),
    ([{"name": "a", "pub_key": "nope", "power": "1"}], "pub_key"),
    ([{"name": "a", "pub_key": base64.b64encode(b"x" * 31).decode(), "power": "1"}], "32 bytes"),
    ([{"name": "a", "pub_key": K1, "power": "0"}], "positive"),
    ([{"name": "a", "pub_key": K1, "power": "-3"}], "not a decimal"),
    ([{"name": "a", "pub_key": K1, "power": True}], "positive integer"),
    ([{"name": "a", "pub_key": K1, "power": "1"}, {"name": "b", "pub_key": K1, "power": "1"}], "same pub_key"),
    ([{"name": "a", "pub_key": K1, "power": str(MAX_TOTAL_VOTING_POWER)},
      {"name": "b", "pub_key": K2, "power": "1"}], "total power"),
    ([{"name": "a", "pub_key": K1, "power": "1", "extra": 1}], "unknown field"),
])
def test_bad_sets_are_refused_with_the_entry_named(bad: object, message: str) -> None:
    with pytest.raises(InvalidValidatorsGenesis, match=message):
        parse_validators(bad)
