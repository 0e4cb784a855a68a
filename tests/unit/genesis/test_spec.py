"""The network spec: defaults, round trip, and each refusal naming the bad field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from genesis.errors import SpecError
from genesis.home import NodePorts
from genesis.spec import (
    LOCAL_MEMPOOL_SIZE,
    SOLO_MEMPOOL_SIZE,
    ConsensusParams,
    NetworkSpec,
    NodeSettings,
    default_spec,
    load_spec,
    parse_duration_ns,
)
from sidechain.cometbft import COMETBFT_MEMPOOL_SIZE

BASE: dict[str, Any] = {
    "chain_id": "spec-net-1",
    "validators": [
        {"moniker": "a", "stake": "10000000"},
        {"moniker": "b", "stake": 20_000_000, "operator_coins": "25000000stake"},
    ],
    "accounts": [
        {"name": "alice", "coins": "100stake"},
        {"address": "side1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnhhvq07", "coins": "1stake"},
    ],
    "params": {"consensus": {"block": {"max_bytes": 2097152}, "abci": {"vote_extensions_enable_height": 2}}},
    "node": {"timeout_commit": "250ms", "mempool_size": 1234},
}


def test_default_spec() -> None:
    s = default_spec(4)
    assert [v.moniker for v in s.validators] == ["val0", "val1", "val2", "val3"]
    assert {v.stake for v in s.validators} == {100_000_000}  # 100 units of power each
    assert {str(c) for v in s.validators for c in v.operator_coins} == {"1000000000stake"}
    assert [a.name for a in s.accounts] == ["alice", "bob"]
    assert s.params.consensus.vote_extensions_enable_height == 1
    assert s.params.consensus.block_max_bytes == 4 * 1024 * 1024
    assert s.node == NodeSettings(mempool_size=LOCAL_MEMPOOL_SIZE)  # validators sharing a machine
    assert default_spec(1).node.mempool_size == SOLO_MEMPOOL_SIZE < COMETBFT_MEMPOOL_SIZE
    assert default_spec(4, node=NodeSettings(mempool_size=77)).node.mempool_size == 77
    with pytest.raises(SpecError, match="1 to 64 validators, not 0"):
        default_spec(0)


def test_from_json_and_round_trip() -> None:
    s = NetworkSpec.from_json(BASE)
    assert [(v.moniker, v.stake) for v in s.validators] == [("a", 10_000_000), ("b", 20_000_000)]
    assert str(s.validators[0].operator_coins[0]) == "1000000000stake"
    assert str(s.validators[1].operator_coins[0]) == "25000000stake"
    assert (
        s.params.consensus.block_max_bytes == 2097152
        and s.params.consensus.vote_extensions_enable_height == 2
    )
    assert s.node.timeout_commit == "250ms"
    assert s.node.mempool_size == 1234
    assert NetworkSpec.from_json(json.loads(json.dumps(s.to_json()))) == s
    assert NetworkSpec.from_json(_with("node.mempool_size", None)).node.mempool_size == LOCAL_MEMPOOL_SIZE
    solo = _with("node.mempool_size", None)
    solo["validators"] = [{"moniker": "solo", "stake": "10000000"}]
    one = NetworkSpec.from_json(solo)
    assert one.node.mempool_size == SOLO_MEMPOOL_SIZE
    assert NetworkSpec.from_json(json.loads(json.dumps(one.to_json()))) == one


def _with(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    cur: Any = doc
    for p in parents:
        cur = cur[int(p)] if p.isdigit() else cur.setdefault(p, {})
    if value is None:
        del cur[int(last) if last.isdigit() else last]
    elif last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value
    return doc


REFUSALS = [
    ("chain_id", "bad id!", "chain_id 'bad id!'"),
    ("validators", [], "at least one validator"),
    ("validators", "x", "validators: expected a list"),
    ("validators.1.moniker", "a", r"validators\[1\].moniker 'a' is already used by validators\[0\]"),
    ("validators.0.moniker", "has space", "moniker 'has space'"),
    ("validators.0.stake", "0", r"validators\[0\].stake: expected an integer in \[1,"),
    ("validators.0.stake", 10**61, r"validators\[0\].stake: expected an integer in \[1,"),
    ("validators.0.stake", "999999", r"validators\[0\].stake 999999 is less than one unit of power \(1000000\)"),
    (
        "validators.1.operator_coins",
        "19999999stake,50000000l1/eth",
        r"validators\[1\]: operator_coins hold 19999999stake, less than the stake 20000000",
    ),
    (
        "params.staking.staking.power_reduction",
        "100000000",
        r"validators\[0\].stake 10000000 is less than one unit of power \(100000000\)",
    ),
    (
        "params.staking.staking.bond_denom",
        "ustake",
        r"validators\[0\]: operator_coins hold 0ustake, less than the stake",
    ),
    ("validators.0.power", 5, "unknown field"),
    ("validators.0.operator_coins", "ten", r"validators\[0\].operator_coins: invalid coin"),
    ("accounts.0.name", "a", r"accounts\[0\].name 'a' is already used by validators\[0\]"),
    ("accounts.0.address", "side1x", r"accounts\[0\]: give exactly one of 'name'"),
    (
        "accounts.1.address",
        "side1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnyk2jkv",
        r"accounts\[1\].address: .*checksum",
    ),
    ("accounts.0.coins", None, r"accounts\[0\]: missing 'coins'"),
    ("params.consensus.block.max_bytes", 0, "block.max_bytes must be -1 or in"),
    ("params.consensus.block.max_bytes", 200 * 1024 * 1024, "block.max_bytes must be -1 or in"),
    ("params.consensus.evidence.max_bytes", 4 * 1024 * 1024, "evidence.max_bytes must be in"),
    (
        "params.consensus.evidence.max_age_duration",
        "2 days",
        "max_age_duration: expected a positive duration",
    ),
    ("params.consensus.evidence.max_age_num_blocks", 0, "max_age_num_blocks"),
    ("params.consensus.abci.vote_extensions_enable_height", -1, "vote_extensions_enable_height"),
    ("params.consensus.validator", {}, "unknown field"),
    ("params.auth.address_prefix", "UPPER", "address_prefix"),
    ("params.bank.send_enabled", "yes", "send_enabled"),
    ("node.timeout_commit", "fast", "node.timeout_commit"),
    ("node.abci_transport", "http", "abci_transport"),
    ("node.mempool_size", -1, r"node.mempool_size: expected an integer in \[0, 1000000\]"),
    ("node.mempool_size", 2_000_000, r"node.mempool_size: expected an integer in \[0, 1000000\]"),
    ("node.mempool_size", "many", "node.mempool_size"),
    ("extra", 1, "spec: unknown field"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), REFUSALS, ids=[f"{r[0]}={r[1]!r}"[:60] for r in REFUSALS]
)
def test_refusals(path: str, value: object, message: str) -> None:
    with pytest.raises(SpecError, match=message) as e:
        NetworkSpec.from_json(_with(path, value))
    assert "\n" not in str(e.value)


def test_load_spec_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "spec.json"
    p.write_text("{")
    with pytest.raises(SpecError, match=f"spec file {p} is not valid JSON"):
        load_spec(p)
    p.write_text(json.dumps(_with("chain_id", "!")))
    with pytest.raises(SpecError, match=f"{p}: chain_id"):
        load_spec(p)
    p.write_text(json.dumps(BASE))
    assert load_spec(p).chain_id == "spec-net-1"


def test_durations_and_ports() -> None:
    assert parse_duration_ns("500ms", "x") == 500_000_000
    assert parse_duration_ns("48h", "x") == 172_800 * 10**9
    assert parse_duration_ns(7, "x") == 7
    for bad in ("0s", "1.5s", "", "s", -1, True):
        with pytest.raises(SpecError):
            parse_duration_ns(bad, "x")
    assert ConsensusParams().to_genesis_json()["abci"] == {"vote_extensions_enable_height": "1"}
    p = NodePorts.from_base(26600, 2)
    assert p.named() == {
        "rpc": 26620,
        "p2p": 26621,
        "abci": 26622,
        "metrics": 26623,
        "cometbft_metrics": 26624,
    }
