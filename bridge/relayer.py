"""The relayer (BRIDGE.md section 6): submits the valsets and batches the sidechain's validators signed to the
L1 contract. Anyone may run one; it holds no state of its own and can be killed and restarted at any time.

Each round reads both sides afresh and acts on L1's truth, never on the chain's word alone:

1. The sidechain (`/bridge/state`, `/bridge/valsets/pending`, `/bridge/batches/pending`,
   `/bridge/valset/<n>`; the schemas of issue 11's interfaces) and L1 (head block, `valsetNonce()`,
   `valsetCheckpoint()`, `paused()`, the gas price).
2. The contract's current valset: the chain's valset with L1's `valsetNonce()`, accepted only when its digest,
   computed here, equals `valsetCheckpoint()`. Every call carries it, with the signatures aligned to it (entry i
   is validators[i]'s signature, or v=0 when the chain has none from it), each recovered here, and is sent only
   when the signers' power in it is greater than 2863311530, computed here (the chain's `ready` is not trusted).
3. Valsets first, oldest nonce first: every pending valset above L1's nonce, with a digest computed here that
   equals the chain's, a well-formed valset (rule 3) and enough power in the current one. After an update, the
   new valset is the current one for what follows. Valset updates are sent while the bridge is paused.
4. Batches, oldest nonce first, each skipped when: L1 executed it (`batchExecuted`); its `timeoutL1Block` is at
   most the L1 head + 1 (it would revert); its digest computed here differs from the chain's; its signatures do
   not carry enough power; the bridge is paused (reported once, nothing sent); its total exceeds the token's
   daily limit (`dailyLimit()`; held until the next UTC day `block.timestamp / 86400` when the estimate says
   `DailyLimitExceeded`, since the day's released amount is private in the contract); its fees are below its
   cost (gas estimate x gas price) unless the profitability check is off. An ERC-20 batch's fee is valued with
   `--token-price TOKEN=WEI` (the wei one whole token is worth); without a price it is refused unless
   `--relay-unpriced` says to relay such batches anyway.
5. Right before sending, L1 is read again (`batchExecuted`, `valsetNonce`): another relayer may have been first.
   If it is first anyway, the contract's revert is decoded (`BatchAlreadyExecuted`, `ValsetNonceNotIncreasing`,
   `ValsetCheckpointMismatch`) and reported as a race, not an error. What a transaction spent (gas used x the
   effective gas price, from its receipt) is reported, per withdrawal for a batch.

Transport errors (node or L1) are retried with exponential backoff, a bounded number of times; then the round
fails with one line (`RoundFailed`). An answer that is not what the query defines skips what it concerns.

Every report is an `Event` (one JSON object per line with `--output json`). A long-running relayer reports a
skip or a hold once, and again only when its reason changes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from eth_typing import ChecksumAddress
from hexbytes import HexBytes

from bridge.erc20 import Erc20
from bridge.errors import (
    BridgeError,
    ChainMismatchError,
    ConfigError,
    ContractRevertError,
    L1ConnectionError,
    SignatureError,
    UnexpectedAnswer,
)
from bridge.l1 import BridgeContract, L1Client, Sender, sender_address
from bridge.module.errors import UnknownBridgeRecord
from bridge.protocol import (
    ETH_TOKEN,
    MAX_VALSET_NONCE_JUMP,
    NO_SIGNATURE,
    POWER_THRESHOLD,
    Batch,
    InvalidL1Address,
    Signature,
    Valset,
    Withdrawal,
    checksum,
)
from bridge.signing import recover_signer
from bridge.status import (
    QUERY_BAD_REQUEST,
    QUERY_CODESPACE,
    QUERY_NOT_FOUND,
    QUERY_UNKNOWN_PATH,
    BridgeState,
    NodeQueries,
)
from sidechain.client import ClientError

SECONDS_PER_DAY = 86400
GAS_HEADROOM_NUM, GAS_HEADROOM_DEN, GAS_HEADROOM_EXTRA = 6, 5, 10_000  # gas limit = estimate x 1.2 + 10,000
MAX_TX_GAS = 2**24  # EIP-7825 (Osaka): the most gas one L1 transaction may use
# Reverts that mean another relayer (or an earlier run of this one) got there first.
RACE_ERRORS = frozenset({"BatchAlreadyExecuted", "ValsetNonceNotIncreasing", "ValsetCheckpointMismatch"})


class RoundFailed(BridgeError):
    """A round could not read the node or L1 (after its retries), or they disagree on which bridge this is."""

    code = 24


# -- what the chain answers -------------------------------------------------------------------------------


def _int_field(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnexpectedAnswer(f"{where}: {key} is missing or not an integer ({value!r})")
    try:
        out = int(value)
    except ValueError:
        raise UnexpectedAnswer(f"{where}: {key} is not an integer ({value!r})") from None
    if out < 0:
        raise UnexpectedAnswer(f"{where}: {key} is negative ({value!r})")
    return out


def _address_field(value: Any, where: str) -> ChecksumAddress:
    try:
        return checksum(str(value))
    except InvalidL1Address:
        raise UnexpectedAnswer(f"{where}: {value!r} is not an L1 address") from None


def _bytes32_field(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise UnexpectedAnswer(f"{where}: {value!r} is not 0x + 32 bytes of hex")
    return bytes.fromhex(value[2:])


def parse_signature_hex(text: Any, where: str) -> Signature:
    """'0x' + 130 hex (r || s || v) -> Signature."""
    if not isinstance(text, str) or not re.fullmatch(r"0x[0-9a-fA-F]{130}", text):
        raise UnexpectedAnswer(f"{where}: a signature is 0x + 65 bytes of hex, got {str(text)[:80]!r}")
    raw = bytes.fromhex(text[2:])
    return Signature(raw[64], int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))


def _signatures(data: Mapping[str, Any], where: str) -> dict[ChecksumAddress, Signature]:
    items = data.get("signatures", [])
    if not isinstance(items, list):
        raise UnexpectedAnswer(f"{where}: signatures is not a list")
    out: dict[ChecksumAddress, Signature] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UnexpectedAnswer(f"{where}: signatures[{i}] is not an object")
        out[_address_field(item.get("validator"), f"{where} signatures[{i}]")] = parse_signature_hex(
            item.get("signature"), f"{where} signatures[{i}]")
    return out


@dataclass(frozen=True)
class ChainValset:
    """`/bridge/valset/<n>` (or an entry of `/bridge/valsets/pending`)."""

    valset: Valset
    digest: bytes
    signatures: dict[ChecksumAddress, Signature]
    status: str

    @property
    def nonce(self) -> int:
        return self.valset.nonce

    @classmethod
    def from_json(cls, data: Any, where: str) -> ChainValset:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        validators, powers = data.get("validators"), data.get("powers")
        if not isinstance(validators, list) or not isinstance(powers, list):
            raise UnexpectedAnswer(f"{where}: validators and powers must be lists")
        valset = Valset(
            _int_field(data, "nonce", where),
            tuple(_address_field(a, f"{where} validators") for a in validators),
            tuple(_int_field({"power": p}, "power", f"{where} powers") for p in powers),
        )
        return cls(valset, _bytes32_field(data.get("digest"), f"{where} digest"), _signatures(data, where),
                   str(data.get("status", "")))


@dataclass(frozen=True)
class ChainBatch:
    """An entry of `/bridge/batches/pending`: a batch the chain formed, with the signatures it stored."""

    nonce: int
    token: ChecksumAddress
    denom: str
    timeout_l1_block: int
    digest: bytes
    status: str
    withdrawal_ids: tuple[int, ...]
    withdrawals: tuple[Withdrawal, ...]
    signatures: dict[ChecksumAddress, Signature]

    @property
    def batch(self) -> Batch:
        return Batch(self.nonce, self.timeout_l1_block)

    @property
    def total(self) -> int:
        """amount + fee over the withdrawals: what the daily limit counts."""
        return sum(w.amount + w.fee for w in self.withdrawals)

    @property
    def fees(self) -> int:
        return sum(w.fee for w in self.withdrawals)

    @property
    def is_eth(self) -> bool:
        return self.token == ETH_TOKEN

    @classmethod
    def from_json(cls, data: Any, where: str) -> ChainBatch:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        nonce = _int_field(data, "nonce", where)
        where = f"{where} (batch {nonce})"
        token = _address_field(data.get("token"), f"{where} token")
        items = data.get("withdrawals")
        if not isinstance(items, list) or not items:
            raise UnexpectedAnswer(f"{where}: withdrawals must be a non-empty list")
        ids, withdrawals = [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise UnexpectedAnswer(f"{where}: withdrawals[{i}] is not an object")
            at = f"{where} withdrawals[{i}]"
            ids.append(_int_field(item, "id", at))
            withdrawals.append(Withdrawal(token, _address_field(item.get("recipient"), at),
                                          _int_field(item, "amount", at), _int_field(item, "fee", at)))
        return cls(nonce, token, str(data.get("denom", "")), _int_field(data, "timeout_l1_block", where),
                   _bytes32_field(data.get("digest"), f"{where} digest"), str(data.get("status", "")), tuple(ids),
                   tuple(withdrawals), _signatures(data, where))


class RelayerChain:
    """The sidechain's bridge queries the relayer reads, over a node client (the seam tests replace)."""

    def __init__(self, node: NodeQueries) -> None:
        self.node = node

    def _get(self, path: str) -> Any | None:
        """The JSON body of `path`; None when the chain has no such record or does not serve the route."""
        r = self.node.query(path)
        if r.code != 0:
            if (r.codespace, r.code) in {(UnknownBridgeRecord.codespace, UnknownBridgeRecord.code),
                                         (QUERY_CODESPACE, QUERY_NOT_FOUND), (QUERY_CODESPACE, QUERY_UNKNOWN_PATH),
                                         (QUERY_CODESPACE, QUERY_BAD_REQUEST), ("bridge", 7)}:
                return None
            raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
        try:
            return r.json()
        except ValueError:
            raise UnexpectedAnswer(f"{path} at {self.node.url} did not answer JSON") from None

    def state(self) -> tuple[BridgeState, dict[str, Any]]:
        """`/bridge/state`, parsed, and its raw body (for the valset it holds)."""
        r = self.node.query("/bridge/state")
        if r.code != 0:
            raise UnexpectedAnswer(f"/bridge/state at {self.node.url}: {r.log or f'code {r.code}'}")
        try:
            body = r.json()
        except ValueError:
            raise UnexpectedAnswer(f"/bridge/state at {self.node.url} did not answer JSON") from None
        return BridgeState.from_json(body, r.height), body

    def valset(self, nonce: int) -> ChainValset | None:
        path = f"/bridge/valset/{nonce}"
        body = self._get(path)
        return None if body is None else ChainValset.from_json(body, path)

    def pending_valsets(self) -> tuple[list[ChainValset], list[str]]:
        """The pending valsets that parse, ascending nonce, and one line per entry that does not."""
        return self._list("/bridge/valsets/pending", "valsets", ChainValset.from_json)

    def pending_batches(self) -> tuple[list[ChainBatch], list[str]]:
        return self._list("/bridge/batches/pending", "batches", ChainBatch.from_json)

    def _list(self, path: str, key: str, parse: Callable[[Any, str], Any]) -> tuple[list[Any], list[str]]:
        body = self._get(path)
        if body is None:
            return [], []
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise UnexpectedAnswer(f"{path} at {self.node.url}: expected {{\"{key}\": [...]}}")
        items, bad = [], []
        for i, item in enumerate(body[key]):
            try:
                items.append(parse(item, f"{path}[{i}]"))
            except UnexpectedAnswer as exc:
                bad.append(str(exc))
        return sorted(items, key=lambda x: x.nonce), bad


