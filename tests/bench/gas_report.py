"""Gas report of the L1 bridge contract (`make gas-report`), measured on the in-process EVM (Prague rules).

Every figure is the gas used by one transaction (receipt.gasUsed: intrinsic 21,000 + calldata + execution,
or Prague's calldata floor when that is higher). Batches are measured in a steady state: a warm-up batch has
already run (the executed-batch bitmap word and the day's release count are non-zero), every recipient and the
relayer already hold the token, no payout is deferred.

The "bare" baselines are the same payout done alone from a minimal contract (`BarePayer`): the transaction's
gas minus the 21,000 intrinsic cost, i.e. the payout with its own calldata and dispatch but no per-transaction
fixed cost. A batch's amortized gas per withdrawal is its whole transaction gas divided by the withdrawals,
so it carries its share of the 21,000, the signatures and the valset.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3.types import Wei

from bridge.l1 import BridgeContract
from bridge.protocol import ETH_TOKEN, Batch, Valset, Withdrawal, checksum
from tests.support.bridge_l1.evm import InProcessL1, in_process_l1
from tests.support.bridge_l1.validators import equal_valset, minimum_signers, sign_by, validator_accounts

INTRINSIC_GAS = 21_000
# Generous explicit limits skip gas estimation (one EVM run per transaction instead of two); gasUsed is
# what the transaction needs whatever its limit.
EXPLICIT_GAS = 20_000_000
GOALS = {
    "depositETH_later_max": 30_000,
    "eth_ratio_4_validators_max": 1.2,
    "eth_ratio_100_validators_max": 1.55,
    "erc20_ratio_max": 1.0,
    "updateValset_100_min_signers_max": 550_000,
}


@dataclass
class Row:
    section: str
    case: str
    gas: int
    per_withdrawal: float | None = None
    ratio_to_bare: float | None = None
    floor: int | None = None  # Prague's calldata floor of the transaction (EIP-7623)


class Bench:
    def __init__(self) -> None:
        self.l1: InProcessL1 = in_process_l1()
        self.client = self.l1.client
        self.deployer, self.guardian, self.user, self.relayer = self.l1.accounts[:4]
        self.rows: list[Row] = []
        self.token = self.client.deploy("TestERC20", ["Bench", "BNCH"], self.deployer)
        self.payer = self.client.deploy("BarePayer", [], self.deployer)
        self._batch_nonce = 0

    def add(self, section: str, case: str, gas: int, **extra: Any) -> Row:
        row = Row(section, case, gas, **extra)
        self.rows.append(row)
        return row

    def deploy_bridge(self, n: int, seed: str) -> tuple[BridgeContract, Valset, list[LocalAccount], int]:
        accounts = validator_accounts(n, seed=seed)
        valset = equal_valset(accounts)
        bridge = BridgeContract.deploy(self.client, valset, self.guardian, self.deployer)
        assert self.client.last_receipt is not None
        return bridge, valset, accounts, int(self.client.last_receipt["gasUsed"])

    def recipients(self, count: int, tag: int) -> list[ChecksumAddress]:
        """Distinct addresses with mostly non-zero bytes (like real ones), funded with ETH and the token."""
        out = []
        for i in range(count):
            address = checksum(bytes.fromhex(f"{0x5EED0000 + tag:08x}{0x1234567 * (i + 1) + tag:032x}"[-40:]))
            out.append(address)
        for address in out:
            self.client.transact(self.token.functions.mint(address, 1), self.user)
            self.client.w3.eth.send_transaction({"from": self.user, "to": address, "value": Wei(1)})
        return out

    def fund(self, bridge: BridgeContract, eth: int, tokens: int) -> None:
        bridge.deposit_eth(b"\x5c" * 20, eth, self.user)
        self.client.transact(self.token.functions.mint(self.user, tokens), self.user)
        self.client.transact(self.token.functions.approve(bridge.address, tokens), self.user)
        bridge.deposit_erc20(self.token.address, tokens, b"\x5c" * 20, self.user)

    def submit(
        self, bridge: BridgeContract, valset: Valset, accounts: list[LocalAccount], withdrawals: Sequence[Withdrawal]
    ) -> int:
        self._batch_nonce += 1
        batch = Batch(self._batch_nonce, self.l1.block_number + 1_000)
        sigs = sign_by(valset, accounts, bridge.domain.batch_digest(batch, withdrawals), minimum_signers(valset))
        receipt = bridge.submit_batch(valset, sigs, batch, withdrawals, self.relayer, gas=EXPLICIT_GAS)
        assert not [e for e in bridge.events(receipt) if e.name == "WithdrawalDeferred"], "a payout was deferred"
        return int(receipt["gasUsed"])


def _withdrawals(token: str, recipients: Sequence[str], n: int) -> list[Withdrawal]:
    # Realistic values: 0.1-ish ETH (or 100-ish tokens) with sub-unit digits, fees around 1e14.
    return [Withdrawal.of(token, recipients[i], 10**17 + 123_456_789_012 * (i + 1), 10**14 + 7 * i) for i in range(n)]


def measure() -> tuple[list[Row], dict[str, object]]:
    b = Bench()
    w3 = b.client.w3

    # -- bare payouts (baselines) -----------------------------------------------------------------------
    w3.eth.send_transaction({"from": b.user, "to": b.payer.address, "value": Wei(10**20)})
    b.client.transact(b.token.functions.mint(b.payer.address, 10**24), b.user)
    holders = b.recipients(4, tag=999)
    b.client.transact(b.payer.functions.payETH(holders[0], 1), b.user)  # warm-up (payer's slots)
    eth_bare = int(b.client.transact(b.payer.functions.payETH(holders[1], 10**17 + 123_456_789), b.user)["gasUsed"])
    b.client.transact(b.payer.functions.payERC20(b.token.address, holders[2], 1), b.user)
    erc20_bare = int(
        b.client.transact(b.payer.functions.payERC20(b.token.address, holders[3], 10**17 + 123_456_789), b.user)[
            "gasUsed"
        ]
    )
    eth_bare -= INTRINSIC_GAS
    erc20_bare -= INTRINSIC_GAS
    b.add("bare payout (from a contract, tx gas - 21,000)", "ETH CALL to an existing account", eth_bare)
    b.add("bare payout (from a contract, tx gas - 21,000)", "ERC-20 transfer to an existing holder", erc20_bare)

    results: dict[str, object] = {"bare_eth": eth_bare, "bare_erc20": erc20_bare}
    recipients = b.recipients(100, tag=1)

    for n in (4, 100):
        bridge, valset, accounts, deploy_gas = b.deploy_bridge(n, seed=f"bench-{n}")
        b.add("deploy", f"SidechainBridge, {n} validators", deploy_gas)
        if n == 4:
            first = bridge.deposit_eth(b"\x5c" * 20, 10**18, b.user)["gasUsed"]
            later = bridge.deposit_eth(b"\x5c" * 20, 10**18, b.user)["gasUsed"]
            b.add("deposit", "depositETH (first)", int(first))
            b.add("deposit", "depositETH (later)", int(later))
            results["depositETH_later"] = int(later)
            b.client.transact(b.token.functions.mint(b.user, 10**24), b.user)
            b.client.transact(b.token.functions.approve(bridge.address, 10**24), b.user)
            first = bridge.deposit_erc20(b.token.address, 10**20, b"\x5c" * 20, b.user)["gasUsed"]
            later = bridge.deposit_erc20(b.token.address, 10**20, b"\x5c" * 20, b.user)["gasUsed"]
            b.add("deposit", "depositERC20 (first of the token)", int(first))
            b.add("deposit", "depositERC20 (later)", int(later))
        b.fund(bridge, 10**21, 10**24)
        b.submit(bridge, valset, accounts, _withdrawals(ETH_TOKEN, recipients, 2))  # warm-up
        b.submit(bridge, valset, accounts, _withdrawals(b.token.address, recipients, 2))
        signers = len(minimum_signers(valset))
        for kind, token, bare in (("ETH", ETH_TOKEN, eth_bare), ("ERC-20", b.token.address, erc20_bare)):
            for count in (1, 10, 100):
                gas = b.submit(bridge, valset, accounts, _withdrawals(token, recipients, count))
                per = gas / count
                row = b.add(
                    f"submitBatch, {n} validators ({signers} signing)",
                    f"{count} {kind} withdrawal{'s' if count > 1 else ''}",
                    gas,
                    per_withdrawal=round(per, 1),
                    ratio_to_bare=round(per / bare, 3),
                )
                if count == 100:
                    results[f"{kind.lower().replace('-', '')}_ratio_{n}_validators"] = row.ratio_to_bare

    # -- valset updates -----------------------------------------------------------------------------------
    for n in (4, 20, 100):
        for mode in ("minimum signers", "all signing"):
            bridge, valset, accounts, _ = b.deploy_bridge(n, seed=f"valset-{n}")
            new_accounts = validator_accounts(n, seed=f"valset-{n}-next")
            new = equal_valset(new_accounts, nonce=1)
            chosen = minimum_signers(valset) if mode == "minimum signers" else list(range(n))
            sigs = sign_by(valset, accounts, bridge.domain.valset_digest(new), chosen)
            receipt = bridge.update_valset(new, valset, sigs, b.relayer, gas=EXPLICIT_GAS)
            gas = int(receipt["gasUsed"])
            data = bytes(w3.eth.get_transaction(receipt["transactionHash"])["input"])
            floor = INTRINSIC_GAS + 10 * (data.count(0) + 4 * (len(data) - data.count(0)))  # EIP-7623
            b.add("updateValset (n -> n validators)", f"{n} validators, {len(chosen)} signing", gas, floor=floor)
            if n == 100 and mode == "minimum signers":
                results["updateValset_100_min_signers"] = gas
    return b.rows, results


def verdicts(results: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    def num(key: str) -> float:
        value = results[key]
        assert isinstance(value, int | float)
        return float(value)

    checks = [
        ("depositETH after the first", "depositETH_later", "depositETH_later_max", "{:,.0f} gas"),
        ("ETH withdrawal, 4 validators (x bare)", "eth_ratio_4_validators", "eth_ratio_4_validators_max", "{:.3f}x"),
        (
            "ETH withdrawal, 100 validators (x bare)",
            "eth_ratio_100_validators",
            "eth_ratio_100_validators_max",
            "{:.3f}x",
        ),
        ("ERC-20 withdrawal, 4 validators (x bare)", "erc20_ratio_4_validators", "erc20_ratio_max", "{:.3f}x"),
        ("ERC-20 withdrawal, 100 validators (x bare)", "erc20_ratio_100_validators", "erc20_ratio_max", "{:.3f}x"),
        (
            "updateValset 100 validators, 67 signing",
            "updateValset_100_min_signers",
            "updateValset_100_min_signers_max",
            "{:,.0f} gas",
        ),
    ]
    out = []
    for label, key, goal_key, fmt in checks:
        reached, goal = num(key), float(GOALS[goal_key])
        out.append((label, fmt.format(reached), "<= " + fmt.format(goal), reached <= goal))
    return out


def render(rows: list[Row], results: dict[str, object]) -> str:
    lines = ["SidechainBridge gas report (in-process EVM, Prague; receipt gasUsed)", ""]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"## {section}")
        extra = ""
        if row.per_withdrawal is not None:
            extra = f"   {row.per_withdrawal:>10,.1f} / withdrawal   {row.ratio_to_bare:>6.3f}x bare"
        if row.floor is not None:
            extra = f"   (calldata floor {row.floor:,})"
        lines.append(f"  {row.case:<42} {row.gas:>10,}{extra}")
    lines += ["", "## goals (BRIDGE issue 5)"]
    for label, reached, goal, ok in verdicts(results):
        lines.append(f"  {label:<44} {reached:>12}   goal {goal:<14} {'met' if ok else 'MISSED'}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-results/gas-report", help="path prefix for .txt and .json")
    args = parser.parse_args(argv)
    rows, results = measure()
    text = render(rows, results)
    sys.stdout.write(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(text)
    report = {
        "rows": [asdict(r) for r in rows],
        "results": results,
        "goals": GOALS,
        "verdicts": [{"goal": label, "reached": r, "target": g, "met": ok} for label, r, g, ok in verdicts(results)],
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
