"""`python -m genesis.testnet` (what the make testnet targets run), as a user drives it: up, up again,
status, logs, stop, stop again, restart, a port already taken, clean."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis.network import Network
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import Processes, _children
from tests.support.node import REPO
from tests.support.testnet import free_base_port, listening_addresses

pytestmark = pytest.mark.integration


def run_testnet(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genesis.testnet", "--dir", str(root), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=180)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    r = tmp_path / "tn"
    yield r
    if (r / "network.json").exists():
        Processes(Network.load(r)).kill_all()


def test_up_status_stop_restart_clean(root: Path) -> None:
    base = free_base_port(40)
    up = run_testnet(root, "up", "-n", "3", "--base-port", str(base), "--timeout-commit", "200ms", "--no-l1")
    assert up.returncode == 0, up.stderr + up.stdout
    out = up.stdout
    assert "testnet up: all 3 validators committed first block" in out
    assert "chain id: sidechain-testnet" in out
    for i in range(3):
        assert f"rpc http://127.0.0.1:{base + 10 * i} " in out
    for name in ("val0", "val1", "val2", "alice", "bob"):
        assert any(ln.split()[:1] == [name] and ln.split()[1].startswith("side1") for ln in out.splitlines())
    assert f"TEST ONLY: published passphrase '{TEST_PASSPHRASE}'" in out
    assert "stop with: make testnet-stop" in out
    # Nothing listens beyond 127.0.0.1: every listening socket of the nodes and their cometbft.
    procs = Processes(Network.load(root))
    pids = [p for i in range(3) if (p := procs.pid(i)) is not None]
    pids += [c for p in pids for c in _children(p)]
    assert len(pids) == 6
    addrs = listening_addresses(pids)
    expected = {base + 10 * i + k for i in range(3) for k in (0, 1, 2, 3)}  # rpc, p2p, abci, app metrics
    assert {port for _, port in addrs} == expected, addrs
    assert {ip for ip, _ in addrs} == {"127.0.0.1"}, addrs

    again = run_testnet(root, "up", "-n", "3", "--base-port", str(base), "--no-l1")
    assert again.returncode == 0 and "testnet already running" in again.stdout

    st = run_testnet(root, "status")
    assert st.returncode == 0, st.stderr
    assert "agree: at height" in st.stdout and "all 3 running nodes" in st.stdout, st.stdout

    logs = run_testnet(root, "logs", "--lines", "5")
    assert logs.returncode == 0 and logs.stdout.count("==> val") == 3 and " block " in logs.stdout

    stop = run_testnet(root, "stop")
    assert stop.returncode == 0 and "stopped 3 node(s)" in stop.stdout
    net = Network.load(root)
    assert Processes(net).running() == []
    stop2 = run_testnet(root, "stop")
    assert stop2.returncode == 0 and "testnet is not running: nothing to stop" in stop2.stdout
    st2 = run_testnet(root, "status")
    assert st2.returncode == 0 and "not running: start it with make testnet" in st2.stdout

    # A different size for the existing stopped network is refused with what to do.
    other = run_testnet(root, "up", "-n", "4", "--base-port", str(base), "--no-l1")
    assert other.returncode == 1 and "N=3" in other.stderr and "make testnet-clean" in other.stderr

    # Restart keeps the chain: it goes on from where it stopped.
    re = run_testnet(root, "up", "-n", "3", "--base-port", str(base), "--no-l1")
    assert re.returncode == 0, re.stderr
    assert "restarting the stopped testnet" in re.stdout and "committed block" in re.stdout

    clean = run_testnet(root, "clean")
    assert clean.returncode == 0 and "stopped 3 node(s)" in clean.stdout and "deleted" in clean.stdout
    assert not root.exists()
    clean2 = run_testnet(root, "clean")
    assert clean2.returncode == 0 and "nothing to clean" in clean2.stdout


def test_port_already_taken_is_named_with_its_holder(root: Path) -> None:
    base = free_base_port(40)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", base + 11))  # node 1's p2p port
        s.listen()
        r = run_testnet(root, "up", "-n", "2", "--base-port", str(base), "--no-l1")
    assert r.returncode == 1
    expected = f"error: port {base + 11} (val1 p2p) on 127.0.0.1 is already in use by pid {os.getpid()} "
    assert r.stderr.startswith(expected), r.stderr
    assert "BASE_PORT=" in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not root.exists(), "nothing is built when a port is taken"


def test_stop_and_status_without_a_network(root: Path) -> None:
    cases = (("stop", "nothing to stop"), ("status", "start one with make testnet"),
             ("clean", "nothing to clean"), ("logs", "start one with make testnet"))
    for cmd, expected in cases:
        r = run_testnet(root, cmd)
        assert r.returncode == 0 and expected in r.stdout, (cmd, r.stdout, r.stderr)
