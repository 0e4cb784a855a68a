"""The L1 watcher: a thread in a validator's app process that reads the bridge contract's events.

It implements `bridge.module.observe.L1Observer` (BRIDGE.md sections 5 and 6). The app tells it where
the chain stands after every Commit (`progress`); ExtendVote asks what it has read (`observed`). Both
answer at once from memory: the thread alone talks to L1, and no lock is ever held across network I/O.

What it reads: the `Deposit`, `ValsetUpdated` and `BatchExecuted` logs of the SidechainBridge contract,
in block ranges of at most `max_block_range`, never above the block it considers final: the L1
`finalized` block (finality "finalized") or `head - l1_confirmations` (finality "confirmations", for an
L1 without finality such as a dev chain). A reorg above that depth is never seen.

What it keeps: only events with a nonce above the chain's `last_event_nonce`, contiguous from it + 1
(pruned on every `progress`), at most `max_cached`; `final_height` is the highest block it has read
completely. It starts reading at max(deployed_at, observed_l1_height + 1), where every earlier event is
already applied on the chain, so a crash loses and duplicates nothing. If it meets a nonce gap (an event
it needs lies below where it started, or the contract's `eventNonce()` at the final block is above what
it has), it drops what it has and reads again from the deployment block.

L1 failures (refused connections, timeouts, RPC errors, bad answers, another chain) are retried with
capped exponential backoff, logged once per change of state, counted, and never raised out of the
thread: a dead L1 only means that `observed()` stops growing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, cast
from urllib.parse import urlsplit

import requests
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, BlockNotFound, Web3RPCError

from bridge.artifacts import load_artifact
from bridge.errors import WatcherRescan, WatcherWaiting
from bridge.l1 import BRIDGE_ARTIFACT
from bridge.module.events import BatchExecuted, Deposit, EventKind, L1Event, ValsetUpdated
from bridge.module.observe import NOTHING_OBSERVED, ChainProgress, Observed

log = logging.getLogger("bridge.watcher")

FINALITY_MODES = ("confirmations", "finalized")
WATCHED_EVENTS = ("Deposit", "ValsetUpdated", "BatchExecuted", "WithdrawalDeferred")
DEFAULT_MAX_CACHED = 4096
DEFAULT_REQUEST_TIMEOUT = 5.0
BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0

Web3Factory = Callable[[], Web3]


class WatcherMetrics(Protocol):
    """What the watcher reports (sidechain.metrics.AppMetrics implements it)."""

    def watcher_error(self) -> None: ...

    def watcher_state(self, head: int, final_height: int, cached: int) -> None: ...


class _Rescan(WatcherRescan):
    """A nonce gap: the scan starts over from the deployment block (the cursor is set already)."""


class _Failure(WatcherWaiting):
    """A condition of L1 the watcher waits out: `kind` names the state for the log-once rule."""

    def __init__(self, message: str, *, kind: str = "waiting", level: int = logging.WARNING) -> None:
        super().__init__(message)
        self.kind = kind
        self.level = level


@dataclass(frozen=True)
class WatcherStatus:
    state: str          # "starting", "ok" or the kind of the current failure
    errors: int         # failures since start
    head: int           # L1 head last seen (0: none yet)
    final_height: int   # what observed() reports
    cached: int         # events held
    cursor: int         # next L1 block to read (0: not scanning yet)
    rescans: int        # times a nonce gap made it read again from the deployment block
    polls: int          # completed poll steps


def safe_url(url: str) -> str:
    """scheme://host[:port] of an RPC URL: paths and user info often carry API keys, never log them."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}" if parts.scheme and host else "<invalid URL>"


def _scan_key(p: ChainProgress) -> tuple[int, bytes, int]:
    return (p.l1_chain_id, p.contract, p.deployed_at)


