"""`bridge deposit` as library functions: read the asset, parse the amount, send the deposit to L1 (an exact
ERC-20 approval first), then follow it until the sidechain mints it.

Amounts (`parse_amount`), one rule for both kinds of asset:

- digits only, no unit: base units (wei for ETH, the token's smallest unit for an ERC-20): `1500000`;
- a decimal point or a unit: whole units. ETH's units are `eth` (the default for a bare decimal), `gwei`
  and `wei`: `0.5eth`, `0.5`, `20gwei`. An ERC-20's unit is its symbol, its decimals are read from the
  token: `1.25` or `1.25USDC` with `--token`, `3USDC`. A token without `decimals()` takes base units only.

The caller checks the recipient against the chain (its bech32 prefix) before calling `send_deposit`, which
sends nothing when the account cannot pay or the bridge is paused. The amount the chain mints is the one the
contract's `Deposit` log records, which for a fee-on-transfer token is less than the amount sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from hexbytes import HexBytes

from bridge.erc20 import Erc20
from bridge.errors import ConfigError, InsufficientFundsError, L1ConnectionError, TransactionError, WaitTimeout
from bridge.l1 import BridgeContract, L1Client, Sender, sender_address
from bridge.module.events import UINT256_MAX, denom_of
from bridge.protocol import ETH_TOKEN, checksum
from bridge.status import BridgeChain, DepositProgress, DepositRecord, L1Deposit, deposit_progress
from sidechain.client import ClientError

ETH_UNITS = {"eth": 18, "gwei": 9, "wei": 0}
_AMOUNT = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<unit>[A-Za-z][A-Za-z0-9._-]*)?")


@dataclass(frozen=True)
class Asset:
    """ETH (token = ETH_TOKEN) or an ERC-20, with what amounts are written in."""

    token: ChecksumAddress
    symbol: str
    decimals: int | None

    @property
    def is_eth(self) -> bool:
        return self.token == ETH_TOKEN

    @property
    def denom(self) -> str:
        return denom_of(bytes.fromhex(self.token[2:]))

    def format(self, amount: int) -> str:
        """`amount` base units in whole units, e.g. `0.5 ETH` (base units when the decimals are unknown)."""
        if self.decimals is None:
            return f"{amount} base units of {self.symbol}"
        whole, frac = divmod(amount, 10**self.decimals)
        text = str(whole)
        if frac:
            text += "." + str(frac).rjust(self.decimals, "0").rstrip("0")
        return f"{text} {self.symbol}"


ETH = Asset(ETH_TOKEN, "ETH", 18)


def read_asset(client: L1Client, token: str | None) -> Asset:
    """ETH when `token` is None (or the zero address), else the ERC-20 at `token`, its symbol and decimals."""
    if token is None or checksum(token) == ETH_TOKEN:
        return ETH
    erc20 = Erc20(client, token)
    erc20.require_code()
    return Asset(erc20.address, erc20.symbol() or "token", erc20.decimals())


def parse_amount(text: str, asset: Asset) -> int:
    """AMOUNT (the module docstring's rule) in base units: > 0 and at most 2**256 - 1."""
    raw = text.strip()
    m = _AMOUNT.fullmatch(raw)
    if m is None:
        raise ConfigError(f"AMOUNT {text!r}: write base units (1500000), or whole units with a decimal point or a "
                          f"unit ({_units_hint(asset)})")
    number, unit = m.group("number"), m.group("unit")
    if unit is None and "." not in number:
        value = int(number)
    else:
        decimals = _decimals_of(unit, asset, text)
        try:
            scaled = Decimal(number) * (Decimal(10) ** decimals)
        except InvalidOperation:
            raise ConfigError(f"AMOUNT {text!r} is not a number") from None
        if scaled != scaled.to_integral_value():
            raise ConfigError(f"AMOUNT {text!r} has more decimals than the {decimals} of its unit")
        value = int(scaled)
    if value <= 0:
        raise ConfigError(f"AMOUNT {text!r} must be more than 0")
    if value > UINT256_MAX:
        raise ConfigError(f"AMOUNT {text!r} is more than an L1 amount can be (2**256 - 1 base units)")
    return value


def _units_hint(asset: Asset) -> str:
    if asset.is_eth:
        return "0.5eth, 0.5, 20gwei"
    if asset.decimals is None:
        return f"{asset.symbol} has no decimals(): base units only"
    return f"1.25 or 1.25{asset.symbol} for {asset.symbol}, {asset.decimals} decimals"


def _decimals_of(unit: str | None, asset: Asset, text: str) -> int:
    if asset.is_eth:
        if unit is None:
            return ETH_UNITS["eth"]
        decimals = ETH_UNITS.get(unit.lower())
        if decimals is None:
            raise ConfigError(f"AMOUNT {text!r}: unit {unit!r} is not an ETH unit (eth, gwei, wei); "
                              "for an ERC-20 give --token 0x...")
        return decimals
    if unit is not None and unit.lower() != asset.symbol.lower():
        raise ConfigError(f"AMOUNT {text!r}: unit {unit!r} is not the token's symbol {asset.symbol!r} "
                          f"({asset.token})")
    if asset.decimals is None:
        raise ConfigError(f"AMOUNT {text!r}: token {asset.token} has no decimals(), so give base units "
                          "(digits only)")
    return asset.decimals


# -- sending ------------------------------------------------------------------------------------------------


class Progress(Protocol):
    """Where a deposit's steps are reported (the CLI shows them live; tests record them)."""

    def step(self, key: str, text: str, done: bool = True) -> None:
        """`key` names the step (approve, sent, mined, confirmations, attested, minted, balance); `done`
        False means the step is under way and `text` may change (e.g. confirmations 1/2)."""


class NoProgress:
    def step(self, key: str, text: str, done: bool = True) -> None:
        pass


@dataclass(frozen=True)
class SentDeposit:
    """A deposit mined on L1: the Deposit log's fields (the event nonce is how the chain knows it)."""

    l1: L1Deposit
    asset: Asset
    requested: int  # what the sender asked to deposit; the log's amount is what the contract credited
    recipient: str  # bech32
    approve_tx: str | None = None

    @property
    def event_nonce(self) -> int:
        return self.l1.event_nonce

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "sent",
            "event_nonce": self.l1.event_nonce,
            "l1_tx": self.l1.l1_tx,
            "l1_block": self.l1.l1_block,
            "token": self.asset.token,
            "denom": self.asset.denom,
            "amount": str(self.l1.amount),
            "requested_amount": str(self.requested),
            "recipient": self.recipient,
            "sender": self.l1.sender,
        }


