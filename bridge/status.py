"""Where the bridge stands, read from both sides: the sidechain's bridge queries and the L1 contract.

Used by `bridge status`, `bridge deposit` (to follow a deposit until it is minted) and the relayer.

The sidechain side goes through `BridgeChain`, over anything with `query` and `verify_proof` like
`sidechain.client.NodeClient` (the seam tests replace). Its routes (JSON bodies):

    /bridge/state                  enabled, l1_chain_id, contract, deployed_at, last_event_nonce,
                                   observed_l1_height, audit_l1_height, valset, supply {denom: "amount"},
                                   params
                                   queued, in_batches {denom: "amount + fee"}, latest_valset_nonce
    /bridge/deposit/<event_nonce>  one applied deposit (provable)
    /bridge/supply/<denom>         {"denom", "amount"} (provable)
    /bridge/withdrawal/<id>        one withdrawal: status queued|batched|executed|deferred|refunded|cancelled,
                                   position (queued), batch_nonce (batched and after), done_height (provable)
    /bridge/batch/<nonce>          one batch: its withdrawals, status pending|executed|refunded, the signatures
                                   the chain stored, signed_power, ready (provable)
    /bridge/batches/pending        {"batches": [...]}
    /bridge/valset/<nonce|latest>  one valset: validators, powers, digest, signatures, status

With `prove`, a provable answer's Merkle proof is checked against the app hash in the next block's header
by `NodeClient.verify_proof`, the same check `sidechain query balance --prove` makes.

The supply invariant (BRIDGE.md section 5), per asset, read at the audit height `audit_l1_height` =
max(observed_l1_height, L1 block of event last_event_nonce) (every event in earlier blocks applied, and of
its own block exactly those up to last_event_nonce) and at the one sidechain height the state was read at:

    L1 balance of the contract - totalDeferred(token)  >=  sidechain supply of the denom
                                                            + withdrawal queue + pending batches (amount + fee)

The difference is the surplus (tokens sent to the contract without a deposit); below zero it is a shortfall.
The queue and the pending batches are `/bridge/state`'s `queued` and `in_batches`, read in the same answer as
the supply (one sidechain height). A batch still pending on the sidechain that L1 has already executed at the
audit height (its `BatchExecuted` is in that block after `last_event_nonce`, not applied yet) is not counted:
the contract's balance there has already paid it (`pending_withdrawals`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from hexbytes import HexBytes

from bridge.erc20 import Erc20
from bridge.errors import (
    BridgeNotEnabled,
    ChainMismatchError,
    ConfigError,
    InvalidL1Address,
    InvalidL1Integer,
    UnexpectedAnswer,
    UnknownDeposit,
)
from bridge.l1 import BridgeContract, L1Client
from bridge.module.errors import UnknownBridgeRecord
from bridge.module.events import ZERO_ADDRESS, denom_of, token_of
from bridge.protocol import Valset, checksum
from sidechain.client import QueryResult

# Query codes of the app (sidechain/app.py, codespace "query") this module tells apart.
QUERY_CODESPACE = "query"
QUERY_UNKNOWN_PATH = 2
QUERY_BAD_REQUEST = 3
QUERY_NOT_FOUND = 5

WITHDRAWALS_NOTE = ("queue and batches: /bridge/state's queued and in_batches (amount + fee) at the same sidechain "
                    "height as the supply, less pending batches L1 had already executed at the audit height")


class NodeQueries(Protocol):
    """What `BridgeChain` needs of a node client (`sidechain.client.NodeClient` is one)."""

    url: str

    def query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> QueryResult: ...

    def verify_proof(self, r: QueryResult) -> bytes: ...


@dataclass(frozen=True)
class Proof:
    """A verified Merkle proof: the answer at `height` is committed in the app hash of block height + 1."""

    height: int
    app_hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {"verified": True, "height": self.height, "app_hash": self.app_hash.hex().upper()}

    def note(self) -> str:
        return f"proof verified against the app hash of block {self.height + 1} ({self.app_hash.hex().upper()[:16]}...)"


def _int(data: dict[str, Any], key: str, what: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnexpectedAnswer(f"{what}: {key} is missing or not an integer ({value!r})")
    try:
        out = int(value)
    except ValueError:
        raise UnexpectedAnswer(f"{what}: {key} is not an integer ({value!r})") from None
    if out < 0:
        raise UnexpectedAnswer(f"{what}: {key} is negative ({value!r})")
    return out


@dataclass(frozen=True)
class BridgeState:
    """`/bridge/state` at sidechain height `height`."""

    height: int
    l1_chain_id: int
    contract: ChecksumAddress
    deployed_at: int
    last_event_nonce: int
    observed_l1_height: int
    audit_l1_height: int
    supply: dict[str, int]
    l1_confirmations: int
    valset_nonce: int
    # withdrawals burned on the sidechain and not yet paid on L1 (amount + fee), per denom
    queued: dict[str, int] = field(default_factory=dict)
    in_batches: dict[str, int] = field(default_factory=dict)
    valset: Valset | None = None  # the contract's valset as the chain has applied it
    latest_valset_nonce: int | None = None  # the newest valset the chain created (None: the node does not say)
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, height: int, where: str = "/bridge/state") -> BridgeState:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        if not data.get("enabled"):
            raise BridgeNotEnabled(f"{where}: the bridge is not enabled on this chain (its genesis has no "
                                   "app_state.bridge)")
        try:
            contract = checksum(str(data.get("contract")))
        except InvalidL1Address:
            raise UnexpectedAnswer(f"{where}: contract {data.get('contract')!r} is not an address") from None
        supply_raw = data.get("supply") or {}
        params = data.get("params") or {}
        valset = data.get("valset") or {}
        if not isinstance(supply_raw, dict) or not isinstance(params, dict) or not isinstance(valset, dict):
            raise UnexpectedAnswer(f"{where}: supply, params and valset must be JSON objects")
        supply = {str(denom): _int(supply_raw, denom, f"{where} supply") for denom in sorted(supply_raw)}
        pending = {}
        for key in ("queued", "in_batches"):
            raw = data.get(key) or {}
            if not isinstance(raw, dict):
                raise UnexpectedAnswer(f"{where}: {key} must be a JSON object")
            pending[key] = {str(d): _int(raw, d, f"{where} {key}") for d in sorted(raw)}
        parsed_valset = None
        if valset.get("validators"):
            try:
                parsed_valset = Valset.from_json(valset)
            except (ConfigError, InvalidL1Address, InvalidL1Integer) as exc:
                raise UnexpectedAnswer(f"{where} valset: {exc}") from None
        observed = _int(data, "observed_l1_height", where)
        if "audit_l1_height" in data:
            audit = _int(data, "audit_l1_height", where)
        else:  # a node without the field: the same rule from what it does give
            audit = max(observed, _int(data, "last_event_l1_block", where) if "last_event_l1_block" in data else 0)
        return cls(
            height=height,
            l1_chain_id=_int(data, "l1_chain_id", where),
            contract=contract,
            deployed_at=_int(data, "deployed_at", where),
            last_event_nonce=_int(data, "last_event_nonce", where),
            observed_l1_height=observed,
            audit_l1_height=audit,
            supply=supply,
            l1_confirmations=_int(params, "l1_confirmations", f"{where} params"),
            valset_nonce=_int(valset, "nonce", f"{where} valset") if valset else 0,
            queued=pending["queued"],
            in_batches=pending["in_batches"],
            valset=parsed_valset,
            latest_valset_nonce=(_int(data, "latest_valset_nonce", where) if data.get("latest_valset_nonce")
                                 is not None else None),
            params=dict(params),
        )

    @property
    def total_power(self) -> int:
        """The normalised power of the contract's valset (2^32 when the node does not give the valset)."""
        return self.valset.total_power if self.valset is not None else 2**32

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "l1_chain_id": self.l1_chain_id,
            "contract": self.contract,
            "deployed_at": self.deployed_at,
            "last_event_nonce": self.last_event_nonce,
            "observed_l1_height": self.observed_l1_height,
            "audit_l1_height": self.audit_l1_height,
            "supply": {d: str(a) for d, a in self.supply.items()},
            "l1_confirmations": self.l1_confirmations,
            "valset_nonce": self.valset_nonce,
            "latest_valset_nonce": self.latest_valset_nonce,
            "queued": {d: str(a) for d, a in self.queued.items()},
            "in_batches": {d: str(a) for d, a in self.in_batches.items()},
        }


