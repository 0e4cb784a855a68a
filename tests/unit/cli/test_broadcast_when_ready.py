"""broadcast_when_ready: a "not now" refusal (the node is catching up, its mempool is full, no block yet) is
retried, the tx signed again with the sequence read again, until the node takes it or the timeout; any
other refusal is the answer at once."""

from __future__ import annotations

from typing import Any

import pytest

from sidechain import client as client_mod
from sidechain.client import ClientError, NodeClient

BEHIND = {"code": 3, "codespace": "mempool", "log": "this node is catching up (its last block, 7, is 9.0s old)"}


class Node(NodeClient):
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__("127.0.0.1:1")
        self.answers = answers
        self.sent: list[bytes] = []

    def broadcast_sync(self, tx: bytes) -> dict[str, Any]:
        self.sent.append(tx)
        return self.answers.pop(0) if self.answers else {"code": 0}


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "RETRY_SECONDS", 0.0)


def test_catching_up_is_retried_with_the_sequence_read_again() -> None:
    node = Node([BEHIND, BEHIND])
    seqs = iter([4, 4, 6])  # the stale node's view, then the current one

    def build() -> tuple[bytes, int]:
        seq = next(seqs)
        return b"tx-%d" % seq, seq

    notes: list[str] = []
    raw, seq, res = node.broadcast_when_ready(build, 10, notes.append)
    assert (raw, seq, res["code"]) == (b"tx-6", 6, 0)
    assert node.sent == [b"tx-4", b"tx-4", b"tx-6"]
    assert len(notes) == 1 and "catching up" in notes[0] and "retrying" in notes[0]


def test_other_refusals_are_answered_at_once() -> None:
    refusal = {"code": 2, "codespace": "auth", "log": "account sequence mismatch: expected 5, got 4"}
    node = Node([refusal])
    _raw, _seq, res = node.broadcast_when_ready(lambda: (b"tx", 4), 10)
    assert res == refusal and node.sent == [b"tx"]


def test_still_behind_at_the_timeout_returns_the_refusal() -> None:
    node = Node([BEHIND] * 1000)
    _raw, _seq, res = node.broadcast_when_ready(lambda: (b"tx", 1), 0.0)
    assert res == BEHIND and node.sent == [b"tx"]


class FullNode(NodeClient):
    """CometBFT itself refuses while its mempool is full: an RPC error, before the app is asked."""

    def __init__(self, full_answers: int) -> None:
        super().__init__("127.0.0.1:1")
        self.full_answers = full_answers
        self.calls = 0

    def rpc(self, method: str, **params: Any) -> Any:
        assert method == "broadcast_tx_sync"
        self.calls += 1
        if self.calls <= self.full_answers:
            raise ClientError("broadcast_tx_sync: Internal error mempool is full: number of txs 2000 (max: 2000), "
                              "total txs bytes 352000 (max: 1073741824)")
        return {"code": 0, "log": "", "hash": "AB"}


def test_cometbfts_own_mempool_full_is_retried_like_the_apps() -> None:
    node = FullNode(2)
    res = node.broadcast_sync(b"tx")
    assert (res["codespace"], res["code"]) == ("mempool", 2) and "mempool is full" in res["log"]
    notes: list[str] = []
    _raw, _seq, res = node.broadcast_when_ready(lambda: (b"tx", 1), 10, notes.append)
    assert res["code"] == 0 and node.calls == 3
    assert len(notes) == 1 and "mempool full" in notes[0]


def test_other_rpc_errors_still_raise() -> None:
    class Broken(NodeClient):
        def rpc(self, method: str, **params: Any) -> Any:
            raise ClientError("broadcast_tx_sync: Internal error tx too large")

    with pytest.raises(ClientError, match="too large"):
        Broken("127.0.0.1:1").broadcast_sync(b"tx")
