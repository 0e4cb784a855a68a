"""`bridge withdraw` as library functions: check a withdrawal before anything is signed, sign and broadcast the
`bridge.MsgWithdraw`, then follow it until L1 has paid it (or deferred the payout, or the sidechain refunded it).

The steps a withdrawal goes through (BRIDGE.md section 5, steps 4 to 6, and section 3 rule 6):

    queued (position in its token's queue, highest fee first)
      -> batched (batch nonce, timeoutL1Block)
      -> signed x% of the contract valset's power (ready above 2863311530 of 2^32)
      -> executed on L1 (the BatchExecuted tx and its L1 block)
      -> paid, or deferred (the recipient could not receive: `bridge claim` pulls it), or
         refunded (the batch timed out on L1: amount + fee minted back to the sender)

With an L1 connection the payout is confirmed on L1 itself, from the receipt of the tx that emitted the batch's
`BatchExecuted`: its `WithdrawalDeferred` logs of that batch, matched to the batch's entries in order (the
contract's payout order, the chain's rule), say which payouts were deferred. Without
one, the sidechain's record says it (once the chain has applied the BatchExecuted event).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes

from bridge.deposit import NoProgress, Progress
from bridge.errors import ConfigError, InsufficientFundsError, L1ConnectionError, UnexpectedAnswer, WaitTimeout
from bridge.l1 import BridgeContract
from bridge.module.events import ZERO_ADDRESS, token_of
from bridge.module.withdrawals import match_deferred
from bridge.protocol import POWER_THRESHOLD, checksum
from bridge.status import (
    BatchRecord,
    BridgeChain,
    BridgeState,
    WithdrawalRecord,
    percent_of,
)
from sidechain.client import ClientError
from sidechain.errors import InvalidInput
from sidechain.types import AMOUNT_MAX, Coin

FINAL = ("paid", "deferred", "refunded", "cancelled")
# Exit status of `bridge withdraw` / `bridge status withdrawal --wait` per final status (0: the assets arrived).
EXIT_STATUS = {"paid": 0, "deferred": 3, "refunded": 4, "cancelled": 4}

_DURATION = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s|m|h)?")


def parse_duration(text: str, what: str = "--timeout") -> float:
    """`90`, `90s`, `10m`, `1.5h`, `500ms` -> seconds."""
    m = _DURATION.fullmatch(text.strip().lower())
    if m is None:
        raise ConfigError(f"{what} {text!r}: give a duration such as 90s, 10m or 1h (digits alone are seconds)")
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m.group("unit")]
    return float(m.group("n")) * scale


# -- before signing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawalRequest:
    """A checked withdrawal: what `MsgWithdraw` will carry."""

    denom: str
    amount: int
    fee: int
    recipient: ChecksumAddress

    @property
    def token(self) -> ChecksumAddress:
        token = token_of(self.denom)
        assert token is not None
        return checksum(token)

    @property
    def total(self) -> int:
        return self.amount + self.fee


def parse_coin(text: str, what: str) -> Coin:
    try:
        coin = Coin.parse(text)
    except InvalidInput as exc:
        lower = _lower_denom(text)
        if lower is not None:
            raise ConfigError(f"{what} {text!r}: write the token address in lowercase: {lower}") from None
        raise ConfigError(f"{what} {text!r}: {exc.message}") from None
    return coin


def _lower_denom(text: str) -> str | None:
    """The coin with its denom in lowercase, when only the case of a bridged denom's hex is wrong."""
    try:
        coin = Coin.parse(text.lower())
    except InvalidInput:
        return None
    return str(coin) if token_of(coin.denom) is not None else None


def bridged_denom(denom: str, what: str, state: BridgeState, known: dict[str, str]) -> str:
    """`denom` when it is a bridged denom this chain has (l1/eth or l1/0x<token, lowercase hex>)."""
    if token_of(denom) is None:
        hint = ""
        if denom.startswith("l1/"):
            hint = " (a bridged denom is l1/eth or l1/0x + the token's 40 hex digits, lowercase)"
        raise ConfigError(f"{what}: {denom!r} is not a bridged denom: only l1/eth and l1/0x<token> go back to "
                          f"L1{hint}")
    if denom not in state.supply and denom not in known:
        bridged = ", ".join(state.supply) or "none yet"
        raise ConfigError(f"{what}: this chain has no {denom} (nothing of it was deposited; bridged denoms: "
                          f"{bridged})")
    return denom


