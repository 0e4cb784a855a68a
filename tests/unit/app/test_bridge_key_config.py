"""The validator's bridge key as `sidechain start` loads it (app.toml `[bridge] key_file`): the 0600 file
`sidechain init` writes, or an Ethereum keystore with its passphrase; refusals name the file, never the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account

from bridge.keys import write_keystore
from genesis.home import create_bridge_key
from sidechain.config import AppConfig, ConfigError, NodeHome, load_config
from sidechain.node import load_bridge_signer

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


def _home(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    return tmp_path


def test_the_file_sidechain_init_writes_is_loaded(tmp_path: Path) -> None:
    home = _home(tmp_path)
    create_bridge_key(NodeHome(home))
    path = home / "config" / "bridge_key.json"
    assert path.stat().st_mode & 0o777 == 0o600
    signer = load_bridge_signer(AppConfig(), home)
    assert signer is not None
    assert "0x" + signer.address.hex() == json.loads(path.read_text())["address"].lower()
    secret = json.loads(path.read_text())["private_key"][2:]
    assert secret not in repr(signer) and secret not in str(signer)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    home = _home(tmp_path)
    create_bridge_key(NodeHome(home))
    path = home / "config" / "bridge_key.json"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others .*chmod 600") as e:
        load_bridge_signer(AppConfig(), home)
    assert json.loads(path.read_text())["private_key"][2:] not in str(e.value)


def test_a_keystore_with_its_passphrase_file(tmp_path: Path) -> None:
    home = _home(tmp_path)
    write_keystore(Account.from_key(KEY), home / "config" / "bridge.keystore", "s3cret", iterations=2)
    (home / "config" / "pass").write_text("s3cret\n")
    cfg = AppConfig(bridge_key_file="config/bridge.keystore", bridge_key_passphrase_file="config/pass")
    signer = load_bridge_signer(cfg, home)
    assert signer is not None and signer.address == bytes.fromhex(Account.from_key(KEY).address[2:])
    (home / "config" / "pass").write_text("wrong\n")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_bridge_signer(cfg, home)
    no_phrase = AppConfig(bridge_key_file="config/bridge.keystore")
    with pytest.raises(ConfigError, match="no passphrase"):
        load_bridge_signer(no_phrase, home, interactive=False)
    os.environ["SIDECHAIN_BRIDGE_PASSPHRASE"] = "s3cret"
    try:
        assert load_bridge_signer(no_phrase, home, interactive=False) is not None
    finally:
        del os.environ["SIDECHAIN_BRIDGE_PASSPHRASE"]


def test_missing_none_and_malformed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = _home(tmp_path)
    assert load_bridge_signer(AppConfig(), home) is None  # no key file: a node that signs nothing, said in the log
    assert "signs no valsets or batches" in caplog.text
    assert load_bridge_signer(AppConfig(bridge_key_file=""), home) is None
    bad = home / "config" / "bridge_key.json"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    with pytest.raises(ConfigError, match="is not JSON"):
        load_bridge_signer(AppConfig(), home)
    bad.write_text(json.dumps({"address": "0x00", "private_key": "0x" + "00" * 32}))
    with pytest.raises(ConfigError, match="no valid private_key"):
        load_bridge_signer(AppConfig(), home)


def test_app_toml_round_trips_the_key_settings(tmp_path: Path) -> None:
    cfg = AppConfig(bridge_key_file="/keys/bridge.keystore", bridge_key_passphrase_file="/keys/pass")
    path = tmp_path / "app.toml"
    path.write_text(cfg.to_toml())
    loaded = load_config(path)
    assert (loaded.bridge_key_file, loaded.bridge_key_passphrase_file) == ("/keys/bridge.keystore", "/keys/pass")
    assert load_config(path).bridge_key_file != "" and AppConfig().bridge_key_file == "config/bridge_key.json"
