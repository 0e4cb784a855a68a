"""What `make testnet` prints is what a new user types: the printed command lines, run as printed
(through bash, from the repository, with nothing else set), work; then the same live network is
given bad input (unknown denoms, a fee below the minimum, a block that does not exist, mistyped
addresses, no passphrase and no terminal) and every answer is one `error:` line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from genesis.network import Network
from genesis.testkeys import TEST_PASSPHRASE
from genesis.testnet import Processes
from tests.support.cli import Run, assert_one_line_error, clean_env, run_inprocess, run_subprocess, sidechain_argv
from tests.support.node import REPO, free_ports
from tests.support.testnet import free_base_port

pytestmark = pytest.mark.integration


@dataclass
class Up:
    root: Path
    out: str
    client: Path
    base: int

    def rpc(self, i: int) -> str:
        return f"127.0.0.1:{self.base + 10 * i}"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("printed") / "tn"
    base = free_base_port(30)
    try:
        r = subprocess.run([sys.executable, "-m", "genesis.testnet", "--dir", str(root), "up", "-n", "2",
                            "--base-port", str(base), "--timeout-commit", "100ms", "--no-l1"],
                           capture_output=True, text=True, cwd=REPO, timeout=180, env=clean_env())
        assert r.returncode == 0, r.stdout + r.stderr
        yield Up(root, r.stdout, root / "client", base)
    finally:
        if (root / "network.json").exists():
            Processes(Network.load(root)).kill_all()


def printed_commands(out: str) -> list[str]:
    """The indented lines under "try it", in order."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("try it"))
    block = []
    for ln in lines[start + 1 :]:
        if not ln.startswith("  "):
            break
        block.append(ln.strip())
    return block


def test_printed_commands_run_as_printed(up: Up) -> None:
    commands = printed_commands(up.out)
    assert commands[0] == f"export SIDECHAIN_KEYRING_PASSPHRASE={TEST_PASSPHRASE}"
    assert any(" tx send " in c for c in commands) and any(" query balance " in c for c in commands)
    assert all("--node" not in c for c in commands), "the client config makes --node unnecessary"
    assert (up.client / "config" / "client.toml").is_file()
    before = json.loads(run_inprocess("sidechain", ["query", "balance", "bob", "--denom", "stake", "--home",
                                                     str(up.client), "-o", "json"]).stdout)["amount"]
    # Each printed line on its own line of one bash script, stopping at the first failure.
    marked = [f"{c}\necho '<<<{i}>>>'" for i, c in enumerate(commands)]
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(marked)], capture_output=True, text=True,
                       cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert r.stderr == "", r.stderr
    outputs = re.split(r"<<<\d+>>>\n", r.stdout)
    by_command = dict(zip(commands, outputs, strict=False))
    send = next(o for c, o in by_command.items() if " tx send " in c)
    assert re.match(r"sent 10stake to side1\w+ \(fee 1stake\) in block \d+, tx [0-9A-F]{64}", send), send
    balance = next(o for c, o in by_command.items() if " query balance " in c)
    assert f"{int(before) + 10}stake" in balance, balance
    status = next(o for c, o in by_command.items() if " status " in c)
    assert "app hash after block" in status and "(the state after block" in status, status


def test_status_app_hash_is_the_one_in_the_log(up: Up) -> None:
    r = run_inprocess("sidechain", ["status", "--home", str(up.client), "-o", "json"])
    st = json.loads(r.stdout)
    log = (up.root / "node0" / "logs" / "console.log").read_text()
    line = next(ln for ln in log.splitlines() if f"block {st['app_height']}  " in ln)
    assert f"app_hash {st['app_hash'][:12]}" in line, (line, st)
    assert st["header_app_hash"] != st["app_hash"] or st["app_height"] != st["height"]


def test_node_flag_forms_reach_the_other_node(up: Up) -> None:
    for form in (up.rpc(1), f"tcp://{up.rpc(1)}", f"http://{up.rpc(1)}/"):
        r = run_inprocess("sidechain", ["status", "--node", form, "-o", "json"])
        assert r.code == 0 and json.loads(r.stdout)["moniker"] == "val1", (form, r.stderr)


def _send(up: Up, *args: str, to: str = "bob", amount: str = "10stake", fee: str = "1stake") -> list[str]:
    return ["tx", "send", "alice", to, amount, "--fee", fee, "--home", str(up.client), *args]


