"""Prometheus metrics of the application, served on 127.0.0.1 by default."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_BLOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self.check_tx = Counter("sidechain_check_tx", "CheckTx results by code", ["code"], registry=r)
        self.abci_requests = Counter("sidechain_abci_requests", "ABCI requests by method", ["method"], registry=r)
        # The bridge's L1 watcher (bridge/watcher.py), on validators that run one.
        self.watcher_errors = Counter("sidechain_bridge_watcher_errors",
                                      "Failed L1 RPC polls of the bridge watcher", registry=r)
        self.l1_final_height = Gauge("sidechain_bridge_l1_final_height",
                                     "L1 block the bridge watcher has read completely at final depth", registry=r)
        self.l1_head = Gauge("sidechain_bridge_l1_head", "L1 head the bridge watcher last saw", registry=r)
        self.watcher_events_cached = Gauge("sidechain_bridge_watcher_events_cached",
                                           "L1 events read and not yet applied on the chain", registry=r)

    def observe(self, method: str, seconds: float, response: Any) -> None:
        """Adapter hook: called after each ABCI method with its typed response message."""
        self.abci_requests.labels(method).inc()
        if method == "finalize_block":
            self.finalize.observe(seconds)
            ok = sum(1 for t in response.tx_results if t.code == 0)
            if ok:
                self.txs.labels("ok").inc(ok)
            failed = len(response.tx_results) - ok
            if failed:
                self.txs.labels("failed").inc(failed)
        elif method == "commit":
            self.commit.observe(seconds)
            self.blocks.inc()
        elif method == "check_tx":
            self.check_tx.labels(str(response.code)).inc()

    def watcher_error(self) -> None:
        self.watcher_errors.inc()

    def watcher_state(self, head: int, final_height: int, cached: int) -> None:
        self.l1_head.set(head)
        self.l1_final_height.set(final_height)
        self.watcher_events_cached.set(cached)

    def set_height(self, height: int) -> None:
        self.height.set(height)

    def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host, registry=self.registry)