# -- signatures --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aligned:
    """Signature[] aligned to a valset, and what they carry."""

    signatures: list[Signature]
    power: int
    signers: int
    dropped: list[str]  # signatures the chain gave that do not recover to their validator

    @property
    def enough(self) -> bool:
        return self.power > POWER_THRESHOLD


def align_signatures(valset: Valset, digest: bytes, signatures: Mapping[ChecksumAddress, Signature]) -> Aligned:
    """Entry i: validators[i]'s signature over `digest` when the chain has one that recovers to it (checked
    here: one bad signature would revert the whole call), else v=0. Signers outside `valset` are ignored."""
    out: list[Signature] = []
    power, signers, dropped = 0, 0, []
    for address, p in zip(valset.validators, valset.powers, strict=True):
        sig = signatures.get(address)
        if sig is None:
            out.append(NO_SIGNATURE)
            continue
        try:
            recovered = recover_signer(digest, sig)
        except SignatureError as exc:
            dropped.append(f"{address}: {exc}")
            out.append(NO_SIGNATURE)
            continue
        if recovered != address:
            dropped.append(f"{address}: the signature recovers to {recovered}")
            out.append(NO_SIGNATURE)
            continue
        out.append(sig)
        power += p
        signers += 1
    return Aligned(out, power, signers, dropped)


