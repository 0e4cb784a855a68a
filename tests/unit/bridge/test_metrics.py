"""The bridge's Prometheus metrics as a node exports them after each block."""

from __future__ import annotations

from prometheus_client import generate_latest

from abci_app.gen.tendermint.abci import types_pb2 as pb
from sidechain.metrics import AppMetrics
from tests.unit.bridge.chain import BridgeChain, deposit


def test_events_applied_observed_height_lag_and_supply_are_exported() -> None:
    c = BridgeChain([10, 10, 10])
    for o in c.observers:
        o.events, o.final_height = (deposit(2, 500, b"\x07" * 20), deposit(3, 9, b"\x08" * 20)), 60
    m = AppMetrics()
    for _ in range(3):
        out = c.step()
        m.observe("finalize_block", 0.001, pb.ResponseFinalizeBlock(
            events=[pb.Event(type=e.type) for e in out.events]))
        m.bridge_state(c.query("/bridge/state"), watcher_final_height=64)
    text = generate_latest(m.registry).decode()
    assert 'sidechain_bridge_events_applied_total{kind="deposit"} 2.0' in text
    assert "sidechain_bridge_last_event_nonce 3.0" in text
    assert "sidechain_bridge_observed_l1_height 60.0" in text
    assert "sidechain_bridge_l1_lag_blocks 4.0" in text
    assert 'sidechain_bridge_supply{denom="l1/eth"} 509.0' in text


def test_a_chain_without_a_bridge_exports_no_bridge_state() -> None:
    m = AppMetrics()
    m.bridge_state({"enabled": False}, None)
    assert "sidechain_bridge_supply{" not in generate_latest(m.registry).decode()
