"""`sidechain init|start|status`: their error messages, without running a node."""

from __future__ import annotations

import base64
import json
import re
import stat
import tomllib
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from genesis.build import check_app_state
from genesis.home import standalone_operator
from sidechain.cli import cli
from sidechain.cometbft import COMETBFT_MEMPOOL_SIZE, read_mempool_limits
from sidechain.config import (
    DEFAULT_COMETBFT_GOGC,
    DEFAULT_SKIP_EVENTS,
    AppConfig,
    ConfigError,
    NodeHome,
    load_config,
)
from sidechain.module import CHAIN
from sidechain.node import cometbft_env
from sidechain.store import CacheKV, MemoryBackend
from sidechain.types import bech32_address


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


def test_init_creates_configs_and_refuses_twice(tmp_path: Path) -> None:
    home = tmp_path / "h"
    code, out = run("init", "--home", str(home), "--chain-id", "unit-1", "--moniker", "m")
    assert code == 0, out
    cfg = load_config(home / "config" / "app.toml")
    assert cfg.abci_address == "tcp://127.0.0.1:26658" and cfg.metrics_address.startswith("127.0.0.1:")
    comet = tomllib.loads((home / "config" / "config.toml").read_text())
    assert comet["moniker"] == "m"
    # Nothing listens beyond 127.0.0.1 by default.
    assert comet["rpc"]["laddr"] == "tcp://127.0.0.1:26657"
    assert comet["p2p"]["laddr"] == "tcp://127.0.0.1:26656"
    assert comet["instrumentation"]["prometheus_listen_addr"] == "127.0.0.1:26660"
    assert comet["proxy_app"] == "tcp://127.0.0.1:26658"
    # `sidechain init` keeps CometBFT's mempool size (a spec's local network has its own), and the app counts it.
    assert comet["mempool"]["size"] == COMETBFT_MEMPOOL_SIZE
    assert read_mempool_limits(NodeHome(home))[0] == COMETBFT_MEMPOOL_SIZE
    genesis = json.loads((home / "config" / "genesis.json").read_text())
    assert genesis["chain_id"] == "unit-1" and genesis["validators"] == []
    # One validator, this home's: its consensus key, its bridge key's proof for this chain, 10 units
    # of power bonded from an operator no key controls, funded with exactly that self-delegation.
    app_state = genesis["app_state"]
    (val,) = app_state["staking"]["validators"]
    pub_key = json.loads((home / "config" / "priv_validator_key.json").read_text())["pub_key"]["value"]
    assert val["moniker"] == "m" and val["self_delegation"] == "10000000" and val["consensus_pubkey"] == pub_key
    operator = bech32_address(standalone_operator(base64.b64decode(pub_key)), "side")
    assert val["operator"] == operator
    assert app_state["bank"]["balances"] == [{"address": operator, "coins": [{"denom": "stake", "amount": "10000000"}]}]
    bridge = json.loads((home / "config" / "bridge_key.json").read_text())
    assert val["bridge_address"] == bridge["address"].lower()
    (update,) = CHAIN.init_genesis(CacheKV(MemoryBackend()), CHAIN.parse_genesis(app_state), "unit-1")
    assert update.power == 10 and base64.b64encode(update.pub_key).decode() == pub_key
    for key in ("priv_validator_key.json", "bridge_key.json"):
        assert stat.S_IMODE((home / "config" / key).stat().st_mode) == 0o600, key
    code, out = run("init", "--home", str(home), "--chain-id", "unit-1")
    assert code == 1 and "already initialised" in out and "Traceback" not in out


def test_init_with_an_operator_funds_it_beyond_its_accounts(tmp_path: Path) -> None:
    home, alice = tmp_path / "h", bech32_address(b"\x07" * 20, "side")
    code, out = run("init", "--home", str(home), "--chain-id", "unit-1", "--operator", alice,
                    "--account", f"{alice}=5stake,3l1/eth")
    assert code == 0, out
    app_state = json.loads((home / "config" / "genesis.json").read_text())["app_state"]
    (val,) = app_state["staking"]["validators"]
    assert val["operator"] == alice
    assert app_state["bank"]["balances"] == [{"address": alice, "coins": [
        {"denom": "l1/eth", "amount": "3"}, {"denom": "stake", "amount": "10000005"}]}]
    check_app_state(app_state, "unit-1")  # InitChain bonds 10000000 of it, proof checked for this chain
    code, out = run("init", "--home", str(tmp_path / "o"), "--chain-id", "unit-1", "--operator", "side1nope")
    assert code == 1 and "--operator" in out and "Traceback" not in out


