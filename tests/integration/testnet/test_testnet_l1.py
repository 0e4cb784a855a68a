"""The testnet's L1 (real geth, real cometbft): `python -m genesis.testnet up` (what `make testnet` runs) starts
a geth --dev, deploys the bridge for the genesis validators, funds the L1 test keys, writes bridge.json and
the genesis section; status shows the L1 lines; stop and clean stop geth. An existing L1 (`--l1-rpc
--contract`) is used as is: a contract for other validators is refused, one for the genesis valset accepted,
and its geth is left running by stop. `TestNetwork.build(l1=True)` builds the same bridge for other tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from bridge.devnet import DevL1
from bridge.l1 import BridgeContract, L1Client
from bridge.operations import deploy
from bridge.protocol import Valset
from genesis import l1 as l1net
from genesis import testnet_relayer
from genesis.network import Network
from genesis.testnet import Processes, _children
from tests.support.bridge_l1.l1 import GethDevNode
from tests.support.node import REPO
from tests.support.testnet import TestNetwork, free_base_port, listening_addresses

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def run_testnet(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genesis.testnet", "--dir", str(root), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=240)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    r = tmp_path / "tn"
    yield r
    if (r / "network.json").exists():
        Processes(Network.load(r)).kill_all()  # nodes and the dev L1


def dev_l1_of(root: Path) -> DevL1 | None:
    config = l1net.load_dev_l1_config(root)
    return DevL1.find(config) if config is not None else None


def alive(pid: int, marker: Path) -> bool:
    """Whether `pid` still runs a command naming `marker` (a zombie or a reused pid does not count)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(marker).encode() in cmd


def geth_alive(pid: int, root: Path) -> bool:
    return alive(pid, root / "l1")


def genesis_valset_of(root: Path) -> Valset:
    return l1net.genesis_valset(json.loads((root / "genesis.json").read_text())["app_state"])


