"""Deposit / withdraw round trip against a real `geth --dev`, driven through the `bridge` CLI where one exists.

deploy (CLI, keystore key) -> deposits of ETH and an ERC-20 -> a batch signed by the validators and submitted
by a relayer (one payout deferred) -> `bridge claim` of the deferred payout -> guardian replaced with
`bridge guardian sign` / `submit` -> the CLI's one-line errors for a wrong chain and a key without funds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from bridge.keys import write_keystore
from bridge.l1 import BridgeContract, L1Client
from bridge.protocol import ETH_TOKEN, Batch, Withdrawal
from tests.support.bridge_l1.l1 import GethDevNode
from tests.support.bridge_l1.validators import equal_valset, minimum_signers, sign_by, validator_accounts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ONE_ETH = 10**18
DEV_CHAIN_ID = 1337


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def fund(client: L1Client, to: str, amount: int) -> None:
    dev = client.w3.eth.accounts[0]
    tx = client.w3.eth.send_transaction({"from": dev, "to": to, "value": amount})
    assert client.w3.eth.wait_for_transaction_receipt(tx, timeout=60)["status"] == 1


def test_geth_listens_on_loopback_only(geth: GethDevNode) -> None:
    try:
        out = subprocess.run(["ss", "-ltnuHp"], capture_output=True, text=True, check=True).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("ss is not available")
    mine = [line.split() for line in out.splitlines() if f"pid={geth.process.pid}," in line]
    assert mine, out
    assert all(fields[4].startswith("127.0.0.1:") for fields in mine), mine


def test_round_trip(geth: GethDevNode, tmp_path: Path) -> None:
    client = L1Client.connect(geth.rpc_url, DEV_CHAIN_ID)
    deployer, user, relayer, holder, guardian = (Account.from_key(keccak(text=f"rt/{n}")) for n in range(5))
    for account in (deployer, user, relayer, holder):
        fund(client, account.address, 100 * ONE_ETH)
    validators = validator_accounts(4, seed="geth-round-trip")
    valset = equal_valset(validators)

    # -- deploy through the CLI, deployer key from a keystore file ---------------------------------------
    keystore, passphrase = tmp_path / "deployer.json", tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    write_keystore(deployer, keystore, "correct horse battery staple", iterations=2)
    valset_file = tmp_path / "valset.json"
    valset_file.write_text(json.dumps(valset.to_json()))
    common = ["--l1-rpc", geth.rpc_url, "--valset", str(valset_file), "--guardian", guardian.address]
    done = run_cli(
        "deploy", *common, "--chain-id", str(DEV_CHAIN_ID),
        "--keystore", str(keystore), "--passphrase-file", str(passphrase), "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    deployed = json.loads(done.stdout)
    assert "correct horse" not in done.stdout + done.stderr
    bridge = BridgeContract(client, deployed["contract"])
    assert bridge.event_nonce() == 1
    assert bridge.valset_checkpoint() == bridge.domain.valset_digest(valset)
    assert bridge.guardian() == guardian.address

    # -- deposits ----------------------------------------------------------------------------------------
    token = client.deploy("TestERC20", ["Round trip", "RT"], deployer)
    client.transact(token.functions.mint(user.address, 10**21), user)
    client.transact(token.functions.approve(bridge.address, 10**21), user)
    sidechain_recipient = b"\x42" * 20
    r1 = bridge.deposit_eth(sidechain_recipient, 5 * ONE_ETH, user)
    r2 = bridge.deposit_erc20(token.address, 10**21, sidechain_recipient, user)
    deposits = [e.args for r in (r1, r2) for e in bridge.events(r) if e.name == "Deposit"]
    assert [(d["eventNonce"], d["token"], d["amount"]) for d in deposits] == [
        (2, ETH_TOKEN, 5 * ONE_ETH),
        (3, token.address, 10**21),
    ]
    assert all(d["recipient"] == sidechain_recipient for d in deposits)

    # -- a batch back to L1: signed by the validators, submitted by a relayer -------------------------------
    client.transact(token.functions.setBlocked(holder.address, True), deployer)  # its payout will be deferred
    eth_out, token_out = Account.from_key(keccak(text="rt/out-eth")), Account.from_key(keccak(text="rt/out-tok"))
    withdrawals = [
        Withdrawal.of(ETH_TOKEN, eth_out.address, 2 * ONE_ETH, 10**15),
        Withdrawal.of(token.address, token_out.address, 4 * 10**20, 10**18),
        Withdrawal.of(token.address, holder.address, 10**20, 0),
    ]
    batch = Batch(1, int(client.w3.eth.block_number) + 50)
    sigs = sign_by(valset, validators, bridge.domain.batch_digest(batch, withdrawals), minimum_signers(valset))
    receipt = bridge.submit_batch(valset, sigs, batch, withdrawals, relayer)
    names = [e.name for e in bridge.events(receipt)]
    assert names == ["WithdrawalDeferred", "BatchExecuted"]
    assert bridge.events(receipt)[-1].args["eventNonce"] == 4
    assert client.balance(eth_out.address) == 2 * ONE_ETH
    assert token.functions.balanceOf(token_out.address).call() == 4 * 10**20
    assert token.functions.balanceOf(relayer.address).call() == 10**18
    assert bridge.batch_executed(1)
    assert bridge.deferred(token.address, holder.address) == 10**20

    # -- the holder pulls its deferred payout elsewhere with `bridge claim` ---------------------------------
    elsewhere = Account.from_key(keccak(text="rt/elsewhere")).address
    done = run_cli(
        "claim", "--l1-rpc", geth.rpc_url, "--contract", bridge.address, "--token", token.address,
        "--to", elsewhere, "--output", "json", env={"BRIDGE_PRIVATE_KEY": holder.key.hex()},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["amount"] == 10**20
    assert token.functions.balanceOf(elsewhere).call() == 10**20
    assert bridge.total_deferred(token.address) == 0
    assert holder.key.hex() not in done.stdout + done.stderr

    # -- supply accounting on L1 ----------------------------------------------------------------------
    assert client.balance(bridge.address) == 5 * ONE_ETH - 2 * ONE_ETH - 10**15
    assert token.functions.balanceOf(bridge.address).call() == 10**21 - 4 * 10**20 - 10**18 - 10**20

    # -- the validators replace the guardian: `guardian sign` by each, `guardian submit` by anyone -------------
    new_guardian = Account.from_key(keccak(text="rt/new-guardian")).address
    sig_dir = tmp_path / "guardian-sigs"
    for i in minimum_signers(valset):
        done = run_cli(
            "guardian", "sign", "--l1-rpc", geth.rpc_url, "--contract", bridge.address,
            "--new-guardian", new_guardian, "--out", str(sig_dir / f"{i}.json"),
            env={"BRIDGE_PRIVATE_KEY": validators[i].key.hex()},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    submit = [
        "guardian", "submit", "--l1-rpc", geth.rpc_url, "--contract", bridge.address, "--valset", str(valset_file),
        "--new-guardian", new_guardian, "--output", "json",
    ]  # fmt: skip
    relayer_env = {"BRIDGE_PRIVATE_KEY": relayer.key.hex()}
    too_few = run_cli(*submit, "--signatures", str(sig_dir / "0.json"), env=relayer_env)
    power = valset.powers[0]
    assert (too_few.returncode, too_few.stderr) == (
        1,
        f"error: signatures carry power {power}, more than 2863311530 is required\n",
    )
    done = run_cli(*submit, "--signatures", str(sig_dir), env=relayer_env)
    assert done.returncode == 0, done.stderr
    assert bridge.guardian() == new_guardian and bridge.guardian_nonce() == 1


def test_cli_errors_are_one_line(geth: GethDevNode, tmp_path: Path) -> None:
    valset = equal_valset(validator_accounts(3, seed="errors"))
    valset_file = tmp_path / "valset.json"
    valset_file.write_text(json.dumps(valset.to_json()))
    broke = Account.from_key(keccak(text="rt/no-funds"))
    args = ["deploy", "--l1-rpc", geth.rpc_url, "--valset", str(valset_file), "--guardian", broke.address]
    env = {"BRIDGE_PRIVATE_KEY": broke.key.hex()}

    wrong_chain = run_cli(*args, "--chain-id", "1", env=env)
    assert wrong_chain.returncode == 1
    assert wrong_chain.stderr.strip() == f"error: the L1 RPC at {geth.rpc_url} serves chain id 1337, expected 1"

    no_funds = run_cli(*args, "--chain-id", str(DEV_CHAIN_ID), env=env)
    assert no_funds.returncode == 1
    lines = no_funds.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broke.address} has 0.000000 ETH on chain 1337"), lines

    unreachable = run_cli(*args[:2], "http://127.0.0.1:9", *args[3:], env=env)
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip() == "error: cannot reach the L1 RPC at http://127.0.0.1:9 (connection refused)"