# -- the fee policy ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeePolicy:
    """When a batch is worth relaying: its fees at least its cost (gas estimate x gas price).

    `token_prices`: wei per whole token (10**decimals() base units; per base unit for a token without
    decimals()). `relay_unpriced`: relay ERC-20 batches without a price, unchecked. `check`: False relays every
    batch whatever its fees (a testnet, where fees are tiny)."""

    check: bool = True
    token_prices: Mapping[ChecksumAddress, int] = field(default_factory=dict)
    relay_unpriced: bool = False

    @staticmethod
    def parse_price(text: str) -> tuple[ChecksumAddress, int]:
        token, sep, wei = text.partition("=")
        if not sep or not wei.strip().isdigit():
            raise ConfigError(f"--token-price {text!r}: write 0xTOKEN=WEI (the wei one whole token is worth)")
        try:
            return checksum(token.strip()), int(wei.strip())
        except InvalidL1Address:
            raise ConfigError(f"--token-price {text!r}: {token.strip()!r} is not a token address") from None


# -- events ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One report: `event` is what happened, `message` the one-line text, `fields` the rest (JSON-ready)."""

    event: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"time": _iso(self.at), "event": self.event, **self.fields, "message": self.message}

    def line(self) -> str:
        return f"{_iso(self.at)} {self.message}"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class RoundSummary:
    valsets_submitted: int = 0
    batches_submitted: int = 0
    withdrawals_paid: int = 0
    skipped: int = 0
    held: int = 0
    raced: int = 0
    failed: int = 0
    spent_wei: int = 0
    l1_block: int | None = None
    l1_valset_nonce: int | None = None
    paused: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"valsets_submitted": self.valsets_submitted, "batches_submitted": self.batches_submitted,
                "withdrawals_paid": self.withdrawals_paid, "skipped": self.skipped, "held": self.held,
                "raced": self.raced, "failed": self.failed, "spent_wei": str(self.spent_wei),
                "l1_block": self.l1_block, "l1_valset_nonce": self.l1_valset_nonce, "paused": self.paused}

    @property
    def sent(self) -> bool:
        return bool(self.valsets_submitted or self.batches_submitted or self.raced or self.failed)


