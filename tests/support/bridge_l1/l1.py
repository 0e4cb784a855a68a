"""A real L1 for integration tests and local testnets: `geth --dev` on 127.0.0.1, in a temporary datadir.

Only the HTTP RPC listens (127.0.0.1, a free port); the authenticated engine API is bound to 127.0.0.1 on
another free port (geth opens it even in dev mode); p2p, discovery and IPC are off. The dev account
(`eth.accounts[0]`) is pre-funded and unlocked. `GethDevNode` is a context manager that always kills
the process and removes its datadir.

    with GethDevNode.start() as node:
        client = L1Client.connect(node.rpc_url)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_GETH = REPO_ROOT / ".tools" / "bin" / "geth"


class GethNotFound(RuntimeError):
    """The pinned geth binary is missing (run `make geth`)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def geth_binary() -> Path:
    path = Path(os.environ.get("GETH", DEFAULT_GETH))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise GethNotFound(f"geth not found at {path}: run `make geth`")
    return path


@dataclass
class GethDevNode:
    process: subprocess.Popen[bytes]
    rpc_url: str
    datadir: Path
    log_path: Path
    _owns_datadir: bool = field(default=True)

    @classmethod
    def start(
        cls,
        *,
        period: int = 1,
        gas_limit: int = 60_000_000,
        datadir: Path | None = None,
        timeout: float = 30.0,
    ) -> GethDevNode:
        """Start `geth --dev` sealing a block every `period` seconds (0: only when transactions arrive)."""
        binary = geth_binary()
        owns = datadir is None
        datadir = Path(tempfile.mkdtemp(prefix="geth-dev-")) if datadir is None else datadir
        http_port, auth_port = free_port(), free_port()
        log_path = datadir / "geth.log"
        args = [
            str(binary),
            "--dev",
            f"--dev.period={period}",
            f"--dev.gaslimit={gas_limit}",
            f"--datadir={datadir}",
            "--http",
            "--http.addr=127.0.0.1",
            f"--http.port={http_port}",
            "--http.api=eth,net,web3,debug,txpool",
            "--authrpc.addr=127.0.0.1",
            f"--authrpc.port={auth_port}",
            "--ipcdisable",
            "--nodiscover",
            "--maxpeers=0",
            "--port=0",
            "--nat=none",
            "--verbosity=2",
        ]
        log = open(log_path, "wb")  # noqa: SIM115 (owned by the process' lifetime)
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        node = cls(process, f"http://127.0.0.1:{http_port}", datadir, log_path, owns)
        try:
            node._wait_ready(timeout)
        except BaseException:
            node.stop()
            raise
        return node

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"geth exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                reply = requests.post(
                    self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": []}, timeout=1
                ).json()
                if reply.get("result"):
                    return
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"geth did not answer on {self.rpc_url} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        if self._owns_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> GethDevNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
