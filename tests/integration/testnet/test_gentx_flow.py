"""The gentx-style flow through the CLI, as three operators on three machines and one coordinator:
init-validator and join on each "machine" (its own directory), collect, install, start, blocks."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidechain.cometbft import find_cometbft
from sidechain.keyring import KdfCost, Keyring
from sidechain.types import bech32_address
from tests.support.node import REPO, SIDECHAIN, Node, free_ports, rpc
from tests.support.testnet import wait_until

pytestmark = pytest.mark.integration

CHAIN = "gentx-net-1"
POWER = 1_000_000  # tokens per unit of voting power (the default power_reduction)


def sidechain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SIDECHAIN + list(args), capture_output=True, text=True, cwd=REPO, timeout=60)


def ok(*args: str) -> str:
    r = sidechain(*args)
    assert r.returncode == 0, f"sidechain {' '.join(args)} failed: {r.stderr}"
    return r.stdout


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for n in made:
        n.kill()


def test_three_machines_collect_one_genesis_and_produce_blocks(tmp_path: Path, nodes: list[Node]) -> None:
    machines = [tmp_path / f"machine{i}" for i in range(3)]
    joins = []
    powers = [100, 200, 300]
    stakes = [p * POWER for p in powers]  # self-delegations in tokens
    operators = []
    for i, m in enumerate(machines):
        home = m / "home"
        rpc_p, p2p, abci, metrics, cmetrics = free_ports(5)
        ok("genesis", "init-validator", "--home", str(home), "--moniker", f"op{i}", "--chain-id", CHAIN,
           "--rpc-port", str(rpc_p), "--p2p-port", str(p2p), "--abci-port", str(abci),
           "--metrics-port", str(metrics), "--cometbft-metrics-port", str(cmetrics),
           "--timeout-commit", "100ms")
        # The node id in the join file is CometBFT's own.
        show = [find_cometbft(), "show-node-id", "--home", str(home)]
        cmt_id = subprocess.run(show, capture_output=True, text=True, check=True).stdout.strip()
        if i < 2:
            # The operator key in the machine's own keyring, found by the validator's moniker.
            operators.append(Keyring(home, KdfCost.MIN).add(f"op{i}", "operator-passphrase").bech32("side"))
            extra: list[str] = []
        else:
            operators.append(bech32_address(bytes(range(20)), "side"))  # an address given outright
            extra = ["--operator", operators[-1]]
        join_file = m / f"op{i}.join.json"
        ok("genesis", "join", "--home", str(home), "--stake", str(stakes[i]), "--out", str(join_file), *extra)
        body = json.loads(join_file.read_text())["body"]
        assert body["node_id"] == cmt_id and body["operator"] == operators[i] and body["chain_id"] == CHAIN
        joins.append(join_file)
        nodes.append(Node(home=home, chain_id=CHAIN, ports={"rpc": rpc_p, "p2p": p2p}))

    coordinator = tmp_path / "coordinator"
    coordinator.mkdir()
    accounts = coordinator / "accounts.json"
    accounts.write_text(json.dumps([{"address": operators[0], "coins": f"{stakes[0] + 5}stake"}]))
    genesis = coordinator / "genesis.json"
    join_args = [a for j in joins for a in ("--join", str(j))]
    out = ok("genesis", "collect", "--chain-id", CHAIN, *join_args, "--accounts", str(accounts),
             "--out", str(genesis))
    assert "3 validators (total power 600)" in out
    g = json.loads(genesis.read_text())
    vals = g["app_state"]["staking"]["validators"]
    assert [(v["moniker"], v["self_delegation"], v["operator"]) for v in vals] == [
        (f"op{i}", str(stakes[i]), operators[i]) for i in range(3)]
    # Each validator's bridge key is its home's own (config/bridge_key.json, readable by its operator only).
    for v, m in zip(vals, machines, strict=True):
        key_file = m / "home" / "config" / "bridge_key.json"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert v["bridge_address"] == json.loads(key_file.read_text())["address"].lower()
    balances = {b["address"]: b["coins"] for b in g["app_state"]["bank"]["balances"]}
    # op0 is funded by the accounts file as given; the other operators get the default operator coins.
    assert balances[operators[0]] == [{"denom": "stake", "amount": str(stakes[0] + 5)}]
    assert balances[operators[1]] == balances[operators[2]] == [{"denom": "stake", "amount": "1000000000"}]

    for n in nodes:
        out = ok("genesis", "install", "--home", str(n.home), "--genesis", str(genesis), *join_args)
        assert "this node is a validator; 2 persistent peers" in out
    for n in nodes:
        n.start()
    for n in nodes:
        n.wait_height(5, timeout=120)
    wait_until(lambda: all(n.height() >= 6 for n in nodes), 60, "height 6 everywhere")
    blocks = [rpc(n.rpc_url, "block", height=5) for n in nodes]
    hashes = {(b["block_id"]["hash"], b["block"]["header"]["app_hash"]) for b in blocks}
    assert len(hashes) == 1, hashes
    vals = rpc(nodes[0].rpc_url, "validators", height=1)["validators"]
    assert sorted(int(v["voting_power"]) for v in vals) == powers
    # Genesis bonded each stake from its operator: op0 keeps the 5 beyond it.
    r = sidechain("query", "balance", operators[0], "--denom", "stake", "--node", nodes[0].rpc_url, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["amount"] == "5", r.stdout

    # Installing the genesis again into a home that has chain data is refused, in one line.
    r = sidechain("genesis", "install", "--home", str(nodes[0].home), "--genesis", str(genesis))
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "already has chain data" in r.stderr
    assert r.stderr.count("\n") == 1


def test_init_validator_refuses_an_existing_home_and_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "h"
    ports = [str(p) for p in free_ports(5)]
    port_args = ["--rpc-port", ports[0], "--p2p-port", ports[1], "--abci-port", ports[2],
                 "--metrics-port", ports[3], "--cometbft-metrics-port", ports[4]]
    ok("genesis", "init-validator", "--home", str(home), "--moniker", "v", "--chain-id", CHAIN, *port_args)
    cases = [
        (["init-validator", "--home", str(home), "--moniker", "v", "--chain-id", CHAIN, *port_args],
         "already initialised"),
        (["init-validator", "--home", str(tmp_path / "x"), "--moniker", "bad name", "--chain-id", CHAIN],
         "moniker 'bad name'"),
        (["init-validator", "--home", str(tmp_path / "y"), "--moniker", "v", "--chain-id", "bad chain!"],
         "chain id 'bad chain!'"),
        (["join", "--home", str(home), "--stake", "10", "--out", str(tmp_path / "j.json")],
         "no operator: give --operator ADDRESS"),
        (["join", "--home", str(home), "--stake", "10", "--operator", "cosmos1xyz",
          "--out", str(tmp_path / "j.json")],
         "neither a side1... address nor a key"),
        (["join", "--home", str(home), "--stake", "0", "--operator", "x", "--out", str(tmp_path / "j.json")],
         "--stake must be positive"),
        (["join", "--home", str(tmp_path / "nohome"), "--stake", "5", "--out", str(tmp_path / "j.json")],
         "is not a node home"),
    ]
    for args, expected in cases:
        r = sidechain("genesis", *args)
        assert r.returncode == 1, (args, r.stdout)
        assert r.stderr.startswith("error: ") and expected in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_p2p_host_for_other_machines_keeps_everything_else_local(tmp_path: Path) -> None:
    import tomllib

    home = tmp_path / "h"
    rpc_p, p2p, abci, metrics, cmetrics = (str(p) for p in free_ports(5))
    ok("genesis", "init-validator", "--home", str(home), "--moniker", "far", "--chain-id", CHAIN,
       "--p2p-host", "0.0.0.0", "--rpc-port", rpc_p, "--p2p-port", p2p, "--abci-port", abci,
       "--metrics-port", metrics, "--cometbft-metrics-port", cmetrics)
    cfg = tomllib.loads((home / "config" / "config.toml").read_text())
    assert cfg["p2p"]["laddr"] == f"tcp://0.0.0.0:{p2p}"
    assert cfg["rpc"]["laddr"] == f"tcp://127.0.0.1:{rpc_p}"
    assert cfg["instrumentation"]["prometheus_listen_addr"] == f"127.0.0.1:{cmetrics}"
    assert f'address = "127.0.0.1:{metrics}"' in (home / "config" / "app.toml").read_text()
    op = bech32_address(bytes(20), "side")
    r = sidechain("genesis", "join", "--home", str(home), "--stake", "5000000", "--operator", op,
                  "--out", str(tmp_path / "far.json"))
    assert r.returncode == 1 and "peers cannot dial 0.0.0.0; give the address they should use" in r.stderr
    ok("genesis", "join", "--home", str(home), "--stake", "5000000", "--operator", op,
       "--p2p-address", "203.0.113.5:26656", "--out", str(tmp_path / "far.json"))
    body = json.loads((tmp_path / "far.json").read_text())["body"]
    assert body["p2p_address"] == "203.0.113.5:26656" and body["stake"] == "5000000"