@dataclass(frozen=True)
class L1View:
    head: int
    timestamp: int
    valset_nonce: int
    checkpoint: bytes
    paused: bool
    gas_price: int

    @property
    def day(self) -> int:
        return self.timestamp // SECONDS_PER_DAY


@dataclass(frozen=True)
class Spent:
    tx: str
    l1_block: int
    gas_used: int
    gas_price: int

    @property
    def wei(self) -> int:
        return self.gas_used * self.gas_price

    @classmethod
    def of(cls, receipt: Mapping[str, Any]) -> Spent:
        price = receipt.get("effectiveGasPrice")
        return cls(HexBytes(receipt["transactionHash"]).to_0x_hex(), int(receipt["blockNumber"]),
                   int(receipt["gasUsed"]), int(price) if price is not None else 0)

    def to_json(self) -> dict[str, Any]:
        return {"tx": self.tx, "l1_block": self.l1_block, "gas_used": self.gas_used,
                "effective_gas_price": str(self.gas_price), "spent_wei": str(self.wei)}

    def text(self) -> str:
        return f"tx {self.tx} in L1 block {self.l1_block}, gas {self.gas_used} x {self.gas_price} wei = {self.wei} wei"


# -- the relayer -------------------------------------------------------------------------------------------


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    L1ConnectionError, ClientError, requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError,
)


