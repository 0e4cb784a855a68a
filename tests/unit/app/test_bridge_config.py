"""The `[bridge]` section of app.toml (the L1 watcher's settings) and the node's choice to run a watcher."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sidechain.config import AppConfig, ConfigError, load_config, parse_poll_interval, set_bridge_watcher
from sidechain.metrics import AppMetrics
from sidechain.node import _bridge_watcher


def write(tmp_path: Path, bridge: str) -> Path:
    p = tmp_path / "app.toml"
    text = AppConfig().to_toml()
    head, _, _ = text.partition("[bridge]")
    p.write_text(head + "[bridge]\n" + bridge)
    return p


def test_defaults_round_trip_and_mean_no_watcher(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text(AppConfig().to_toml())
    cfg = load_config(p)
    assert cfg == AppConfig()
    assert (cfg.bridge_l1_rpc, cfg.bridge_finality, cfg.bridge_poll_interval, cfg.bridge_max_block_range) == (
        "", "confirmations", "1s", 2000)
    assert cfg.bridge_poll_seconds == 1.0
    assert _bridge_watcher(cfg, None) is None
    text = p.read_text()
    assert "# The bridge's L1 watcher, run by validators only" in text and "non-validators" in text


def test_a_file_without_the_section_takes_the_defaults(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text('[abci]\ntransport = "socket"\n')
    assert load_config(p).bridge_l1_rpc == ""


def test_values_are_read(tmp_path: Path) -> None:
    p = write(tmp_path, 'l1_rpc = "https://l1.example.org/v3/key"\nfinality = "finalized"\n'
                        'poll_interval = "500ms"\nmax_block_range = 10\n')
    cfg = load_config(p)
    assert cfg.bridge_l1_rpc == "https://l1.example.org/v3/key" and cfg.bridge_finality == "finalized"
    assert cfg.bridge_poll_seconds == 0.5 and cfg.bridge_max_block_range == 10
    assert load_config(_rewritten(tmp_path, cfg)) == cfg


def _rewritten(tmp_path: Path, cfg: AppConfig) -> Path:
    p = tmp_path / "again.toml"
    p.write_text(cfg.to_toml())
    return p


@pytest.mark.parametrize(("body", "message"), [
    ('l1_rpc = "127.0.0.1:8545"', "bridge.l1_rpc must be an http:// or https:// URL"),
    ('l1_rpc = "ws://127.0.0.1:8546"', "bridge.l1_rpc must be an http:// or https:// URL"),
    ('l1_rpc = "http://"', "bridge.l1_rpc must be an http:// or https:// URL"),
    ('l1_rpc = "http://127.0.0.1:99999"', "bridge.l1_rpc must be an http:// or https:// URL"),
    ("l1_rpc = 8545", "bridge.l1_rpc must be a string"),
    ('finality = "safe"', "bridge.finality must be one of confirmations, finalized, not 'safe'"),
    ('poll_interval = "1"', 'bridge.poll_interval must be a duration such as "500ms"'),
    ('poll_interval = "1.5s"', 'bridge.poll_interval must be a duration such as "500ms"'),
    ("poll_interval = 1", "bridge.poll_interval must be a string"),
    ('poll_interval = "10ms"', "bridge.poll_interval must be between 50ms and 10m, not '10ms'"),
    ('poll_interval = "1h"', 'bridge.poll_interval must be a duration such as "500ms"'),
    ("max_block_range = 0", "bridge.max_block_range must be a number of L1 blocks in [1, 100000], not 0"),
    ('max_block_range = "2000"', "max_block_range must be an integer"),
])
def test_bad_values_are_refused_with_one_clear_line(tmp_path: Path, body: str, message: str) -> None:
    p = write(tmp_path, body + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    text = str(info.value)
    assert message in text and text.startswith(str(p)) and "\n" not in text, text


def test_poll_interval_units() -> None:
    assert [parse_poll_interval(v) for v in ("50ms", "2s", "3m", "10m")] == [50, 2000, 180_000, 600_000]


def test_set_bridge_watcher_rewrites_the_file(tmp_path: Path) -> None:
    p = tmp_path / "app.toml"
    p.write_text(dataclasses.replace(AppConfig(), snapshot_interval=7).to_toml())
    set_bridge_watcher(p, "http://127.0.0.1:8545", "finalized")
    cfg = load_config(p)
    assert (cfg.bridge_l1_rpc, cfg.bridge_finality, cfg.snapshot_interval) == ("http://127.0.0.1:8545", "finalized", 7)
    with pytest.raises(ConfigError, match="bridge.l1_rpc"):
        set_bridge_watcher(p, "nonsense")
    set_bridge_watcher(p, "")
    assert load_config(p).bridge_l1_rpc == ""


def test_the_node_builds_a_watcher_from_the_section() -> None:
    cfg = dataclasses.replace(AppConfig(), bridge_l1_rpc="http://127.0.0.1:8545", bridge_finality="finalized",
                              bridge_poll_interval="250ms", bridge_max_block_range=77)
    metrics = AppMetrics()
    w = _bridge_watcher(cfg, metrics)
    assert w is not None
    assert (w.url, w.finality, w.poll_interval, w.max_block_range, w.metrics) == (
        "http://127.0.0.1:8545", "finalized", 0.25, 77, metrics)
