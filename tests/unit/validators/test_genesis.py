"""The staking genesis section (`app_state.staking`): what a valid one becomes, and each refusal
naming its path, at parsing (malformed, duplicate, sub-power entries) and at InitChain (an
unfunded operator, a bad bridge key proof)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from sidechain.bank import state as bank_state
from sidechain.errors import InvalidGenesis
from sidechain.module import CHAIN
from sidechain.store import CacheKV, MemoryBackend
from sidechain.types import Amount, Coin
from tests.support.pos import DEFAULT_SELF_DELEGATION, create_entry, staking_section, validator_keys
from tests.unit.tx.chain import genesis_json
from validators.genesis import MAX_TOTAL_VOTING_POWER

CHAIN_ID = "staking-genesis-1"
POWER = 1_000_000  # the default power_reduction


def app_state(n: int = 2, funds: int = DEFAULT_SELF_DELEGATION) -> dict[str, Any]:
    """`n` genesis validators, each operator funded with `funds` stake."""
    state = genesis_json([(validator_keys(i).operator, [Coin("stake", Amount(funds))]) for i in range(n)])
    state["staking"] = staking_section(CHAIN_ID, n)
    return state


def init(state: dict[str, Any], chain_id: str = CHAIN_ID) -> list[tuple[bytes, int]]:
    genesis = CHAIN.parse_genesis(state)
    return [(u.pub_key, u.power) for u in CHAIN.init_genesis(CacheKV(MemoryBackend()), genesis, chain_id)]


def test_a_valid_section_bonds_each_self_delegation_as_power() -> None:
    state = app_state(2)
    state["staking"]["validators"][1]["self_delegation"] = str(25 * POWER + 999_999)
    state["bank"]["balances"][1]["coins"][0]["amount"] = str(30 * POWER)
    genesis = CHAIN.parse_genesis(state)
    vals = dict(genesis.sections)["staking"].validators
    assert [(v.moniker, v.operator, v.self_delegation) for v in vals] == [
        ("val0", validator_keys(0).operator, 10 * POWER), ("val1", validator_keys(1).operator, 25 * POWER + 999_999)]
    assert [v.consensus_pubkey for v in vals] == [validator_keys(i).consensus_pubkey for i in range(2)]
    # Power is tokens // power_reduction: the remainder bonds but gives no power.
    assert sorted(init(state)) == sorted([(validator_keys(0).consensus_pubkey, 10),
                                          (validator_keys(1).consensus_pubkey, 25)])


def _edit(index: int, **fields: Any) -> dict[str, Any]:
    """app_state(2) with validator `index`'s entry changed (None deletes a field)."""
    state = app_state(2)
    entry = state["staking"]["validators"][index]
    for name, value in fields.items():
        if value is None:
            del entry[name]
        else:
            entry[name] = value
    return state


def _section(value: object) -> dict[str, Any]:
    state = app_state(2)
    state["staking"] = value
    return state


def _other(i: int, field: str) -> object:
    return create_entry(validator_keys(i), CHAIN_ID)[field]


def _bad_checksum(bech: str) -> str:
    return bech[:-1] + ("p" if bech[-1] != "p" else "q")


P0, P1 = r"app_state\.staking\.validators\[0\]", r"app_state\.staking\.validators\[1\]"

MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("section not an object", _section([]), r"app_state\.staking: expected"),
    ("unknown section field", _section({"validators": [], "extra": 1}), r"app_state\.staking: unknown field"),
    ("validators not a list", _section({"validators": {}}), r"app_state\.staking\.validators: expected"),
    ("entry not an object", _section({"validators": ["val0"]}), P0 + ": expected"),
    ("unknown entry field", _edit(0, power="10"), P0 + ": unknown field"),
    ("no operator", _edit(1, operator=None), P1 + ": missing 'operator'"),
    ("no consensus key", _edit(0, consensus_pubkey=None), P0 + ": missing 'consensus_pubkey'"),
    ("no bridge address", _edit(0, bridge_address=None), P0 + ": missing 'bridge_address'"),
    ("no bridge proof", _edit(0, bridge_key_proof=None), P0 + ": missing 'bridge_key_proof'"),
    ("no moniker", _edit(0, moniker=None), P0 + ": missing 'moniker'"),
    ("no self-delegation", _edit(0, self_delegation=None), P0 + ": missing 'self_delegation'"),
    ("operator of another prefix", _edit(0, operator="cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"),
     P0 + r"\.operator"),
    ("operator bad checksum", _edit(0, operator=_bad_checksum(str(_other(0, "operator")))), P0 + r"\.operator"),
    ("consensus key not base64", _edit(0, consensus_pubkey="%%%"), P0 + r"\.consensus_pubkey: expected a base64"),
    ("consensus key 31 bytes", _edit(0, consensus_pubkey=base64.b64encode(b"k" * 31).decode()),
     P0 + r"\.consensus_pubkey: .*32 bytes"),
    ("consensus key a number", _edit(0, consensus_pubkey=5), P0 + r"\.consensus_pubkey"),
    ("bridge address 19 bytes", _edit(0, bridge_address="0x" + "ab" * 19), P0 + r"\.bridge_address: expected 20 bytes"),
    ("bridge address not hex", _edit(0, bridge_address="0x" + "zz" * 20), P0 + r"\.bridge_address: expected hex"),
    ("bridge proof 64 bytes", _edit(0, bridge_key_proof="0x" + "01" * 64), P0 + r"\.bridge_key_proof: expected 65"),
    ("empty moniker", _edit(0, moniker=""), P0 + r"\.moniker: 1-70 characters"),
    ("long moniker", _edit(0, moniker="m" * 71), P0 + r"\.moniker: 1-70 characters"),
    ("commission over max", _edit(0, commission_bps=2500), P0 + ": .*commission"),
    ("commission over 100%", _edit(0, commission_bps=10_001), P0 + r"\.commission_bps"),
    ("self-delegation a number", _edit(0, self_delegation=10 * POWER), P0 + r"\.self_delegation: expected a decimal"),
    ("self-delegation negative", _edit(0, self_delegation="-5"), P0 + r"\.self_delegation: expected a decimal"),
    ("self-delegation leading zero", _edit(0, self_delegation="010000000"), P0 + r"\.self_delegation"),
    ("zero min self-delegation", _edit(0, min_self_delegation="0"), P0 + ": self_delegation must be positive"),
    ("below min self-delegation", _edit(0, min_self_delegation=str(11 * POWER)),
     P0 + ": self_delegation must be positive and at least min_self_delegation"),
    ("zero self-delegation", _edit(0, self_delegation="0"), P0 + ": self_delegation must be positive"),
    ("sub-power self-delegation", _edit(1, self_delegation=str(POWER - 1)),
     P1 + r"\.self_delegation: 999999 is less than one unit of power \(power_reduction 1000000\)"),
    ("duplicate operator", _edit(1, operator=_other(0, "operator")), P1 + r"\.operator: the same as " + P0),
    ("duplicate consensus key", _edit(1, consensus_pubkey=_other(0, "consensus_pubkey")),
     P1 + r"\.consensus_pubkey: the same as " + P0),
    ("duplicate bridge address", _edit(1, bridge_address=_other(0, "bridge_address")),
     P1 + r"\.bridge_address: the same as " + P0),
    ("duplicate moniker", _edit(1, moniker="val0"), P1 + r"\.moniker: the same as " + P0),
    ("total power over CometBFT's limit", _edit(1, self_delegation=str(MAX_TOTAL_VOTING_POWER * POWER)),
     r"app_state\.staking\.validators: total power exceeds"),
]


