"""State-sync settings: app.toml's [statesync] keys, and `sidechain statesync-config`'s refusals (its
success path runs against real nodes in tests/integration/testnet/test_state_sync.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sidechain.commands.statesync import StateSyncConfigError, TrustPoint, trust_point, write_statesync
from sidechain.config import AppConfig, ConfigError, load_config, set_snapshots
from tests.support.node import REPO, SIDECHAIN, free_ports


def test_snapshots_are_off_by_default_and_round_trip_through_app_toml(tmp_path: Path) -> None:
    path = tmp_path / "app.toml"
    path.write_text(AppConfig().to_toml())
    cfg = load_config(path)
    assert (cfg.snapshot_interval, cfg.snapshot_keep_recent) == (0, 2)
    set_snapshots(path, 100, 3)
    cfg = load_config(path)
    assert (cfg.snapshot_interval, cfg.snapshot_keep_recent) == (100, 3)
    assert "[statesync]" in path.read_text()


@pytest.mark.parametrize("body, message", [
    ("[statesync]\nsnapshot_interval = -1\n", "statesync.snapshot_interval must be 0"),
    ("[statesync]\nsnapshot_keep_recent = 0\n", "statesync.snapshot_keep_recent must be at least 1"),
    ("[statesync]\nsnapshot_interval = \"100\"\n", "snapshot_interval must be an integer"),
    ("[statesync]\nsnapshot_interval = 1.5\n", "snapshot_interval must be an integer"),
])
def test_bad_statesync_values_are_refused_with_the_key_named(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "app.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_statesync_config_needs_two_servers_and_reachable_ones() -> None:
    with pytest.raises(StateSyncConfigError, match="two different RPC servers"):
        trust_point(["http://127.0.0.1:1"], 0, "168h")
    with pytest.raises(StateSyncConfigError, match="two different RPC servers"):
        trust_point(["http://127.0.0.1:1", "127.0.0.1:1"], 0, "168h")
    a, c = free_ports(2)
    with pytest.raises(StateSyncConfigError, match="cannot reach .* check the --from URLs"):
        trust_point([f"http://127.0.0.1:{a}", f"http://127.0.0.1:{c}"], 0, "168h")
    with pytest.raises(StateSyncConfigError, match="--trust-offset must be >= 0"):
        trust_point([f"http://127.0.0.1:{a}", f"http://127.0.0.1:{c}"], -1, "168h")


def test_statesync_config_writes_cometbfts_section(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    with pytest.raises(StateSyncConfigError, match="no CometBFT config"):
        write_statesync(home, TrustPoint(5, "AB" * 32, ("http://a:1", "http://b:2"), "100h"))
    (home / "config" / "config.toml").write_text(
        '[statesync]\nenable = false\nrpc_servers = ""\ntrust_height = 0\ntrust_hash = ""\n'
        'trust_period = "168h0m0s"\ndiscovery_time = "15s"\n\n[blocksync]\nversion = "v0"\n')
    write_statesync(home, TrustPoint(5, "AB" * 32, ("http://a:1", "http://b:2"), "100h", "5s"))
    text = (home / "config" / "config.toml").read_text()
    assert 'enable = true\nrpc_servers = "http://a:1,http://b:2"\ntrust_height = 5\n' in text
    assert f'trust_hash = "{"AB" * 32}"\ntrust_period = "100h"\ndiscovery_time = "5s"\n' in text


def test_the_command_reports_one_line_errors(tmp_path: Path) -> None:
    out = subprocess.run(SIDECHAIN + ["statesync-config", "--home", str(tmp_path), "--from", "http://127.0.0.1:1"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 1
    assert out.stderr.startswith("error: state sync needs two different RPC servers") and out.stderr.count("\n") == 1