def test_up_with_a_dev_l1_status_stop_restart_clean(root: Path) -> None:
    base = free_base_port(45)
    up = run_testnet(root, "up", "-n", "4", "--base-port", str(base), "--timeout-commit", "200ms")
    assert up.returncode == 0, up.stderr + up.stdout
    rpc = f"http://127.0.0.1:{base + 40}"
    assert f"L1: geth --dev, chain id 1337, rpc {rpc}" in up.stdout, up.stdout
    assert f"everything above, for tools: {root / 'bridge.json'}" in up.stdout

    # bridge.json: the L1, the contract, the token, the guardian and the funded test keys.
    info = json.loads((root / "bridge.json").read_text())
    assert set(info) == {"l1_rpc", "l1_chain_id", "contract", "erc20", "guardian", "l1_keys", "test_keys_only"}
    assert (info["l1_rpc"], info["l1_chain_id"], info["test_keys_only"]) == (rpc, 1337, True)
    assert [k["name"] for k in info["l1_keys"]] == list(l1net.L1_TEST_KEYS)
    for k in [*info["l1_keys"], info["guardian"]]:
        assert Path(k["keystore"]).stat().st_mode & 0o777 == 0o600
        assert Path(k["passphrase_file"]).stat().st_mode & 0o777 == 0o600

    # On L1: the contract holds the genesis validators' valset (the digest bridge.protocol computes).
    client = L1Client.connect(rpc, 1337)
    bridge = BridgeContract(client, info["contract"])
    valset = genesis_valset_of(root)
    assert len(valset.validators) == 4
    assert bridge.valset_checkpoint() == bridge.domain.valset_digest(valset)
    assert (bridge.event_nonce(), bridge.valset_nonce(), bridge.guardian()) == (1, 0, info["guardian"]["address"])
    token = client.contract(l1net.TOKEN_ARTIFACT, info["erc20"])
    for k in info["l1_keys"]:
        assert client.balance(k["address"]) == l1net.ETH_PER_KEY
        assert token.functions.balanceOf(k["address"]).call() == l1net.TOKEN_PER_KEY
    assert l1net.read_contract_genesis(rpc, info["contract"]).valset == valset  # its logs say the same

    # The genesis the nodes started with, and each validator's watcher config.
    genesis = json.loads((root / "genesis.json").read_text())
    if l1net.bridge_module_enabled():
        section = genesis["app_state"]["bridge"]
        assert section == l1net.bridge_genesis_section(1337, info["contract"], section["deployed_at"], valset)
        assert section["deployed_at"] == l1net.read_contract_genesis(rpc, info["contract"]).deployed_at
        assert client.w3.eth.get_code(info["contract"], section["deployed_at"] - 1) == b""
        for i in range(4):
            node_genesis = json.loads((root / f"node{i}" / "config" / "genesis.json").read_text())
            assert node_genesis["app_state"]["bridge"] == section
    else:
        assert "bridge" not in genesis["app_state"] or genesis["app_state"]["bridge"] in ({}, None)
    for i in range(4):
        app = tomllib.loads((root / f"node{i}" / "config" / "app.toml").read_text())
        assert (app["bridge"]["l1_rpc"], app["bridge"]["finality"]) == (rpc, "confirmations")

    # geth listens on 127.0.0.1 only: its RPC (and the engine API, should it open one).
    geth = dev_l1_of(root)
    assert geth is not None
    addrs = listening_addresses([geth.pid])
    assert {ip for ip, _ in addrs} == {"127.0.0.1"} and base + 40 in {p for _, p in addrs}, addrs
    assert {p for _, p in addrs} <= {base + 40, base + 41}, addrs

    st = run_testnet(root, "status")
    assert st.returncode == 0, st.stderr
    l1_line = next(ln for ln in st.stdout.splitlines() if ln.startswith("dev L1 (geth --dev)"))
    head = int(l1_line.split("head ")[1].split(",")[0])
    assert f"{rpc} (chain id 1337): head {head}, " in l1_line and f"confirmed (head - 2) {head - 2}" in l1_line
    bridge_line = next(ln for ln in st.stdout.splitlines() if ln.startswith(f"bridge {info['contract']}: "))
    assert "observed_l1_height " in bridge_line and "lag " in bridge_line, bridge_line
    assert "agree: at height" in st.stdout

    # One relayer for the network (genesis.testnet_relayer): its funded TEST ONLY key (0600), its log, its status.
    relayer_pid = testnet_relayer.relayer_pid(root)
    if l1net.bridge_module_enabled():
        assert relayer_pid is not None and "relayer started (pid" in up.stdout, up.stdout
        keystore = testnet_relayer.RelayerPaths(root).keystore
        assert keystore.stat().st_mode & 0o777 == 0o600
        assert client.balance("0x" + json.loads(keystore.read_text())["address"]) > 0
        assert f"relayer: running (pid {relayer_pid})" in st.stdout, st.stdout
        log = testnet_relayer.RelayerPaths(root).log
        deadline = time.monotonic() + 60  # its first round, once Python and the keystore have loaded
        while "relaying for bridge" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "relaying for bridge" in log.read_text(), log.read_text()

    node_pids = [p for i in range(4) if (p := Processes(Network.load(root)).pid(i)) is not None]
    node_pids += [c for p in node_pids for c in _children(p)]
    stop = run_testnet(root, "stop")
    stopped = "stopped 4 node(s), the relayer and the dev L1 (geth)" if relayer_pid else "stopped 4 node(s) and the dev"
    assert stop.returncode == 0 and stopped in stop.stdout, stop.stdout
    assert relayer_pid is None or (not alive(relayer_pid, root) and testnet_relayer.relayer_pid(root) is None)
    assert dev_l1_of(root) is None and not geth_alive(geth.pid, root)
    assert node_pids and not any(alive(p, root) for p in node_pids)
    down = run_testnet(root, "status")
    assert f"dev L1 (geth --dev) {rpc} (chain id 1337): stopped" in down.stdout, down.stdout

    # A restart brings the same L1 chain back (the contract is still there) with the nodes.
    re = run_testnet(root, "up", "-n", "4", "--base-port", str(base))
    assert re.returncode == 0, re.stderr + re.stdout
    assert "restarting the dev L1 (geth --dev)" in re.stdout
    assert relayer_pid is None or "relayer started (pid" in re.stdout, re.stdout
    assert BridgeContract(L1Client.connect(rpc, 1337), info["contract"]).event_nonce() == 1
    assert client.w3.eth.block_number > head

    geth = dev_l1_of(root)
    assert geth is not None
    clean = run_testnet(root, "clean")
    assert clean.returncode == 0 and "stopped the dev L1 (geth)" in clean.stdout and not root.exists()
    assert relayer_pid is None or "stopped the relayer" in clean.stdout, clean.stdout
    assert not geth_alive(geth.pid, root)