@pytest.mark.parametrize(("state", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_sections_are_refused_naming_the_path(state: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidGenesis, match=message) as e:
        CHAIN.parse_genesis(state)
    assert "\n" not in str(e.value)


def test_an_unfunded_operator_is_refused_at_init_chain() -> None:
    state = app_state(2)
    state["bank"]["balances"][1]["coins"][0]["amount"] = str(DEFAULT_SELF_DELEGATION - 1)
    CHAIN.parse_genesis(state)  # well-formed: only InitChain, with the bank written, can tell
    with pytest.raises(InvalidGenesis, match=P1 + r": the operator holds 9999999stake in app_state\.bank, "
                                                  r"less than its self_delegation 10000000"):
        init(state)
    del state["bank"]["balances"][0]
    with pytest.raises(InvalidGenesis, match=P0 + r": the operator holds 0stake"):
        init(state)


def test_each_genesis_bond_draws_on_the_operator_balance() -> None:
    state = app_state(1, funds=10 * POWER + 7)
    store = CacheKV(MemoryBackend())
    CHAIN.init_genesis(store, CHAIN.parse_genesis(state), CHAIN_ID)
    assert int(bank_state.get_balance(store, validator_keys(0).operator, "stake")) == 7
    # The bonded tokens stay in the supply: they moved to the bonded pool, nothing was minted.
    assert int(bank_state.get_supply(store, "stake")) == 10 * POWER + 7


def test_a_proof_for_another_chain_is_refused_at_init_chain() -> None:
    # Signed for another chain: well-formed, so only InitChain (which knows the chain id) can tell.
    state = app_state(2)
    state["staking"]["validators"][1] = create_entry(validator_keys(1), "another-chain-1")
    CHAIN.parse_genesis(state)
    with pytest.raises(InvalidGenesis, match=P1 + r"\.bridge_key_proof: the bridge key proof was made by 0x"):
        init(state)


def _swapped_proof() -> dict[str, Any]:
    """Validator 1 claims validator 0's bridge key proof with its own bridge address."""
    state = app_state(2)
    state["staking"]["validators"][1]["bridge_key_proof"] = _other(0, "bridge_key_proof")
    return state


def _high_s_proof() -> dict[str, Any]:
    """The same signature with s replaced by n - s (and v flipped): valid ECDSA, but not canonical."""
    from validators.bridgekey import SECP256K1_N

    state = app_state(2)
    entry = state["staking"]["validators"][0]
    raw = bytes.fromhex(entry["bridge_key_proof"][2:])
    s = SECP256K1_N - int.from_bytes(raw[32:64], "big")
    entry["bridge_key_proof"] = "0x" + (raw[:32] + s.to_bytes(32, "big") + bytes((raw[64] ^ 1,))).hex()
    return state


def _zero_proof() -> dict[str, Any]:
    state = app_state(2)
    state["staking"]["validators"][0]["bridge_key_proof"] = "0x" + "00" * 65
    return state


PROOF_REFUSALS: list[tuple[str, Any, str]] = [
    ("another validator's proof", _swapped_proof, P1 + r"\.bridge_key_proof: the bridge key proof was made by 0x"),
    ("high-s proof", _high_s_proof, P0 + r"\.bridge_key_proof: .*not a canonical secp256k1 signature"),
    ("zero proof", _zero_proof, P0 + r"\.bridge_key_proof: .*not a canonical"),
]


@pytest.mark.parametrize(("make", "message"), [c[1:] for c in PROOF_REFUSALS], ids=[c[0] for c in PROOF_REFUSALS])
def test_bad_bridge_proofs_are_refused_at_init_chain(make: Any, message: str) -> None:
    state = make()
    CHAIN.parse_genesis(state)
    with pytest.raises(InvalidGenesis, match=message) as e:
        init(state)
    assert "\n" not in str(e.value)


def test_the_section_round_trips_through_json() -> None:
    from validators.genesis import genesis_to_json, parse_genesis

    section = app_state(3)["staking"]
    parsed = parse_genesis(copy.deepcopy(section), "side")
    again = genesis_to_json(parsed, "side")
    assert again["validators"] == section["validators"]
    assert parse_genesis(again, "side") == parsed