def check_request(
    coin_text: str, fee_text: str, to: str, state: BridgeState, known: dict[str, str]
) -> WithdrawalRequest:
    """COIN, --fee and --to checked against the chain's bridge, before any key is touched: a bridged denom the
    chain has, a fee in the same denom, a recipient that is neither the zero address nor the contract."""
    coin = parse_coin(coin_text, "COIN")
    denom = bridged_denom(coin.denom, f"COIN {coin_text}", state, known)
    if int(coin.amount) == 0:
        raise ConfigError(f"COIN {coin_text}: the amount to withdraw must be more than 0")
    fee_raw = fee_text.strip()
    fee = parse_coin(fee_raw + denom if fee_raw.isdigit() else fee_raw, "--fee")
    if fee.denom != denom:
        raise ConfigError(f"--fee {fee_text}: the fee is in {fee.denom} but the withdrawal in {denom}: the relayer "
                          f"is paid on L1 in the withdrawn token (e.g. --fee 100{denom})")
    if int(coin.amount) + int(fee.amount) > AMOUNT_MAX:
        raise ConfigError(f"COIN {coin_text} + --fee {fee_text} exceeds 2^256 - 1")
    try:
        recipient = checksum(to)
    except (InvalidInput, ValueError) as exc:
        raise ConfigError(f"--to {to!r}: {exc}") from None
    if bytes.fromhex(recipient[2:]) == ZERO_ADDRESS:
        raise ConfigError("--to is the zero address: the coins would be lost")
    if recipient == state.contract:
        raise ConfigError(f"--to {recipient} is the bridge contract itself: it would hold the coins unaccounted "
                          "(withdraw to an address you control)")
    return WithdrawalRequest(denom, int(coin.amount), int(fee.amount), recipient)


def check_funds(request: WithdrawalRequest, tx_fee: Coin, sender: str, balance: Callable[[str], int]) -> None:
    """The sender holds amount + fee of the denom, and the tx fee (on top, when it is the same denom)."""
    need = {request.denom: request.total}
    need[tx_fee.denom] = need.get(tx_fee.denom, 0) + int(tx_fee.amount)
    for denom, amount in need.items():
        have = balance(denom)
        if have < amount:
            if denom == request.denom:
                parts = f"amount {request.amount} + fee {request.fee}"
                if tx_fee.denom == denom:
                    parts += f" + tx fee {int(tx_fee.amount)}"
                raise InsufficientFundsError(f"insufficient funds: {sender} has {have}{denom}, the withdrawal needs "
                                             f"{amount}{denom} ({parts})")
            raise InsufficientFundsError(f"insufficient funds: {sender} has {have}{denom}, the tx fee is "
                                         f"{tx_fee}")


def default_tx_fee(params: dict[str, Any], denom: str, reserved: int, balance: Callable[[str], int]) -> Coin:
    """The sidechain tx's fee when --tx-fee is not given: the chain's minimum in the staking denom, else in the
    withdrawn `denom`, else in another fee denom, the first of these the sender can pay (on top of `reserved`,
    the withdrawal's amount + fee, in `denom`)."""
    mins = {str(c["denom"]): int(c["amount"]) for c in (params.get("auth") or {}).get("min_fees") or []}
    staking = params.get("staking") or {}
    bond = (staking.get("staking") or staking).get("bond_denom") if isinstance(staking, dict) else None
    order = [d for d in (bond, denom) if d in mins] + sorted(d for d in mins if d not in (bond, denom))
    for d in order:
        if balance(d) >= mins[d] + (reserved if d == denom else 0):
            return Coin.of(d, mins[d])
    if not mins:
        return Coin.of(str(bond or denom), 0)
    accepted = ", ".join(f"{a}{d}" for d, a in sorted(mins.items()))
    raise InsufficientFundsError(f"no balance to pay the sidechain tx fee (the minimums are {accepted}); give "
                                 "--tx-fee")


