"""The testnet's L1 pieces that need no L1 (genesis.l1): the genesis valset and `app_state.bridge`, bridge.json,
the L1 test keys, the app.toml [bridge] keys, the options, the refusal of a contract for other validators and
the status lines."""

from __future__ import annotations

import io
import json
import stat
import tomllib
from pathlib import Path

import pytest

from bridge.keys import load_account
from bridge.protocol import MAX_TOTAL_POWER, Valset
from genesis import l1 as l1net
from genesis.build import assemble_genesis, check_app_state
from genesis.errors import TestnetError as NetError
from genesis.spec import GenesisParams
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import L1Options, dev_l1_ports
from sidechain.config import AppConfig
from sidechain.types import parse_coins
from tests.unit.genesis.conftest import CHAIN, make_join

OP_COINS = parse_coins("1000000000stake")
CONTRACT = "0x" + "ab" * 20


def genesis_of(n: int) -> dict[str, object]:
    return assemble_genesis(CHAIN, [make_join(i) for i in range(n)], [], GenesisParams(), OP_COINS,
                            genesis_time="2030-01-01T00:00:00Z")


def test_genesis_valset_is_the_validators_bridge_addresses_by_stake() -> None:
    joins = [make_join(i) for i in range(3)]  # stakes 100, 101, 102 units of power
    g = genesis_of(3)
    valset = l1net.genesis_valset(g["app_state"])  # type: ignore[arg-type]
    total = sum(j.body.stake for j in joins)
    expected = {j.body.bridge_address.lower(): j.body.stake * MAX_TOTAL_POWER // total for j in joins}
    assert valset.nonce == 0
    assert {a.lower(): p for a, p in zip(valset.validators, valset.powers, strict=True)} == expected
    assert [int(a, 16) for a in valset.validators] == sorted(int(a, 16) for a in valset.validators)
    assert valset == Valset.from_stakes(0, {j.body.bridge_address: j.body.stake for j in joins})


def test_genesis_valset_refuses_a_genesis_without_validators() -> None:
    with pytest.raises(NetError, match="app_state.staking.validators"):
        l1net.genesis_valset({"staking": {}})
    with pytest.raises(NetError, match="no valid valset"):
        l1net.genesis_valset({"staking": {"validators": [
            {"bridge_address": "0x" + "11" * 20, "self_delegation": "0"}]}})


def test_bridge_section_format() -> None:
    valset = l1net.genesis_valset(genesis_of(4)["app_state"])  # type: ignore[arg-type]
    section = l1net.bridge_genesis_section(1337, CONTRACT, 7, valset)
    assert section == {
        "l1_chain_id": 1337,
        "contract": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB",  # checksummed
        "deployed_at": 7,
        "last_event_nonce": 1,
        "valset": {"nonce": 0, "validators": list(valset.validators), "powers": list(valset.powers)},
        "params": {"l1_confirmations": 2, "max_events_per_extension": 32, "max_extension_bytes": 16384,
                   "max_batch_size": 50, "batch_timeout_l1_blocks": 40},
    }
    deeper = l1net.bridge_genesis_section(1, CONTRACT, 0, valset, l1_confirmations=12)
    assert deeper["params"] == {**section["params"], "l1_confirmations": 12}  # type: ignore[dict-item]


@pytest.mark.skipif(not l1net.bridge_module_enabled(), reason="this build's chain has no bridge module yet")
def test_bridge_section_is_a_genesis_the_chain_accepts() -> None:
    g = genesis_of(4)
    app_state = g["app_state"]
    assert isinstance(app_state, dict)
    valset = l1net.genesis_valset(app_state)
    app_state["bridge"] = l1net.bridge_genesis_section(1337, CONTRACT, 7, valset)
    check_app_state(app_state, CHAIN)  # raises CollectError if the bridge module refuses it


def test_bridge_json_round_trip_and_fields(tmp_path: Path) -> None:
    key = l1net.L1Key("alice", "0x" + "12" * 20, tmp_path / "alice.json", tmp_path / "passphrase")
    guardian = l1net.L1Key("guardian", "0x" + "34" * 20, tmp_path / "guardian.json", tmp_path / "passphrase")
    info = l1net.BridgeInfo("http://127.0.0.1:8545", 1337, CONTRACT, "0x" + "cd" * 20, guardian, (key,))
    path = l1net.write_bridge_json(tmp_path, info)
    assert path == tmp_path / "bridge.json"
    data = json.loads(path.read_text())
    assert data == {
        "l1_rpc": "http://127.0.0.1:8545",
        "l1_chain_id": 1337,
        "contract": CONTRACT,
        "erc20": "0x" + "cd" * 20,
        "guardian": {"name": "guardian", "address": "0x" + "34" * 20, "keystore": str(tmp_path / "guardian.json"),
                     "passphrase_file": str(tmp_path / "passphrase")},
        "l1_keys": [{"name": "alice", "address": "0x" + "12" * 20, "keystore": str(tmp_path / "alice.json"),
                     "passphrase_file": str(tmp_path / "passphrase")}],
        "test_keys_only": True,
    }
    assert l1net.read_bridge_json(tmp_path) == info
    # An existing L1: no guardian, no token, no keys of ours.
    bare = l1net.BridgeInfo("http://127.0.0.1:8545", 5, CONTRACT)
    l1net.write_bridge_json(tmp_path, bare)
    data = json.loads(path.read_text())
    assert (data["guardian"], data["erc20"], data["l1_keys"], data["test_keys_only"]) == (None, None, [], True)
    assert l1net.read_bridge_json(tmp_path) == bare


def test_bridge_json_absent_or_damaged(tmp_path: Path) -> None:
    assert l1net.read_bridge_json(tmp_path) is None
    (tmp_path / "bridge.json").write_text("{")
    with pytest.raises(NetError, match="bridge.json is damaged"):
        l1net.read_bridge_json(tmp_path)


def test_test_keys_are_private_and_decrypt_with_the_passphrase_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    account, key = l1net.make_test_key(keys, "alice")
    _, other = l1net.make_test_key(keys, "bob")
    assert key.address == account.address and other.address != key.address
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for f in (key.keystore, key.passphrase_file, other.keystore):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert key.passphrase_file.read_text().strip() == TEST_PASSPHRASE
    assert load_account(key.keystore, passphrase_file=key.passphrase_file).address == account.address


def test_node_bridge_config_sets_the_two_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    app_toml = tmp_path / "app.toml"
    app_toml.write_text(AppConfig(abci_address="tcp://127.0.0.1:31000", snapshot_interval=100).to_toml())
    l1net.set_node_bridge_config(app_toml, "http://127.0.0.1:26640")
    doc = tomllib.loads(app_toml.read_text())
    assert doc["bridge"]["l1_rpc"] == "http://127.0.0.1:26640"
    assert doc["bridge"]["finality"] == "confirmations"
    assert doc["abci"]["address"] == "tcp://127.0.0.1:31000" and doc["statesync"]["snapshot_interval"] == 100
    assert app_toml.read_text().startswith("# Sidechain application config.")


def test_options() -> None:
    assert L1Options.of(False, "", "") == L1Options("dev")
    assert L1Options.of(True, "", "") == L1Options("none")
    assert L1Options.of(False, " http://x:1 ", "0xab") == L1Options("existing", "http://x:1", "0xab")
    with pytest.raises(NetError, match="needs both L1_RPC=URL and CONTRACT=ADDRESS"):
        L1Options.of(False, "http://x:1", "")
    with pytest.raises(NetError, match="needs both"):
        L1Options.of(False, "", "0xab")
    with pytest.raises(NetError, match="contradict"):
        L1Options.of(True, "http://x:1", "0xab")
    assert dev_l1_ports(26600, 4) == (26640, 26641)


def test_a_contract_for_other_validators_is_refused(tmp_path: Path) -> None:
    ours = l1net.genesis_valset(genesis_of(4)["app_state"])  # type: ignore[arg-type]
    theirs = Valset.from_stakes(0, {"0x" + "77" * 20: 1})
    found = l1net.ContractGenesis(1337, CONTRACT, 3, theirs, 1)
    with pytest.raises(NetError) as e:
        l1net.check_contract_valset(found, ours, tmp_path / "genesis-valset.json")
    msg = str(e.value)
    assert "holds a valset of 1 validator(s) that is not this testnet's genesis valset (4 validators" in msg
    assert f"bridge deploy --valset {tmp_path / 'genesis-valset.json'}" in msg and "\n" not in msg
    # Same members and powers: accepted whatever the contract's valset nonce.
    l1net.check_contract_valset(l1net.ContractGenesis(1337, CONTRACT, 3, Valset(5, ours.validators, ours.powers), 1),
                                ours, tmp_path / "v.json")
    # The genesis valset file is what `bridge deploy --valset` reads.
    assert Valset.load(l1net.write_genesis_valset(tmp_path, ours)) == ours


def test_status_lines() -> None:
    info = l1net.BridgeInfo("http://127.0.0.1:26640", 1337, CONTRACT)
    st = l1net.L1Status(head=40, finalized=None, confirmations=2, observed=35)
    assert (st.confirmed, st.safe_height, st.lag) == (38, 38, 3)
    out = io.StringIO()
    l1net.write_status(info, st, managed=True, running=True, out=out)
    assert out.getvalue().splitlines() == [
        "dev L1 (geth --dev) http://127.0.0.1:26640 (chain id 1337): head 40, finalized -, confirmed (head - 2) 38",
        f"bridge {CONTRACT}: observed_l1_height 35, lag 3 blocks (behind the confirmed height)",
    ]
    fin = l1net.L1Status(head=40, finalized=8, confirmations=2, observed=8, finality="finalized")
    assert (fin.safe_height, fin.lag) == (8, 0)
    out = io.StringIO()
    l1net.write_status(info, l1net.L1Status(None, None, 2, None), managed=True, running=False, out=out)
    assert out.getvalue().splitlines() == [
        "dev L1 (geth --dev) http://127.0.0.1:26640 (chain id 1337): stopped",
        f"bridge {CONTRACT}: observed_l1_height unknown, lag unknown (behind the confirmed height)",
    ]
    out = io.StringIO()
    l1net.write_status(info, l1net.L1Status(None, None, 2, None), managed=False, running=None, out=out)
    assert "L1 http://127.0.0.1:26640 (chain id 1337): not answering" in out.getvalue()
