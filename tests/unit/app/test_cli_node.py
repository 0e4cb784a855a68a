"""`sidechain init|start|status`: their error messages, without running a node."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

from click.testing import CliRunner

from sidechain.cli import cli
from sidechain.config import AppConfig, ConfigError, load_config


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
    genesis = json.loads((home / "config" / "genesis.json").read_text())
    assert genesis["chain_id"] == "unit-1" and genesis["validators"] == []
    (val,) = genesis["app_state"]["validators"]
    assert val["name"] == "m" and val["power"] == "10"
    key = home / "config" / "priv_validator_key.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    code, out = run("init", "--home", str(home), "--chain-id", "unit-1")
    assert code == 1 and "already initialised" in out and "Traceback" not in out


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


def test_bad_app_config_values(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml().replace('transport = "socket"', 'transport = "carrier-pigeon"'))
    try:
        load_config(p)
    except ConfigError as e:
        assert "abci.transport" in str(e)
    else:
        raise AssertionError("bad transport accepted")
    p.write_text("[abci\n")
    try:
        load_config(p)
    except ConfigError as e:
        assert "not valid TOML" in str(e)
    else:
        raise AssertionError("bad TOML accepted")