@dataclass(frozen=True)
class DepositRecord:
    """`/bridge/deposit/<nonce>`: a deposit the sidechain applied (minted) at `height`."""

    event_nonce: int
    denom: str
    token: ChecksumAddress
    sender: ChecksumAddress
    recipient: str
    amount: int
    l1_tx: str
    l1_block: int
    height: int
    proof: Proof | None = None

    @classmethod
    def from_json(cls, data: Any, where: str, proof: Proof | None) -> DepositRecord:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        try:
            return cls(
                event_nonce=_int(data, "event_nonce", where),
                denom=str(data["denom"]),
                token=checksum(str(data["token"])),
                sender=checksum(str(data["sender"])),
                recipient=str(data["recipient"]),
                amount=_int(data, "amount", where),
                l1_tx=str(data["l1_tx"]),
                l1_block=_int(data, "l1_block", where),
                height=_int(data, "height", where),
                proof=proof,
            )
        except (KeyError, InvalidL1Address) as exc:
            raise UnexpectedAnswer(f"{where}: missing or malformed field ({exc})") from None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_nonce": self.event_nonce,
            "denom": self.denom,
            "token": self.token,
            "sender": self.sender,
            "recipient": self.recipient,
            "amount": str(self.amount),
            "l1_tx": self.l1_tx,
            "l1_block": self.l1_block,
            "height": self.height,
        }
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        return out


def _opt_int(data: dict[str, Any], key: str, what: str) -> int | None:
    return None if data.get(key) is None else _int(data, key, what)


