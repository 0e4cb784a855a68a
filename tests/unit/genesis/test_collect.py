"""Collecting join files into one genesis: the document written, and every refusal (library and CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from genesis.build import Funding, assemble_genesis, check_app_state, persistent_peers
from genesis.errors import CollectError, HomeError
from genesis.home import read_genesis_file
from genesis.spec import ConsensusParams, GenesisParams
from sidechain.auth.genesis import AuthGenesis
from sidechain.bank.genesis import BankGenesis
from sidechain.cli import cli
from sidechain.module import CHAIN as MODULES
from sidechain.store import CacheKV, MemoryBackend
from sidechain.types import bech32_decode, parse_coins
from tests.unit.genesis.conftest import CHAIN, POWER, make_join, operator

OP_COINS = parse_coins("1000000000stake")


def test_genesis_document() -> None:
    joins = [make_join(i) for i in range(3)]
    alice = Funding(operator(9), parse_coins("500stake,7l1/eth"))
    g = assemble_genesis(
        CHAIN, joins, [alice], GenesisParams(), OP_COINS, genesis_time="2030-01-01T00:00:00Z"
    )
    assert (
        g["chain_id"] == CHAIN and g["initial_height"] == "1" and g["genesis_time"] == "2030-01-01T00:00:00Z"
    )
    assert g["validators"] == []  # the app's InitChain answer holds the set
    app = g["app_state"]
    assert isinstance(app, dict)
    genesis = MODULES.parse_genesis(app)
    vals = dict(genesis.sections)["staking"].validators
    assert [(v.moniker, v.self_delegation) for v in vals] == [
        ("val0", 100 * POWER), ("val1", 101 * POWER), ("val2", 102 * POWER)
    ]
    assert [v.consensus_pubkey for v in vals] == [j.body.pub_key for j in joins]
    assert [v.operator for v in vals] == [bech32_decode(operator(i), "side") for i in range(3)]
    assert ["0x" + v.bridge_address.hex() for v in vals] == [j.body.bridge_address for j in joins]
    assert ["0x" + v.bridge_key_proof.hex() for v in vals] == [j.body.bridge_key_proof for j in joins]
    assert [v.commission_bps for v in vals] == [1000] * 3
    # InitChain bonds each self-delegation and answers with the set: power = stake // power_reduction.
    updates = MODULES.init_genesis(CacheKV(MemoryBackend()), genesis, CHAIN)
    assert sorted((u.pub_key, u.power) for u in updates) == sorted(
        (j.body.pub_key, 100 + i) for i, j in enumerate(joins)
    )
    cp = g["consensus_params"]
    assert cp == {
        "block": {"max_bytes": "4194304", "max_gas": "-1"},
        "evidence": {
            "max_age_num_blocks": "100000",
            "max_age_duration": "172800000000000",
            "max_bytes": "1048576",
        },
        "validator": {"pub_key_types": ["ed25519"]},
        "version": {"app": "0"},
        "abci": {"vote_extensions_enable_height": "1"},
    }
    auth = AuthGenesis.from_json(app["auth"])
    bank = BankGenesis.from_json(app["bank"], auth.params.address_prefix)
    balances = {b["address"]: b["coins"] for b in app["bank"]["balances"]}
    assert balances[operator(9)] == [{"denom": "l1/eth", "amount": "7"}, {"denom": "stake", "amount": "500"}]
    for i in range(3):
        assert balances[operator(i)] == [{"denom": "stake", "amount": "1000000000"}]
    assert [(c.denom, int(c.amount)) for c in bank.supply] == [("l1/eth", 7), ("stake", 3 * 10**9 + 500)]
    assert (
        persistent_peers(joins, exclude_node_id=joins[1].body.node_id)
        == f"{joins[0].body.peer},{joins[2].body.peer}"
    )


def test_an_operator_funded_by_the_accounts_keeps_that_balance() -> None:
    coins = parse_coins(f"{100 * POWER + 3}stake")
    g = assemble_genesis(CHAIN, [make_join(0)], [Funding(operator(0), coins)], GenesisParams(), OP_COINS)
    assert g["app_state"]["bank"]["balances"] == [  # type: ignore[index]
        {"address": operator(0), "coins": [{"denom": "stake", "amount": str(100 * POWER + 3)}]}
    ]


def test_an_operator_funded_with_less_than_its_stake_is_refused() -> None:
    short = Funding(operator(0), parse_coins(f"{100 * POWER - 1}stake"))
    with pytest.raises(CollectError, match=r"join of val1: operator side1\w+ holds 99999999stake \(the accounts "
                                           r"file\), less than the stake 100000000 it bonds"):
        assemble_genesis(CHAIN, [make_join(1, stake=100 * POWER), make_join(0, stake=100 * POWER)],
                         [Funding(operator(1), short.coins)], GenesisParams(), OP_COINS)
    with pytest.raises(CollectError, match=r"join of val0: operator side1\w+ holds 0stake \(--operator-coins\)"):
        assemble_genesis(CHAIN, [make_join(0)], [], GenesisParams(), ())  # operators left unfunded
    with pytest.raises(CollectError, match=r"join of val0: operator .* holds 5stake \(--operator-coins\)"):
        assemble_genesis(CHAIN, [make_join(0)], [], GenesisParams(), parse_coins("5stake,10000000000l1/eth"))
    # What InitChain itself says when the tool is bypassed: the genesis path and the balance.
    g = assemble_genesis(CHAIN, [make_join(0)], [], GenesisParams(), OP_COINS)
    g["app_state"]["bank"]["balances"][0]["coins"][0]["amount"] = str(100 * POWER - 1)  # type: ignore[index]
    with pytest.raises(CollectError, match=r"app_state.staking.validators\[0\]: the operator holds 99999999stake"):
        check_app_state(g["app_state"], CHAIN)  # type: ignore[arg-type]


def test_custom_consensus_params_and_prefix() -> None:
    params = GenesisParams.from_json(
        {
            "consensus": {
                "block": {"max_bytes": 1048576},
                "evidence": {"max_age_duration": "1h", "max_bytes": 1000},
                "abci": {"vote_extensions_enable_height": 5},
            },
            "auth": {"address_prefix": "test"},
        }
    )
    assert params.consensus == ConsensusParams(
        block_max_bytes=1048576,
        evidence_max_age_duration_ns=3600 * 10**9,
        evidence_max_bytes=1000,
        vote_extensions_enable_height=5,
    )
    with pytest.raises(CollectError, match="app_state.bank.balances"):
        # Operators written with the "side" prefix do not decode under "test".
        assemble_genesis(CHAIN, [make_join(0)], [], params, OP_COINS)


REFUSALS = [
    ("same file twice", lambda: [make_join(0), make_join(0)], "duplicate of"),
    (
        "same key, other stake",
        lambda: [make_join(0), make_join(0, stake=5)],
        "same validator key .* but different stake",
    ),
    (
        "same key, other moniker and address",
        lambda: [make_join(0), make_join(0, moniker="x", p2p_address="h:1")],
        "different moniker, p2p_address",
    ),
    ("same moniker", lambda: [make_join(0), make_join(1, moniker="val0")], "moniker val0 is used by both"),
    (
        "same node id",
        lambda: [make_join(0), make_join(1, node_id=make_join(0).body.node_id)],
        "node id .* both",
    ),
    ("same operator", lambda: [make_join(0), make_join(1, operator=operator(0))], "operator side1.* both"),
    ("same p2p address", lambda: [make_join(0), make_join(1, p2p_address="127.0.0.1:26601")], "p2p address"),
    (
        "same bridge address",
        lambda: [make_join(0), make_join(1, bridge_address=make_join(0).body.bridge_address,
                                         bridge_key_proof=make_join(0).body.bridge_key_proof)],
        "bridge address 0x[0-9a-f]{40} is used by both",
    ),
    ("other chain", lambda: [make_join(0), make_join(1, chain_id="other-1")], "made for chain 'other-1'"),
    (
        "stake below one unit of power",
        lambda: [make_join(0), make_join(1, stake=POWER - 1)],
        r"join of val1: stake 999999 is less than one unit of power \(1000000stake\)",
    ),
    ("nothing", lambda: [], "no join files given"),
]


@pytest.mark.parametrize(("joins", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_collect_refuses(joins: Callable[[], list[object]], message: str) -> None:
    with pytest.raises(CollectError, match=message):
        assemble_genesis(CHAIN, joins(), [], GenesisParams(), OP_COINS)  # type: ignore[arg-type]


def test_a_genesis_file_is_read_as_init_chain_will_read_it(tmp_path: Path) -> None:
    g = assemble_genesis(CHAIN, [make_join(0), make_join(1)], [], GenesisParams(), OP_COINS)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(g))
    assert read_genesis_file(path) == g
    # The same app_state under another chain id: the bridge key proofs were made for CHAIN.
    path.write_text(json.dumps({**g, "chain_id": "other-1"}))
    with pytest.raises(HomeError, match=rf"{path}: .*app_state.staking.validators\[0\].bridge_key_proof: "):
        read_genesis_file(path)
    path.write_text(json.dumps({**g, "chain_id": 5}))
    with pytest.raises(HomeError, match="chain_id 5 is not a valid chain id"):
        read_genesis_file(path)


# --- through the CLI: `sidechain genesis collect` ------------------------------------------------


def collect(tmp_path: Path, joins: list[Path], *extra: str) -> tuple[int, str, str]:
    args = ["genesis", "collect", "--chain-id", CHAIN, "--out", str(tmp_path / "genesis.json"), *extra]
    for j in joins:
        args += ["--join", str(j)]
    r = CliRunner().invoke(cli, args)
    return r.exit_code, r.stdout, r.stderr


def test_cli_collect_writes_genesis_and_peers(tmp_path: Path, write_join: Callable[..., Path]) -> None:
    files = [write_join(f"j{i}.json", make_join(i).to_json()) for i in range(4)]
    accounts = write_join("accounts.json", [{"address": operator(9), "coins": "10stake"}])
    code, out, err = collect(
        tmp_path, files, "--accounts", str(accounts), "--peers-out", str(tmp_path / "peers")
    )
    assert code == 0, err
    assert "4 validators (total power 406), 1 funded accounts, operators get 1000000000stake" in out
    g = json.loads((tmp_path / "genesis.json").read_text())
    assert len(g["app_state"]["staking"]["validators"]) == 4 and len(g["app_state"]["bank"]["balances"]) == 5
    assert (tmp_path / "peers").read_text().strip() == ",".join(make_join(i).body.peer for i in range(4))


def _cli_cases(write_join: Callable[..., Path]) -> list[tuple[list[Path], list[str], str]]:
    j0, j1 = (write_join(f"j{i}.json", make_join(i).to_json()) for i in range(2))
    unsigned = make_join(2).to_json()
    del unsigned["signature"]
    tampered = make_join(2).to_json()
    tampered["body"]["stake"] = "999000000"  # type: ignore[index]
    conflict = write_join("conflict.json", make_join(0, stake=7 * POWER).to_json())
    dup_acc = write_join(
        "acc.json", [{"address": operator(9), "coins": "1stake"}, {"address": operator(9), "coins": "2stake"}]
    )
    bad_coins = write_join("acc2.json", [{"address": operator(9), "coins": "-1stake"}])
    bad_params = write_join("params.json", {"consensus": {"evidence": {"max_bytes": 99999999}}})
    return [
        ([j0, write_join("bad.json", "{")], [], "bad.json: not valid JSON"),
        ([j0, write_join("unsigned.json", unsigned)], [], "unsigned.json: unsigned: no signature"),
        ([j0, write_join("tampered.json", tampered)], [], "tampered.json: bad signature"),
        ([j0, j0], [], "duplicate of"),
        ([j0, j1, conflict], [], "conflict.json: conflicts with .*j0.json: same validator key"),
        ([j0, write_join("other.json", make_join(1, chain_id="zzz").to_json())], [], "made for chain 'zzz'"),
        ([j0], ["--accounts", str(dup_acc)], "duplicate entry for side1"),
        ([j0], ["--accounts", str(bad_coins)], r"acc2.json\[0\].coins"),
        ([j0], ["--params", str(bad_params)], "evidence.max_bytes must be in"),
        ([j0], ["--operator-coins", "lots"], "invalid coin 'lots'"),
        ([], [], "no join files given"),
    ]


def test_cli_collect_refuses_with_one_line(tmp_path: Path, write_join: Callable[..., Path]) -> None:
    import re

    for joins, extra, message in _cli_cases(write_join):
        code, out, err = collect(tmp_path, joins, *extra)
        assert code == 1, (message, out)
        assert err.startswith("error: ") and re.search(message, err), (message, err)
        assert err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "genesis.json").exists()