def test_an_existing_l1(root: Path) -> None:
    with GethDevNode.start(period=1) as l1:
        client = L1Client.connect(l1.rpc_url, 1337)
        deployer = Account.create()
        client.w3.eth.wait_for_transaction_receipt(client.w3.eth.send_transaction(
            {"from": client.w3.eth.accounts[0], "to": deployer.address, "value": 10**19}))
        other = deploy(client, Valset.from_stakes(0, {Account.create().address: 1}), deployer.address, deployer)

        base = free_base_port(25)
        refused = run_testnet(root, "up", "-n", "2", "--base-port", str(base), "--l1-rpc", l1.rpc_url,
                              "--contract", other.contract)
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: contract {other.contract} on chain 1337 holds a valset of 1 "
                                         "validator(s) that is not this testnet's genesis valset"), refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "never started" in refused.stdout and (root / "genesis-valset.json").exists()

        # Deploy one for the genesis valset the refusal pointed at; the kept network starts on it.
        valset = Valset.load(root / "genesis-valset.json")
        assert valset == genesis_valset_of(root)
        ours = deploy(client, valset, deployer.address, deployer)
        up = run_testnet(root, "up", "-n", "2", "--base-port", str(base), "--l1-rpc", l1.rpc_url,
                         "--contract", ours.contract)
        assert up.returncode == 0, up.stderr + up.stdout
        assert f"L1: {l1.rpc_url} (chain id 1337, not run by this tool)" in up.stdout
        info = json.loads((root / "bridge.json").read_text())
        assert (info["contract"], info["erc20"], info["guardian"], info["l1_keys"]) == (ours.contract, None, None, [])
        if l1net.bridge_module_enabled():
            section = json.loads((root / "genesis.json").read_text())["app_state"]["bridge"]
            assert (section["contract"], section["valset"]) == (ours.contract, valset.to_json())
            assert section["deployed_at"] == l1net.read_contract_genesis(l1.rpc_url, ours.contract).deployed_at

        # The L1 cannot change under a stopped network; stop leaves an L1 it did not start running.
        stop = run_testnet(root, "stop")
        assert stop.returncode == 0 and "stopped 2 node(s);" in stop.stdout and "dev L1" not in stop.stdout
        assert l1.process.poll() is None
        moved = run_testnet(root, "up", "-n", "2", "--base-port", str(base), "--l1-rpc", l1.rpc_url,
                            "--contract", other.contract)
        assert moved.returncode == 1 and "whose L1 cannot change" in moved.stderr, moved.stderr
        clean = run_testnet(root, "clean")
        assert clean.returncode == 0 and l1.process.poll() is None


def test_network_built_with_l1(tmp_path: Path) -> None:
    """The test networks' bridge (tests.support.testnet) is the product's: same contract valset, same files."""
    net = TestNetwork.build(tmp_path / "net", 4, l1=True)
    try:
        assert net.l1 is not None and net.bridge is not None
        info = l1net.read_bridge_json(net.net.root)
        assert info == net.bridge
        client = L1Client.connect(net.l1.rpc_url, 1337)
        bridge = BridgeContract(client, net.bridge.contract)
        assert bridge.valset_checkpoint() == bridge.domain.valset_digest(genesis_valset_of(net.net.root))
        for n in net.net.nodes:
            app = tomllib.loads((n.home / "config" / "app.toml").read_text())
            assert app["bridge"]["l1_rpc"] == net.l1.rpc_url
    finally:
        net.kill_all()
    assert net.l1.process.poll() is not None