class Watcher:
    """Reads the bridge contract's final events from L1 in a daemon thread (see the module docstring)."""

    def __init__(
        self,
        l1_rpc: str,
        *,
        finality: str = "confirmations",
        poll_interval: float = 1.0,
        max_block_range: int = 2000,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        metrics: WatcherMetrics | None = None,
        connect: Web3Factory | None = None,
        max_cached: int = DEFAULT_MAX_CACHED,
        backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
    ) -> None:
        if finality not in FINALITY_MODES:
            raise ValueError(f"finality must be one of {', '.join(FINALITY_MODES)}, not {finality!r}")
        if max_block_range < 1 or max_cached < 1 or poll_interval <= 0:
            raise ValueError("max_block_range and max_cached must be >= 1 and poll_interval > 0")
        self.url = l1_rpc
        self.finality = finality
        self.poll_interval = poll_interval
        self.max_block_range = max_block_range
        self.request_timeout = request_timeout
        self.metrics = metrics
        self.max_cached = max_cached
        self._backoff_min, self._backoff_max = backoff
        self._connect = connect or self._http_connect

        # Shared with the app's threads, under _lock (never held across network I/O).
        self._lock = threading.Lock()
        self._progress: ChainProgress | None = None
        self._rescan = False              # the scan must start over (progress changed its facts)
        self._base = 0                    # the chain's last_event_nonce, as last told
        self._events: list[L1Event] = []  # nonces _base + 1, _base + 2, ...
        self._final = 0
        self._reporting = True            # False while L1 serves another chain or lacks the contract
        self._snapshot: Observed | None = None
        self._epoch = 0                   # bumped when the scan must start over: reads of an older one are dropped

        # Owned by the thread (read by status() without guarantees of freshness).
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._w3: Web3 | None = None
        self._contract: Any = None
        self._topics: dict[bytes, str] = {}
        self._cursor = 0                 # next block to read; 0: not scanning
        self._scan_from = 0              # where the current scan started
        self._checked_final = -1         # final block whose eventNonce() was cross-checked
        self._state = "starting"
        self._failing_since = 0.0
        self._errors_in_state = 0
        self.errors = 0
        self.head = 0
        self.rescans = 0
        self.polls = 0

    # -- L1Observer ----------------------------------------------------------------------------------

    def progress(self, p: ChainProgress) -> None:
        with self._lock:
            prev = self._progress
            self._progress = p
            if prev is None or _scan_key(prev) != _scan_key(p) or p.last_event_nonce < self._base:
                self._rescan = True
                self._epoch += 1
                self._events = []
                self._final = 0
            elif self._events and self._events[0].nonce <= p.last_event_nonce:
                del self._events[: p.last_event_nonce - self._base]
            self._base = p.last_event_nonce
            self._snapshot = None
            final, cached = self._final, len(self._events)
        if prev is None:
            self._wake.set()
        if self.metrics is not None:
            self.metrics.watcher_state(self.head, final, cached)

    def observed(self) -> Observed:
        with self._lock:
            if not self._reporting:
                return NOTHING_OBSERVED
            if self._snapshot is None:
                self._snapshot = Observed(tuple(self._events), self._final)
            return self._snapshot

    # -- thread --------------------------------------------------------------------------------------

    def describe(self) -> str:
        return (f"L1 RPC {safe_url(self.url)}, finality {self.finality}, poll every {self.poll_interval:g}s, "
                f"at most {self.max_block_range} blocks per eth_getLogs")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="bridge-watcher", daemon=True)
        self._thread.start()
        log.info("bridge watcher started: %s", self.describe())

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread; waits for an L1 request in flight up to `timeout` (default: the request timeout)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.request_timeout + 1.0 if timeout is None else timeout)
            self._thread = None

    def status(self) -> WatcherStatus:
        with self._lock:
            final, cached = self._final, len(self._events)
        return WatcherStatus(self._state, self.errors, self.head, final, cached, self._cursor, self.rescans,
                             self.polls)

    def _run(self) -> None:
        delay = self._backoff_min
        while not self._stopping.is_set():
            try:
                more = self._step()
            except _Failure as f:
                self._failed(f.kind, str(f), f.level)
                wait, delay = delay, min(delay * 2, self._backoff_max)
            except Exception as exc:  # noqa: BLE001 (L1 answers fail in many types: never leave the thread)
                kind, message = _describe(exc)
                self._failed(kind, message, logging.WARNING)
                wait, delay = delay, min(delay * 2, self._backoff_max)
            else:
                self._recovered()
                delay = self._backoff_min
                wait = 0.0 if more else self.poll_interval
                self.polls += 1
            if wait:
                self._wake.wait(wait)
                self._wake.clear()
        log.info("bridge watcher stopped")

    def _failed(self, kind: str, message: str, level: int) -> None:
        self._w3 = None  # reconnect and check the chain id again
        if self.metrics is not None:
            self.metrics.watcher_error()
        self.errors += 1
        self._errors_in_state += 1
        if kind != self._state:
            if self._state in ("ok", "starting"):
                self._failing_since = time.monotonic()
            self._state = kind
            self._errors_in_state = 1
            log.log(level, "bridge watcher (L1 RPC %s): %s; retrying with backoff up to %gs, logged once until "
                    "it changes", safe_url(self.url), message, self._backoff_max)

    def _recovered(self) -> None:
        if self._state != "ok":
            if self._state != "starting":
                log.warning("bridge watcher: L1 RPC %s answers again after %d failed attempts in %.1fs",
                            safe_url(self.url), self._errors_in_state, time.monotonic() - self._failing_since)
            self._state = "ok"
            self._errors_in_state = 0

    # -- one poll --------------------------------------------------------------------------------------

    def _step(self) -> bool:
        """Read one range up to the final block; True when there is more to read right away."""
        try:
            return self._read()
        except _Rescan:
            return True  # _gap set the cursor to the deployment block

    def _read(self) -> bool:
        with self._lock:
            p = self._progress
            rescan, self._rescan = self._rescan, False
            epoch = self._epoch
        if p is None:
            return False  # the chain has not told us its bridge yet
        if rescan:
            self._w3 = None
            self._cursor = 0
        w3 = self._connection(p)
        if self._cursor == 0:
            self._start_scan(max(p.deployed_at, p.observed_l1_height + 1))
        head = int(w3.eth.block_number)
        self.head = head
        final = self._final_block(w3, head, p)
        if final is None:
            self._publish_metrics()
            return False
        if final < self._cursor:
            self._advance(epoch, min(self._cursor - 1, final))
            self._cross_check(epoch, p, final)
            return False
        to = min(final, self._cursor + self.max_block_range - 1)
        logs = w3.eth.get_logs({
            "fromBlock": self._cursor,
            "toBlock": to,
            "address": self._contract.address,
            "topics": [["0x" + t.hex() for t in self._topics]],
        })
        events = sorted(self._decode_all(logs), key=lambda e: e.nonce)
        stop_at = self._merge(epoch, events, to)
        if stop_at is not None:  # the cache is full: read again from that block once the chain applies
            self._cursor = stop_at
            return False
        self._cursor = to + 1
        if self._cursor > final:
            self._cross_check(epoch, p, final)
            return False
        return True

    def _start_scan(self, block: int) -> None:
        self._cursor = self._scan_from = block
        self._checked_final = -1

    def _connection(self, p: ChainProgress) -> Web3:
        if self._w3 is not None:
            return self._w3
        w3 = self._connect()
        chain_id = int(w3.eth.chain_id)
        if chain_id != p.l1_chain_id:
            self._set_reporting(False)
            raise _Failure(f"the L1 RPC at {safe_url(self.url)} serves chain id {chain_id}, but the chain's "
                           f"bridge is on L1 chain id {p.l1_chain_id}: reporting nothing",
                           kind="chain-mismatch", level=logging.ERROR)
        address = Web3.to_checksum_address(p.contract)
        if not bytes(w3.eth.get_code(address)):
            self._set_reporting(False)
            raise _Failure(f"the L1 RPC at {safe_url(self.url)} has no contract at {address} (another chain "
                           "with the same id, or a node still syncing): reporting nothing",
                           kind="no-contract", level=logging.ERROR)
        abi = load_artifact(BRIDGE_ARTIFACT).abi
        self._contract = w3.eth.contract(address=address, abi=abi)
        self._topics = {event_abi_to_log_topic(cast(Any, item)): item["name"] for item in abi
                        if item.get("type") == "event" and item["name"] in WATCHED_EVENTS}
        self._set_reporting(True)
        self._w3 = w3
        return w3

    def _http_connect(self) -> Web3:
        # No retries inside web3 (it would retry 5 times with its own backoff): the loop's backoff rules.
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": self.request_timeout},
                                    exception_retry_configuration=None))
        # The watcher sends no transactions and names no ENS names: without these two middlewares an
        # eth_call is one request instead of two (validation asks eth_chainId before every call).
        for name in ("validation", "ens_name_to_address"):
            w3.middleware_onion.remove(name)
        return w3

    def _final_block(self, w3: Web3, head: int, p: ChainProgress) -> int | None:
        if self.finality == "confirmations":
            final = head - p.l1_confirmations
            return final if final >= 0 else None
        try:
            return int(w3.eth.get_block("finalized")["number"])
        except BlockNotFound:
            return None  # nothing finalized yet (a young chain)
        except Web3RPCError as exc:
            if "not found" in str(exc).lower():
                return None
            raise

    def _cross_check(self, epoch: int, p: ChainProgress, final: int) -> None:
        """The contract's eventNonce() at the final block must not exceed the last nonce we hold."""
        if final == self._checked_final or final < p.deployed_at:
            return
        try:
            on_l1 = int(self._contract.functions.eventNonce().call(block_identifier=final))
        except (Web3RPCError, BadFunctionCallOutput) as exc:  # e.g. no state kept for that block: an extra check
            log.debug("bridge watcher: eventNonce() at block %d unavailable (%s)", final, exc)
            self._checked_final = final
            return
        with self._lock:
            if epoch != self._epoch:
                return
            held = self._base + len(self._events)
        self._checked_final = final
        if on_l1 > held:
            self._gap(f"the contract's eventNonce() at block {final} is {on_l1}, but events up to {held} only "
                      f"were read from block {self._scan_from}")

    def _merge(self, epoch: int, events: list[L1Event], to: int) -> int | None:
        """Append the events that continue the list; the block to read again from if the cache is full."""
        gap: L1Event | None = None
        stop_at: int | None = None
        with self._lock:
            if epoch != self._epoch:
                return None  # progress restarted the scan meanwhile: this read belongs to the old one
            tail = self._base + len(self._events)
            for e in events:
                if e.nonce <= tail:
                    continue  # applied already, or read before
                if e.nonce > tail + 1:
                    gap = e
                    break
                if len(self._events) >= self.max_cached:
                    stop_at = e.l1_block
                    break
                self._events.append(e)
                tail += 1
                self._snapshot = None
            if gap is None:
                complete = to if stop_at is None else stop_at - 1
                if complete > self._final:
                    self._final = complete
                    self._snapshot = None
        if gap is not None:
            self._gap(f"event {gap.nonce} (L1 block {gap.l1_block}) follows event {tail}: the ones between were "
                      f"not found from block {self._scan_from}")
        self._publish_metrics()
        return stop_at

    def _advance(self, epoch: int, complete: int) -> None:
        with self._lock:
            if epoch == self._epoch and complete > self._final:
                self._final = complete
                self._snapshot = None
        self._publish_metrics()

    def _gap(self, why: str) -> NoReturn:
        with self._lock:
            p = self._progress
            self._events = []
            self._final = 0
            self._snapshot = None
        deployed_at = p.deployed_at if p is not None else 0
        self.rescans += 1
        if self._scan_from <= deployed_at:
            # Read from the deployment block and still incomplete: this RPC's answers are inconsistent.
            self._start_scan(deployed_at)
            raise _Failure(f"{why}; the L1 RPC at {safe_url(self.url)} gives inconsistent logs, reading again "
                           "from the deployment block", kind="inconsistent", level=logging.ERROR)
        log.warning("bridge watcher: %s; reading again from the deployment block %d", why, deployed_at)
        self._start_scan(deployed_at)
        raise _Rescan(why)

    def _set_reporting(self, on: bool) -> None:
        with self._lock:
            if self._reporting != on:
                self._reporting = on
                self._snapshot = None

    def _publish_metrics(self) -> None:
        if self.metrics is not None:
            with self._lock:
                final, cached = self._final, len(self._events)
            self.metrics.watcher_state(self.head, final, cached)

    # -- decoding --------------------------------------------------------------------------------------

    def _decode_all(self, logs: Any) -> list[L1Event]:
        """The contract's events in `logs`; each BatchExecuted carries the WithdrawalDeferred logs of
        its own transaction and batch (emitted before it, in payout order), which have no event nonce
        of their own."""
        entries = sorted((e for e in logs if not e.get("removed")),
                         key=lambda e: (int(e["blockNumber"]), int(e.get("logIndex") or 0)))
        deferred: dict[tuple[bytes, int], list[tuple[bytes, int]]] = {}
        out = []
        for entry in entries:
            topics = entry.get("topics") or []
            name = self._topics.get(bytes(topics[0])) if topics else None
            if name == "WithdrawalDeferred":
                args = self._contract.events[name]().process_log(entry)["args"]
                key = (bytes(entry["transactionHash"]), int(args["batchNonce"]))
                deferred.setdefault(key, []).append((_address(args["recipient"]), int(args["amount"])))
                continue
            e = self._decode(entry)
            if e is None:
                continue
            if isinstance(e.kind, BatchExecuted):
                owed = tuple(deferred.get((e.l1_tx, e.kind.batch_nonce), ()))
                if owed:
                    e = L1Event(e.nonce, e.l1_block, e.l1_tx, BatchExecuted(e.kind.batch_nonce, e.kind.withdrawals,
                                                                            owed))
            out.append(e)
        return out

    def _decode(self, entry: Any) -> L1Event | None:
        topics = entry.get("topics") or []
        name = self._topics.get(bytes(topics[0])) if topics else None
        if name is None or name == "WithdrawalDeferred" or entry.get("removed"):
            return None
        args = self._contract.events[name]().process_log(entry)["args"]
        kind: EventKind
        if name == "Deposit":
            recipient = bytes(args["recipient"])
            if len(recipient) != 20:
                raise ValueError(f"malformed Deposit log in block {entry.get('blockNumber')}")
            kind = Deposit(_address(args["token"]), _address(args["sender"]), recipient, int(args["amount"]))
        elif name == "ValsetUpdated":
            kind = ValsetUpdated(int(args["valsetNonce"]), tuple(_address(a) for a in args["validators"]),
                                 tuple(int(x) for x in args["powers"]))
        else:
            kind = BatchExecuted(int(args["batchNonce"]), int(args["withdrawals"]))
        tx = bytes(entry["transactionHash"])
        if len(tx) != 32:
            raise ValueError(f"malformed log in block {entry.get('blockNumber')}")
        return L1Event(int(args["eventNonce"]), int(entry["blockNumber"]), tx, kind)


def _address(value: str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    if len(raw) != 20:
        raise ValueError(f"malformed address {value!r} in a log")
    return raw


def _describe(exc: BaseException) -> tuple[str, str]:
    """(state kind, one-line message) of an exception raised while talking to L1."""
    text = " ".join((str(exc) or type(exc).__name__).split())[:300]
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "timeout", f"L1 RPC request timed out ({text})"
    if isinstance(exc, requests.ConnectionError | ConnectionError):
        reason = "connection refused" if "refused" in text.lower() else text
        return "unreachable", f"L1 RPC unreachable ({reason})"
    if isinstance(exc, Web3RPCError):
        return "rpc-error", f"L1 RPC error: {text}"
    return "bad-response", f"unexpected answer from the L1 RPC ({type(exc).__name__}: {text})"
