"""Proof of stake on a real 4-validator network (real cometbft): CometBFT's validator set follows
stake; unbonding waits; rewards accrue; downtime jails and unjail restores; a fifth node becomes a
validator; a validator that double-signs for real is slashed, tombstoned and removed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genesis.spec import GenesisParams, default_spec
from genesis.testkeys import TEST_PASSPHRASE
from tests.support.node import REPO, SIDECHAIN, free_ports, rpc
from tests.support.testnet import FAST, TestNetwork, wait_until

pytestmark = pytest.mark.integration

ALL = [0, 1, 2, 3]
POS_PARAMS = {
    "staking": {"unbonding_time": "20s"},
    "slashing": {"signed_blocks_window": 30, "min_signed_per_window_bps": 5000, "downtime_jail_duration": "3s",
                 "slash_fraction_downtime_bps": 100, "slash_fraction_double_sign_bps": 500,
                 "max_evidence_age": "20s"},
    "distribution": {"inflation_bps": 0, "issuance_per_block": "100000"},
}


@pytest.fixture(scope="module")
def tn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestNetwork]:
    spec = default_spec(4, chain_id="pos-it", node=FAST)
    spec = type(spec)(spec.chain_id, spec.validators, spec.accounts,
                      GenesisParams(spec.params.consensus, {"staking": POS_PARAMS}), spec.node)
    t = TestNetwork.build(tmp_path_factory.mktemp("pos") / "net", spec=spec)
    try:
        t.start()
        t.wait_height(ALL, 2, timeout=120)
        yield t
    finally:
        t.kill_all()


def cli(tn: TestNetwork, *args: str, ok: bool = True) -> Any:
    r = subprocess.run(SIDECHAIN + [*args, "--home", str(tn.net.keyring), "--node", tn.url(0), "-o", "json"],
                       capture_output=True, text=True, cwd=REPO, timeout=90,
                       env={**os.environ, "SIDECHAIN_KEYRING_PASSPHRASE": TEST_PASSPHRASE})
    if ok:
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else None
    assert r.returncode != 0
    return r.stderr


def validator(tn: TestNetwork, name: str) -> dict[str, Any]:
    return cli(tn, "query", "staking", "validator", name)  # type: ignore[no-any-return]


def power_in_cometbft(tn: TestNetwork, pub_b64: str) -> int:
    vals = rpc(tn.url(0), "validators", per_page="100")["validators"]
    return next((int(v["voting_power"]) for v in vals if v["pub_key"]["value"] == pub_b64), 0)


def stake_balance(tn: TestNetwork, who: str) -> int:
    doc = cli(tn, "query", "balance", who, "--denom", "stake")
    return int(doc["amount"])


def test_cometbft_set_follows_stake_and_unbonding_waits(tn: TestNetwork) -> None:
    val1 = validator(tn, "val1")
    assert power_in_cometbft(tn, val1["consensus_pubkey"]) == 100
    cli(tn, "tx", "staking", "delegate", "val1", "50000000stake", "--from", "alice", "--fee", "1stake")
    wait_until(lambda: power_in_cometbft(tn, val1["consensus_pubkey"]) == 150, 30, "val1's power to reach 150")
    before = stake_balance(tn, "alice")
    out = cli(tn, "tx", "staking", "unbond", "val1", "20000000stake", "--from", "alice", "--fee", "1stake")
    wait_until(lambda: power_in_cometbft(tn, val1["consensus_pubkey"]) == 130, 30, "val1's power to fall to 130")
    entries = cli(tn, "query", "staking", "unbonding", "alice")["entries"]
    assert [e["balance"] for e in entries] == ["20000000"]
    time.sleep(3)
    assert stake_balance(tn, "alice") < before + 20_000_000  # not yet: the unbonding time is 20 s
    wait_until(lambda: stake_balance(tn, "alice") >= before + 20_000_000 - 2, 60, "the unbonded tokens to return")
    assert out["height"] > 0


def test_rewards_accrue_and_withdraw_pays(tn: TestNetwork) -> None:
    cli(tn, "tx", "staking", "delegate", "val2", "10000000stake", "--from", "bob", "--fee", "1stake")

    def rewards() -> int:
        body = cli(tn, "query", "distribution", "rewards", "bob", "val2")
        coins = body["rewards"][0]["rewards"]
        return int(coins[0]["dec"]) if coins else 0

    first = rewards()
    wait_until(lambda: rewards() > first, 30, "bob's rewards to grow")
    before = stake_balance(tn, "bob")
    cli(tn, "tx", "distribution", "withdraw-rewards", "val2", "--from", "bob", "--fee", "1stake")
    assert stake_balance(tn, "bob") > before - 1


def test_downtime_jails_and_unjail_restores(tn: TestNetwork) -> None:
    val3 = validator(tn, "val3")
    tn.stop([3])
    try:
        wait_until(lambda: validator(tn, "val3")["jailed"], 60, "val3 to be jailed for downtime")
        jailed = validator(tn, "val3")
        assert int(jailed["tokens"]) == 100_000_000 - 1_000_000  # 1% slashed
        wait_until(lambda: power_in_cometbft(tn, val3["consensus_pubkey"]) == 0, 30, "val3 to leave the set")
    finally:
        tn.start([3])
    tn.wait_height([3], tn.height(0), timeout=60)
    time.sleep(3)  # the jail time
    cli(tn, "tx", "staking", "unjail", "--from", "val3", "--fee", "1stake")
    wait_until(lambda: power_in_cometbft(tn, val3["consensus_pubkey"]) == 99, 30, "val3 to be back with power 99")


def _joining_home(tn: TestNetwork, root: Path, moniker: str) -> tuple[Path, subprocess.Popen[bytes]]:
    """A new node home on the network's genesis, peering with node 0, started."""
    home = root / moniker
    rpc_p, p2p, abci, metrics, cmetrics = free_ports(5)
    subprocess.run(SIDECHAIN + ["init", "--home", str(home), "--chain-id", "pos-it", "--moniker", moniker,
                                "--timeout-commit", "100ms", "--rpc-port", str(rpc_p), "--p2p-port", str(p2p),
                                "--abci-port", str(abci), "--metrics-port", str(metrics),
                                "--cometbft-metrics-port", str(cmetrics)], check=True, capture_output=True, cwd=REPO)
    shutil.copy(tn.net.root / "genesis.json", home / "config" / "genesis.json")
    node0 = tn.net.nodes[0]
    node_id = subprocess.run([str(REPO / ".tools" / "bin" / "cometbft"), "show-node-id", "--home", str(node0.home)],
                             capture_output=True, text=True, check=True).stdout.strip()
    cfg = home / "config" / "config.toml"
    text = cfg.read_text().replace('persistent_peers = ""',
                                   f'persistent_peers = "{node_id}@127.0.0.1:{node0.ports.p2p}"')
    text = text.replace("addr_book_strict = true", "addr_book_strict = false")
    text = text.replace("allow_duplicate_ip = false", "allow_duplicate_ip = true")
    cfg.write_text(text)
    log = (root / f"{moniker}.log").open("wb")
    proc = subprocess.Popen(SIDECHAIN + ["start", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO)
    return home, proc


def test_a_fifth_node_becomes_a_validator(tn: TestNetwork, tmp_path: Path) -> None:
    home, proc = _joining_home(tn, tmp_path, "val4")
    try:
        url = "http://127.0.0.1:" + _rpc_port(home)
        wait_until(lambda: _height(url) >= tn.height(0) - 1, 90, "the new node to catch up")
        cli(tn, "tx", "staking", "create-validator", "--node-home", str(home), "--amount", "40000000stake",
            "--moniker", "val4", "--from", "bob", "--fee", "1stake")
        pub = validator(tn, "val4")["consensus_pubkey"]
        h = tn.height(0)
        wait_until(lambda: power_in_cometbft(tn, pub) == 40, 30, "val4 in CometBFT's /validators with power 40")
        assert tn.height(0) <= h + 4  # within 3 blocks (plus the one this was seen in)
        wait_until(lambda: _height(url) >= tn.height(0) - 1, 30, "val4 to follow the chain as a validator")
    finally:
        proc.terminate()
        proc.wait(20)
    cli(tn, "tx", "staking", "unbond", "val4", "40000000stake", "--from", "bob", "--fee", "1stake")


def test_double_signing_for_real_is_slashed_tombstoned_and_removed(tn: TestNetwork, tmp_path: Path) -> None:
    victim = validator(tn, "val2")
    tokens = int(victim["tokens"])
    d = cli(tn, "query", "staking", "delegation", "bob", "val2")
    bob_before = int(d["tokens"])
    home, proc = _joining_home(tn, tmp_path, "twin")
    proc.terminate()
    proc.wait(20)
    # the twin signs with val2's consensus key; with timeout_propose 1ms it prevotes nil where val2 votes the block
    shutil.copy(tn.net.nodes[2].home / "config" / "priv_validator_key.json", home / "config")
    cfg = home / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace('timeout_propose = "3s"', 'timeout_propose = "1ms"'))
    shutil.rmtree(home / "data")
    (home / "data").mkdir()
    (home / "data" / "priv_validator_state.json").write_text(
        json.dumps({"height": "0", "round": 0, "step": 0}))
    log = (tmp_path / "twin2.log").open("wb")
    twin = subprocess.Popen(SIDECHAIN + ["start", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO)
    try:
        wait_until(lambda: validator(tn, "val2")["tombstoned"], 120, "val2 to be tombstoned for double signing")
    finally:
        twin.terminate()
        twin.wait(20)
    after = validator(tn, "val2")
    assert after["jailed"] and after["status"] in ("unbonding", "unbonded")
    slashed = tokens - int(after["tokens"])
    assert slashed == tokens * 500 // 10_000 or abs(slashed - tokens * 500 // 10_000) <= 1_000_000  # 5%
    wait_until(lambda: power_in_cometbft(tn, victim["consensus_pubkey"]) == 0, 30, "val2 out of /validators")
    bob_after = int(cli(tn, "query", "staking", "delegation", "bob", "val2")["tokens"])
    assert bob_after < bob_before  # the delegators lose the same fraction
    assert abs(bob_after - bob_before * int(after["tokens"]) // tokens) <= 2
    err = cli(tn, "tx", "staking", "unjail", "--from", "val2", "--fee", "1stake", ok=False)
    assert "tombstoned" in err


def _rpc_port(home: Path) -> str:
    import tomllib

    laddr = tomllib.loads((home / "config" / "config.toml").read_text())["rpc"]["laddr"]
    return str(laddr.rsplit(":", 1)[1])


def _height(url: str) -> int:
    try:
        return int(rpc(url, "status")["sync_info"]["latest_block_height"])
    except Exception:  # noqa: BLE001 - not up yet
        return 0