def check_can_deposit(bridge: BridgeContract, asset: Asset, amount: int, sender: Sender) -> None:
    """Refuse, before anything is sent, a deposit the contract or the sender's funds would refuse."""
    address = sender_address(sender)
    if bridge.paused():  # refused here so that no approval is spent on a deposit that would revert
        selector = keccak(text="BridgePaused()")[:4]
        raise bridge.client.decoder.decode(selector).to_exception()
    eth = bridge.client.balance(address)
    if asset.is_eth:
        if eth < amount:
            raise InsufficientFundsError(f"{address} has {ETH.format(eth)} on L1 chain {bridge.client.chain_id}; "
                                         f"the deposit is {ETH.format(amount)} plus gas")
    else:
        held = Erc20(bridge.client, asset.token).balance_of(address)
        if held < amount:
            raise InsufficientFundsError(f"{address} holds {asset.format(held)} ({asset.token}); the deposit is "
                                         f"{asset.format(amount)}")
        if eth == 0:
            raise InsufficientFundsError(f"{address} has no ETH on L1 chain {bridge.client.chain_id} to pay gas")


def approve_exactly(
    bridge: BridgeContract, asset: Asset, amount: int, sender: Sender, progress: Progress
) -> str | None:
    """Set the bridge's allowance to exactly `amount` (never more); None when it already is. A token whose
    allowance is another non-zero value is reset to 0 first (tokens like USDT refuse a non-zero to
    non-zero change)."""
    erc20 = Erc20(bridge.client, asset.token)
    owner = sender_address(sender)
    current = erc20.allowance(owner, bridge.address)
    if current == amount:
        progress.step("approve", f"allowance of {bridge.address} is already exactly {asset.format(amount)}")
        return None
    if current != 0:
        erc20.approve(bridge.address, 0, sender)
    sent: list[str] = []

    def on_sent(tx: str) -> None:
        sent.append(tx)
        progress.step("approve", f"approve {asset.format(amount)} to the bridge: tx {tx} sent", done=False)

    receipt = erc20.approve(bridge.address, amount, sender, on_sent=on_sent)
    tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
    progress.step("approve", f"approved exactly {asset.format(amount)} to the bridge (tx {tx}, block "
                             f"{receipt['blockNumber']})")
    return tx


def send_deposit(
    bridge: BridgeContract,
    asset: Asset,
    amount: int,
    recipient: bytes,
    recipient_text: str,
    sender: LocalAccount | str,
    progress: Progress | None = None,
    on_sent: Callable[[str], None] | None = None,
) -> SentDeposit:
    """Approve (ERC-20) and deposit `amount` for sidechain account `recipient` (20 bytes, already checked
    against the chain); return once the deposit is mined, with its Deposit log."""
    progress = progress or NoProgress()
    if len(recipient) != 20:
        raise ConfigError(f"a sidechain recipient is 20 bytes, got {len(recipient)}")
    check_can_deposit(bridge, asset, amount, sender)
    approve_tx = approve_exactly(bridge, asset, amount, sender, progress) if not asset.is_eth else None

    def sent(tx: str) -> None:
        progress.step("sent", f"L1 tx sent: {tx}")
        if on_sent is not None:
            on_sent(tx)

    if asset.is_eth:
        fn, value = bridge.fn.depositETH(recipient), amount
    else:
        fn, value = bridge.fn.depositERC20(asset.token, amount, recipient), 0
    receipt = bridge.client.transact(fn, sender, value=value, on_sent=sent)
    deposits = [e for e in bridge.events(receipt) if e.name == "Deposit"]
    tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
    if len(deposits) != 1:
        raise TransactionError(f"L1 tx {tx} was mined but holds {len(deposits)} Deposit logs of {bridge.address}")
    log = L1Deposit.from_args(deposits[0].args, receipt["transactionHash"], receipt["blockNumber"])
    credited = "" if log.amount == amount else f", credited {asset.format(log.amount)} of {asset.format(amount)}"
    progress.step("mined", f"mined in L1 block {log.l1_block}: event nonce {log.event_nonce}{credited}")
    return SentDeposit(log, asset, amount, recipient_text, approve_tx)


