"""Multi-validator networks for integration tests: built by genesis.network on free 127.0.0.1 ports in a
temp dir, run by genesis.testnet.Processes, always killed at teardown.

`TestNetwork.build(root, l1=True)` also starts a `geth --dev` (tests.support.bridge_l1.l1) and gives the
network the bridge the product testnet gives it (genesis.l1: the contract deployed for the genesis
validators, the test ERC-20, funded L1 keys, app_state.bridge, `[bridge] l1_rpc`, bridge.json)."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis import l1 as l1net
from genesis.home import NodePorts
from genesis.network import Network, build_network
from genesis.spec import NetworkSpec, NodeSettings, default_spec
from genesis.testkeys import TestKeyring
from genesis.testnet import Processes, block_hashes, node_height, port_is_free, rpc
from tests.support.bridge_l1.l1 import GethDevNode
from tests.support.node import free_ports

# Short timeouts: blocks every few hundred ms, and a missing proposer costs 1 s, not 3 s.
FAST = NodeSettings(timeout_commit="100ms", timeout_propose="1s", flush_throttle_timeout="10ms")


def free_node_ports(n: int) -> list[NodePorts]:
    ports = free_ports(5 * n)
    return [NodePorts(*ports[5 * i : 5 * i + 5]) for i in range(n)]


def free_base_port(count: int, lo: int = 20000, hi: int = 32000) -> int:
    """A base port with `count` consecutive free ports above it (below the ephemeral range)."""
    import random

    for _ in range(200):
        base = random.randrange(lo, hi - count, 10)
        if all(port_is_free(base + k) for k in range(count)):
            return base
    raise RuntimeError("no free block of ports found")


@dataclass
class TestNetwork:
    __test__ = False

    net: Network
    procs: Processes
    l1: GethDevNode | None = None
    bridge: l1net.BridgeInfo | None = None
    deployed_at: int = 0

    @classmethod
    def build(cls, root: Path, n: int = 4, spec: NetworkSpec | None = None, *, l1: bool = False) -> TestNetwork:
        spec = spec or default_spec(n, chain_id="testnet-it", node=FAST)
        keys = TestKeyring(root / "client", spec.params.address_prefix)
        net = build_network(spec, root, free_node_ports(len(spec.validators)), keys)
        network = cls(net, Processes(net))
        if l1:
            network.l1 = GethDevNode.start(period=1)
            try:
                valset = l1net.genesis_valset(l1net.read_genesis(root)["app_state"])
                network.bridge, network.deployed_at = l1net.deploy_dev_bridge(network.l1.rpc_url, root, valset)
                l1net.connect_network(net, network.bridge, network.deployed_at, valset)
            except BaseException:
                network.l1.stop()
                raise
        return network

    @property
    def indices(self) -> list[int]:
        return [n.index for n in self.net.nodes]

    def url(self, i: int) -> str:
        return self.net.nodes[i].rpc_url

    def start(self, indices: Sequence[int] | None = None) -> None:
        for i in self.indices if indices is None else indices:
            self.procs.start(i)

    def stop(self, indices: Sequence[int]) -> None:
        stopped = self.procs.stop(indices)
        assert stopped == sorted(indices), f"expected to stop {indices}, stopped {stopped}"

    def height(self, i: int) -> int:
        h = node_height(self.net.nodes[i])
        assert h is not None, f"{self.net.nodes[i].moniker} does not answer RPC"
        return h

    def wait_height(self, indices: Sequence[int], height: int, timeout: float = 90) -> None:
        self.procs.wait_height(indices, height, timeout)

    def hashes(self, i: int, height: int) -> tuple[str, str]:
        h = block_hashes(self.net.nodes[i], height)
        assert h is not None, f"{self.net.nodes[i].moniker} has no block {height}"
        return h

    def assert_agree(self, indices: Sequence[int], heights: Sequence[int]) -> None:
        """Same block hash and app hash at each height on every node of `indices`."""
        for h in heights:
            seen = {self.net.nodes[i].moniker: self.hashes(i, h) for i in indices}
            assert len(set(seen.values())) == 1, f"nodes disagree at height {h}: {seen}"
            assert all(app for _, app in seen.values()), f"empty app hash at height {h}"

    def validators(self, i: int, height: int = 1) -> dict[str, int]:
        """{pub_key base64: voting power} of the validator set at `height`, as node i has it."""
        res = rpc(self.url(i), f"validators?height={height}&per_page=100")
        return {v["pub_key"]["value"]: int(v["voting_power"]) for v in res["validators"]}

    def kill_all(self) -> None:
        """Kill every node, and the L1 if the network has one."""
        self.procs.kill_all()
        if self.l1 is not None:
            self.l1.stop()


def wait_until(cond: object, timeout: float, what: str, interval: float = 0.2) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _listen_table() -> dict[str, tuple[str, int]]:
    """{socket inode: (local IP, port)} of every listening TCP socket on this host."""
    import ipaddress

    out = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":
                continue
            ip_hex, port_hex = f[1].rsplit(":", 1)
            raw = bytes.fromhex(ip_hex)
            # /proc prints each 32-bit word of the address in host (little-endian) byte order.
            ip = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            out[f[9]] = (str(ipaddress.ip_address(ip)), int(port_hex, 16))
    return out


def listening_addresses(pids: Sequence[int]) -> list[tuple[str, int]]:
    """Every (IP, port) that the processes `pids` listen on."""
    import os

    table = _listen_table()
    found = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in table:
                found.append(table[link[8:-1]])
    return sorted(set(found))