def test_bad_input_against_a_live_chain(up: Up, tmp_path: Path) -> None:
    bob = json.loads(run_inprocess("sidechain", ["keys", "show", "bob", "--home", str(up.client), "-o",
                                                  "json"]).stdout)["address"]
    typo = bob[:10] + ("q" if bob[10] != "q" else "p") + bob[11:]
    other = tmp_path / "other"
    (other / "config").mkdir(parents=True)
    (other / "config" / "client.toml").write_text(f'node = "{up.rpc(0)}"\nchain-id = "another-chain"\n')
    for src in (up.client / "keyring").glob("*.key.json"):
        (other / "keyring").mkdir(exist_ok=True, mode=0o700)
        (other / "keyring" / src.name).write_bytes(src.read_bytes())
    dead = free_ports(1)[0]
    pw = {"SIDECHAIN_KEYRING_PASSPHRASE": TEST_PASSPHRASE}
    cases: list[tuple[str, list[str], dict[str, str], str]] = [
        ("denom typo", _send(up, amount="10stak"), pw, "AMOUNT 10stak: unknown denom 'stak'; this chain knows "
                                                       "l1/eth, stake"),
        ("balance of a denom never seen", ["query", "balance", "bob", "--denom", "stak", "--home", str(up.client)],
         {}, "--denom: unknown denom 'stak'; this chain has never had it"),
        ("fee of zero", _send(up, fee="0stake"), pw, "--fee 0stake is below the chain's minimum fee of 1stake"),
        ("fee in an unknown denom", _send(up, fee="1foo"), pw, "--fee 1foo: fees are not accepted in 'foo'"),
        ("two fee coins", _send(up, fee="1stake,1l1/eth"), pw, "--fee takes one coin"),
        ("80-digit amount", _send(up, amount="9" * 80 + "stake"), pw, "(80 digits) is too large"),
        ("block that does not exist", ["query", "block", "999999", "--home", str(up.client)], {},
         "block 999999 does not exist yet: the latest is"),
        ("recipient with a typo", _send(up, to=typo), pw, "bad checksum: a character is mistyped"),
        ("recipient neither key nor address", _send(up, to="bobby"), pw, "'bobby' is neither a key in"),
        ("recipient of another chain", _send(up, to="cosmos1" + bob[5:]), pw, "prefix is 'cosmos', expected 'side'"),
        ("no passphrase, no terminal", _send(up), {}, "no passphrase of 'alice': there is no terminal"),
        ("wrong passphrase", _send(up), {"SIDECHAIN_KEYRING_PASSPHRASE": "not the passphrase"},
         "wrong passphrase for key 'alice'"),
        ("client config names another chain", [*_send(up)[:-2], "--home", str(other)], pw,
         "serves chain 'sidechain-testnet', but"),
        ("dead --node", [*_send(up), "--node", f"127.0.0.1:{dead}"], pw,
         f"cannot reach the node's RPC at http://127.0.0.1:{dead} (from --node)"),
        ("account typo", ["query", "account", typo, "--home", str(up.client)], {}, "bad checksum"),
        ("tx hash", ["query", "tx", "abc", "--home", str(up.client)], {}, "must be 64 hex digits"),
        ("unknown tx", ["query", "tx", "AB" * 32, "--home", str(up.client)], {}, "not found"),
        ("route", ["query", "path", "/nope", "--home", str(up.client)], {}, "nope"),
        ("delegate a denom typo", ["tx", "staking", "delegate", "val0", "10stak", "--from", "alice", "--fee",
                                   "1stake", "--home", str(up.client)], pw, "staking takes one amount of stake"),
        ("delegate to nobody", ["tx", "staking", "delegate", "nobody", "10stake", "--from", "alice", "--fee",
                                "1stake", "--home", str(up.client)], pw, "no validator 'nobody' on this chain"),
        ("validator typo", ["query", "staking", "validator", "val9", "--home", str(up.client)], {}, "val9"),
    ]
    for name, argv, env, expected in cases:
        assert_one_line_error(run_inprocess("sidechain", argv, env), expected, name)
    # The same for a few as real processes, the way a user's shell runs them.
    for name, argv, env, expected in cases[:3] + cases[10:11]:
        r: Run = run_subprocess(sidechain_argv(*argv), env)
        assert_one_line_error(r, expected, f"{name} (process)")
    # Nothing of these reached the chain: alice's sequence is what the one printed send made it.
    acct = json.loads(run_inprocess("sidechain", ["query", "account", "alice", "--home", str(up.client), "-o",
                                                   "json"]).stdout)
    assert int(acct["sequence"]) <= 1
