"""The local testnet's relayer: one `bridge relay` process for the network (genesis.testnet starts, stops and
shows it).

It runs only with the dev L1 the testnet runs itself, and only when the chain has a bridge module: its key
is a TEST ONLY L1 key `relayer` beside the other L1 test keys (`<dir>/l1/keys/relayer.json`, 0600 in a 0700
directory, the published testnet passphrase), funded once from the dev account. It relays every batch
whatever its fees (`--no-profit-check`: testnet fees are tiny) every 500 ms, and asks node 0. Its output
goes to `<dir>/relayer/relayer.log`, its pid to `<dir>/relayer/relayer.pid`; it runs in its own session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bridge.devnet import process_alive
from genesis import l1 as l1net
from genesis.errors import TestnetError
from genesis.network import Network

RELAYER_DIR = "relayer"
LOG_FILE = "relayer.log"
PID_FILE = "relayer.pid"
KEY_NAME = "relayer"
INTERVAL = "500ms"
FUNDING = l1net.ETH_PER_KEY
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class RelayerPaths:
    root: Path

    @property
    def dir(self) -> Path:
        return self.root / RELAYER_DIR

    @property
    def log(self) -> Path:
        return self.dir / LOG_FILE

    @property
    def pid_file(self) -> Path:
        return self.dir / PID_FILE

    @property
    def keys_dir(self) -> Path:
        return self.root / l1net.L1_DIR / "keys"

    @property
    def keystore(self) -> Path:
        return self.keys_dir / f"{KEY_NAME}.json"

    @property
    def passphrase_file(self) -> Path:
        return self.keys_dir / "passphrase"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def relayer_pid(root: Path) -> int | None:
    """The pid of the testnet's relayer if it runs (a stale pid file is ignored)."""
    paths = RelayerPaths(root)
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if process_alive(pid) and b"relay" in cmd and str(paths.keystore).encode() in cmd:
        return pid
    return None


def wanted(root: Path) -> bool:
    """Whether this testnet runs a relayer: a dev L1 of its own and a chain with a bridge module."""
    return l1net.load_dev_l1_config(root) is not None and l1net.read_bridge_json(root) is not None \
        and l1net.bridge_module_enabled()


def ensure_key(root: Path, l1_rpc: str) -> Path:
    """The relayer's keystore, made and funded from the dev account the first time."""
    paths = RelayerPaths(root)
    if paths.keystore.exists():
        return paths.keystore
    from web3.types import Wei

    from bridge.l1 import L1Client

    account, key = l1net.make_test_key(paths.keys_dir, KEY_NAME)
    try:
        client = L1Client.connect(l1_rpc)
        w3 = client.w3
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": Wei(FUNDING)})
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=60)
        if receipt["status"] != 1:
            raise TestnetError(f"funding the relayer key {account.address} failed on the dev L1")
    except TestnetError:
        paths.keystore.unlink(missing_ok=True)
        raise
    except Exception as e:  # web3 and transport errors come in many types
        paths.keystore.unlink(missing_ok=True)
        raise TestnetError(f"cannot fund the relayer key on the dev L1 at {l1_rpc}: {type(e).__name__}: {e}") from None
    return key.keystore


def start(net: Network, out: TextIO, python: str = sys.executable) -> int | None:
    """Start the relayer (None when this testnet runs none); a running one is kept."""
    root = net.root
    if not wanted(root):
        return None
    running = relayer_pid(root)
    if running is not None:
        return running
    info = l1net.read_bridge_json(root)
    assert info is not None
    paths = RelayerPaths(root)
    keystore = ensure_key(root, info.l1_rpc)
    paths.dir.mkdir(parents=True, exist_ok=True)
    argv = [python, "-m", "bridge.cli", "relay", "--node", net.nodes[0].rpc_url, "--l1-rpc", info.l1_rpc,
            "--keystore", str(keystore), "--passphrase-file", str(paths.passphrase_file), "--interval", INTERVAL,
            "--no-profit-check", "--output", "text"]
    env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_PRIVATE_KEY", "BRIDGE_PASSPHRASE")}
    with paths.log.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting the relayer\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                env={**env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    paths.pid_file.write_text(f"{proc.pid}\n")
    out.write(f"relayer started (pid {proc.pid}, L1 key {_address(keystore)}); log {paths.log}\n")
    return proc.pid


def _address(keystore: Path) -> str:
    try:
        return "0x" + str(json.loads(keystore.read_text())["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def stop(root: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the relayer and wait (SIGKILL after `timeout`); whether it was running."""
    pid = relayer_pid(root)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
        if not process_alive(pid):
            break
    if process_alive(pid):
        raise TestnetError(f"the relayer (pid {pid}) did not stop")
    RelayerPaths(root).pid_file.unlink(missing_ok=True)
    return True


def last_action(root: Path) -> str | None:
    """The last line the relayer logged (None: no log yet)."""
    try:
        with RelayerPaths(root).log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - 8192, 0))
            lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


def write_status(root: Path, out: TextIO) -> None:
    if not wanted(root) and not RelayerPaths(root).log.exists():
        return
    pid = relayer_pid(root)
    state = f"running (pid {pid})" if pid is not None else "stopped"
    out.write(f"relayer: {state}, log {RelayerPaths(root).log}\n")
    action = last_action(root)
    if action is not None:
        out.write(f"  last: {action}\n")