@dataclass(frozen=True)
class QueuedWithdrawal:
    """The MsgWithdraw tx, included: the withdrawal's id and where."""

    id: int
    txhash: str
    height: int
    request: WithdrawalRequest
    sender: str

    def to_json(self) -> dict[str, Any]:
        r = self.request
        return {"status": "queued", "withdrawal_id": self.id, "txhash": self.txhash, "height": self.height,
                "sender": self.sender, "recipient": r.recipient, "denom": r.denom, "token": r.token,
                "amount": str(r.amount), "fee": str(r.fee), "batch_nonce": None, "l1_tx": None}


def withdrawal_id_of(events: list[dict[str, Any]]) -> int | None:
    """The `id` attribute of the tx result's `bridge_withdrawal_queued` event."""
    for event in events:
        if event.get("type") != "bridge_withdrawal_queued":
            continue
        for attr in event.get("attributes") or []:
            if attr.get("key") == "id" and str(attr.get("value", "")).isdigit():
                return int(attr["value"])
    return None


# -- following it ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class L1Payout:
    """What L1 says of a withdrawal's batch: executed in `l1_tx` at `l1_block`, and whether this payout was
    deferred (a WithdrawalDeferred log of the batch for this recipient and amount)."""

    l1_tx: str
    l1_block: int
    deferred: bool


@dataclass(frozen=True)
class WithdrawalLook:
    """One look at a withdrawal: the chain's record, its batch, and (with an L1) what L1 did with the batch."""

    state: BridgeState
    withdrawal: WithdrawalRecord
    batch: BatchRecord | None = None
    l1: L1Payout | None = None
    l1_head: int | None = None

    @property
    def status(self) -> str:
        """paid | deferred | refunded | cancelled (final), or queued | batched | signed | executing."""
        w, b = self.withdrawal, self.batch
        if w.status in ("refunded", "cancelled"):
            return w.status
        if self.l1 is not None:
            return "deferred" if self.l1.deferred else "paid"
        if w.status == "deferred" or (b is not None and any(d.id == w.id for d in b.deferred)):
            return "deferred"
        if w.status == "executed":
            return "paid"
        if b is not None and b.ready:
            return "signed"
        return w.status

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def l1_tx(self) -> str | None:
        if self.l1 is not None:
            return self.l1.l1_tx
        return None if self.batch is None else self.batch.l1_tx

    @property
    def l1_block(self) -> int | None:
        if self.l1 is not None:
            return self.l1.l1_block
        return None if self.batch is None else self.batch.l1_block

    @property
    def timed_out_on_l1(self) -> bool:
        """L1 has passed the batch's timeout without executing it: the sidechain will refund it."""
        b = self.batch
        return (b is not None and self.l1 is None and self.l1_head is not None and b.status == "pending"
                and self.l1_head >= b.timeout_l1_block)

    def where(self) -> str:
        """One line: where a withdrawal that is not final stands."""
        w, b = self.withdrawal, self.batch
        text = f"withdrawal {w.id} is {w.status}"
        if w.status == "queued":
            text += f" (position {w.position} in the {w.denom} queue)"
        if b is not None:
            text += f" in batch {b.nonce} (timeout at L1 block {b.timeout_l1_block}"
            if b.signed_power is not None:
                text += f", signed {percent_of(b.signed_power, self.state.total_power)} of power"
            text += ")"
        if self.l1_head is not None:
            text += f"; L1 head {self.l1_head}"
        return text + f"; sidechain height {self.state.height}"

    def to_json(self) -> dict[str, Any]:
        w = self.withdrawal
        out: dict[str, Any] = {
            "status": self.status, "withdrawal_id": w.id, "batch_nonce": w.batch_nonce, "l1_tx": self.l1_tx,
            "l1_block": self.l1_block, "recipient": w.recipient, "amount": str(w.amount), "fee": str(w.fee),
            "denom": w.denom, "token": w.token, "sender": w.sender, "queued_height": w.queued_height,
            "chain_status": w.status, "sidechain_height": self.state.height,
        }
        if w.done_height is not None:
            out["done_height"] = w.done_height
        if w.position is not None:
            out["position"] = w.position
        if self.batch is not None and self.batch.signed_power is not None:
            out["signed_power"] = str(self.batch.signed_power)
        return out


