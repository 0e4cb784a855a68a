"""The application's own config file, `<home>/config/app.toml`, and the node home layout."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from sidechain.errors import SidechainError

TRANSPORTS = ("socket", "grpc")
LOG_LEVELS = ("debug", "info", "warning", "error")
TREE_IMPLS = ("auto", "native", "python")
DEFAULT_ABCI_ADDRESS = "tcp://127.0.0.1:26658"
DEFAULT_METRICS_ADDRESS = "127.0.0.1:26670"
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024


class ConfigError(SidechainError):
    """The config file is missing or holds a bad value; the message says which and how to fix it."""

    codespace = "node"
    code = 3


@dataclass(frozen=True)
class AppConfig:
    abci_transport: str = "socket"
    abci_address: str = DEFAULT_ABCI_ADDRESS
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    metrics_enabled: bool = True
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    log_level: str = "info"
    cometbft_binary: str = ""  # empty: $SIDECHAIN_COMETBFT, then PATH, then the repo's .tools/bin
    # The store's Merkle tree: "native" (C, built by `make install`), "python" (the slow reference
    # implementation) or "auto" (native; a validator refuses to start without it).
    store_tree: str = "auto"
    # State-sync snapshots (docs/STATESYNC.md): one every `snapshot_interval` heights (0: none), the
    # newest `snapshot_keep_recent` kept in <home>/data/app/snapshots.
    snapshot_interval: int = 0
    snapshot_keep_recent: int = 2

    def validate(self) -> None:
        if self.abci_transport not in TRANSPORTS:
            raise ConfigError(f"abci.transport must be one of {', '.join(TRANSPORTS)}, not {self.abci_transport!r}")
        if not (self.abci_address.startswith(("tcp://", "unix://")) or ":" in self.abci_address):
            raise ConfigError(f"abci.address {self.abci_address!r} must be tcp://HOST:PORT or unix:///PATH")
        if self.max_frame_bytes < 1024 * 1024:
            raise ConfigError(f"abci.max_frame_bytes must be at least 1 MiB, not {self.max_frame_bytes}")
        if self.metrics_enabled:
            host, sep, port = self.metrics_address.rpartition(":")
            if not sep or not port.isdigit() or not host:
                raise ConfigError(f"metrics.address {self.metrics_address!r} must be HOST:PORT")
        if self.store_tree not in TREE_IMPLS:
            raise ConfigError(f"store.tree must be one of {', '.join(TREE_IMPLS)}, not {self.store_tree!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log.level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.snapshot_interval < 0:
            raise ConfigError(f"statesync.snapshot_interval must be 0 (no snapshots) or a number of heights, "
                              f"not {self.snapshot_interval}")
        if self.snapshot_keep_recent < 1:
            raise ConfigError(f"statesync.snapshot_keep_recent must be at least 1, not {self.snapshot_keep_recent}")

    def to_toml(self) -> str:
        doc: dict[str, Any] = {
            "abci": {
                "transport": self.abci_transport,
                "address": self.abci_address,
                "max_frame_bytes": self.max_frame_bytes,
            },
            "metrics": {"enabled": self.metrics_enabled, "address": self.metrics_address},
            "log": {"level": self.log_level},
            "cometbft": {"binary": self.cometbft_binary},
            "store": {"tree": self.store_tree},
            "statesync": {"snapshot_interval": self.snapshot_interval,
                          "snapshot_keep_recent": self.snapshot_keep_recent},
        }
        header = (
            "# Sidechain application config.\n"
            "# abci.transport must match `abci` in config.toml (socket or grpc), and abci.address its `proxy_app`.\n"
            "# Everything listens on 127.0.0.1 unless you change it here.\n"
            "# statesync.snapshot_interval: take a state-sync snapshot every N heights (0: never); the newest\n"
            "# snapshot_keep_recent are kept and served to joining nodes (docs/STATESYNC.md).\n\n"
        )
        return header + tomli_w.dumps(doc)


def load_config(path: Path) -> AppConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no app config at {path}; run `sidechain init --home {path.parent.parent}` first") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    try:
        abci = raw.get("abci", {})
        metrics = raw.get("metrics", {})
        cfg = AppConfig(
            abci_transport=str(abci.get("transport", "socket")),
            abci_address=str(abci.get("address", DEFAULT_ABCI_ADDRESS)),
            max_frame_bytes=int(abci.get("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES)),
            metrics_enabled=bool(metrics.get("enabled", True)),
            metrics_address=str(metrics.get("address", DEFAULT_METRICS_ADDRESS)),
            log_level=str(raw.get("log", {}).get("level", "info")),
            cometbft_binary=str(raw.get("cometbft", {}).get("binary", "")),
            store_tree=str(raw.get("store", {}).get("tree", "auto")),
            snapshot_interval=_int(raw.get("statesync", {}), "snapshot_interval", 0),
            snapshot_keep_recent=_int(raw.get("statesync", {}), "snapshot_keep_recent", 2),
        )
    except (TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg


def _int(section: Any, name: str, default: int) -> int:
    value = section.get(name, default)
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer, not {value!r}")
    return value


def set_snapshots(path: Path, interval: int, keep_recent: int) -> None:
    """Turn state-sync snapshots on (or off, interval 0) in the app config at `path`."""
    import dataclasses

    cfg = dataclasses.replace(load_config(path), snapshot_interval=interval, snapshot_keep_recent=keep_recent)
    cfg.validate()
    path.write_text(cfg.to_toml())


@dataclass(frozen=True)
class NodeHome:
    """Where everything of one node lives."""

    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def app_config(self) -> Path:
        return self.config_dir / "app.toml"

    @property
    def cometbft_config(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def genesis(self) -> Path:
        return self.config_dir / "genesis.json"

    @property
    def app_data(self) -> Path:
        return self.root / "data" / "app"

    @property
    def logs(self) -> Path:
        return self.root / "logs"