# -- following it to the mint -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MintedDeposit:
    record: DepositRecord
    balance: int | None  # the recipient's balance of the denom right after, when read

    def to_json(self) -> dict[str, Any]:
        r = self.record
        out: dict[str, Any] = {
            "status": "minted",
            "event_nonce": r.event_nonce,
            "l1_tx": r.l1_tx,
            "l1_block": r.l1_block,
            "denom": r.denom,
            "token": r.token,
            "amount": str(r.amount),
            "recipient": r.recipient,
            "height": r.height,
        }
        if self.balance is not None:
            out["balance"] = str(self.balance)
        if r.proof is not None:
            out["proof"] = r.proof.to_json()
        return out


POLL_INTERVAL = 1.0  # seconds between looks at L1 and the chain while waiting
RETRY_INTERVAL = 1.0  # seconds before looking again when the node or the L1 did not answer


def describe(p: DepositProgress, asset: Asset | None = None) -> list[tuple[str, str, bool]]:
    """The steps a look shows: (key, text, done)."""
    out: list[tuple[str, str, bool]] = []
    n = p.state.l1_confirmations
    if p.confirmations is not None and p.heads is not None:
        finalized = p.heads.finalized is not None and p.heads.finalized >= (p.l1_block or 0)
        text = f"confirmations {min(p.confirmations, n)}/{n}" + (" (finalized)" if finalized else "")
        out.append(("confirmations", text, p.final_on_l1 or p.record is not None))
    if p.record is not None:
        out.append(("attested", f"attested: the sidechain applied event {p.nonce} "
                                f"(it has agreed on L1 block {p.state.observed_l1_height})", True))
        what = asset.format(p.record.amount) if asset is not None else f"{p.record.amount}"
        out.append(("minted", f"minted {what} ({p.record.amount}{p.record.denom}) to {p.record.recipient} at "
                              f"height {p.record.height}", True))
    elif p.final_on_l1 or p.heads is None:
        out.append(("attested", f"waiting for attestation: the sidechain has applied events up to "
                                f"{p.state.last_event_nonce} and agreed on L1 block {p.state.observed_l1_height}",
                    False))
    return out


def follow_deposit(
    chain: BridgeChain,
    nonce: int,
    *,
    bridge: BridgeContract | None = None,
    l1: L1Deposit | None = None,
    asset: Asset | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
    prove: bool = False,
    poll: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MintedDeposit:
    """Look at the deposit every `poll` seconds until the chain has minted it, reporting each step; then read
    the recipient's new balance. `WaitTimeout` (saying where it stands) after `timeout` seconds."""
    progress = progress or NoProgress()
    poll = POLL_INTERVAL if poll is None else poll
    deadline = None if timeout is None else clock() + timeout
    shown: dict[str, tuple[str, bool]] = {}
    while True:
        try:
            p = deposit_progress(chain, nonce, bridge=bridge, l1=l1, prove=prove)
        except (ClientError, L1ConnectionError) as exc:  # a node or the L1 restarting: keep looking until the timeout
            if deadline is not None and clock() >= deadline:
                raise
            if shown.get("retry") != (str(exc), False):
                shown["retry"] = (str(exc), False)
                progress.step("retry", f"{exc}; retrying", done=False)
            sleep(RETRY_INTERVAL)
            continue
        if shown.pop("retry", None) is not None:  # answering again: show the step under way once more
            shown = {key: seen for key, seen in shown.items() if seen[1]}
        for key, text, done in describe(p, asset):
            if shown.get(key) != (text, done):
                shown[key] = (text, done)
                progress.step(key, text, done)
        if p.record is not None:
            break
        if deadline is not None and clock() >= deadline:
            raise WaitTimeout(f"not minted within {timeout:.0f} s: {p.where()}")
        sleep(poll)
    record = p.record
    balance = chain.balance(record.recipient, record.denom)
    what = asset.format(balance) if asset is not None else str(balance)
    progress.step("balance", f"new balance of {record.recipient}: {what} ({balance}{record.denom})")
    return MintedDeposit(record, balance)
