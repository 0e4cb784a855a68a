"""Working with the CometBFT binary and its files: find it, init a home, edit its config."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sidechain.config import NodeHome
from sidechain.errors import SidechainError

REPO_ROOT = Path(__file__).resolve().parent.parent


class CometBFTError(SidechainError):
    """CometBFT is missing, failed, or its files are not what we expect."""

    codespace = "node"
    code = 4


def find_cometbft(configured: str = "") -> str:
    candidates = [configured, os.environ.get("SIDECHAIN_COMETBFT", "")]
    for c in candidates:
        if c:
            if not (os.path.isfile(c) and os.access(c, os.X_OK)):
                raise CometBFTError(f"cometbft binary {c!r} does not exist or is not executable")
            return c
    on_path = shutil.which("cometbft")
    if on_path:
        return on_path
    local = REPO_ROOT / ".tools" / "bin" / "cometbft"
    if local.is_file():
        return str(local)
    raise CometBFTError("cometbft not found: run `make install`, or set SIDECHAIN_COMETBFT to its path")


def run_init(binary: str, home: Path) -> None:
    proc = subprocess.run([binary, "init", "--home", str(home)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CometBFTError(f"`cometbft init` failed: {proc.stderr.strip() or proc.stdout.strip()}")


def set_toml_values(text: str, section: str, values: dict[str, str]) -> str:
    """Replace `key = ...` lines inside `[section]` ('' = top level) of CometBFT's config.toml,
    keeping its comments and layout. Values are TOML literals (strings quoted by the caller)."""
    lines = text.splitlines(keepends=True)
    current = ""
    seen: set[str] = set()
    for i, line in enumerate(lines):
        m = re.match(r"\s*\[([^\]]+)\]\s*$", line)
        if m:
            current = m.group(1).strip()
            continue
        if current != section:
            continue
        m = re.match(r"(\s*)([A-Za-z0-9_\-]+)\s*=", line)
        if m and m.group(2) in values:
            lines[i] = f"{m.group(1)}{m.group(2)} = {values[m.group(2)]}\n"
            seen.add(m.group(2))
    missing = sorted(set(values) - seen)
    if missing:
        raise CometBFTError(f"config.toml has no {', '.join(missing)} in section [{section or 'top level'}]")
    return "".join(lines)


def toml_str(s: str) -> str:
    return json.dumps(s)


@dataclass(frozen=True)
class CometPorts:
    rpc: int = 26657
    p2p: int = 26656
    abci: int = 26658
    prometheus: int = 26660


def configure(
    home: NodeHome,
    *,
    moniker: str,
    ports: CometPorts,
    abci_transport: str,
    timeout_commit: str | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Point CometBFT at our app and keep every listener on `host` (127.0.0.1 by default)."""
    path = home.cometbft_config
    text = path.read_text()
    text = set_toml_values(text, "", {
        "moniker": toml_str(moniker),
        # CometBFT's gRPC client takes a bare host:port (a tcp:// scheme fails to parse there).
        "proxy_app": toml_str(f"127.0.0.1:{ports.abci}" if abci_transport == "grpc"
                              else f"tcp://127.0.0.1:{ports.abci}"),
        "abci": toml_str(abci_transport),
    })
    text = set_toml_values(text, "rpc", {"laddr": toml_str(f"tcp://{host}:{ports.rpc}")})
    text = set_toml_values(text, "p2p", {"laddr": toml_str(f"tcp://{host}:{ports.p2p}")})
    text = set_toml_values(text, "instrumentation", {"prometheus_listen_addr": toml_str(f"{host}:{ports.prometheus}")})
    if timeout_commit is not None:
        text = set_toml_values(text, "consensus", {"timeout_commit": toml_str(timeout_commit)})
    path.write_text(text)


def read_rpc_laddr(home: NodeHome) -> str:
    import tomllib

    try:
        cfg = tomllib.loads(home.cometbft_config.read_text())
    except FileNotFoundError:
        raise CometBFTError(f"no CometBFT config at {home.cometbft_config}; run `sidechain init` first") from None
    laddr = str(cfg.get("rpc", {}).get("laddr", "tcp://127.0.0.1:26657"))
    return "http://" + laddr.split("://", 1)[-1].replace("0.0.0.0", "127.0.0.1")


COMETBFT_MEMPOOL_SIZE = 5000  # CometBFT's default mempool.size
COMETBFT_MEMPOOL_MAX_TXS_BYTES = 1073741824  # and mempool.max_txs_bytes


def read_mempool_limits(home: NodeHome) -> tuple[int, int]:
    """(size, max_txs_bytes) of config.toml's [mempool], CometBFT's defaults if unset; (0, 0) when
    `recheck` is off (the app cannot then count the mempool: see sidechain.app.MempoolGauge)."""
    import tomllib

    try:
        cfg = tomllib.loads(home.cometbft_config.read_text())
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return 0, 0
    mp = cfg.get("mempool", {})
    if not isinstance(mp, dict) or not mp.get("recheck", True) or mp.get("type", "flood") == "nop":
        return 0, 0
    size, max_bytes = mp.get("size", COMETBFT_MEMPOOL_SIZE), mp.get("max_txs_bytes", COMETBFT_MEMPOOL_MAX_TXS_BYTES)
    return (size if isinstance(size, int) and size > 0 else 0,
            max_bytes if isinstance(max_bytes, int) and max_bytes > 0 else 0)


def set_genesis_chain(home: NodeHome, chain_id: str, app_state: dict[str, object]) -> None:
    """Name the chain, set its app_state and empty genesis.json's own validator list: the
    application owns the validator set (staking genesis; InitChain returns it)."""
    g = json.loads(home.genesis.read_text())
    g["chain_id"] = chain_id
    g["validators"] = []
    g["app_state"] = dict(app_state)
    home.genesis.write_text(json.dumps(g, indent=2) + "\n")


def add_genesis_modules(home: NodeHome, sections: dict[str, object]) -> None:
    """Add module sections (auth, bank, ...) to the home's genesis app_state, keeping what is there."""
    g = json.loads(home.genesis.read_text())
    g["app_state"] = {**(g.get("app_state") or {}), **sections}
    home.genesis.write_text(json.dumps(g, indent=2) + "\n")
