"""A local development L1: `geth --dev` on 127.0.0.1, for the local testnet (`make testnet`) and the tests.

Only the HTTP RPC listens (127.0.0.1, the given port); the authenticated engine API is bound to 127.0.0.1 on a
second port, should geth open it (1.17 does not in dev mode); p2p, discovery and IPC are off. The dev account
(`eth_accounts[0]`) is pre-funded and unlocked by geth. The chain lives in `datadir` and survives a restart
(geth keeps a dev chain whose datadir is given), so a stopped testnet restarts on the same L1.

The process runs in its own session (a Ctrl-C in the terminal that started it does not reach it); its pid
is written to `<datadir>/geth.pid`, so another process (`make testnet-stop`) can find and stop it.

    l1 = DevL1.start(DevL1Config(datadir, http_port=8545, auth_port=8551))
    ... L1Client.connect(l1.rpc_url) ...
    l1.stop()

The geth binary is the one `make geth` installs into .tools/bin (or $GETH).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import BridgeError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GETH = REPO_ROOT / ".tools" / "bin" / "geth"
GETH_ENV = "GETH"
DEV_CHAIN_ID = 1337  # geth --dev's chain id
PID_FILE = "geth.pid"
LOG_FILE = "geth.log"
DEFAULT_HTTP_API = "eth,net,web3,debug,txpool"


class DevL1Error(BridgeError):
    """The local dev L1 cannot be started, found or stopped as asked."""

    code = 12


class GethNotFound(DevL1Error):
    """The pinned geth binary is missing (run `make geth`)."""

    code = 13


def geth_binary() -> Path:
    """$GETH, else the repo's .tools/bin/geth (installed by `make geth`)."""
    path = Path(os.environ.get(GETH_ENV) or DEFAULT_GETH)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise GethNotFound(f"geth not found at {path}: run `make geth`")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DevL1Config:
    datadir: Path
    http_port: int
    auth_port: int
    period: int = 1  # seconds between blocks; 0: a block only when a transaction arrives
    gas_limit: int = 60_000_000
    http_api: str = DEFAULT_HTTP_API

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.datadir / LOG_FILE

    @property
    def pid_path(self) -> Path:
        return self.datadir / PID_FILE

    def args(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "--dev",
            f"--dev.period={self.period}",
            f"--dev.gaslimit={self.gas_limit}",
            f"--datadir={self.datadir}",
            "--http",
            "--http.addr=127.0.0.1",
            f"--http.port={self.http_port}",
            f"--http.api={self.http_api}",
            "--authrpc.addr=127.0.0.1",
            f"--authrpc.port={self.auth_port}",
            "--ipcdisable",
            "--nodiscover",
            "--maxpeers=0",
            "--port=0",
            "--nat=none",
            "--verbosity=2",
        ]

    def to_json(self) -> dict[str, object]:
        return {"datadir": str(self.datadir), "http_port": self.http_port, "auth_port": self.auth_port,
                "period": self.period, "gas_limit": self.gas_limit, "http_api": self.http_api}

    @classmethod
    def from_json(cls, data: object, source: str) -> DevL1Config:
        try:
            assert isinstance(data, dict)
            return cls(Path(str(data["datadir"])), int(data["http_port"]), int(data["auth_port"]),
                       int(data.get("period", 1)), int(data.get("gas_limit", 60_000_000)),
                       str(data.get("http_api", DEFAULT_HTTP_API)))
        except (AssertionError, KeyError, TypeError, ValueError):
            raise DevL1Error(f"{source} does not describe a dev L1 (datadir, http_port, auth_port)") from None


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has exited); shared with the testnet's process control."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC call; raises OSError/ValueError on transport or format errors, DevL1Error on an RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        reply = json.loads(r.read())
    if not isinstance(reply, dict):
        raise ValueError("not a JSON-RPC reply")
    if reply.get("error"):
        raise DevL1Error(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply.get("result")


class DevL1:
    """One `geth --dev` process: started here (`process` is set) or found from its pid file."""

    def __init__(self, config: DevL1Config, pid: int, process: subprocess.Popen[bytes] | None = None) -> None:
        self.config = config
        self.pid = pid
        self.process = process

    @property
    def rpc_url(self) -> str:
        return self.config.rpc_url

    @classmethod
    def start(cls, config: DevL1Config, *, timeout: float = 30.0, binary: Path | None = None) -> DevL1:
        """Start geth, wait until its RPC answers with the dev account; on any failure it is stopped again."""
        binary = binary or geth_binary()
        running = cls.find(config)
        if running is not None:
            raise DevL1Error(f"a dev L1 is already running on {config.datadir} (pid {running.pid})")
        config.datadir.mkdir(parents=True, exist_ok=True)
        with config.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting geth --dev\n".encode())
            log.flush()
            process = subprocess.Popen(config.args(binary), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        config.pid_path.write_text(f"{process.pid}\n")
        node = cls(config, process.pid, process)
        try:
            node.wait_ready(timeout)
        except BaseException:
            node.stop()
            raise
        return node

    @classmethod
    def find(cls, config: DevL1Config) -> DevL1 | None:
        """The geth running on `config.datadir`, from its pid file (a stale pid file is ignored)."""
        try:
            pid = int(config.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        cmd = _cmdline(pid)
        if process_alive(pid) and b"geth" in cmd and f"--datadir={config.datadir}".encode() in cmd:
            return cls(config, pid)
        return None

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return process_alive(self.pid)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self.process.returncode if self.process is not None else "?"
                raise DevL1Error(f"geth exited with {code}; end of {self.config.log_path}:\n{self.log_tail()}")
            try:
                if rpc_call(self.rpc_url, "eth_accounts", timeout=1.0):
                    return
            except (OSError, ValueError, DevL1Error):
                pass
            time.sleep(0.1)
        raise DevL1Error(f"geth did not answer on {self.rpc_url} within {timeout:.0f} s; "
                         f"end of {self.config.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.config.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None:
                try:
                    self.process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    continue
                return True
            if not process_alive(self.pid):
                return True
            time.sleep(0.1)
        return not self.running()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM geth's process group and wait; SIGKILL it if it is still there after `timeout`."""
        if self.running():
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    break
                except PermissionError:
                    raise DevL1Error(f"not allowed to stop geth (pid {self.pid})") from None
                if self._wait_gone(wait):
                    break
        if self.running():
            raise DevL1Error(f"geth (pid {self.pid}) did not stop")
        try:
            if self.config.pid_path.read_text().strip() == str(self.pid):
                self.config.pid_path.unlink()
        except OSError:
            pass


def is_answering(url: str) -> bool:
    try:
        rpc_call(url, "eth_chainId", timeout=1.0)
    except (OSError, ValueError, DevL1Error, urllib.error.URLError):
        return False
    return True
