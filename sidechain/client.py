"""A client of a node through CometBFT's RPC: queries (with proofs checked against block
headers), account lookups, broadcasting and waiting for inclusion. Used by the CLI and tests."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import requests

from sidechain.errors import SidechainError
from sidechain.store.errors import ProofError
from sidechain.store.proof import ProofOp, verify


class ClientError(SidechainError):
    """The node could not be reached, or answered with an error; the message says which."""

    codespace = "client"
    code = 2


@dataclass(frozen=True)
class QueryResult:
    code: int
    log: str
    codespace: str
    key: bytes
    value: bytes
    height: int
    proof_ops: tuple[ProofOp, ...]
    raw_value: bytes | None  # the stored bytes (what a proof commits to); None when absent

    def json(self) -> Any:
        return json.loads(self.value) if self.value else None


@dataclass(frozen=True)
class TxOutcome:
    hash: str
    height: int
    code: int
    codespace: str
    log: str
    events: list[dict[str, Any]]


class NodeClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def rpc(self, method: str, **params: Any) -> Any:
        try:
            r = self._session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                   timeout=self.timeout)
        except requests.RequestException as e:
            raise ClientError(f"cannot reach the node's RPC at {self.url} ({type(e).__name__}); "
                              "is the node running? (--node URL)") from None
        try:
            body = r.json()
        except ValueError:
            raise ClientError(f"the RPC at {self.url} answered {r.status_code} with a non-JSON body") from None
        if body.get("error"):
            err = body["error"]
            raise ClientError(f"{method}: {err.get('message', '')} {err.get('data', '')}".strip())
        return body["result"]

    # -- chain facts --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.rpc("status"))

    def chain_id(self) -> str:
        return str(self.status()["node_info"]["network"])

    def latest_height(self) -> int:
        return int(self.status()["sync_info"]["latest_block_height"])

    def header_app_hash(self, height: int, wait: float = 30.0) -> bytes:
        """The app hash in the header of block `height` (the state after block height-1)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                res = self.rpc("header", height=str(height))
                return bytes.fromhex(res["header"]["app_hash"])
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- queries ------------------------------------------------------------------------------

    def query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> QueryResult:
        res = self.rpc("abci_query", path=path, data=data.hex(), height=str(height), prove=prove)["response"]
        ops = tuple(
            ProofOp(o["type"], base64.b64decode(o.get("key") or ""), base64.b64decode(o.get("data") or ""))
            for o in ((res.get("proofOps") or res.get("proof_ops") or {}).get("ops") or [])
        )
        info = res.get("info") or ""
        code = int(res.get("code", 0))
        value = base64.b64decode(res.get("value") or "")
        raw: bytes | None
        if path.startswith("/store/"):
            raw = value if code == 0 else None
        else:
            raw = bytes.fromhex(info) if info else None
        return QueryResult(code=code, log=res.get("log", ""), codespace=res.get("codespace", ""),
                           key=base64.b64decode(res.get("key") or ""), value=value,
                           height=int(res.get("height", 0)), proof_ops=ops, raw_value=raw)

    def query_ok(self, path: str, height: int = 0, prove: bool = False) -> QueryResult:
        r = self.query(path, height=height, prove=prove)
        if r.code != 0:
            raise ClientError(r.log or f"query {path} failed with code {r.code}")
        return r

    def verify_proof(self, r: QueryResult) -> bytes:
        """Check `r`'s proof against the app hash in the header of block r.height + 1 (waiting for it
        if need be). Returns that app hash; raises ClientError if the proof does not verify."""
        if not r.proof_ops:
            raise ClientError("the node returned no proof")
        app_hash = self.header_app_hash(r.height + 1)
        try:
            verify(list(r.proof_ops), app_hash, r.key, r.raw_value)
        except ProofError as e:
            raise ClientError(f"proof does not verify against block {r.height + 1}'s app hash: {e}") from None
        return app_hash

    def account(self, address: str) -> dict[str, Any]:
        return dict(self.query_ok(f"/account/{address}").json())

    def params(self) -> dict[str, Any]:
        return dict(self.query_ok("/params").json())

    # -- transactions ---------------------------------------------------------------------------

    def broadcast_sync(self, tx: bytes) -> dict[str, Any]:
        return dict(self.rpc("broadcast_tx_sync", tx=base64.b64encode(tx).decode()))

    def find_tx(self, tx_hash: str) -> TxOutcome | None:
        try:
            # JSON-RPC takes bytes as base64 (the URI form takes 0x-hex)
            res = self.rpc("tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode(), prove=False)
        except ClientError as e:
            if "not found" in str(e):
                return None
            raise
        result = res["tx_result"]
        return TxOutcome(hash=tx_hash, height=int(res["height"]), code=int(result.get("code", 0)),
                         codespace=result.get("codespace", ""), log=result.get("log", ""),
                         events=result.get("events", []))

    def wait_tx(self, tx_hash: str, timeout: float = 30.0) -> TxOutcome:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.find_tx(tx_hash)
            if out is not None:
                return out
            time.sleep(0.2)
        raise ClientError(f"tx {tx_hash} was accepted into the mempool but not included within {timeout:.0f}s; "
                          f"check later with `sidechain query tx {tx_hash}`")
