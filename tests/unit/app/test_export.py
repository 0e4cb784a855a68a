"""`sidechain export`: a stopped node's state as a genesis, every module exporting its own section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.cli import cli
from sidechain.config import NodeHome
from sidechain.export import ExportError, export_genesis
from sidechain.module import CHAIN
from tests.support.pos import validator_keys
from tests.unit.app.appchain import CHAIN_ID, GENESIS_NS, app_state, new_app, run_block
from tests.unit.tx.chain import addr, bech, coin, key, send_tx
from validators.state import BONDED_POOL, DISTRIBUTION

ALICE, BOB = key(1), key(2)


def node_home(tmp_path: Path) -> NodeHome:
    """A node home whose app ran 3 blocks (alice paid bob 40 and fees), then stopped."""
    home = NodeHome(tmp_path / "node")
    home.config_dir.mkdir(parents=True)
    state = json.loads(app_state([(addr(ALICE), [coin(1_000)])]))
    home.genesis.write_text(json.dumps({"chain_id": CHAIN_ID, "consensus_params": {"block": {}},
                                        "app_state": state}))
    app = new_app([(addr(ALICE), [coin(1_000)])], home.app_data)
    run_block(app, [send_tx(ALICE, addr(BOB), 15, 0)])
    run_block(app, [send_tx(ALICE, addr(BOB), 25, 1, fee=2)])
    run_block(app, [])
    app.close()
    return home


def test_export_round_trips_through_genesis(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    doc = export_genesis(home)
    assert doc["chain_id"] == CHAIN_ID and doc["initial_height"] == "4"
    assert doc["genesis_time"] == "2023-11-14T22:13:23.000000000Z"  # block 3's header time
    app_state = doc["app_state"]
    assert list(app_state) == ["auth", "bank", "staking"]
    balances = {e["address"]: e["coins"] for e in app_state["bank"]["balances"]}
    # val0's operator bonded its whole balance at genesis: the bonded pool holds it; the 3 of fees
    # went to the distribution module's account, nothing is left in the fee pool.
    assert balances == {bech(addr(ALICE)): [{"denom": "stake", "amount": "957"}],
                        bech(addr(BOB)): [{"denom": "stake", "amount": "40"}],
                        bech(BONDED_POOL): [{"denom": "stake", "amount": "10000000"}],
                        bech(DISTRIBUTION): [{"denom": "stake", "amount": "3"}]}
    assert [a["sequence"] for a in app_state["auth"]["accounts"]] == [2]  # alice, with her public key
    assert app_state["bank"]["fee_pool"] == []
    assert app_state["bank"]["supply"] == [{"denom": "stake", "amount": "10001000"}]
    # The staking module exports its whole state (validators, delegations, params) key by key.
    assert list(app_state["staking"]) == ["state"] and app_state["staking"]["state"]
    # A chain started from the export holds the same state: the same validator set, and it exports
    # the same sections again.
    again = Application()
    init = again.init_chain(b.InitChainRequest(chain_id="next-chain", time_ns=GENESIS_NS, initial_height=4,
                                               app_state_bytes=json.dumps(app_state).encode(), validators=(),
                                               consensus_params=b.ConsensusParams()))
    assert init.validators == (b.ValidatorUpdate("ed25519", validator_keys(0).consensus_pubkey, 10),)
    run_block(again, [])
    exported = CHAIN.export_genesis(again.store.committed())
    assert exported["bank"] == app_state["bank"]
    assert exported["auth"] == app_state["auth"]
    assert exported["staking"] == app_state["staking"]


def test_export_at_an_older_height_and_bad_requests(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    old = export_genesis(home, height=1)
    assert old["initial_height"] == "2"
    assert {e["address"]: e["coins"][0]["amount"] for e in old["app_state"]["bank"]["balances"]} == {
        bech(addr(ALICE)): "984", bech(addr(BOB)): "15", bech(BONDED_POOL): "10000000"}
    # Block 1's fee waits in the fee pool until block 2 distributes it.
    assert old["app_state"]["bank"]["fee_pool"] == [{"denom": "stake", "amount": "1"}]
    with pytest.raises(ExportError, match=r"height 9 is not kept \(kept: 1-3\)"):
        export_genesis(home, height=9)
    running = Application(home.app_data)
    try:
        with pytest.raises(ExportError, match="in use: stop the node first"):
            export_genesis(home)
    finally:
        running.close()
    with pytest.raises(ExportError, match="has this node run"):
        export_genesis(NodeHome(tmp_path / "empty"))


def test_export_command(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    out = tmp_path / "exported.json"
    r = CliRunner().invoke(cli, ["export", "--home", str(home.root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["initial_height"] == "4"
    r = CliRunner().invoke(cli, ["export", "--home", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and r.output.startswith("error: no application state") and "Traceback" not in r.output
