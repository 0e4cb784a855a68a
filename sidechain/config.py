"""The application's own config file, `<home>/config/app.toml`, and the node home layout."""

from __future__ import annotations

import re
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
FINALITY_MODES = ("confirmations", "finalized")
DEFAULT_POLL_INTERVAL = "1s"
DEFAULT_MAX_BLOCK_RANGE = 2000
MAX_BLOCK_RANGE_LIMIT = 100_000
_POLL_RE = re.compile(r"^([0-9]+)(ms|s|m)$")
_POLL_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}
_POLL_MIN_MS, _POLL_MAX_MS = 50, 600_000


class ConfigError(SidechainError):
    """The config file is missing or holds a bad value; the message says which and how to fix it."""

    codespace = "node"
    code = 3


# Per-tx event attributes CometBFT does not index by default. Every tx has tx.acc_seq, fee.payer and
# fee.amount, message.action, .module and .sender, and a transfer has transfer.sender, .recipient and
# .amount: nine writes per transfer into CometBFT's index on every node. Left out: the amounts and the
# fee (no lookup key), the account/sequence pair (a tx is found by its hash) and message.module (given
# by the action). Kept: message.sender and .action, transfer.sender and .recipient, and every other
# module's attributes. Measured: see DEFAULT_COMETBFT_GOGC.
DEFAULT_SKIP_EVENTS = ("fee.amount", "fee.payer", "message.module", "transfer.amount", "tx.acc_seq")
# GOGC=200 halves how often CometBFT's garbage collector runs, for about twice the live heap. Measured
# with both defaults (tests/bench/bench_net.py --runs app4: 4 validators under load on one 2-core
# machine, 30-s runs): CometBFT's CPU per committed tx 578-610 us indexing everything at GOGC 100 (4
# runs), 511-517 us at GOGC 200 alone, 439-527 us with both (5 runs; GOGC 400: 486 and 542 us, no better).
DEFAULT_COMETBFT_GOGC = 200
MAX_COMETBFT_GOGC = 100_000