class Relayer:
    """One relayer: `run_round()` reads both sides and sends what is ready (the module docstring)."""

    def __init__(
        self,
        node: NodeQueries,
        connect_l1: Callable[[], L1Client],
        sender: Sender,
        *,
        policy: FeePolicy | None = None,
        report: Callable[[Event], None] | None = None,
        retries: int = 4,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        dedupe: bool = False,
        report_failures: bool = True,
    ) -> None:
        self.chain = RelayerChain(node)
        self._connect_l1 = connect_l1
        self.sender = sender
        self.address = sender_address(sender)
        self.policy = policy or FeePolicy()
        self._report = report or (lambda e: None)
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self._sleep = sleep
        self.dedupe = dedupe
        self.report_failures = report_failures  # False: a failed round is only raised (`--once` prints it)
        self.bridge: BridgeContract | None = None
        self._decimals: dict[ChecksumAddress, int | None] = {}
        self._held_day: dict[int, int] = {}  # batch nonce -> the L1 day a daily limit held it on
        self._last: dict[tuple[str, int], str] = {}  # (kind, nonce) -> last reason reported (dedupe)
        self._paused_reported: bool | None = None
        self._last_error: str | None = None

    # -- plumbing ------------------------------------------------------------------------------------------

    def report(self, event: Event) -> None:
        self._report(event)

    def emit(self, event: str, message: str, key: tuple[str, int] | None = None, state: str | None = None, /,
             **fields: Any) -> None:
        """Report an event; with dedupe, an event about `key` only when its `state` changed since the last."""
        if self.dedupe and key is not None:
            if self._last.get(key) == (state or event):
                return
            self._last[key] = state or event
        self._report(Event(event, message, fields))

    def _retry(self, what: str, action: Callable[[], Any]) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return action()
            except TRANSPORT_ERRORS as exc:
                if attempt == self.retries:
                    attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
                    raise RoundFailed(f"{what}: {exc} (after {attempts})") from None
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    # -- one round ---------------------------------------------------------------------------------------

    def run_round(self) -> RoundSummary:
        """Read both sides, send what is ready. RoundFailed when the node or L1 cannot be read (after the
        retries), or answers what the round cannot go on from (no bridge, another chain, a malformed
        /bridge/state or list); a bad entry of a list only skips that entry."""
        summary = RoundSummary()
        try:
            try:
                self._round(summary)
            except RoundFailed:
                raise
            except BridgeError as exc:
                raise RoundFailed(str(exc)) from None
        except RoundFailed as exc:
            message = str(exc)
            if self.report_failures and (not self.dedupe or message != self._last_error):
                self._report(Event("error", f"round failed: {message}", {"error": message}))
            self._last_error = message
            raise
        if self._last_error is not None and self.dedupe:
            self._report(Event("recovered", "node and L1 answer again"))
        self._last_error = None
        return summary

    def _round(self, summary: RoundSummary) -> None:
        state, raw_state = self._retry("reading /bridge/state from the node", self.chain.state)
        bridge = self._bridge(state)
        view = self._retry("reading L1", lambda: self._read_l1(bridge))
        summary.l1_block, summary.l1_valset_nonce, summary.paused = view.head, view.valset_nonce, view.paused
        current = self._current_valset(bridge, view, raw_state)
        if current is None:
            return
        self._report_pause(view)
        current = self._relay_valsets(bridge, view, current, summary)
        self._relay_batches(bridge, view, current, summary)

    def _bridge(self, state: BridgeState) -> BridgeContract:
        if self.bridge is None or self.bridge.address != state.contract:
            client = self._retry("connecting to L1", self._connect_l1)
            chain_id = self._retry("reading the L1 chain id", lambda: client.chain_id)
            if chain_id != state.l1_chain_id:
                raise RoundFailed(str(ChainMismatchError(
                    f"the L1 RPC serves chain id {chain_id}, but the sidechain's bridge is on L1 chain "
                    f"{state.l1_chain_id}")))
            self.bridge = BridgeContract(client, state.contract)
            self.emit("started", f"relaying for bridge {state.contract} on L1 chain {chain_id} as {self.address}",
                      contract=state.contract, l1_chain_id=chain_id, relayer=self.address)
        return self.bridge

    def _read_l1(self, bridge: BridgeContract) -> L1View:
        client = bridge.client
        block = client._translating(lambda: client.w3.eth.get_block("latest"))
        gas_price = int(client._translating(lambda: client.w3.eth.gas_price))
        return L1View(int(block["number"]), int(block["timestamp"]), bridge.valset_nonce(), bridge.valset_checkpoint(),
                      bridge.paused(), gas_price)

    def _current_valset(self, bridge: BridgeContract, view: L1View, raw_state: Mapping[str, Any]) -> Valset | None:
        """The contract's valset: the chain's valset with L1's nonce, checked against valsetCheckpoint()."""
        candidates: list[tuple[str, Valset]] = []
        try:
            found = self._retry("reading the valset from the node", lambda: self.chain.valset(view.valset_nonce))
        except UnexpectedAnswer as exc:
            self.emit("skipped", f"ignoring the node's valset {view.valset_nonce}: {exc}",
                      ("chain-valset", view.valset_nonce), "bad_answer", kind="valset", reason="bad_answer",
                      error=str(exc))
            found = None
        if found is not None:
            candidates.append((f"/bridge/valset/{view.valset_nonce}", found.valset))
        held = raw_state.get("valset")
        if isinstance(held, dict) and held.get("nonce") == view.valset_nonce:
            try:
                candidates.append(("/bridge/state valset", Valset.from_json(held)))
            except BridgeError:
                pass
        for _where, valset in candidates:
            if bridge.domain.valset_digest(valset) == view.checkpoint:
                return valset
        where = ", ".join(w for w, _ in candidates) or "the node has no valset with that nonce"
        self.emit("waiting", f"L1 holds valset {view.valset_nonce} (checkpoint 0x{view.checkpoint.hex()}) and the "
                             f"chain's does not match it ({where}): nothing can be signed for it yet",
                  ("l1-valset", view.valset_nonce), "no-match", valset_nonce=view.valset_nonce)
        return None

    def _report_pause(self, view: L1View) -> None:
        if view.paused and self._paused_reported is not True:
            self._report(Event("paused", "the bridge is paused on L1: no batch is sent (valset updates still are)",
                               {"paused": True}))
        elif not view.paused and self._paused_reported is True:
            self._report(Event("unpaused", "the bridge is no longer paused on L1", {"paused": False}))
        self._paused_reported = view.paused

    # -- valsets -----------------------------------------------------------------------------------------

    def _relay_valsets(self, bridge: BridgeContract, view: L1View, current: Valset, summary: RoundSummary) -> Valset:
        pending, bad = self._retry("reading /bridge/valsets/pending", self.chain.pending_valsets)
        for line in bad:
            summary.skipped += 1
            self.emit("skipped", f"valset skipped: {line}", None, kind="valset", reason="bad_answer", error=line)
        for cv in pending:
            if cv.nonce <= current.nonce:
                continue
            key = ("valset", cv.nonce)
            skip = self._valset_problem(bridge, cv, current)
            if isinstance(skip, tuple):
                reason, text = skip
                summary.skipped += 1
                self.emit("skipped", f"valset {cv.nonce} skipped: {text}", key, reason, kind="valset",
                          nonce=cv.nonce, reason=reason)
                continue
            if self._submit_valset(bridge, cv, current, skip, summary):
                current = cv.valset
        return current

    def _valset_problem(self, bridge: BridgeContract, cv: ChainValset, current: Valset) -> tuple[str, str] | Aligned:
        digest = bridge.domain.valset_digest(cv.valset)
        if digest != cv.digest:
            return "bad_digest", (f"the chain's digest 0x{cv.digest.hex()} is not the valset's (0x{digest.hex()} "
                                  "computed here)")
        try:
            cv.valset.validate()
        except BridgeError as exc:
            return "invalid", f"not a valset the contract accepts ({exc})"
        if cv.nonce > current.nonce + MAX_VALSET_NONCE_JUMP:
            return "nonce_jump", f"nonce {cv.nonce} is more than {MAX_VALSET_NONCE_JUMP} above L1's {current.nonce}"
        aligned = align_signatures(current, digest, cv.signatures)
        if not aligned.enough:
            return "signatures", (f"signed by {aligned.signers} of {len(current.validators)} validators of valset "
                                  f"{current.nonce} with power {aligned.power}, more than {POWER_THRESHOLD} needed")
        return aligned

    def _submit_valset(self, bridge: BridgeContract, cv: ChainValset, current: Valset, aligned: Aligned,
                       summary: RoundSummary) -> bool:
        key = ("valset", cv.nonce)
        fn = bridge.fn.updateValset(cv.valset.to_abi(), current.to_abi(), [s.to_abi() for s in aligned.signatures])
        try:
            if self._retry("reading valsetNonce()", bridge.valset_nonce) >= cv.nonce:
                summary.skipped += 1
                self.emit("skipped", f"valset {cv.nonce} skipped: L1 already holds it or a newer one", key,
                          "done_on_l1", kind="valset", nonce=cv.nonce, reason="done_on_l1")
                return False
            gas = self._retry("estimating gas", lambda: bridge.client.estimate_gas(fn, self.sender))
            receipt = bridge.client.transact(fn, self.sender, gas=_with_headroom(gas))
        except RoundFailed:
            raise
        except ContractRevertError as exc:
            self._reverted("valset", cv.nonce, exc, bridge, summary)
            return False
        except TRANSPORT_ERRORS as exc:
            summary.failed += 1
            self.emit("failed", f"valset {cv.nonce}: {exc}", None, kind="valset", nonce=cv.nonce, error=str(exc))
            return False
        except BridgeError as exc:
            summary.failed += 1
            self.emit("failed", f"valset {cv.nonce}: {exc}", None, kind="valset", nonce=cv.nonce, error=str(exc))
            return False
        spent = Spent.of(receipt)
        summary.valsets_submitted += 1
        summary.spent_wei += spent.wei
        self._last[key] = "submitted"
        self.emit("valset_submitted", f"valset {cv.nonce} submitted ({len(cv.valset.validators)} validators, signed "
                                      f"by {aligned.signers} of valset {current.nonce}, power {aligned.power}): "
                                      f"{spent.text()}", None,
                  kind="valset", nonce=cv.nonce, signers=aligned.signers, signed_power=str(aligned.power),
                  **spent.to_json())
        return True

    # -- batches -----------------------------------------------------------------------------------------

    def _relay_batches(self, bridge: BridgeContract, view: L1View, current: Valset, summary: RoundSummary) -> None:
        pending, bad = self._retry("reading /bridge/batches/pending", self.chain.pending_batches)
        for line in bad:
            summary.skipped += 1
            self.emit("skipped", f"batch skipped: {line}", None, kind="batch", reason="bad_answer", error=line)
        pending = [b for b in pending if b.status in ("pending", "")]
        if view.paused:
            if pending:
                summary.held += len(pending)
                self.emit("held", f"{len(pending)} batch(es) held while the bridge is paused: "
                                  f"{', '.join(str(b.nonce) for b in pending)}", ("paused", 0),
                          ",".join(str(b.nonce) for b in pending), kind="batch", reason="paused",
                          nonces=[b.nonce for b in pending])
            return
        for cb in pending:
            self._relay_batch(bridge, view, current, cb, summary)

    def _skip(self, summary: RoundSummary, cb: ChainBatch, reason: str, text: str, **fields: Any) -> None:
        summary.skipped += 1
        self.emit("skipped", f"batch {cb.nonce} skipped: {text}", ("batch", cb.nonce), reason, kind="batch",
                  nonce=cb.nonce, reason=reason, **fields)

    def _relay_batch(self, bridge: BridgeContract, view: L1View, current: Valset, cb: ChainBatch,
                     summary: RoundSummary) -> None:
        key = ("batch", cb.nonce)
        if self._retry("reading batchExecuted()", lambda: bridge.batch_executed(cb.nonce)):
            self._skip(summary, cb, "executed", "L1 already executed it")
            return
        if cb.timeout_l1_block <= view.head + 1:
            self._skip(summary, cb, "timeout", f"its timeoutL1Block {cb.timeout_l1_block} is at most the next L1 "
                                               f"block {view.head + 1} (it would revert; the chain refunds it)",
                       timeout_l1_block=cb.timeout_l1_block, l1_head=view.head)
            return
        digest = bridge.domain.batch_digest(cb.batch, cb.withdrawals)
        if digest != cb.digest:
            self._skip(summary, cb, "bad_digest", f"the chain's digest 0x{cb.digest.hex()} is not the batch's "
                                                  f"(0x{digest.hex()} computed here)")
            return
        aligned = align_signatures(current, digest, cb.signatures)
        if not aligned.enough:
            self._skip(summary, cb, "signatures", f"signed by {aligned.signers} of {len(current.validators)} "
                                                  f"validators of valset {current.nonce} with power {aligned.power}, "
                                                  f"more than {POWER_THRESHOLD} needed",
                       signed_power=str(aligned.power))
            return
        held = self._held_day.get(cb.nonce)
        if held is not None and held >= view.day:
            summary.held += 1  # reported when it was held; the same L1 day still
            return
        limit = self._retry("reading dailyLimit()", lambda: bridge.daily_limit(cb.token))
        if limit and cb.total > limit:
            self._skip(summary, cb, "over_daily_limit", f"its total {cb.total} exceeds the daily limit {limit} of "
                                                        f"{cb.token}: no day can release it unless the guardian raises "
                                                        "the limit", total=str(cb.total), limit=str(limit))
            return
        fn = bridge.fn.submitBatch(current.to_abi(), [s.to_abi() for s in aligned.signatures], cb.batch.to_abi(),
                                   [w.to_abi() for w in cb.withdrawals])
        try:
            gas = self._retry("estimating gas", lambda: bridge.client.estimate_gas(fn, self.sender))
        except RoundFailed:
            raise
        except ContractRevertError as exc:
            self._reverted("batch", cb.nonce, exc, bridge, summary, view=view)
            return
        except BridgeError as exc:
            summary.failed += 1
            if "gas required exceeds" in str(exc):
                self.emit("failed", f"batch {cb.nonce} ({len(cb.withdrawals)} withdrawals) needs more gas than an L1 "
                                    f"transaction may use ({exc}): it cannot execute, and the chain refunds it at "
                                    f"its timeout L1 block {cb.timeout_l1_block}", key, "too_much_gas", kind="batch",
                          nonce=cb.nonce, reason="too_much_gas", error=str(exc))
                return
            self.emit("failed", f"batch {cb.nonce}: gas estimate failed: {exc}", key, "estimate", kind="batch",
                      nonce=cb.nonce, error=str(exc))
            return
        cost = gas * view.gas_price
        refusal = self._unprofitable(bridge, cb, cost)
        if refusal is not None:
            reason, text = refusal
            self._skip(summary, cb, reason, text, fees=str(cb.fees), estimated_gas=gas,
                       gas_price=str(view.gas_price), estimated_cost_wei=str(cost))
            return
        self._send_batch(bridge, cb, fn, gas, aligned, summary)

    def _unprofitable(self, bridge: BridgeContract, cb: ChainBatch, cost: int) -> tuple[str, str] | None:
        if not self.policy.check:
            return None
        if cb.is_eth:
            value = cb.fees
        else:
            price = self.policy.token_prices.get(cb.token)
            if price is None:
                if self.policy.relay_unpriced:
                    return None
                return "unpriced", (f"its fees are in {cb.token}, which has no --token-price: not relayed "
                                    "(give --token-price TOKEN=WEI, or --relay-unpriced to relay such batches)")
            decimals = self._token_decimals(bridge, cb.token)
            value = cb.fees * price // 10 ** (decimals or 0)
        if value < cost:
            return "unprofitable", (f"its fees are worth {value} wei, below its cost {cost} wei at the current gas "
                                    "price (--no-profit-check relays it anyway)")
        return None

    def _token_decimals(self, bridge: BridgeContract, token: ChecksumAddress) -> int | None:
        if token not in self._decimals:
            self._decimals[token] = self._retry("reading decimals()", lambda: Erc20(bridge.client, token).decimals())
        return self._decimals[token]

    def _send_batch(self, bridge: BridgeContract, cb: ChainBatch, fn: Any, gas: int, aligned: Aligned,
                    summary: RoundSummary) -> None:
        key = ("batch", cb.nonce)
        if self._retry("reading batchExecuted()", lambda: bridge.batch_executed(cb.nonce)):
            self._skip(summary, cb, "executed", "L1 executed it while this relayer was getting ready (another "
                                                "relayer was first)")
            summary.raced += 1
            return
        try:
            receipt = bridge.client.transact(fn, self.sender, gas=_with_headroom(gas))
        except ContractRevertError as exc:
            self._reverted("batch", cb.nonce, exc, bridge, summary)
            return
        except TRANSPORT_ERRORS as exc:  # not retried: the next round reads L1 and sees whether it landed
            summary.failed += 1
            self.emit("failed", f"batch {cb.nonce}: {exc}", None, kind="batch", nonce=cb.nonce, error=str(exc))
            return
        except BridgeError as exc:
            summary.failed += 1
            self.emit("failed", f"batch {cb.nonce}: {exc}", None, kind="batch", nonce=cb.nonce, error=str(exc))
            return
        spent = Spent.of(receipt)
        events = bridge.events(receipt)
        deferred = [e for e in events if e.name == "WithdrawalDeferred"]
        executed = [e for e in events if e.name == "BatchExecuted"]
        n = len(cb.withdrawals)
        summary.batches_submitted += 1
        summary.withdrawals_paid += n
        summary.spent_wei += spent.wei
        self._last[key] = "submitted"
        self._held_day.pop(cb.nonce, None)
        per = spent.wei // n
        deferred_text = f", {len(deferred)} payout(s) deferred" if deferred else ""
        self.emit("batch_submitted", f"batch {cb.nonce} executed: {n} withdrawal(s) of {cb.denom or cb.token}, fees "
                                     f"{cb.fees}{deferred_text}; {spent.text()} ({per} wei per withdrawal)", None,
                  kind="batch", nonce=cb.nonce, token=cb.token, withdrawals=n, withdrawal_ids=list(cb.withdrawal_ids),
                  fees=str(cb.fees), deferred=len(deferred),
                  event_nonce=int(executed[0].args["eventNonce"]) if executed else None,
                  spent_per_withdrawal_wei=str(per), estimated_gas=gas, signers=aligned.signers,
                  signed_power=str(aligned.power), **spent.to_json())

    def _reverted(self, kind: str, nonce: int, exc: ContractRevertError, bridge: BridgeContract,
                  summary: RoundSummary, view: L1View | None = None) -> None:
        """A decoded revert: a race (another relayer first), a daily limit (held to the next day), or a failure."""
        spent: dict[str, Any] = {}
        if exc.tx_hash is not None and bridge.client.last_receipt is not None:
            s = Spent.of(bridge.client.last_receipt)
            if s.tx == exc.tx_hash:
                summary.spent_wei += s.wei
                spent = s.to_json()
        sent = f" (sent and reverted: {exc.tx_hash})" if exc.tx_hash else " (nothing sent)"
        if exc.name in RACE_ERRORS:
            summary.raced += 1
            self.emit("raced", f"{kind} {nonce}: another relayer was first ({exc}){sent}",
                      (kind, nonce), "raced", kind=kind, nonce=nonce, error=exc.name, revert=str(exc), **spent)
            return
        if exc.name == "BatchTimedOut" and not exc.tx_hash:
            summary.skipped += 1
            self.emit("skipped", f"{kind} {nonce} skipped: it timed out on L1 ({exc})", (kind, nonce), "timeout",
                      kind=kind, nonce=nonce, reason="timeout", revert=str(exc))
            return
        if exc.name == "DailyLimitExceeded" and view is not None:
            self._held_day[nonce] = view.day
            f = exc.fields
            summary.held += 1
            self.emit("held", f"{kind} {nonce} held until the next UTC day on L1 (day {view.day + 1}): "
                              f"{f.get('token')} released {f.get('releasedToday')} today, the batch adds "
                              f"{f.get('requested')}, the limit is {f.get('limit')}", (kind, nonce), "daily_limit",
                      kind=kind, nonce=nonce, reason="daily_limit", until_day=view.day + 1,
                      released_today=str(f.get("releasedToday")), requested=str(f.get("requested")),
                      limit=str(f.get("limit")))
            return
        if exc.name == "BridgePaused":
            summary.held += 1
            self.emit("held", f"{kind} {nonce} held: the bridge was paused meanwhile{sent}", (kind, nonce), "paused",
                      kind=kind, nonce=nonce, reason="paused", **spent)
            return
        summary.failed += 1
        self.emit("failed", f"{kind} {nonce}: {exc}{sent}", (kind, nonce), exc.name, kind=kind, nonce=nonce,
                  error=exc.name, revert=str(exc), **spent)


