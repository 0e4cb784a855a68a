"""A client of a node through CometBFT's RPC: queries (with proofs checked against block
headers), account lookups, broadcasting and waiting for inclusion. Used by the CLI and tests."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from sidechain.errors import SidechainError
from sidechain.store.errors import ProofError
from sidechain.store.proof import ProofOp, verify

# wait_tx: how often it looks for the tx, how often it reads the height, and after how many blocks
# without the tx it broadcasts the same bytes again.
POLL_SECONDS = 0.05
HEIGHT_CHECK_SECONDS = 0.25
REBROADCAST_AFTER_BLOCKS = 3
RETRY_SECONDS = 0.5
# CheckTx refusals that say "not now" rather than "never": (codespace, code) of the app's NodeBehind
# (the node is catching up), MempoolFull and ChainNotReady (sidechain/app.py).
RETRYABLE_REFUSALS = frozenset({("mempool", 3), ("mempool", 2), ("app", 2)})


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


NODE_URL_FORMS = "host:port, http://host:port, https://host:port or tcp://host:port"
HOW_TO_PICK_NODE = "pick a node with --node URL, or save one with `sidechain config node URL --home HOME`"


def normalize_node_url(text: str) -> str:
    """A node's RPC address as a user may write it -> the http(s) URL to post to.

    `host:port` and `tcp://host:port` (CometBFT's own config form) mean http; `0.0.0.0` (listen on
    every interface) is reached at 127.0.0.1. A path after the port is kept (a node behind a proxy)."""
    raw = text.strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    scheme = scheme.lower()
    default_port = {"http": "80", "https": "443"}.get(scheme, "") if sep else ""
    if scheme == "tcp":
        scheme = "http"
    if scheme not in ("http", "https"):
        raise ClientError(f"node URL {text!r}: unsupported scheme {scheme + '://'!r}; use {NODE_URL_FORMS}")
    hostport, slash, path = rest.partition("/")
    host, colon, port = hostport.rpartition(":")
    if not colon:
        host, port = hostport, default_port
    if host.startswith("[") and host.endswith("]"):
        bare_host = host[1:-1]
    else:
        bare_host = host
    if not bare_host or any(c.isspace() for c in bare_host) or "@" in bare_host:
        raise ClientError(f"node URL {text!r}: no host; use {NODE_URL_FORMS}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"node URL {text!r}: needs a port in 1-65535; use {NODE_URL_FORMS}")
    if bare_host == "0.0.0.0":
        host = "127.0.0.1"
    url = f"{scheme}://{host}:{int(port)}"
    return url + ("/" + path.rstrip("/") if slash and path.strip("/") else "")


class NodeClient:
    """`source` says where the URL came from (e.g. "--node", "HOME/config/client.toml"); an error
    reaching the node names the URL and that source."""

    def __init__(self, url: str, timeout: float = 10.0, source: str = "") -> None:
        self.url = normalize_node_url(url)
        self.timeout = timeout
        self.source = source
        self._session = requests.Session()

    def rpc(self, method: str, **params: Any) -> Any:
        try:
            r = self._session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                   timeout=self.timeout)
        except requests.Timeout:
            raise ClientError(f"the node's RPC at {self.url}{self._from()} did not answer within "
                              f"{self.timeout:.0f}s; {HOW_TO_PICK_NODE}") from None
        except requests.RequestException as e:
            why = "connection refused" if isinstance(e, requests.ConnectionError) else type(e).__name__
            raise ClientError(f"cannot reach the node's RPC at {self.url}{self._from()} ({why}); "
                              f"is the node running? {HOW_TO_PICK_NODE}") from None
        try:
            body = r.json()
        except ValueError:
            raise ClientError(f"{self.url}{self._from()} answered HTTP {r.status_code} without JSON: "
                              f"is it a CometBFT RPC address? {HOW_TO_PICK_NODE}") from None
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            raise ClientError(f"{self.url}{self._from()} did not answer as a CometBFT RPC; {HOW_TO_PICK_NODE}")
        if body.get("error"):
            err = body["error"]
            raise ClientError(f"{method}: {err.get('message', '')} {err.get('data', '')}".strip())
        return body["result"]

    def _from(self) -> str:
        return f" (from {self.source})" if self.source else ""

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
        """CometBFT's CheckTx answer. CometBFT's own "mempool is full" (an RPC error: it counts the
        mempool before asking the app) comes back as the app's refusal of the same state, codespace
        `mempool` code 2, so that it is retried like that one."""
        try:
            return dict(self.rpc("broadcast_tx_sync", tx=base64.b64encode(tx).decode()))
        except ClientError as e:
            if "mempool is full" not in str(e):
                raise
            return {"code": 2, "codespace": "mempool", "log": f"mempool full, retry later ({e})"}

    def broadcast_when_ready(self, build: Callable[[], tuple[bytes, int]], timeout: float,
                             note: Callable[[str], None] | None = None) -> tuple[bytes, int, dict[str, Any]]:
        """Broadcast the tx `build()` signs (-> raw bytes, sequence). While the node refuses it as "not
        now" (catching up, mempool full, no block yet: RETRYABLE_REFUSALS), wait and build it again (the
        sequence it read may have been stale) until `timeout`; `note` is told once. -> (raw, sequence,
        the last answer)."""
        deadline = time.monotonic() + timeout
        told = False
        while True:
            raw, sequence = build()
            res = self.broadcast_sync(raw)
            if int(res.get("code", 0)) == 0 or (res.get("codespace", ""), int(res["code"])) not in RETRYABLE_REFUSALS:
                return raw, sequence, res
            if time.monotonic() + RETRY_SECONDS > deadline:
                return raw, sequence, res
            if note is not None and not told:
                note(f"the node cannot take the tx yet ({res.get('log') or 'code ' + str(res['code'])}); "
                     f"retrying for up to {timeout:.0f}s")
                told = True
            time.sleep(RETRY_SECONDS)

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

    def wait_tx(self, tx_hash: str, timeout: float = 30.0, raw: bytes | None = None,
                note: Callable[[str], None] | None = None) -> TxOutcome:
        """Poll until the tx is in a block. With `raw` (the tx's bytes), a tx still not in a block
        `REBROADCAST_AFTER_BLOCKS` blocks after it was sent is broadcast again, the same bytes: the node
        answers "already in cache" while its mempool still holds it (nothing is done then); if it is
        accepted again, it had left the mempool (a node restart, an eviction) and `note` is told."""
        deadline = time.monotonic() + timeout
        base: int | None = None
        next_height_check = 0.0
        while time.monotonic() < deadline:
            out = self.find_tx(tx_hash)
            if out is not None:
                return out
            if raw is not None and time.monotonic() >= next_height_check:
                next_height_check = time.monotonic() + HEIGHT_CHECK_SECONDS
                h = self.latest_height()
                if base is None:
                    base = h
                elif h - base >= REBROADCAST_AFTER_BLOCKS:
                    base = h
                    found = self._rebroadcast(tx_hash, raw, h, note)
                    if found is not None:
                        return found
            time.sleep(POLL_SECONDS)
        raise ClientError(f"tx {tx_hash} was accepted into the mempool but not included within {timeout:.0f}s; "
                          f"check later with `sidechain query tx {tx_hash}`")

    def _rebroadcast(self, tx_hash: str, raw: bytes, height: int,
                     note: Callable[[str], None] | None) -> TxOutcome | None:
        try:
            res = self.broadcast_sync(raw)
        except ClientError as e:
            if "already exists in cache" in str(e) or "full" in str(e):
                return None  # still in the mempool, or the mempool is full: look again later
            raise
        code = int(res.get("code", 0))
        if code == 0:
            if note is not None:
                note(f"tx {tx_hash} was in no block {REBROADCAST_AFTER_BLOCKS} blocks after it was sent and no "
                     f"longer in the node's mempool: broadcast the same tx again at height {height}")
            return None
        if res.get("codespace") == "mempool":
            return None  # full: try again at the next check
        found = self.find_tx(tx_hash)  # e.g. "sequence mismatch" because it was just included
        if found is not None:
            return found
        raise ClientError(f"tx {tx_hash} left the node's mempool without being included, and the node now refuses "
                          f"it: {res.get('log') or 'code ' + str(code)}")
