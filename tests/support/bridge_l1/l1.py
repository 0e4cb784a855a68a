"""A real L1 for integration tests: `geth --dev` on 127.0.0.1 (bridge.devnet), in a temporary datadir.

The process is the product's dev L1 (bridge.devnet.DevL1: HTTP RPC and engine API on free 127.0.0.1 ports;
p2p, discovery and IPC off; the dev account pre-funded and unlocked). `GethDevNode` is a context manager that
always kills the process and removes the datadir it made.

    with GethDevNode.start() as node:
        client = L1Client.connect(node.rpc_url)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bridge.devnet import DevL1, DevL1Config, GethNotFound, free_port, geth_binary

__all__ = ["GethDevNode", "GethNotFound", "free_port", "geth_binary"]


@dataclass
class GethDevNode:
    l1: DevL1
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
        geth_binary()
        owns = datadir is None
        datadir = Path(tempfile.mkdtemp(prefix="geth-dev-")) if datadir is None else datadir
        config = DevL1Config(datadir, http_port=free_port(), auth_port=free_port(), period=period,
                             gas_limit=gas_limit)
        try:
            l1 = DevL1.start(config, timeout=timeout)
        except BaseException:
            if owns:
                shutil.rmtree(datadir, ignore_errors=True)
            raise
        return cls(l1, owns)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.l1.process is not None
        return self.l1.process

    @property
    def rpc_url(self) -> str:
        return self.l1.rpc_url

    @property
    def datadir(self) -> Path:
        return self.l1.config.datadir

    @property
    def log_path(self) -> Path:
        return self.l1.config.log_path

    def log_tail(self, lines: int = 30) -> str:
        return self.l1.log_tail(lines)

    def stop(self) -> None:
        self.l1.stop()
        if self._owns_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> GethDevNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