def find_l1_payout(
    bridge: BridgeContract, state: BridgeState, w: WithdrawalRecord, b: BatchRecord
) -> L1Payout | None:
    """The batch's execution on L1, read from the receipt of the tx that emitted its BatchExecuted; None while
    L1 has not executed it."""
    tx = b.l1_tx
    if tx is None:
        if not bridge.batch_executed(b.nonce):
            return None
        event = bridge.contract.events.BatchExecuted()
        timeout_blocks = int(state.params.get("batch_timeout_l1_blocks") or 0)
        # the batch was formed at observed_l1_height = timeout - batch_timeout_l1_blocks, and L1 runs it only below
        # its timeout: that range holds its BatchExecuted
        start = max(state.deployed_at, b.timeout_l1_block - timeout_blocks if timeout_blocks else state.deployed_at)
        end = max(start, min(bridge.client.block_number(), b.timeout_l1_block))
        logs = bridge.client._translating(lambda: list(event.get_logs(
            argument_filters={"batchNonce": b.nonce}, from_block=start, to_block=end)))
        logs = [log for log in logs if checksum(log["address"]) == bridge.address]
        if not logs:
            return None  # executed, but the log is not visible to this node yet: look again
        tx = HexBytes(logs[0]["transactionHash"]).to_0x_hex()
    client = bridge.client
    receipt = client._translating(lambda: client.w3.eth.get_transaction_receipt(HexBytes(tx)))
    events = bridge.events(receipt)
    if not any(e.name == "BatchExecuted" and int(e.args["batchNonce"]) == b.nonce for e in events):
        raise UnexpectedAnswer(f"L1 tx {tx} holds no BatchExecuted of batch {b.nonce}")
    logs = [(bytes.fromhex(checksum(e.args["recipient"])[2:]), int(e.args["amount"])) for e in events
            if e.name == "WithdrawalDeferred" and int(e.args["batchNonce"]) == b.nonce]
    entries = [(entry.id, bytes.fromhex(entry.recipient[2:]), entry.amount) for entry in b.withdrawals]
    deferred = w.id in match_deferred(entries, logs)  # the chain's rule (bridge/module/withdrawals.py)
    return L1Payout(HexBytes(receipt["transactionHash"]).to_0x_hex(), int(receipt["blockNumber"]), deferred)


def look(chain: BridgeChain, wid: int, bridge: BridgeContract | None = None) -> WithdrawalLook:
    """Where withdrawal `wid` stands, every record read at one sidechain height."""
    state = chain.state()
    w = chain.withdrawal(wid, height=state.height)
    if w is None:
        raise ConfigError(f"no withdrawal {wid} on this chain (at height {state.height})")
    b = chain.batch(w.batch_nonce, height=state.height) if w.batch_nonce else None
    if w.batch_nonce and b is None:
        raise UnexpectedAnswer(f"withdrawal {wid} names batch {w.batch_nonce}, which the node does not have")
    payout, head = None, None
    if bridge is not None:
        head = bridge.client.block_number()
        if b is not None and b.status != "refunded" and w.status not in ("refunded", "cancelled"):
            payout = find_l1_payout(bridge, state, w, b)
    return WithdrawalLook(state, w, b, payout, head)


def claim_hint(w: WithdrawalRecord, contract: str) -> str:
    return (f"the recipient's key claims it: `bridge claim --l1-rpc URL --contract {contract} --token {w.token} "
            f"--to 0xANOTHER_ADDRESS --keystore RECIPIENT_KEY.json` (the payout is owed to {w.recipient})")


