"""`bridge withdraw` and `bridge status withdrawal|batch|--supply` against the real chain (4 validators, real
geth; the package's network): the CLI as a user runs it (a subprocess, no terminal, the client home's keyring).

The chain's own records are read: the MsgWithdraw tx's `bridge_withdrawal_queued` id, the withdrawal's batch
and its digest (equal to the contract's EIP-712 digest computed here), the supply invariant. No relayer runs in
this network: the follow stops at --timeout with the line that resumes it, and resumed, it ends refunded once
the batch's L1 timeout passes (amount + fee back). The paid path on a real network is the round-trip test's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from bridge.protocol import Batch, Domain, Withdrawal, checksum
from genesis import l1 as l1net
from genesis.testkeys import TEST_PASSPHRASE
from tests.integration.bridge.test_deposit_cli import balance, bridge, deposit
from tests.support.cli import bridge_argv, run_subprocess
from tests.support.testnet import TestNetwork

if TYPE_CHECKING:
    from tests.integration.bridge.conftest import BridgeNetwork

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not l1net.bridge_module_enabled(),
                       reason="this build's chain has no bridge module (sidechain.module.CHAIN), so no /bridge/state"),
]

ENV = {"SIDECHAIN_KEYRING_PASSPHRASE": TEST_PASSPHRASE}


@pytest.fixture(scope="module")
def network(bridge_network: BridgeNetwork) -> TestNetwork:
    return bridge_network.tn


def _json(network: TestNetwork, *args: str, code: int = 0) -> dict[str, Any]:
    r = bridge(network, *args, "-o", "json")
    assert r.code == code, r.stderr
    return dict(json.loads(r.stdout))


def test_withdraw_followed_resumed_and_refunded_without_a_relayer(network: TestNetwork) -> None:
    assert network.bridge is not None
    home = network.net.root / "client"
    alice = next(k for k in network.net.keys if k.name == "alice")
    deposit(network, "0.01eth", alice.address)
    before = balance(network, alice.address, "l1/eth")
    to = checksum("0x" + "5e" * 20)
    # followed for 2 s: the line that resumes it
    r = run_subprocess(bridge_argv("withdraw", "1000000l1/eth", "--to", to, "--fee", "100l1/eth", "--from", "alice",
                                   "--home", str(home), "--node", network.url(0), "--timeout", "2s"), env=ENV,
                       timeout=120)
    assert r.code == 1, r.stderr
    last = r.stderr.splitlines()[-1]
    assert last.startswith("error: not paid within 2 s: withdrawal "), r.stderr
    wid = int(last.split("withdrawal ", 1)[1].split()[0])
    assert last.endswith(f"keep following it with `bridge status withdrawal {wid} --node {network.url(0)} --wait`")
    assert r.stderr.splitlines()[0].startswith("tx ") and f"withdrawal {wid} of 1000000l1/eth (fee 100)" in r.stderr
    assert balance(network, alice.address, "l1/eth") == before - 1000100
    # resumed: no relayer runs here, so the batch times out on L1 and the chain refunds amount + fee
    final = _json(network, "status", "withdrawal", str(wid), "--wait", "--timeout", "240s", code=4)
    assert (final["status"], final["withdrawal_id"], final["recipient"], final["l1_tx"]) == ("refunded", wid, to, None)
    assert balance(network, alice.address, "l1/eth") == before
    batch = _json(network, "status", "batch", str(final["batch_nonce"]))
    assert batch["status"] == "refunded" and wid in [w["id"] for w in batch["withdrawals"]]
    assert batch["l1"]["executed"] is False and batch["l1"]["timed_out"] is True
    entries = [Withdrawal.of("0x" + "00" * 20, w["recipient"], int(w["amount"]), int(w["fee"]))
               for w in batch["withdrawals"]]
    domain = Domain(network.bridge.l1_chain_id, checksum(network.bridge.contract))
    assert batch["digest"] == "0x" + domain.batch_digest(Batch(batch["nonce"], batch["timeout_l1_block"]),
                                                         entries).hex()
    supply = _json(network, "status", "--supply")
    assert supply["ok"] is True, supply
    assert _json(network, "status", "withdrawal", str(wid), code=4)["chain_status"] == "refunded"
    # submitted now, with the validators' signatures the chain holds, the batch reverts on L1: its timeout
    # has passed, so a batch refunded on the sidechain can never also be paid there
    _submit_refunded_batch_reverts(network, int(final["batch_nonce"]))


def _submit_refunded_batch_reverts(network: TestNetwork, nonce: int) -> None:
    from pathlib import Path

    from bridge.errors import ContractRevertError
    from bridge.keys import load_account
    from bridge.l1 import BridgeContract, L1Client
    from bridge.protocol import Valset
    from bridge.relayer import ChainBatch, align_signatures
    from sidechain.client import NodeClient

    assert network.bridge is not None
    node = NodeClient(network.url(0))
    raw = node.query(f"/bridge/batch/{nonce}").json()
    cb = ChainBatch.from_json(raw, "batch")
    state = node.query("/bridge/state").json()
    v = state["valset"]
    valset = Valset.of(int(v["nonce"]), v["validators"], [int(p) for p in v["powers"]])
    aligned = align_signatures(valset, cb.digest, cb.signatures)
    assert aligned.enough, "the chain holds the validators' signatures of the refunded batch"
    key = network.bridge.l1_keys[0]
    account = load_account(Path(key.keystore), passphrase_file=Path(key.passphrase_file))
    bridge_contract = BridgeContract(L1Client.connect(network.bridge.l1_rpc), network.bridge.contract)
    with pytest.raises(ContractRevertError, match="BatchTimedOut"):
        bridge_contract.submit_batch(valset, aligned.signatures, cb.batch, list(cb.withdrawals), account,
                                     gas=2_000_000)
    assert not bridge_contract.batch_executed(nonce)
