"""A single validator: the real `cometbft` binary driving our app over each ABCI transport,
and surviving a SIGKILL of either process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.support.node import REPO, SIDECHAIN, Node, rpc, wait_gone

pytestmark = pytest.mark.integration

MISMATCH_MARKERS = ("wrong Block.Header.AppHash", "app hash mismatch", "AppHash does not match", "CONSENSUS FAILURE")


def assert_consistent(node: Node) -> None:
    """`Info` (via abci_info) agrees with what CometBFT recorded for that height."""
    info = node.abci_info()
    assert info["height"] > 0
    assert node.block_results_app_hash(info["height"]) == info["app_hash"], "Info disagrees with CometBFT"
    log = node.cometbft_log_since_start()
    for marker in MISMATCH_MARKERS:
        assert marker not in log, f"cometbft log reports {marker!r}"


@pytest.mark.parametrize("transport", ["socket", "grpc"])
def test_single_node_reaches_height_10(make_node: Callable[..., Node], transport: str) -> None:
    node = make_node(transport=transport)
    node.init()
    node.start()
    node.wait_height(10, timeout=90)
    assert_consistent(node)
    st = rpc(node.rpc_url, "status")
    assert st["node_info"]["network"] == "test-chain"
    # Metrics on 127.0.0.1: blocks, FinalizeBlock and Commit histograms. CometBFT stores block H (and
    # reports it in /status) before the app commits it, so the app's count may trail by one for a moment.
    def committed() -> tuple[float, str]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{node.ports['metrics']}/metrics", timeout=5).read().decode()
        lines = [ln for ln in text.splitlines() if ln.startswith("sidechain_blocks_committed_total ")]
        return (float(lines[0].split()[1]) if lines else 0.0), text

    deadline = time.monotonic() + 10
    while committed()[0] < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    count, metrics = committed()
    assert count >= 10
    assert "sidechain_finalize_block_seconds_count" in metrics and "sidechain_commit_seconds_bucket" in metrics
    # `sidechain status` reads the same node through its home.
    out = subprocess.run(SIDECHAIN + ["status", "--home", str(node.home), "--output", "json"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    status = json.loads(out.stdout)
    assert status["height"] >= 10 and status["chain_id"] == "test-chain" and status["catching_up"] is False
    assert status["peers"] == []
    cpid = node.cometbft_pid()
    assert cpid is not None
    # Clean stop on SIGTERM: exit 0, cometbft gone, one line per block on the console.
    assert node.stop() == 0
    wait_gone(cpid)
    console = node.console_log.read_text()
    assert "block 10  txs 0  app_hash " in console
    assert "received SIGTERM, stopped" in console


def test_app_killed_with_sigkill_recovers(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.init()
    node.start()
    node.wait_height(5, timeout=90)
    cpid = node.cometbft_pid()
    assert cpid is not None and node.proc is not None
    reached = node.height()
    os.kill(node.proc.pid, signal.SIGKILL)  # the app (and supervisor) dies without any cleanup
    node.proc.wait(10)
    wait_gone(cpid)  # cometbft follows it down (parent-death signal / lost ABCI connection)
    node.start()
    node.wait_height(reached + 5, timeout=90)
    assert_consistent(node)
    assert node.stop() == 0


def test_cometbft_killed_with_sigkill_recovers(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.init()
    node.start()
    reached = node.wait_height(5, timeout=90)
    cpid = node.cometbft_pid()
    assert cpid is not None and node.proc is not None
    os.kill(cpid, signal.SIGKILL)
    rc = node.proc.wait(30)
    assert rc != 0, "the supervisor must exit non-zero when cometbft dies"
    console = node.console_log.read_text()
    assert "cometbft exited with code -9" in console
    assert "Traceback" not in console
    node.start()
    node.wait_height(reached + 5, timeout=90)
    assert_consistent(node)
    assert node.stop() == 0


def test_crash_between_finalize_and_commit(make_node: Callable[..., Node]) -> None:
    """The app dies after FinalizeBlock of height 6 but before writing it; CometBFT replays it."""
    node = make_node()
    node.init()
    node.crash = ["--before-commit-height", "6"]
    node.start()
    assert node.proc is not None
    rc = node.proc.wait(90)
    assert rc != 0
    node.crash = []
    time.sleep(0.5)
    node.start()
    node.wait_height(12, timeout=90)
    assert_consistent(node)
    assert node.stop() == 0
