"""The L1 watcher (bridge/watcher.py) against the in-process EVM with the bridge deployed.

The watcher's thread and the test share one eth-tester instance: every request to it goes through one lock.
Tests wait on conditions (with deadlines), never on fixed sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry
from web3 import Web3
from web3.types import TxReceipt

from bridge.module.events import ZERO_ADDRESS, BatchExecuted, Deposit, L1Event, ValsetUpdated
from bridge.module.observe import NOTHING_OBSERVED, ChainProgress
from bridge.protocol import ETH_TOKEN, Withdrawal
from bridge.watcher import Watcher, safe_url
from sidechain.metrics import AppMetrics
from tests.support.bridge_l1.l1 import free_port
from tests.unit.bridge.conftest import ONE_ETH, RECIPIENT, World

FAST = {"poll_interval": 0.02, "backoff": (0.02, 0.1)}
DEADLINE = 30.0


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class L1:
    """The shared in-process L1: requests serialized, a switch that makes it refuse connections."""

    world: World
    lock: threading.Lock = field(default_factory=threading.Lock)
    down: bool = False
    requests: list[tuple[str, Any]] = field(default_factory=list)  # the watcher's, in order

    @property
    def w3(self) -> Web3:
        return self.world.l1.w3

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self.world.l1.mine(blocks)

    @property
    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def deposit(self, amount: int, recipient: bytes = RECIPIENT) -> TxReceipt:
        return self.world.bridge.deposit_eth(recipient, amount, self.world.user)

    def deployed_at(self) -> int:
        logs = self.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": self.world.bridge.address})
        return min(int(entry["blockNumber"]) for entry in logs)

    def progress(self, last_event_nonce: int = 1, observed_l1_height: int = 0, *, confirmations: int = 0,
                 chain_id: int | None = None, height: int = 1) -> ChainProgress:
        return ChainProgress(height=height, l1_chain_id=self.chain_id if chain_id is None else chain_id,
                             contract=bytes.fromhex(self.world.bridge.address[2:]), deployed_at=self.deployed_at(),
                             last_event_nonce=last_event_nonce, observed_l1_height=observed_l1_height,
                             l1_confirmations=confirmations)


@pytest.fixture
def l1(world: World, monkeypatch: pytest.MonkeyPatch) -> L1:
    shared = L1(world)
    provider = world.l1.w3.provider
    original = provider.make_request

    def make_request(method: Any, params: Any) -> Any:
        if shared.down and threading.current_thread().name == "bridge-watcher":
            raise requests.ConnectionError("[Errno 111] Connection refused")
        with shared.lock:
            if threading.current_thread().name == "bridge-watcher":
                shared.requests.append((str(method), params))
            return original(method, params)

    monkeypatch.setattr(provider, "make_request", make_request)
    # web3 caches the middleware chain with the bound make_request in it: rebuild it, now and after.
    monkeypatch.setattr(provider, "_request_func_cache", (None, None))
    return shared


@pytest.fixture
def watchers() -> Iterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def make(l1: L1 | None = None, *, url: str = "http://127.0.0.1:1", **kwargs: Any) -> Watcher:
        options = {**FAST, **kwargs}
        if l1 is not None and "connect" not in options:
            options["connect"] = lambda: l1.w3
        w = Watcher(url, **options)
        made.append(w)
        w.start()
        return w

    yield make
    for w in made:
        w.stop(timeout=5)


def nonces(w: Watcher) -> list[int]:
    return [e.nonce for e in w.observed().events]


def has_nonces(w: Watcher, expected: list[int]) -> Callable[[], bool]:
    return lambda: nonces(w) == expected


def read_up_to(w: Watcher, block: int) -> Callable[[], bool]:
    return lambda: w.observed().final_height >= block


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# --- reading ---------------------------------------------------------------------------------------


def test_every_event_kind_is_read_with_its_fields_in_nonce_order(l1: L1, watchers: Callable[..., Watcher]) -> None:
    world = l1.world
    eth = l1.deposit(3 * ONE_ETH)
    world.send(world.token.functions.mint(world.user, 500), world.user)
    world.send(world.token.functions.approve(world.bridge.address, 500), world.user)
    erc20 = world.bridge.deposit_erc20(world.token.address, 500, b"\x07" * 20, world.user)
    batch = world.submit([Withdrawal.of(ETH_TOKEN, world.other, ONE_ETH, 10)])
    w = watchers(l1)
    w.progress(l1.progress(last_event_nonce=0))
    wait_for(has_nonces(w, [1, 2, 3, 4]), "events 1-4")
    assert w.observed().final_height >= int(batch["blockNumber"])
    genesis, dep_eth, dep_erc20, executed = w.observed().events
    assert genesis.kind == ValsetUpdated(0, tuple(bytes.fromhex(a[2:]) for a in world.valset.validators),
                                         tuple(world.valset.powers))
    assert genesis.l1_block == l1.deployed_at()
    user = bytes.fromhex(world.user[2:])
    assert dep_eth == L1Event(2, int(eth["blockNumber"]), bytes(eth["transactionHash"]),
                              Deposit(ZERO_ADDRESS, user, RECIPIENT, 3 * ONE_ETH))
    assert dep_erc20 == L1Event(3, int(erc20["blockNumber"]), bytes(erc20["transactionHash"]),
                                Deposit(bytes.fromhex(world.token.address[2:]), user, b"\x07" * 20, 500))
    assert executed == L1Event(4, int(batch["blockNumber"]), bytes(batch["transactionHash"]), BatchExecuted(1, 1))


def test_an_event_is_reported_only_at_confirmation_depth(l1: L1, watchers: Callable[..., Watcher]) -> None:
    receipt = l1.deposit(ONE_ETH)
    block = int(receipt["blockNumber"])
    w = watchers(l1)
    w.progress(l1.progress(confirmations=3))
    for _ in range(4):
        head = l1.head
        wait_for(lambda h=head: w.observed().final_height == h - 3, f"final height {head - 3}")  # type: ignore[misc]
        assert nonces(w) == ([2] if head - 3 >= block else []), f"head {head}, deposit in block {block}"
        assert all(e.l1_block <= head - 3 for e in w.observed().events)
        l1.mine()
    assert nonces(w) == [2] and l1.head - 4 >= block


def test_finalized_mode_reads_up_to_the_finalized_block(l1: L1, watchers: Callable[..., Watcher]) -> None:
    l1.deposit(ONE_ETH)
    w = watchers(l1, finality="finalized")
    w.progress(l1.progress(confirmations=1000))  # ignored in this mode
    wait_for(has_nonces(w, [2]), "the deposit")
    finalized = int(l1.w3.eth.get_block("finalized")["number"])  # eth-tester finalizes its head
    assert w.observed().final_height == finalized
    assert any(m == "eth_getBlockByNumber" and p[0] == "finalized" for m, p in l1.requests), \
        sorted({(m, str(p)[:40]) for m, p in l1.requests})


def test_max_block_range_splits_the_scan(l1: L1, watchers: Callable[..., Watcher]) -> None:
    for i in range(5):
        l1.deposit(ONE_ETH + i)
        l1.mine(2)
    start, head = l1.deployed_at(), l1.head
    l1.requests.clear()
    w = watchers(l1, max_block_range=3)
    w.progress(l1.progress())
    wait_for(has_nonces(w, [2, 3, 4, 5, 6]), "five deposits")
    wait_for(read_up_to(w, head), "the head")
    ranges = [_block_range(p[0]) for m, p in l1.requests if m == "eth_getLogs"]
    assert all(hi - lo + 1 <= 3 for lo, hi in ranges), ranges
    assert ranges[0][0] == start  # observed_l1_height 0: from the deployment block
    covered = [b for lo, hi in ranges for b in range(lo, hi + 1)]
    assert covered == list(range(ranges[0][0], head + 1)), ranges  # contiguous, nothing read twice
    assert [e.kind.amount for e in w.observed().events] == [ONE_ETH + i for i in range(5)]  # type: ignore[union-attr]


def _block_range(params: dict[str, Any]) -> tuple[int, int]:
    def number(value: Any) -> int:
        return int(value, 16) if isinstance(value, str) else int(value)

    lo = params.get("fromBlock", params.get("from_block"))
    hi = params.get("toBlock", params.get("to_block"))
    return number(lo), number(hi)


# --- the chain's progress ---------------------------------------------------------------------------


def test_progress_prunes_applied_events_at_once(l1: L1, watchers: Callable[..., Watcher]) -> None:
    receipts = [l1.deposit(ONE_ETH + i) for i in range(4)]
    w = watchers(l1)
    w.progress(l1.progress())
    wait_for(has_nonces(w, [2, 3, 4, 5]), "four deposits")
    final = w.observed().final_height
    w.progress(l1.progress(last_event_nonce=3, observed_l1_height=int(receipts[1]["blockNumber"]), height=2))
    assert nonces(w) == [4, 5]  # no wait: pruning is synchronous
    assert w.observed().final_height >= final
    w.progress(l1.progress(last_event_nonce=5, observed_l1_height=int(receipts[3]["blockNumber"]), height=3))
    assert nonces(w) == [] and w.observed().final_height >= final
    w.progress(l1.progress(last_event_nonce=9, observed_l1_height=int(receipts[3]["blockNumber"]), height=4))
    assert nonces(w) == []  # the chain ahead of this L1 node (another validator's RPC): nothing to report


def test_restart_from_progress_loses_and_duplicates_nothing(l1: L1, watchers: Callable[..., Watcher]) -> None:
    receipts = [l1.deposit(ONE_ETH + i) for i in range(4)]  # events 2..5, one block each
    first = watchers(l1)
    first.progress(l1.progress())
    wait_for(has_nonces(first, [2, 3, 4, 5]), "four deposits")
    before = first.observed().events
    first.stop()
    l1.requests.clear()
    # The chain applied 2 and 3, and its observed L1 height is event 3's block.
    after = int(receipts[1]["blockNumber"])
    second = watchers(l1)
    second.progress(l1.progress(last_event_nonce=3, observed_l1_height=after, height=7))
    wait_for(has_nonces(second, [4, 5]), "events 4 and 5")
    assert second.observed().events == before[2:]
    assert second.status().rescans == 0
    assert min(_block_range(p[0])[0] for m, p in l1.requests if m == "eth_getLogs") == after + 1
    # Applied events above the observed height (the height lags the nonce) are read again, not reported.
    third = watchers(l1)
    third.progress(l1.progress(last_event_nonce=3, observed_l1_height=int(receipts[0]["blockNumber"]) - 1))
    wait_for(read_up_to(third, l1.head), "the head")
    assert third.observed().events == before[2:]


def test_a_nonce_gap_below_the_start_rescans_from_the_deployment(l1: L1, watchers: Callable[..., Watcher],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    receipts = [l1.deposit(ONE_ETH + i) for i in range(4)]
    caplog.set_level(logging.WARNING, "bridge.watcher")
    w = watchers(l1)
    # Inconsistent progress: event 2 is at or below the observed height but not applied.
    w.progress(l1.progress(last_event_nonce=1, observed_l1_height=int(receipts[1]["blockNumber"])))
    wait_for(has_nonces(w, [2, 3, 4, 5]), "all four after the rescan")
    assert w.status().rescans == 1
    assert "reading again from the deployment block" in caplog.text


def test_event_nonce_above_what_was_read_rescans(l1: L1, watchers: Callable[..., Watcher]) -> None:
    receipts = [l1.deposit(ONE_ETH + i) for i in range(2)]
    w = watchers(l1)
    # Nothing after the start block, but the contract's eventNonce() there is 3 while the chain has 1.
    w.progress(l1.progress(last_event_nonce=1, observed_l1_height=int(receipts[1]["blockNumber"])))
    wait_for(has_nonces(w, [2, 3]), "both after the cross-check's rescan")
    assert w.status().rescans == 1


def test_a_full_cache_stops_below_the_first_event_left_out(l1: L1, watchers: Callable[..., Watcher]) -> None:
    receipts = [l1.deposit(ONE_ETH + i) for i in range(4)]
    w = watchers(l1, max_cached=2)
    w.progress(l1.progress())
    wait_for(has_nonces(w, [2, 3]), "two events")
    wait_for(lambda: w.status().polls > 5, "more polls")
    assert nonces(w) == [2, 3]
    assert w.observed().final_height == int(receipts[2]["blockNumber"]) - 1
    w.progress(l1.progress(last_event_nonce=3, observed_l1_height=int(receipts[1]["blockNumber"])))
    wait_for(has_nonces(w, [4, 5]), "the rest once the chain applied two")


def test_wrong_chain_id_reports_nothing(l1: L1, watchers: Callable[..., Watcher],
                                        caplog: pytest.LogCaptureFixture) -> None:
    l1.deposit(ONE_ETH)
    caplog.set_level(logging.WARNING, "bridge.watcher")
    w = watchers(l1)
    w.progress(l1.progress(chain_id=1))
    wait_for(lambda: w.status().errors >= 3, "three attempts")
    assert w.observed() == NOTHING_OBSERVED
    assert w.status().state == "chain-mismatch"
    errors = [r for r in caplog.records if r.name == "bridge.watcher" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"serves chain id {l1.chain_id}" in errors[0].getMessage()


# --- L1 failures --------------------------------------------------------------------------------------


def test_unreachable_l1_answers_instantly_counts_errors_and_recovers(
        l1: L1, watchers: Callable[..., Watcher], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bridge.watcher")
    l1.deposit(ONE_ETH)
    url = closed_port_url()
    up = threading.Event()
    metrics = AppMetrics(CollectorRegistry())

    def connect() -> Web3:
        if up.is_set():
            return l1.w3
        return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2}))

    w = watchers(l1, url=url, connect=connect, metrics=metrics, backoff=(0.01, 0.08))
    w.progress(l1.progress())
    wait_for(lambda: w.status().errors >= 5, "five failed attempts")
    slowest = 0.0
    for _ in range(200):
        t = time.perf_counter()
        assert w.observed() == NOTHING_OBSERVED
        slowest = max(slowest, time.perf_counter() - t)
    assert slowest < 0.01, f"observed() took {slowest * 1000:.1f} ms while L1 is down"
    status = w.status()
    assert status.state == "unreachable"
    counted = metrics.registry.get_sample_value("sidechain_bridge_watcher_errors_total")
    assert counted is not None and counted >= status.errors
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "connection refused" in warnings[0], warnings
    assert safe_url(url) in warnings[0]
    up.set()
    wait_for(has_nonces(w, [2]), "the deposit once L1 is back")
    wait_for(lambda: any("answers again" in r.getMessage() for r in caplog.records), "the recovery line")
    assert w.status().state == "ok"
    head = l1.head
    wait_for(lambda: metrics.registry.get_sample_value("sidechain_bridge_l1_final_height") == head, "final metric")
    assert metrics.registry.get_sample_value("sidechain_bridge_l1_head") == head
    assert metrics.registry.get_sample_value("sidechain_bridge_watcher_events_cached") == 1


def test_cached_events_survive_an_l1_outage_and_reading_resumes(l1: L1, watchers: Callable[..., Watcher]) -> None:
    l1.deposit(ONE_ETH)
    w = watchers(l1)
    w.progress(l1.progress())
    wait_for(has_nonces(w, [2]), "the first deposit")
    l1.down = True
    errors = w.status().errors
    wait_for(lambda: w.status().errors >= errors + 3, "failed polls")
    l1.deposit(2 * ONE_ETH)  # the test thread still reaches L1; the watcher's requests are refused
    during = w.observed()
    assert [e.nonce for e in during.events] == [2]
    w.progress(l1.progress(last_event_nonce=2, observed_l1_height=during.final_height, height=2))
    assert w.observed().events == ()  # progress is served while L1 is down too
    l1.down = False
    wait_for(has_nonces(w, [3]), "the second deposit after the outage")


def test_backoff_is_capped_and_grows(watchers: Callable[..., Watcher], world: World) -> None:
    w = watchers(url=closed_port_url(), backoff=(0.05, 0.2), poll_interval=0.01)
    w.progress(ChainProgress(1, 1337, b"\x11" * 20, 1, 1, 0, 2))
    t0 = time.monotonic()
    wait_for(lambda: w.status().errors >= 6, "six failed attempts")
    elapsed = time.monotonic() - t0
    # 0.05 + 0.1 + 0.2 + 0.2 + 0.2 = 0.75 s of waits before the sixth attempt: no hot loop, no runaway wait.
    assert 0.6 <= elapsed <= 10, elapsed


def test_observed_never_waits_for_a_request_in_flight(l1: L1, watchers: Callable[..., Watcher]) -> None:
    gate = threading.Event()
    entered = threading.Event()
    provider = l1.w3.provider
    inner = provider.make_request

    def slow(method: Any, params: Any) -> Any:
        if threading.current_thread().name == "bridge-watcher" and method == "eth_getLogs":
            entered.set()
            gate.wait(10)
        return inner(method, params)

    provider.make_request = slow  # type: ignore[method-assign]
    provider._request_func_cache = (None, None)  # type: ignore[assignment]
    try:
        l1.deposit(ONE_ETH)
        w = watchers(l1)
        w.progress(l1.progress())
        assert entered.wait(DEADLINE)
        t = time.perf_counter()
        assert w.observed() == NOTHING_OBSERVED
        w.progress(l1.progress(height=2))
        assert time.perf_counter() - t < 1.0  # the request in flight is held for 10 s
    finally:
        gate.set()
    wait_for(has_nonces(w, [2]), "the deposit once the request returns")
    provider.make_request = inner  # type: ignore[method-assign]
    provider._request_func_cache = (None, None)  # type: ignore[assignment]


def test_nothing_happens_before_the_chain_says_where_its_bridge_is(l1: L1, watchers: Callable[..., Watcher]) -> None:
    l1.requests.clear()
    w = watchers(l1)
    time.sleep(0.1)  # a negative check: nothing may happen in this while
    assert w.observed() == NOTHING_OBSERVED and l1.requests == [] and w.status().polls > 0


def test_safe_url_hides_paths_and_credentials() -> None:
    assert safe_url("https://user:secret@mainnet.example.org/v3/APIKEY") == "https://mainnet.example.org"
    assert safe_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert safe_url("not a url") == "<invalid URL>"


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="finality"):
        Watcher("http://127.0.0.1:8545", finality="safe")
    with pytest.raises(ValueError, match="max_block_range"):
        Watcher("http://127.0.0.1:8545", max_block_range=0)
