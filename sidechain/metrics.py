"""Prometheus metrics of the application, served on 127.0.0.1 by default."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from sidechain.txflow import SignatureCache

_BRIDGE_EVENT_KINDS = {"bridge_deposit": "deposit", "bridge_valset_updated": "valset_updated",
                       "bridge_batch_executed": "batch_executed"}
_BLOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _by_code(children: dict[tuple[str, int], Any], counter: Counter, response: Any) -> Any:
    key = (response.codespace, response.code)
    child = children.get(key)
    if child is None:
        child = children[key] = counter.labels(response.codespace, str(response.code))
    return child


class AppMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.blocks = Counter("sidechain_blocks_committed", "Blocks committed", registry=r)
        self.height = Gauge("sidechain_block_height", "Last committed height", registry=r)
        self.txs = Counter("sidechain_txs", "Transactions executed in blocks, by result", ["result"], registry=r)
        self.finalize = Histogram("sidechain_finalize_block_seconds", "FinalizeBlock duration",
                                  buckets=_BLOCK_BUCKETS, registry=r)
        self.commit = Histogram("sidechain_commit_seconds", "Commit duration", buckets=_BLOCK_BUCKETS, registry=r)
        self.check_tx = Counter("sidechain_check_tx", "CheckTx (new txs) results by codespace and code",
                                ["codespace", "code"], registry=r)
        self.recheck_tx = Counter("sidechain_recheck_tx", "CheckTx rechecks (after each block) by codespace and code",
                                  ["codespace", "code"], registry=r)
        self.abci_requests = Counter("sidechain_abci_requests", "ABCI requests by method", ["method"], registry=r)
        # Labelled children looked up once (labels() takes a lock and builds a key: per CheckTx, it showed
        # in profiles). Few keys: the ABCI methods and the registered (codespace, code) pairs.
        self._by_method: dict[str, Any] = {}
        self._check_by_code: dict[tuple[str, int], Any] = {}
        self._recheck_by_code: dict[tuple[str, int], Any] = {}
        # The bridge's L1 watcher (bridge/watcher.py), on validators that run one.
        self.watcher_errors = Counter("sidechain_bridge_watcher_errors",
                                      "Failed L1 RPC polls of the bridge watcher", registry=r)
        self.l1_final_height = Gauge("sidechain_bridge_l1_final_height",
                                     "L1 block the bridge watcher has read completely at final depth", registry=r)
        self.l1_head = Gauge("sidechain_bridge_l1_head", "L1 head the bridge watcher last saw", registry=r)
        self.watcher_events_cached = Gauge("sidechain_bridge_watcher_events_cached",
                                           "L1 events read and not yet applied on the chain", registry=r)
        # The bridge as the chain applied it (every node).
        self.bridge_events = Counter("sidechain_bridge_events_applied", "L1 events applied, by kind", ["kind"],
                                     registry=r)
        self.bridge_last_event_nonce = Gauge("sidechain_bridge_last_event_nonce", "Last L1 event nonce applied",
                                             registry=r)
        self.bridge_observed = Gauge("sidechain_bridge_observed_l1_height",
                                     "L1 height more than 2/3 of the power vouch for (every event up to it applied)",
                                     registry=r)
        self.bridge_lag = Gauge("sidechain_bridge_l1_lag_blocks",
                                "This validator's watcher final height minus observed_l1_height", registry=r)
        self.bridge_supply = Gauge("sidechain_bridge_supply", "Bridged supply on the sidechain, by denom",
                                   ["denom"], registry=r)

    def observe(self, method: str, seconds: float, response: Any) -> None:
        """Adapter hook: called after each ABCI method with its typed response message."""
        requests = self._by_method.get(method)
        if requests is None:
            requests = self._by_method[method] = self.abci_requests.labels(method)
        requests.inc()
        if method == "finalize_block":
            self.finalize.observe(seconds)
            ok = sum(1 for t in response.tx_results if t.code == 0)
            if ok:
                self.txs.labels("ok").inc(ok)
            failed = len(response.tx_results) - ok
            if failed:
                self.txs.labels("failed").inc(failed)
            for e in response.events:
                if e.type in _BRIDGE_EVENT_KINDS:
                    self.bridge_events.labels(_BRIDGE_EVENT_KINDS[e.type]).inc()
        elif method == "commit":
            self.commit.observe(seconds)
            self.blocks.inc()
        elif method == "check_tx":
            _by_code(self._check_by_code, self.check_tx, response).inc()
        elif method == "recheck_tx":
            _by_code(self._recheck_by_code, self.recheck_tx, response).inc()

    def watcher_error(self) -> None:
        self.watcher_errors.inc()

    def watcher_state(self, head: int, final_height: int, cached: int) -> None:
        self.l1_head.set(head)
        self.l1_final_height.set(final_height)
        self.watcher_events_cached.set(cached)

    def bridge_state(self, state: dict[str, Any], watcher_final_height: int | None) -> None:
        """After each Commit: the bridge module's `/bridge/state` answer, and this node's watcher view."""
        if not state.get("enabled"):
            return
        self.bridge_last_event_nonce.set(int(state["last_event_nonce"]))
        observed = int(state["observed_l1_height"])
        self.bridge_observed.set(observed)
        if watcher_final_height:
            self.bridge_lag.set(max(0, watcher_final_height - observed))
        for denom, amount in state.get("supply", {}).items():
            self.bridge_supply.labels(denom).set(int(amount))

    def track_signatures(self, cache: Callable[[], SignatureCache]) -> None:
        """Gauges read from the app's signature cache (`cache()`: the one in use) at each scrape."""
        r = self.registry
        Gauge("sidechain_signature_verifications",
              "ed25519 verifications since the node started: each tx's once while the signature cache holds it",
              registry=r).set_function(lambda: cache().verifications)
        Gauge("sidechain_signature_cache_hits", "Txs found verified in the signature cache since the node started",
              registry=r).set_function(lambda: cache().hits)

    def set_height(self, height: int) -> None:
        self.height.set(height)

    def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host, registry=self.registry)