def _with_headroom(gas: int) -> int:
    """The gas limit sent: state may move between the estimate and inclusion; never above what one L1
    transaction may use (EIP-7825), which the estimate itself is within."""
    return min(gas * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + GAS_HEADROOM_EXTRA, max(gas, MAX_TX_GAS))


# -- running it --------------------------------------------------------------------------------------------


def parse_interval(text: str) -> float:
    """'1s', '500ms', '2m' or plain seconds ('1.5') -> seconds (> 0)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*", text)
    if m is None:
        raise ConfigError(f"--interval {text!r}: write a duration like 1s, 500ms or 2m")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    if value <= 0:
        raise ConfigError(f"--interval {text!r} must be more than 0")
    return value


def run(relayer: Relayer, *, once: bool, interval: float, sleep: Callable[[float], None] = time.sleep,
        rounds: int | None = None) -> RoundSummary:
    """`--once`: one round (RoundFailed propagates). Else rounds every `interval` seconds until interrupted; a
    failed round is reported and the next one tries again."""
    if once:
        summary = relayer.run_round()
        relayer.report(Event("round", _summary_text(summary), summary.to_json()))
        return summary
    done = 0
    last = RoundSummary()
    while rounds is None or done < rounds:
        try:
            last = relayer.run_round()
            if last.sent:
                relayer.report(Event("round", _summary_text(last), last.to_json()))
        except RoundFailed:
            pass  # reported by run_round; the next round retries
        except Exception as exc:  # noqa: BLE001 - a long-running relayer reports a bug and goes on
            relayer.report(Event("error", f"internal error: {type(exc).__name__}: {exc}", {"error": str(exc)}))
        done += 1
        if rounds is None or done < rounds:
            sleep(interval)
    return last


def _summary_text(s: RoundSummary) -> str:
    return (f"round done at L1 block {s.l1_block}: {s.valsets_submitted} valset(s) and {s.batches_submitted} "
            f"batch(es) submitted ({s.withdrawals_paid} withdrawals), {s.skipped} skipped, {s.held} held, "
            f"{s.raced} raced, {s.failed} failed; spent {s.spent_wei} wei")


def json_line(event: Event) -> str:
    return json.dumps(event.to_json(), sort_keys=True)

