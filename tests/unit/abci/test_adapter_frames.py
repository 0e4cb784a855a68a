"""The socket server's byte path (Adapter.handle_frame) answers exactly what the message path answers:
CheckTx (accepted and refused), PrepareProposal, ProcessProposal, FinalizeBlock, Commit, Echo, Flush."""

from __future__ import annotations

from abci_app.adapter import Adapter
from abci_app.framing import FrameDecoder
from abci_app.gen.tendermint.abci import types_pb2 as pb
from tests.unit.app.appchain import GENESIS_NS, new_app, run_block
from tests.unit.tx.chain import addr, coin, key, send_tx

ALICE, BOB = key(1), key(2)


def _answer(ad: Adapter, req: pb.Request) -> pb.Response:
    frames = FrameDecoder(1 << 24).feed(ad.handle_frame(req.SerializeToString()))
    assert len(frames) == 1
    return pb.Response.FromString(frames[0])


def _same_as_message_path(req: pb.Request) -> pb.Response:
    """Two apps in the same state: one answers through handle_frame, the other through handle."""
    fast, slow = (new_app([(addr(ALICE), [coin(1_000)])]) for _ in range(2))
    for a in (fast, slow):
        run_block(a, [])
    got = _answer(Adapter(fast), req)
    assert got == Adapter(slow).handle(req)
    return got


def test_check_tx_accepted_and_refused() -> None:
    ok = _same_as_message_path(pb.Request(check_tx=pb.RequestCheckTx(tx=send_tx(ALICE, addr(BOB), 5, 0))))
    assert ok.check_tx.code == 0
    bad = _same_as_message_path(pb.Request(check_tx=pb.RequestCheckTx(tx=send_tx(BOB, addr(ALICE), 5, 0))))
    assert bad.check_tx.code != 0 and bad.check_tx.log


def _block_fields(height: int) -> dict[str, object]:
    t = GENESIS_NS + height * 10**9
    return {"height": height, "time": {"seconds": t // 10**9, "nanos": t % 10**9}, "proposer_address": b"\x01" * 20}


def test_proposals_and_finalize_block() -> None:
    txs = [send_tx(ALICE, addr(BOB), 5, s) for s in range(3)]
    prep = _same_as_message_path(pb.Request(prepare_proposal=pb.RequestPrepareProposal(
        txs=txs, max_tx_bytes=1 << 20, **_block_fields(2))))  # type: ignore[arg-type]
    assert list(prep.prepare_proposal.txs) == txs
    proc = _same_as_message_path(pb.Request(process_proposal=pb.RequestProcessProposal(
        txs=txs, hash=b"\x02" * 32, **_block_fields(2))))  # type: ignore[arg-type]
    assert proc.process_proposal.status == pb.ResponseProcessProposal.ACCEPT
    fin = _same_as_message_path(pb.Request(finalize_block=pb.RequestFinalizeBlock(
        txs=txs, hash=b"\x02" * 32, **_block_fields(2))))  # type: ignore[arg-type]
    assert [r.code for r in fin.finalize_block.tx_results] == [0, 0, 0] and fin.finalize_block.app_hash


def test_echo_and_flush() -> None:
    assert _same_as_message_path(pb.Request(echo=pb.RequestEcho(message="hi"))).echo.message == "hi"
    assert _same_as_message_path(pb.Request(flush=pb.RequestFlush())).WhichOneof("value") == "flush"