def describe(lk: WithdrawalLook) -> list[tuple[str, str, bool]]:
    """The steps a look shows: (key, text, done)."""
    w, b, s = lk.withdrawal, lk.batch, lk.state
    out: list[tuple[str, str, bool]] = []
    if w.status == "queued":
        out.append(("queued", f"queued: position {w.position} in the {w.denom} queue (sidechain height {s.height})",
                    False))
        return out
    if w.status == "cancelled":
        out.append(("cancelled", f"cancelled at height {w.done_height}: amount + fee are back with {w.sender}", True))
        return out
    if b is None:
        return out
    out.append(("queued", f"queued at height {w.queued_height}", True))
    out.append(("batched", f"batched: batch {b.nonce} of {len(b.withdrawals)} withdrawal(s), timeout at L1 block "
                           f"{b.timeout_l1_block}", True))
    if b.signed_power is not None:
        share = percent_of(b.signed_power, s.total_power)
        signers = f"{len(b.signatures)} validator{'s' if len(b.signatures) != 1 else ''}"
        if b.ready or lk.l1 is not None or b.status == "executed":
            out.append(("signed", f"signed {share} of power ({signers}): ready to relay", True))
        elif b.status == "pending":
            needed = percent_of(POWER_THRESHOLD, 2**32)
            out.append(("signed", f"signed {share} of power ({signers}; more than {needed} needed)", False))
    if lk.status == "refunded":
        out.append(("refunded", f"refunded at height {w.done_height}: the batch timed out on L1 (block "
                                f"{b.timeout_l1_block}); {w.amount + w.fee}{w.denom} (amount + fee) are back with "
                                f"{w.sender}", True))
        return out
    if lk.timed_out_on_l1:
        out.append(("timeout", f"L1 reached block {b.timeout_l1_block} without the batch: waiting for the "
                               "sidechain's refund", False))
        return out
    if lk.l1_tx is not None:
        out.append(("executed", f"executed on L1: tx {lk.l1_tx} in L1 block {lk.l1_block}", True))
    if lk.status == "paid":
        out.append(("paid", f"paid {w.amount}{w.denom} to {w.recipient} on L1", True))
    elif lk.status == "deferred":
        out.append(("deferred", f"deferred: {w.recipient} could not receive {w.amount}{w.denom}; the contract "
                                f"holds it for that address: {claim_hint(w, s.contract)}", True))
    elif lk.l1_tx is None and b.ready:
        out.append(("relay", "waiting for a relayer to submit the batch to L1", False))
    return out


POLL_INTERVAL = 1.0  # seconds between looks
RETRY_INTERVAL = 1.0  # after the node or the L1 did not answer


def follow_withdrawal(
    chain: BridgeChain,
    wid: int,
    *,
    bridge: BridgeContract | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
    poll: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WithdrawalLook:
    """Look at the withdrawal every `poll` seconds until it is final (paid, deferred, refunded, cancelled),
    reporting each step; `WaitTimeout` (saying where it stands) after `timeout` seconds."""
    progress = progress or NoProgress()
    poll = POLL_INTERVAL if poll is None else poll
    deadline = None if timeout is None else clock() + timeout
    shown: dict[str, tuple[str, bool]] = {}
    while True:
        try:
            lk = look(chain, wid, bridge)
        except (ClientError, L1ConnectionError) as exc:  # a node or the L1 restarting: keep looking
            if deadline is not None and clock() >= deadline:
                raise
            if shown.get("retry") != (str(exc), False):
                shown["retry"] = (str(exc), False)
                progress.step("retry", f"{exc}; retrying", done=False)
            sleep(RETRY_INTERVAL)
            continue
        if shown.pop("retry", None) is not None:
            shown = {key: seen for key, seen in shown.items() if seen[1]}
        for key, text, done in describe(lk):
            if shown.get(key) != (text, done) and not (shown.get(key, ("", False))[1] and done):
                shown[key] = (text, done)
                progress.step(key, text, done)
        if lk.final:
            return lk
        if deadline is not None and clock() >= deadline:
            raise WaitTimeout(f"not paid within {timeout:.0f} s: {lk.where()}")
        sleep(poll)
