"""Run real nodes for integration tests: `sidechain init` + `sidechain start`, on free 127.0.0.1
ports in temp dirs, always killed at teardown."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SIDECHAIN = [sys.executable, "-m", "sidechain.cli"]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rpc(url: str, path: str, timeout: float = 5, **params: Any) -> Any:
    q = ("?" + urllib.parse.urlencode({k: json.dumps(v) if isinstance(v, str) else v for k, v in params.items()})
         if params else "")
    with urllib.request.urlopen(f"{url}/{path}{q}", timeout=timeout) as r:
        body = json.loads(r.read())
    if "error" in body:
        raise RuntimeError(f"rpc {path}: {body['error']}")
    return body["result"]


@dataclass
class Node:
    home: Path
    chain_id: str = "test-chain"
    transport: str = "socket"
    timeout_commit: str | None = "100ms"  # None: CometBFT's default
    moniker: str = "node0"
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Arguments of tests.support.crash_node (e.g. ["--before-commit-height", "6"]): the next start
    # runs the node with that crash injected; empty: a plain `sidechain start`.
    crash: list[str] = field(default_factory=list)
    starts: int = 0
    log_offset: int = 0  # size of cometbft.log when the current run started

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['rpc']}"

    @property
    def console_log(self) -> Path:
        return self.home / f"console-{self.starts}.log"

    def init(self, extra: list[str] | None = None) -> None:
        rpc_p, p2p, abci, metrics, cmetrics = free_ports(5)
        self.ports = {"rpc": rpc_p, "p2p": p2p, "abci": abci, "metrics": metrics, "cometbft_metrics": cmetrics}
        cmd = SIDECHAIN + [
            "init", "--home", str(self.home), "--chain-id", self.chain_id, "--moniker", self.moniker,
            "--abci-transport", self.transport,
            *(["--timeout-commit", self.timeout_commit] if self.timeout_commit else []),
            "--rpc-port", str(rpc_p), "--p2p-port", str(p2p), "--abci-port", str(abci),
            "--metrics-port", str(metrics), "--cometbft-metrics-port", str(cmetrics), *(extra or []),
        ]
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)

    def start(self, *args: str) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        clog = self.home / "logs" / "cometbft.log"
        self.log_offset = clog.stat().st_size if clog.exists() else 0
        env = {**os.environ, **self.env}
        out = self.console_log.open("wb")
        cmd = ([sys.executable, "-m", "tests.support.crash_node", "--home", str(self.home), *self.crash]
               if self.crash else SIDECHAIN + ["start", "--home", str(self.home), *args])
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        out.close()

    def cometbft_pid(self) -> int | None:
        if self.proc is None:
            return None
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        for k in kids:
            try:
                if b"cometbft" in Path(f"/proc/{k}/cmdline").read_bytes():
                    return int(k)
            except FileNotFoundError:
                continue
        return None

    def height(self) -> int:
        return int(rpc(self.rpc_url, "status")["sync_info"]["latest_block_height"])

    def wait_height(self, h: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"node exited with {self.proc.returncode}:\n{self.console_log.read_text()}")
            try:
                cur = self.height()
                if cur >= h:
                    return cur
            except (OSError, urllib.error.URLError, RuntimeError, KeyError) as e:
                last_err = e
            time.sleep(0.1)
        raise AssertionError(f"height {h} not reached within {timeout}s (last error {last_err}); "
                             f"console:\n{self.console_log.read_text()[-3000:]}")

    def cometbft_log_since_start(self) -> str:
        with (self.home / "logs" / "cometbft.log").open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def abci_info(self) -> dict[str, Any]:
        r = rpc(self.rpc_url, "abci_info")["response"]
        return {"height": int(r.get("last_block_height", 0)),
                "app_hash": base64.b64decode(r.get("last_block_app_hash", ""))}

    def block_results_app_hash(self, height: int) -> bytes:
        res = rpc(self.rpc_url, "block_results", height=height)
        return base64.b64decode(res["app_hash"]) if res.get("app_hash") else b""

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("node did not stop on SIGTERM") from None

    def kill(self) -> None:
        """SIGKILL the supervisor and its cometbft child (teardown)."""
        cpid = self.cometbft_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if cpid is not None:
            try:
                os.kill(cpid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A zombie child of a dead parent is reaped by init; treat Z as gone.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.split(")")[-1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive after {timeout}s")