@dataclass(frozen=True)
class AppConfig:
    abci_transport: str = "socket"
    abci_address: str = DEFAULT_ABCI_ADDRESS
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # Threads that verify tx signatures in parallel with the ABCI thread (txflow.ParallelVerifier);
    # 0: every signature is verified on the ABCI thread, as it comes.
    verify_threads: int = 2
    # The event attributes ("type.key", e.g. "transfer.recipient") CometBFT's tx indexer may index;
    # empty: every attribute the app marks indexed (all of them). Each indexed attribute is a write per
    # tx in CometBFT's index; queries (`tx_search`) find txs by the indexed ones only.
    index_events: tuple[str, ...] = ()
    # ... less these (DEFAULT_SKIP_EVENTS unless the file says otherwise; [] skips none).
    skip_events: tuple[str, ...] = DEFAULT_SKIP_EVENTS
    metrics_enabled: bool = True
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    log_level: str = "info"
    cometbft_binary: str = ""  # empty: $SIDECHAIN_COMETBFT, then PATH, then the repo's .tools/bin
    # The Go garbage collector's GOGC for CometBFT (see DEFAULT_COMETBFT_GOGC); 0: Go's default (100).
    # A GOGC in the environment of `sidechain start` wins.
    cometbft_gogc: int = DEFAULT_COMETBFT_GOGC
    # The store's Merkle tree: "native" (C, built by `make install`), "python" (the slow reference
    # implementation) or "auto" (native; a validator refuses to start without it).
    store_tree: str = "auto"
    # State-sync snapshots (docs/STATESYNC.md): one every `snapshot_interval` heights (0: none), the
    # newest `snapshot_keep_recent` kept in <home>/data/app/snapshots.
    snapshot_interval: int = 0
    snapshot_keep_recent: int = 2
    # The bridge's L1 watcher (bridge/watcher.py): the L1 JSON-RPC URL ("" runs no watcher), where L1
    # blocks count as final, how often it polls, and the most blocks asked of one eth_getLogs request.
    bridge_l1_rpc: str = ""
    bridge_finality: str = "confirmations"
    bridge_poll_interval: str = DEFAULT_POLL_INTERVAL
    bridge_max_block_range: int = DEFAULT_MAX_BLOCK_RANGE
    # The validator's bridge key (secp256k1), with which ExtendVote signs valsets and batches: a file
    # relative to the home (or absolute), either {"address", "private_key"} readable by the owner only
    # (mode 0600, as `sidechain init` writes it) or an Ethereum keystore (v3), whose passphrase comes
    # from key_passphrase_file, else $SIDECHAIN_BRIDGE_PASSPHRASE, else a prompt at start. "" signs nothing.
    bridge_key_file: str = "config/bridge_key.json"
    bridge_key_passphrase_file: str = ""

    @property
    def bridge_poll_seconds(self) -> float:
        return parse_poll_interval(self.bridge_poll_interval) / 1000

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
        for field_name, names in (("index_events", self.index_events), ("skip_events", self.skip_events)):
            for name in names:
                if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", name):
                    raise ConfigError(f"tx_index.{field_name}: {name!r} is not an event attribute name like "
                                      '"transfer.recipient"')
        if self.cometbft_gogc != 0 and not 10 <= self.cometbft_gogc <= MAX_COMETBFT_GOGC:
            raise ConfigError(f"cometbft.gogc must be 0 (Go's default) or 10-{MAX_COMETBFT_GOGC}, "
                              f"not {self.cometbft_gogc}")
        if not 0 <= self.verify_threads <= 64:
            raise ConfigError(f"abci.verify_threads must be 0-64, not {self.verify_threads}")
        if self.store_tree not in TREE_IMPLS:
            raise ConfigError(f"store.tree must be one of {', '.join(TREE_IMPLS)}, not {self.store_tree!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log.level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.snapshot_interval < 0:
            raise ConfigError(f"statesync.snapshot_interval must be 0 (no snapshots) or a number of heights, "
                              f"not {self.snapshot_interval}")
        if self.snapshot_keep_recent < 1:
            raise ConfigError(f"statesync.snapshot_keep_recent must be at least 1, not {self.snapshot_keep_recent}")
        if self.bridge_l1_rpc and not _is_http_url(self.bridge_l1_rpc):
            raise ConfigError(f'bridge.l1_rpc must be an http:// or https:// URL such as "http://127.0.0.1:8545", '
                              f'or "" to run no watcher, not {self.bridge_l1_rpc!r}')
        if self.bridge_finality not in FINALITY_MODES:
            raise ConfigError(f"bridge.finality must be one of {', '.join(FINALITY_MODES)}, "
                              f"not {self.bridge_finality!r}")
        parse_poll_interval(self.bridge_poll_interval)
        if not 1 <= self.bridge_max_block_range <= MAX_BLOCK_RANGE_LIMIT:
            raise ConfigError(f"bridge.max_block_range must be a number of L1 blocks in [1, {MAX_BLOCK_RANGE_LIMIT}], "
                              f"not {self.bridge_max_block_range}")

    def to_toml(self) -> str:
        doc: dict[str, Any] = {
            "abci": {
                "transport": self.abci_transport,
                "address": self.abci_address,
                "max_frame_bytes": self.max_frame_bytes,
                "verify_threads": self.verify_threads,
            },
            "metrics": {"enabled": self.metrics_enabled, "address": self.metrics_address},
            "log": {"level": self.log_level},
            "cometbft": {"binary": self.cometbft_binary, "gogc": self.cometbft_gogc},
            "store": {"tree": self.store_tree},
            "tx_index": {"index_events": list(self.index_events), "skip_events": list(self.skip_events)},
            "statesync": {"snapshot_interval": self.snapshot_interval,
                          "snapshot_keep_recent": self.snapshot_keep_recent},
        }
        header = (
            "# Sidechain application config.\n"
            "# abci.transport must match `abci` in config.toml (socket or grpc), and abci.address its `proxy_app`.\n"
            "# Everything listens on 127.0.0.1 unless you change it here.\n"
            "# abci.verify_threads: threads verifying tx signatures beside the ABCI thread (0: on it, one by one).\n"
            '# tx_index.index_events: the event attributes CometBFT may index, e.g. ["transfer.recipient"]; [] all;\n'
            "# skip_events: those it leaves out (by default the amounts, the fee, tx.acc_seq and message.module;\n"
            "# [] leaves none out). Each indexed attribute is a write per tx in CometBFT's index on every node;\n"
            "# `tx_search` finds txs by indexed attributes only.\n"
            "# cometbft.gogc: the GOGC CometBFT runs with (0: Go's 100); a GOGC in the environment wins.\n"
            "# statesync.snapshot_interval: take a state-sync snapshot every N heights (0: never); the newest\n"
            "# snapshot_keep_recent are kept and served to joining nodes (docs/STATESYNC.md).\n\n"
        )
        bridge = {"bridge": {"l1_rpc": self.bridge_l1_rpc, "finality": self.bridge_finality,
                             "poll_interval": self.bridge_poll_interval,
                             "max_block_range": self.bridge_max_block_range,
                             "key_file": self.bridge_key_file,
                             "key_passphrase_file": self.bridge_key_passphrase_file}}
        bridge_comment = (
            "\n# The bridge's L1 watcher, run by validators only: l1_rpc is the L1 JSON-RPC URL (http or https);\n"
            '# "" runs no watcher (non-validators, or a chain without an L1 bridge). finality: "confirmations"\n'
            "# (head minus the chain's l1_confirmations, for an L1 without finality such as geth --dev) or\n"
            '# "finalized" (the L1 `finalized` block). poll_interval: "500ms", "1s", "1m"; max_block_range:\n'
            "# L1 blocks per eth_getLogs request (lower it if your RPC provider limits log queries).\n"
            "# key_file: the validator's bridge key, which signs valsets and batches in its votes: the plain\n"
            "# file `sidechain init` writes (mode 0600) or an Ethereum keystore; its passphrase from\n"
            '# key_passphrase_file, else $SIDECHAIN_BRIDGE_PASSPHRASE, else a prompt at start. "" signs nothing.\n'
        )
        return header + tomli_w.dumps(doc) + bridge_comment + tomli_w.dumps(bridge)


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
            verify_threads=_int(abci, "verify_threads", 2),
            metrics_enabled=bool(metrics.get("enabled", True)),
            metrics_address=str(metrics.get("address", DEFAULT_METRICS_ADDRESS)),
            log_level=str(raw.get("log", {}).get("level", "info")),
            cometbft_binary=str(raw.get("cometbft", {}).get("binary", "")),
            cometbft_gogc=_int(raw.get("cometbft", {}), "gogc", DEFAULT_COMETBFT_GOGC),
            store_tree=str(raw.get("store", {}).get("tree", "auto")),
            index_events=_str_list(raw.get("tx_index", {}), "tx_index.index_events"),
            skip_events=_str_list(raw.get("tx_index", {}), "tx_index.skip_events", DEFAULT_SKIP_EVENTS),
            snapshot_interval=_int(raw.get("statesync", {}), "snapshot_interval", 0),
            snapshot_keep_recent=_int(raw.get("statesync", {}), "snapshot_keep_recent", 2),
            bridge_l1_rpc=_str(raw.get("bridge", {}), "bridge.l1_rpc", ""),
            bridge_finality=_str(raw.get("bridge", {}), "bridge.finality", "confirmations"),
            bridge_poll_interval=_str(raw.get("bridge", {}), "bridge.poll_interval", DEFAULT_POLL_INTERVAL),
            bridge_max_block_range=_int(raw.get("bridge", {}), "max_block_range", DEFAULT_MAX_BLOCK_RANGE),
            bridge_key_file=_str(raw.get("bridge", {}), "bridge.key_file", "config/bridge_key.json"),
            bridge_key_passphrase_file=_str(raw.get("bridge", {}), "bridge.key_passphrase_file", ""),
        )
    except (TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg


def _str_list(section: Any, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = section.get(name.rpartition(".")[2], list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings, not {value!r}")
    return tuple(value)


def _int(section: Any, name: str, default: int) -> int:
    value = section.get(name, default)
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer, not {value!r}")
    return value


def _str(section: Any, name: str, default: str) -> str:
    value = section.get(name.rpartition(".")[2], default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    return value


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def parse_poll_interval(value: str) -> int:
    """Milliseconds of a duration such as "500ms", "1s" or "2m" (bridge.poll_interval)."""
    m = _POLL_RE.match(value)
    if m is None:
        raise ConfigError(f'bridge.poll_interval must be a duration such as "500ms", "1s" or "1m", not {value!r}')
    ms = int(m.group(1)) * _POLL_UNIT_MS[m.group(2)]
    if not _POLL_MIN_MS <= ms <= _POLL_MAX_MS:
        raise ConfigError(f"bridge.poll_interval must be between {_POLL_MIN_MS}ms and {_POLL_MAX_MS // 60_000}m, "
                          f"not {value!r}")
    return ms


def set_snapshots(path: Path, interval: int, keep_recent: int) -> None:
    """Turn state-sync snapshots on (or off, interval 0) in the app config at `path`."""
    import dataclasses

    cfg = dataclasses.replace(load_config(path), snapshot_interval=interval, snapshot_keep_recent=keep_recent)
    cfg.validate()
    path.write_text(cfg.to_toml())


def set_bridge_watcher(path: Path, l1_rpc: str, finality: str | None = None, poll_interval: str | None = None) -> None:
    """Point the bridge watcher of the node whose app config is at `path` at an L1 RPC ("" turns it off)."""
    import dataclasses

    cfg = load_config(path)
    cfg = dataclasses.replace(cfg, bridge_l1_rpc=l1_rpc, bridge_finality=finality or cfg.bridge_finality,
                              bridge_poll_interval=poll_interval or cfg.bridge_poll_interval)
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
