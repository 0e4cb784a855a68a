"""A real L1: one `geth --dev` per test module (tests.support.bridge_l1.l1), killed at teardown; and one
network with the bridge for the package's end-to-end tests (`bridge_network`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from genesis import l1 as l1net
from genesis.testnet import node_height
from tests.support.bridge_l1.l1 import GethDevNode, GethNotFound, geth_binary
from tests.support.tcpproxy import TcpProxy
from tests.support.testnet import TestNetwork, wait_until


@pytest.fixture(scope="module")
def geth() -> Iterator[GethDevNode]:
    try:
        geth_binary()
    except GethNotFound as exc:
        pytest.fail(f"{exc} (integration tests need the pinned geth)")
    with GethDevNode.start(period=1) as node:
        yield node


@dataclass
class BridgeNetwork:
    """Real geth --dev and a 4-validator network with the testnet's bridge setup, shared by the bridge's
    network tests (built once: about 40 s). Validator `CUT_WATCHER` reaches its L1 RPC through a TCP
    proxy a test can cut; nothing else differs from `make testnet`."""

    tn: TestNetwork
    proxy: TcpProxy


CUT_WATCHER = 1


@pytest.fixture(scope="package")
def bridge_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeNetwork]:
    tn = TestNetwork.build(tmp_path_factory.mktemp("bridge-network"), 4, l1=True)
    assert tn.l1 is not None
    proxy = TcpProxy("127.0.0.1", int(tn.l1.rpc_url.rsplit(":", 1)[1]))
    l1net.set_node_bridge_config(tn.net.nodes[CUT_WATCHER].home / "config" / "app.toml", proxy.url)
    try:
        tn.start()
        wait_until(lambda: all((node_height(n) or 0) >= 3 for n in tn.net.nodes), 120, "every node at height 3")
        yield BridgeNetwork(tn, proxy)
    finally:
        tn.kill_all()
        proxy.close()
