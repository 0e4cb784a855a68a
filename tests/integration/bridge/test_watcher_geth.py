"""The L1 watcher against a real `geth --dev` (a block a second): deposits at confirmation depth, then geth
stopped (the watcher keeps answering from memory) and restarted on the same datadir (it keeps its chain):
reading resumes where it stopped.

GethDevNode picks free ports, so the restarted geth has another RPC port: the watcher's connection factory
follows it (each reconnection builds a plain HTTP provider to the current URL, as the default one does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bridge.l1 import BridgeContract, L1Client
from bridge.module.events import ZERO_ADDRESS, Deposit
from bridge.module.observe import ChainProgress
from bridge.watcher import Watcher
from tests.support.bridge_l1.l1 import GethDevNode, GethNotFound, geth_binary
from tests.support.bridge_l1.validators import equal_valset, validator_accounts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
DEV_CHAIN_ID = 1337
CONFIRMATIONS = 2
RECIPIENT = b"\x42" * 20


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Geth:
    """One geth datadir, restartable."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.node: GethDevNode | None = GethDevNode.start(period=1, datadir=datadir)
        self.url = self.node.rpc_url  # while stopped: the last one, whose port is closed

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None

    def restart(self) -> None:
        self.stop()
        self.node = GethDevNode.start(period=1, datadir=self.datadir)
        self.url = self.node.rpc_url


@pytest.fixture
def geth(tmp_path: Path) -> Iterator[Geth]:
    try:
        geth_binary()
    except GethNotFound as exc:
        pytest.fail(f"{exc} (integration tests need the pinned geth)")
    g = Geth(tmp_path / "geth")
    try:
        yield g
    finally:
        g.stop()


def test_watcher_reads_at_depth_survives_geth_stopping_and_resumes(geth: Geth) -> None:
    client = L1Client.connect(geth.url, DEV_CHAIN_ID)
    dev = client.w3.eth.accounts[0]
    bridge = BridgeContract.deploy(client, equal_valset(validator_accounts(4, seed="watcher-geth")), dev, dev)
    assert client.last_receipt is not None
    deployed_at = int(client.last_receipt["blockNumber"])
    progress = ChainProgress(height=1, l1_chain_id=DEV_CHAIN_ID, contract=bytes.fromhex(bridge.address[2:]),
                             deployed_at=deployed_at, last_event_nonce=1, observed_l1_height=0,
                             l1_confirmations=CONFIRMATIONS)

    def connect() -> Web3:
        return Web3(Web3.HTTPProvider(geth.url, request_kwargs={"timeout": 2}, exception_retry_configuration=None))

    w = Watcher(geth.url, connect=connect, poll_interval=0.2, backoff=(0.1, 1.0))
    w.start()
    try:
        w.progress(progress)
        receipt = bridge.deposit_eth(RECIPIENT, 10**18, dev)
        block = int(receipt["blockNumber"])
        # Until the deposit is CONFIRMATIONS deep, it is not reported; every answer respects the depth.
        deadline = time.monotonic() + 60
        while True:
            seen = w.observed()
            head = int(client.w3.eth.block_number)
            assert seen.final_height <= head - CONFIRMATIONS
            assert all(e.l1_block <= seen.final_height for e in seen.events)
            if seen.events:
                break
            assert time.monotonic() < deadline, "the deposit was not reported within 60 s"
            time.sleep(0.05)
        assert head >= block + CONFIRMATIONS, (head, block)
        (event,) = seen.events
        assert event.nonce == 2 and event.l1_block == block and event.l1_tx == bytes(receipt["transactionHash"])
        assert event.kind == Deposit(ZERO_ADDRESS, bytes.fromhex(dev[2:]), RECIPIENT, 10**18)

        # geth stops: the watcher fails, backs off, and answers from memory at once.
        geth.stop()
        errors = w.status().errors
        wait_for(lambda: w.status().errors >= errors + 2, "failed polls while geth is down")
        assert w.status().state == "unreachable"
        t = time.perf_counter()
        for _ in range(100):
            assert w.observed().events == (event,)
        assert time.perf_counter() - t < 0.1
        final_before = w.observed().final_height

        # geth comes back with the same chain; the chain applied event 2 meanwhile.
        geth.restart()
        client = L1Client.connect(geth.url, DEV_CHAIN_ID)
        assert int(client.w3.eth.block_number) >= block  # the datadir kept its chain
        w.progress(ChainProgress(2, DEV_CHAIN_ID, progress.contract, deployed_at, 2, event.l1_block, CONFIRMATIONS))
        assert w.observed().events == ()
        second = BridgeContract(client, bridge.address).deposit_eth(RECIPIENT, 7, dev)
        wait_for(lambda: [e.nonce for e in w.observed().events] == [3], "the deposit made after the restart")
        (again,) = w.observed().events
        assert again.l1_block == int(second["blockNumber"]) and again.kind.amount == 7  # type: ignore[union-attr]
        assert w.observed().final_height > final_before
        assert w.status().state == "ok" and w.status().rescans == 0
    finally:
        w.stop(timeout=5)
