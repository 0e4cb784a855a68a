"""wait_tx broadcasts the same bytes again when the tx is in no block after a few blocks and the node's
mempool no longer holds it; it does nothing while the mempool still has it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sidechain import client as client_mod
from sidechain.client import ClientError, NodeClient

RAW = b"signed-tx-bytes"
HASH = "AB" * 32


class FakeNode(NodeClient):
    """A node whose height moves one block per status call; `mempool` says whether it still holds the tx,
    `include_after` is how many broadcasts of the tx it takes to include it."""

    def __init__(self, mempool: bool, include_after: int | None, refuse: str = "") -> None:
        super().__init__("127.0.0.1:1")
        self.height = 10
        self.mempool = mempool
        self.include_after = include_after
        self.refuse = refuse
        self.broadcasts: list[bytes] = []

    def rpc(self, method: str, **params: Any) -> Any:
        if method == "status":
            self.height += 1
            return {"sync_info": {"latest_block_height": str(self.height)}}
        if method == "broadcast_tx_sync":
            self.broadcasts.append(base64.b64decode(params["tx"]))
            if self.mempool:
                raise ClientError("broadcast_tx_sync: Internal error tx already exists in cache")
            if self.refuse:
                return {"code": 4, "codespace": "auth", "log": self.refuse}
            self.mempool = True
            return {"code": 0}
        if method == "tx":
            if self.include_after is not None and len(self.broadcasts) >= self.include_after:
                return {"height": str(self.height), "tx_result": {"code": 0}}
            raise ClientError(f"tx: Internal error tx ({HASH}) not found")
        raise AssertionError(method)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(client_mod, "HEIGHT_CHECK_SECONDS", 0.0)


def test_gone_from_the_mempool_is_broadcast_again_and_said() -> None:
    node = FakeNode(mempool=False, include_after=1)
    notes: list[str] = []
    out = node.wait_tx(HASH, timeout=5, raw=RAW, note=notes.append)
    assert node.broadcasts == [RAW]
    assert out.code == 0
    assert len(notes) == 1 and "broadcast the same tx again" in notes[0] and HASH in notes[0]


def test_still_in_the_mempool_is_left_alone() -> None:
    node = FakeNode(mempool=True, include_after=None)
    notes: list[str] = []
    with pytest.raises(ClientError, match="not included within"):
        node.wait_tx(HASH, timeout=0.3, raw=RAW, note=notes.append)
    assert node.broadcasts and set(node.broadcasts) == {RAW}  # probes only: the node said "already in cache"
    assert notes == []


def test_refused_on_rebroadcast_and_not_included_is_an_error() -> None:
    node = FakeNode(mempool=False, include_after=None, refuse="account sequence mismatch: expected 3, got 2")
    with pytest.raises(ClientError, match="left the node's mempool without being included.*sequence mismatch"):
        node.wait_tx(HASH, timeout=5, raw=RAW)


def test_without_the_bytes_nothing_is_sent() -> None:
    node = FakeNode(mempool=False, include_after=None)
    with pytest.raises(ClientError, match="not included within"):
        node.wait_tx(HASH, timeout=0.2)
    assert node.broadcasts == []