def _address_field(data: dict[str, Any], key: str, what: str) -> ChecksumAddress:
    try:
        return checksum(str(data.get(key)))
    except InvalidL1Address:
        raise UnexpectedAnswer(f"{what}: {key} {data.get(key)!r} is not an L1 address") from None


@dataclass(frozen=True)
class StoredSignature:
    """A validator's signature the chain stored for a digest: its bridge address, 0x + 130 hex (r || s || v)."""

    validator: ChecksumAddress
    signature: str

    @classmethod
    def list_from_json(cls, raw: Any, what: str) -> tuple[StoredSignature, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise UnexpectedAnswer(f"{what}: signatures must be a list of objects")
        return tuple(cls(_address_field(item, "validator", what), str(item.get("signature") or "")) for item in raw)

    def to_json(self) -> dict[str, Any]:
        return {"validator": self.validator, "signature": self.signature}


@dataclass(frozen=True)
class WithdrawalRecord:
    """`/bridge/withdrawal/<id>`: one withdrawal, burned on the sidechain, on its way to L1."""

    id: int
    sender: str
    denom: str
    token: ChecksumAddress
    recipient: ChecksumAddress
    amount: int
    fee: int
    status: str  # queued | batched | executed | deferred | refunded | cancelled
    queued_height: int
    position: int | None = None
    batch_nonce: int | None = None
    done_height: int | None = None
    height: int = 0  # the sidechain height the answer was read at
    proof: Proof | None = None

    STATUSES = ("queued", "batched", "executed", "deferred", "refunded", "cancelled")

    @classmethod
    def from_json(cls, data: Any, where: str, height: int = 0, proof: Proof | None = None) -> WithdrawalRecord:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        status = str(data.get("status"))
        if status not in cls.STATUSES:
            raise UnexpectedAnswer(f"{where}: unknown status {status!r}")
        return cls(
            id=_int(data, "id", where), sender=str(data.get("sender")), denom=str(data.get("denom")),
            token=_address_field(data, "token", where), recipient=_address_field(data, "recipient", where),
            amount=_int(data, "amount", where), fee=_int(data, "fee", where), status=status,
            queued_height=_int(data, "queued_height", where), position=_opt_int(data, "position", where),
            batch_nonce=_opt_int(data, "batch_nonce", where), done_height=_opt_int(data, "done_height", where),
            height=height, proof=proof,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "sender": self.sender, "denom": self.denom, "token": self.token,
            "recipient": self.recipient, "amount": str(self.amount), "fee": str(self.fee), "status": self.status,
            "queued_height": self.queued_height,
        }
        for key in ("position", "batch_nonce", "done_height"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        return out


@dataclass(frozen=True)
class BatchEntry:
    id: int
    recipient: ChecksumAddress
    amount: int
    fee: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "recipient": self.recipient, "amount": str(self.amount), "fee": str(self.fee)}


def _power_fields(data: dict[str, Any], where: str) -> tuple[int | None, bool | None, int | None]:
    ready = data.get("ready")
    if ready is not None and not isinstance(ready, bool):
        raise UnexpectedAnswer(f"{where}: ready is not a boolean ({ready!r})")
    return _opt_int(data, "signed_power", where), ready, _opt_int(data, "ready_height", where)


def percent_of(power: int, total: int) -> str:
    """`power` as a share of `total`, e.g. "75.00%" (integer arithmetic: no float rounding surprises)."""
    if total <= 0:
        return "0.00%"
    hundredths = power * 10_000 // total
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


@dataclass(frozen=True)
class BatchRecord:
    """`/bridge/batch/<nonce>`: the withdrawals of one token the validators sign as one L1 call."""

    nonce: int
    denom: str
    token: ChecksumAddress
    timeout_l1_block: int
    digest: str
    status: str  # pending | executed | refunded
    created_height: int
    amount: int
    fee: int
    withdrawals: tuple[BatchEntry, ...]
    l1_tx: str | None = None
    l1_block: int | None = None
    event_nonce: int | None = None
    done_height: int | None = None
    signatures: tuple[StoredSignature, ...] = ()
    signed_power: int | None = None  # None: the node does not report signatures (yet)
    ready: bool | None = None
    ready_height: int | None = None
    deferred: tuple[BatchEntry, ...] = ()
    proof: Proof | None = None

    @property
    def total(self) -> int:
        return self.amount + self.fee

    @classmethod
    def from_json(cls, data: Any, where: str, proof: Proof | None = None) -> BatchRecord:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        status = str(data.get("status"))
        if status not in ("pending", "executed", "refunded"):
            raise UnexpectedAnswer(f"{where}: unknown status {status!r}")

        def entries(raw: Any, what: str) -> tuple[BatchEntry, ...]:
            if raw is None:
                return ()
            if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
                raise UnexpectedAnswer(f"{where}: {what} must be a list of objects")
            return tuple(BatchEntry(_int(w, "id", where), _address_field(w, "recipient", where),
                                    _int(w, "amount", where), _int(w, "fee", where) if "fee" in w else 0)
                         for w in raw)

        signed_power, ready, ready_height = _power_fields(data, where)
        return cls(
            nonce=_int(data, "nonce", where), denom=str(data.get("denom")), token=_address_field(data, "token", where),
            timeout_l1_block=_int(data, "timeout_l1_block", where), digest=str(data.get("digest")), status=status,
            created_height=_int(data, "created_height", where), amount=_int(data, "amount", where),
            fee=_int(data, "fee", where), withdrawals=entries(data.get("withdrawals"), "withdrawals"),
            l1_tx=str(data["l1_tx"]) if data.get("l1_tx") else None, l1_block=_opt_int(data, "l1_block", where),
            event_nonce=_opt_int(data, "event_nonce", where), done_height=_opt_int(data, "done_height", where),
            signatures=StoredSignature.list_from_json(data.get("signatures"), where), signed_power=signed_power,
            ready=ready, ready_height=ready_height, deferred=entries(data.get("deferred"), "deferred"), proof=proof,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nonce": self.nonce, "denom": self.denom, "token": self.token, "timeout_l1_block": self.timeout_l1_block,
            "digest": self.digest, "status": self.status, "created_height": self.created_height,
            "amount": str(self.amount), "fee": str(self.fee), "withdrawals": [w.to_json() for w in self.withdrawals],
            "signatures": [s.to_json() for s in self.signatures],
        }
        for key in ("l1_tx", "l1_block", "event_nonce", "done_height", "ready", "ready_height"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.signed_power is not None:
            out["signed_power"] = str(self.signed_power)
        if self.deferred:
            out["deferred"] = [{"id": d.id, "recipient": d.recipient, "amount": str(d.amount)} for d in self.deferred]
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        return out


@dataclass(frozen=True)
class ValsetRecord:
    """`/bridge/valset/<nonce>`: a valset the chain created, its signatures and where it stands on L1."""

    valset: Valset
    digest: str
    created_height: int
    status: str  # pending | current | superseded
    signatures: tuple[StoredSignature, ...] = ()
    signed_power: int | None = None
    ready: bool | None = None
    ready_height: int | None = None

    @property
    def nonce(self) -> int:
        return self.valset.nonce

    @classmethod
    def from_json(cls, data: Any, where: str) -> ValsetRecord:
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{where} is not a JSON object")
        try:
            valset = Valset.from_json(data)
        except (ConfigError, InvalidL1Address, InvalidL1Integer) as exc:
            raise UnexpectedAnswer(f"{where}: {exc}") from None
        status = str(data.get("status"))
        if status not in ("pending", "current", "superseded"):
            raise UnexpectedAnswer(f"{where}: unknown status {status!r}")
        signed_power, ready, ready_height = _power_fields(data, where)
        return cls(valset, str(data.get("digest")), _int(data, "created_height", where), status,
                   StoredSignature.list_from_json(data.get("signatures"), where), signed_power, ready, ready_height)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.valset.to_json(), "digest": self.digest, "created_height": self.created_height,
                               "status": self.status, "signatures": [s.to_json() for s in self.signatures]}
        if self.signed_power is not None:
            out["signed_power"] = str(self.signed_power)
        for key in ("ready", "ready_height"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


class BridgeChain:
    """The sidechain's bridge queries over a node client."""

    def __init__(self, node: NodeQueries) -> None:
        self.node = node

    def _query(self, path: str, *, height: int = 0, prove: bool = False) -> QueryResult:
        r = self.node.query(path, height=height, prove=prove)
        if r.code == QUERY_UNKNOWN_PATH and r.codespace == QUERY_CODESPACE:
            raise BridgeNotEnabled(f"the node at {self.node.url} serves no bridge queries ({path}: unknown path)")
        return r

    def _body(self, r: QueryResult, path: str) -> Any:
        try:
            return r.json()
        except ValueError:
            raise UnexpectedAnswer(f"{path} at {self.node.url} did not answer JSON") from None

    def _proof(self, r: QueryResult, path: str, prove: bool) -> Proof | None:
        if not prove:
            return None
        if not r.key:
            raise UnexpectedAnswer(f"{path}: the node answered without a proof key (the route is not provable)")
        return Proof(r.height, self.node.verify_proof(r))

    def state(self, height: int = 0) -> BridgeState:
        r = self._query("/bridge/state", height=height)
        if r.code != 0:
            raise UnexpectedAnswer(f"/bridge/state at {self.node.url}: {r.log or f'code {r.code}'}")
        return BridgeState.from_json(self._body(r, "/bridge/state"), r.height)

    def deposit(self, nonce: int, *, height: int = 0, prove: bool = False) -> DepositRecord | None:
        """The applied deposit with event nonce `nonce`, or None when the chain has no such record."""
        path = f"/bridge/deposit/{nonce}"
        r = self._query(path, height=height, prove=prove)
        if r.code != 0:
            # The route raises UnknownBridgeRecord for a missing record; the app answers an input error of a
            # query as a bad request (codespace "query") unless it passes the module's code on. The path is
            # well formed (we built it), so a bad request here means no record too.
            if _not_found(r) or (r.codespace, r.code) == (QUERY_CODESPACE, QUERY_BAD_REQUEST):
                return None
            raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
        return DepositRecord.from_json(self._body(r, path), path, self._proof(r, path, prove))

    def supply(self, denom: str, *, height: int = 0, prove: bool = False) -> tuple[int, Proof | None]:
        """The bridged supply of `denom` (0 when the chain never minted it; with `prove`, absence is proved)."""
        path = f"/bridge/supply/{denom}"
        r = self._query(path, height=height, prove=prove)
        if r.code != 0:
            if not _not_found(r):
                raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
            return 0, self._proof(r, path, prove)
        body = self._body(r, path)
        if not isinstance(body, dict):
            raise UnexpectedAnswer(f"{path} is not a JSON object")
        return _int(body, "amount", path), self._proof(r, path, prove)

    def _record(self, path: str, height: int, prove: bool) -> tuple[QueryResult, Any] | None:
        """A provable record's answer and JSON body, or None when the chain has no such record."""
        r = self._query(path, height=height, prove=prove)
        if r.code != 0:
            if (r.codespace, r.code) == (QUERY_CODESPACE, QUERY_BAD_REQUEST) and "usage:" in r.log:
                raise UnexpectedAnswer(f"the node at {self.node.url} does not serve {path} (its bridge module is "
                                       "older than this tool)")
            if _not_found(r) or (r.codespace, r.code) == (QUERY_CODESPACE, QUERY_BAD_REQUEST):
                return None  # the path is well formed (we built it): a bad request means no record too
            raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
        return r, self._body(r, path)

    def withdrawal(self, wid: int, *, height: int = 0, prove: bool = False) -> WithdrawalRecord | None:
        path = f"/bridge/withdrawal/{wid}"
        found = self._record(path, height, prove)
        if found is None:
            return None
        r, body = found
        return WithdrawalRecord.from_json(body, path, r.height, self._proof(r, path, prove))

    def batch(self, nonce: int, *, height: int = 0, prove: bool = False) -> BatchRecord | None:
        path = f"/bridge/batch/{nonce}"
        found = self._record(path, height, prove)
        if found is None:
            return None
        r, body = found
        return BatchRecord.from_json(body, path, self._proof(r, path, prove))

    def pending_batches(self, *, height: int = 0) -> list[BatchRecord]:
        path = "/bridge/batches/pending"
        r = self._query(path, height=height)
        if r.code != 0:
            raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
        body = self._body(r, path)
        if not isinstance(body, dict) or not isinstance(body.get("batches"), list):
            raise UnexpectedAnswer(f"{path}: expected {{\"batches\": [...]}}")
        return [BatchRecord.from_json(b, path) for b in body["batches"]]

    def valset(self, nonce: int | str, *, height: int = 0) -> ValsetRecord | None:
        """Valset `nonce`, or the newest the chain created with "latest"."""
        path = f"/bridge/valset/{nonce}"
        found = self._record(path, height, False)
        return None if found is None else ValsetRecord.from_json(found[1], path)

    def balance(self, address: str, denom: str, *, height: int = 0) -> int:
        path = f"/balance/{address}/{denom}"
        r = self.node.query(path, height=height)
        if r.code != 0:
            raise UnexpectedAnswer(f"{path} at {self.node.url}: {r.log or f'code {r.code}'}")
        body = self._body(r, path)
        return _int(body if isinstance(body, dict) else {}, "amount", path)


def _not_found(r: QueryResult) -> bool:
    return (r.codespace, r.code) in {
        (UnknownBridgeRecord.codespace, UnknownBridgeRecord.code),
        (QUERY_CODESPACE, QUERY_NOT_FOUND),
    }


# -- the L1 side ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class L1Heads:
    head: int
    finalized: int | None  # None where the L1 has no finalized block

    def confirmed(self, confirmations: int) -> int:
        """The highest block the watchers read in `confirmations` mode (head - l1_confirmations)."""
        return max(self.head - confirmations, 0)

    def to_json(self, confirmations: int) -> dict[str, Any]:
        return {"head": self.head, "finalized": self.finalized, "confirmed": self.confirmed(confirmations)}


def l1_heads(client: L1Client) -> L1Heads:
    return L1Heads(client.block_number(), client.finalized_block())


def check_same_bridge(client: L1Client, contract: str | None, state: BridgeState, l1_rpc: str) -> ChecksumAddress:
    """The contract the sidechain watches; refused when the L1 RPC or `contract` is another one."""
    if client.chain_id != state.l1_chain_id:
        raise ChainMismatchError(f"the L1 RPC at {l1_rpc} serves chain id {client.chain_id}, but the sidechain's "
                                 f"bridge is on L1 chain {state.l1_chain_id}")
    if contract is not None and checksum(contract) != state.contract:
        raise ChainMismatchError(f"--contract {checksum(contract)} is not the sidechain's bridge contract "
                                 f"{state.contract}")
    return state.contract


@dataclass(frozen=True)
class L1Deposit:
    """A `Deposit` log of the contract: what L1 recorded (for a fee-on-transfer token, the amount credited)."""

    event_nonce: int
    l1_tx: str
    l1_block: int
    token: ChecksumAddress
    sender: ChecksumAddress
    recipient: bytes  # 20 bytes: the sidechain account
    amount: int

    @property
    def denom(self) -> str:
        return denom_of(bytes.fromhex(self.token[2:]))

    @classmethod
    def from_args(cls, args: dict[str, Any], tx: Any, block: int) -> L1Deposit:
        return cls(
            event_nonce=int(args["eventNonce"]),
            l1_tx=HexBytes(tx).to_0x_hex(),
            l1_block=int(block),
            token=checksum(args["token"]),
            sender=checksum(args["sender"]),
            recipient=bytes(args["recipient"]),
            amount=int(args["amount"]),
        )


def find_l1_deposit(bridge: BridgeContract, nonce: int, from_block: int) -> L1Deposit | None:
    """The contract's `Deposit` log with event nonce `nonce` (an indexed topic: one eth_getLogs)."""
    event = bridge.contract.events.Deposit()
    logs = bridge.client._translating(
        lambda: list(event.get_logs(argument_filters={"eventNonce": nonce}, from_block=from_block, to_block="latest"))
    )
    for log in logs:
        if checksum(log["address"]) == bridge.address:
            return L1Deposit.from_args(dict(log["args"]), log["transactionHash"], log["blockNumber"])
    return None


def l1_deposit_of_tx(bridge: BridgeContract, tx_hash: str) -> L1Deposit:
    """The `Deposit` log in the receipt of L1 transaction `tx_hash`."""
    client = bridge.client
    try:
        receipt = client._translating(lambda: client.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
    except Exception as exc:  # noqa: BLE001 - "not found" comes as TransactionNotFound or an RPC error
        if type(exc).__name__ == "TransactionNotFound" or "not found" in str(exc).lower():
            raise UnknownDeposit(f"L1 has no mined transaction {tx_hash} (not sent, or not mined yet)") from None
        raise
    for event in bridge.events(receipt):
        if event.name == "Deposit":
            return L1Deposit.from_args(event.args, receipt["transactionHash"], receipt["blockNumber"])
    raise UnknownDeposit(f"L1 transaction {tx_hash} made no deposit to the bridge contract {bridge.address}")


# -- the supply invariant ------------------------------------------------------------------------------


def pending_withdrawals(
    chain: BridgeChain, bridge: BridgeContract, state: BridgeState, block: int
) -> dict[str, tuple[int, int]]:
    """Per denom, (withdrawal queue, pending batches not executed on L1 at `block`), each amount + fee.

    Both come from `state` (`/bridge/state`'s `queued` and `in_batches`, the same answer and height as the
    supply). A batch pending on the sidechain whose `batchExecuted` is already true on L1 at `block` (its
    BatchExecuted is not applied yet) has been paid out of the balance read there, so it is not counted;
    the pending batches are read at the state's height, and only when some denom has any."""
    out = {denom: (state.queued.get(denom, 0), state.in_batches.get(denom, 0))
           for denom in sorted({*state.queued, *state.in_batches})}
    if not any(batched for _, batched in out.values()) or block < state.deployed_at:
        return out
    for b in chain.pending_batches(height=state.height):
        if b.status != "pending" or b.denom not in out:
            continue
        if bool(bridge.client.call(bridge.fn.batchExecuted(b.nonce), block=block)):
            queued, batched = out[b.denom]
            out[b.denom] = (queued, batched - b.total)
    for denom, (_, batched) in out.items():
        if batched < 0:
            raise UnexpectedAnswer(f"/bridge/batches/pending at height {state.height} holds more {denom} than "
                                   f"/bridge/state's in_batches")
    return out


@dataclass(frozen=True)
class SupplyRow:
    denom: str
    token: ChecksumAddress
    l1_balance: int
    total_deferred: int
    supply: int
    queued: int
    batched: int
    proof: Proof | None = None

    @property
    def backing(self) -> int:
        """What the contract holds for the sidechain: its balance less what it owes to deferred payouts."""
        return self.l1_balance - self.total_deferred

    @property
    def owed(self) -> int:
        return self.supply + self.queued + self.batched

    @property
    def surplus(self) -> int:
        """backing - owed: >= 0 holds the invariant; below 0 is a shortfall."""
        return self.backing - self.owed

    @property
    def ok(self) -> bool:
        return self.surplus >= 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "denom": self.denom,
            "token": self.token,
            "l1_balance": str(self.l1_balance),
            "total_deferred": str(self.total_deferred),
            "sidechain_supply": str(self.supply),
            "withdrawal_queue": str(self.queued),
            "pending_batches": str(self.batched),
            "surplus": str(self.surplus),
            "ok": self.ok,
        }
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        return out


@dataclass(frozen=True)
class SupplyReport:
    sidechain_height: int
    l1_block: int
    rows: list[SupplyRow]
    note: str = WITHDRAWALS_NOTE

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "sidechain_height": self.sidechain_height,
            "l1_block": self.l1_block,
            "ok": self.ok,
            "assets": [row.to_json() for row in self.rows],
            "note": self.note,
        }


def check_supply(
    chain: BridgeChain, bridge: BridgeContract, state: BridgeState, *, prove: bool = False,
    extra_tokens: tuple[str, ...] = (),
) -> SupplyReport:
    """The invariant per asset (every denom with a supply, ETH always, and `extra_tokens`), at L1 block
    the audit height `state.audit_l1_height` and at sidechain height `state.height` (the state it belongs to)."""
    block = state.audit_l1_height
    denoms = {"l1/eth", *state.supply, *state.queued, *state.in_batches,
              *(denom_of(bytes.fromhex(checksum(t)[2:])) for t in extra_tokens)}
    pending = pending_withdrawals(chain, bridge, state, block)
    rows = []
    for denom in sorted(denoms):
        token_bytes = token_of(denom)
        if token_bytes is None:
            continue  # not a bridged denom
        token = checksum(token_bytes)
        supply, proof = state.supply.get(denom, 0), None
        if prove:
            proved, proof = chain.supply(denom, height=state.height, prove=True)
            if proved != supply:
                raise UnexpectedAnswer(f"/bridge/supply/{denom} proves {proved} at height {state.height}, but "
                                       f"/bridge/state says {supply}")
        queued, batched = pending.get(denom, (0, 0))
        if block < state.deployed_at:  # nothing observed yet: the contract did not exist at that block
            balance = deferred = 0
        else:
            if token_bytes == ZERO_ADDRESS:
                balance = bridge.client.balance(bridge.address, block)
            else:
                balance = Erc20(bridge.client, token).balance_of(bridge.address, block)
            deferred = bridge.total_deferred(token, block)
        rows.append(SupplyRow(denom, token, balance, deferred, supply, queued, batched, proof))
    return SupplyReport(state.height, block, rows)


# -- the whole picture ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusReport:
    state: BridgeState
    heads: L1Heads | None = None
    l1_event_nonce: int | None = None
    supply: SupplyReport | None = None
    paused: bool | None = None  # the contract's paused(), when the L1 was read
    daily_limits: dict[str, int] = field(default_factory=dict)  # denom -> dailyLimit(token); 0 = unlimited

    @property
    def lag(self) -> int | None:
        """L1 blocks between the head and the height the sidechain has agreed on."""
        return None if self.heads is None else max(self.heads.head - self.state.observed_l1_height, 0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sidechain": self.state.to_json()}
        if self.heads is not None:
            out["l1"] = {**self.heads.to_json(self.state.l1_confirmations), "event_nonce": self.l1_event_nonce,
                         "lag": self.lag, "paused": self.paused,
                         "daily_limits": {d: str(v) for d, v in self.daily_limits.items()}}
        if self.supply is not None:
            out["supply"] = self.supply.to_json()
        return out


def bridge_status(chain: BridgeChain, bridge: BridgeContract | None, *, supply: bool = True,
                  prove: bool = False) -> StatusReport:
    state = chain.state()
    if bridge is None:
        return StatusReport(state)
    heads = l1_heads(bridge.client)
    report = check_supply(chain, bridge, state, prove=prove) if supply else None
    denoms = [row.denom for row in report.rows] if report is not None else ["l1/eth", *state.supply]
    limits = {}
    for denom in sorted(set(denoms)):
        token = token_of(denom)
        if token is not None:
            limits[denom] = bridge.daily_limit(checksum(token))
    return StatusReport(state, heads, bridge.event_nonce(), report, bridge.paused(), limits)


# -- where a deposit stands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositProgress:
    """One look at a deposit: the sidechain's record when applied, else how far L1 and attestation are."""

    nonce: int
    state: BridgeState
    record: DepositRecord | None = None
    l1: L1Deposit | None = None
    heads: L1Heads | None = None

    @property
    def applied(self) -> bool:
        return self.state.last_event_nonce >= self.nonce

    @property
    def l1_block(self) -> int | None:
        if self.record is not None:
            return self.record.l1_block
        return None if self.l1 is None else self.l1.l1_block

    @property
    def confirmations(self) -> int | None:
        """L1 blocks on top of the deposit's block (the watchers read it once this reaches l1_confirmations)."""
        if self.heads is None or self.l1_block is None:
            return None
        return max(self.heads.head - self.l1_block, 0)

    @property
    def final_on_l1(self) -> bool:
        """The deposit's L1 block is at confirmation depth, or finalized."""
        block, heads = self.l1_block, self.heads
        if block is None or heads is None:
            return False
        return heads.confirmed(self.state.l1_confirmations) >= block or (heads.finalized or -1) >= block

    @property
    def stage(self) -> str:
        if self.record is not None:
            return "minted"
        if self.applied:
            return "applied"  # applied but no record: not a deposit (see deposit_progress)
        if self.final_on_l1:
            return "attesting"
        return "confirming"

    def where(self) -> str:
        """One line saying where a deposit that is not minted stands."""
        s = self.state
        parts = [f"deposit {self.nonce} is not yet applied: the sidechain (height {s.height}) has applied events "
                 f"up to {s.last_event_nonce} and agreed on L1 block {s.observed_l1_height}"]
        if self.l1 is not None:
            parts.append(f"the deposit is in L1 block {self.l1.l1_block} (tx {self.l1.l1_tx})")
        if self.heads is not None and self.confirmations is not None:
            finalized = "" if self.heads.finalized is None else f", finalized {self.heads.finalized}"
            parts.append(f"L1 head {self.heads.head}{finalized}, {self.confirmations}/{s.l1_confirmations} "
                         "confirmations")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_nonce": self.nonce, "status": self.stage,
                               "last_event_nonce": self.state.last_event_nonce,
                               "observed_l1_height": self.state.observed_l1_height,
                               "sidechain_height": self.state.height}
        if self.record is not None:
            out["deposit"] = self.record.to_json()
        if self.l1 is not None:
            out["l1_tx"], out["l1_block"] = self.l1.l1_tx, self.l1.l1_block
            out["denom"], out["amount"] = self.l1.denom, str(self.l1.amount)
        if self.heads is not None:
            out["l1"] = {**self.heads.to_json(self.state.l1_confirmations), "confirmations": self.confirmations,
                         "needed": self.state.l1_confirmations}
        return out


def deposit_progress(
    chain: BridgeChain, nonce: int, *, bridge: BridgeContract | None = None, l1: L1Deposit | None = None,
    prove: bool = False,
) -> DepositProgress:
    """Where deposit `nonce` stands. With `bridge` (an L1 connection), the L1 side too: its log (found by
    nonce when `l1` is not given) and the L1 heads."""
    if nonce < 1:
        raise ConfigError(f"an event nonce is at least 1, got {nonce}")
    state = chain.state()
    record = chain.deposit(nonce, height=state.height, prove=prove) if state.last_event_nonce >= nonce else None
    if state.last_event_nonce >= nonce and record is None:
        raise UnknownDeposit(f"event {nonce} is applied on the sidechain but it is not a deposit "
                             "(a valset update or an executed batch)")
    heads = None
    if bridge is not None:
        if l1 is None and record is None:
            l1 = find_l1_deposit(bridge, nonce, state.deployed_at)
            if l1 is None and bridge.event_nonce() >= nonce:
                raise UnknownDeposit(f"event {nonce} on L1 is not a deposit (a valset update or an executed batch)")
        heads = l1_heads(bridge.client)
    return DepositProgress(nonce, state, record, l1, heads)


# -- `.testnet/bridge.json`-style defaults ------------------------------------------------------------------


@dataclass(frozen=True)
class L1Key:
    name: str
    address: str
    keystore: Path
    passphrase_file: Path | None


@dataclass(frozen=True)
class BridgeFile:
    """Defaults for the bridge tools from a JSON file like the testnet's `.testnet/bridge.json`:
    {"l1_rpc", "l1_chain_id", "contract", "erc20", "l1_keys": [{"name", "address", "keystore",
    "passphrase_file"}]}. Relative key paths are taken from the file's directory."""

    path: Path
    l1_rpc: str | None = None
    l1_chain_id: int | None = None
    contract: str | None = None
    erc20: str | None = None
    l1_keys: list[L1Key] = field(default_factory=list)
    guardian: L1Key | None = None  # the testnet's guardian key: `--l1-key guardian`

    @classmethod
    def load(cls, path: Path) -> BridgeFile:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read --bridge-config {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--bridge-config {path} is not valid JSON (line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"--bridge-config {path} must hold a JSON object")

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"--bridge-config {path}: {key} must be a string")
            return value or None

        chain_id = data.get("l1_chain_id")
        if chain_id is not None and (isinstance(chain_id, bool) or not isinstance(chain_id, int)):
            raise ConfigError(f"--bridge-config {path}: l1_chain_id must be an integer")
        def key(item: Any, what: str) -> L1Key:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("keystore"):
                raise ConfigError(f"--bridge-config {path}: {what} needs a name and a keystore")
            passphrase = item.get("passphrase_file")
            return L1Key(item["name"], str(item.get("address") or ""), cls._resolve(path, item["keystore"]),
                         cls._resolve(path, passphrase) if passphrase else None)

        keys = [key(item, f"l1_keys[{i}]") for i, item in enumerate(data.get("l1_keys") or [])]
        guardian = key(data["guardian"], "guardian") if data.get("guardian") is not None else None
        return cls(path, text("l1_rpc"), chain_id, text("contract"), text("erc20"), keys, guardian)

    @staticmethod
    def _resolve(path: Path, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else path.parent / p

    def key(self, name: str) -> L1Key:
        for key in (*self.l1_keys, *([self.guardian] if self.guardian is not None else [])):
            if key.name == name:
                return key
        known = ", ".join(k.name for k in self.l1_keys) or "none"
        if self.guardian is not None:
            known += f"; guardian: {self.guardian.name}"
        raise ConfigError(f"--l1-key {name!r} is not in {self.path} (its keys: {known})")