def test_init_rejects_bad_chain_id_and_ports(tmp_path: Path) -> None:
    code, out = run("init", "--home", str(tmp_path / "x"), "--chain-id", "bad chain!")
    assert code == 1 and "chain id" in out
    code, out = run("init", "--home", str(tmp_path / "y"), "--chain-id", "ok", "--rpc-port", "5", "--p2p-port", "5")
    assert code == 1 and "distinct" in out


def test_start_without_init_says_what_to_do(tmp_path: Path) -> None:
    code, out = run("start", "--home", str(tmp_path / "none"))
    assert code == 1 and "sidechain init" in out and "Traceback" not in out


def test_status_of_unreachable_node(tmp_path: Path) -> None:
    code, out = run("status", "--node", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach the node's RPC at http://127.0.0.1:9" in out and "Traceback" not in out


def _refused(p: Path, text: str, says: str) -> None:
    p.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(p)


def test_bad_app_config_values(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    _refused(p, AppConfig().to_toml().replace('transport = "socket"', 'transport = "carrier-pigeon"'), "abci.transport")
    _refused(p, "[abci\n", "not valid TOML")


def test_verify_threads_setting(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml())
    assert load_config(p).verify_threads == 2
    p.write_text(AppConfig(verify_threads=0).to_toml())
    assert load_config(p).verify_threads == 0
    for bad, says in (("-1", "0-64"), ('"two"', "must be an integer")):
        _refused(p, AppConfig().to_toml().replace("verify_threads = 2", f"verify_threads = {bad}"), says)


def test_index_events_setting(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml())
    assert load_config(p).index_events == ()
    p.write_text(AppConfig(index_events=("transfer.recipient", "message.sender")).to_toml())
    assert load_config(p).index_events == ("transfer.recipient", "message.sender")
    for bad, says in (('["recipient"]', "not an event attribute name"), ('"transfer.recipient"', "list of strings")):
        _refused(p, AppConfig().to_toml().replace("index_events = []", f"index_events = {bad}"), says)


def test_skip_events_setting(tmp_path: Path) -> None:
    """tx_index.skip_events: the default list when the file has none (an older app.toml), [] when it
    says so, and bad names refused with the setting's name."""
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml())
    assert load_config(p).skip_events == DEFAULT_SKIP_EVENTS
    assert "transfer.amount" in DEFAULT_SKIP_EVENTS and "transfer.recipient" not in DEFAULT_SKIP_EVENTS
    p.write_text(AppConfig(skip_events=()).to_toml())
    assert load_config(p).skip_events == ()
    older = tomllib.loads(AppConfig().to_toml())
    del older["tx_index"]["skip_events"]
    p.write_text(tomli_w.dumps(older))
    assert load_config(p).skip_events == DEFAULT_SKIP_EVENTS
    text = AppConfig(skip_events=("fee.amount",)).to_toml()
    for bad, says in (('["amount"]', "tx_index.skip_events: 'amount' is not an event attribute name"),
                      ("5", "tx_index.skip_events must be a list of strings")):
        assert 'skip_events = [\n    "fee.amount",\n]' in text
        _refused(p, text.replace('skip_events = [\n    "fee.amount",\n]', f"skip_events = {bad}"), says)


def test_cometbft_gogc_setting(tmp_path: Path) -> None:
    """cometbft.gogc: written and read back; 0 is Go's default; out of range is refused; the
    environment's GOGC wins over it, and 0 leaves CometBFT's environment alone."""
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml())
    assert load_config(p).cometbft_gogc == DEFAULT_COMETBFT_GOGC == 200
    p.write_text(AppConfig(cometbft_gogc=0).to_toml())
    assert load_config(p).cometbft_gogc == 0
    for bad, says in (("5", "cometbft.gogc must be 0 (Go's default) or 10-100000, not 5"),
                      ('"200"', "gogc must be an integer")):
        _refused(p, AppConfig().to_toml().replace("gogc = 200", f"gogc = {bad}"), says)
    assert cometbft_env(AppConfig(), {"PATH": "/bin"}) == {"PATH": "/bin", "GOGC": "200"}
    assert cometbft_env(AppConfig(), {"GOGC": "off"})["GOGC"] == "off"
    assert "GOGC" not in cometbft_env(AppConfig(cometbft_gogc=0), {})
    # The bridge key's passphrase is the app's alone: it does not reach CometBFT's environment.
    assert cometbft_env(AppConfig(), {"SIDECHAIN_BRIDGE_PASSPHRASE": "s3cret", "HOME": "/h"}) == {
        "HOME": "/h", "GOGC": "200"}
