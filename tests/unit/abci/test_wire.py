"""The hand-written FinalizeBlock encoding is byte for byte what protobuf writes, and parses back to
the same results."""

from __future__ import annotations

import random

from abci_app import wire
from abci_app.adapter import _events_to_pb, _tx_result_fields
from abci_app.gen.tendermint.abci import types_pb2 as pb
from sidechain.blocks import Event, EventAttribute, TxResult


def _text(rng: random.Random) -> str:
    return "".join(rng.choice("ab/é漢 0123456789") for _ in range(rng.choice([0, 1, 5, 130, 300])))


def _event(rng: random.Random) -> Event:
    return Event(_text(rng), tuple(EventAttribute(_text(rng), _text(rng), rng.random() < 0.7)
                                   for _ in range(rng.randrange(4))))


def _result(rng: random.Random) -> TxResult:
    return TxResult(
        code=rng.choice([0, 0, 2, 5, 127, 128, 300, 2**32 - 1]), log=_text(rng), codespace=_text(rng),
        data=rng.randbytes(rng.choice([0, 3, 200])), gas_wanted=rng.choice([0, 1, 2**40, -1]),
        gas_used=rng.choice([0, 7, 2**63 - 1]), events=tuple(_event(rng) for _ in range(rng.randrange(5))),
    )


def test_finalize_block_bytes_are_protobufs() -> None:
    rng = random.Random(12)
    for _ in range(200):
        block_events = tuple(_event(rng) for _ in range(rng.randrange(3)))
        results = tuple(_result(rng) for _ in range(rng.randrange(6)))
        tail = pb.ResponseFinalizeBlock(app_hash=rng.randbytes(rng.choice([0, 32]))).SerializeToString()
        expected = pb.ResponseFinalizeBlock(
            events=_events_to_pb(block_events),
            tx_results=[pb.ExecTxResult(**_tx_result_fields(r)) for r in results],
        ).SerializeToString() + tail
        got = wire.finalize_block(block_events, results, tail)
        assert got == expected
        framed = wire.response_field(21, got)
        assert pb.Response.FromString(framed).finalize_block == pb.ResponseFinalizeBlock.FromString(got)


def test_uvarint() -> None:
    assert wire.uvarint(0) == b"\x00"
    for n in (1, 127, 128, 300, 2**32, 2**63 - 1, 2**63, 2**64 - 1):  # 0 is omitted by protobuf
        signed = n if n < 2**63 else n - 2**64  # int64 on the wire is its uint64 two's complement
        assert wire.uvarint(n) == pb.ExecTxResult(gas_used=signed).SerializeToString()[1:]
    assert wire.uvarint(-1) == wire.uvarint(2**64 - 1)


def test_results_with_one_field_set_are_protobufs() -> None:
    """A successful tx's result (events only: the shortcut path) and results with any one field set."""
    rng = random.Random(13)
    evs = tuple(_event(rng) for _ in range(4))
    one_field = [TxResult(events=evs), TxResult(), TxResult(code=3, events=evs), TxResult(log="x", events=evs),
                 TxResult(codespace="bank", events=evs), TxResult(data=b"\x01", events=evs),
                 TxResult(gas_wanted=5, events=evs), TxResult(gas_used=-1, events=evs)]
    for r in one_field:
        expected = pb.ResponseFinalizeBlock(tx_results=[pb.ExecTxResult(**_tx_result_fields(r))]).SerializeToString()
        assert wire.finalize_block((), (r,), b"") == expected


def test_index_only_the_listed_attributes() -> None:
    """app.toml tx_index.index_events: only those attributes keep their index flag (block and tx events)."""
    tx_events = (Event("transfer", (EventAttribute("sender", "a"), EventAttribute("recipient", "b"),
                                    EventAttribute("amount", "5stake"))),
                 Event("fee", (EventAttribute("payer", "a"), EventAttribute("amount", "1stake", False))))
    block_events = (Event("slash", (EventAttribute("validator", "v"), EventAttribute("amount", "9"))),)
    only = frozenset({"transfer.recipient", "fee.amount", "slash.validator"})
    got = pb.ResponseFinalizeBlock.FromString(
        wire.finalize_block(block_events, (TxResult(events=tx_events), TxResult(code=7, events=tx_events)), b"",
                            only))
    for result in got.tx_results:
        assert [[(a.key, a.index) for a in e.attributes] for e in result.events] == [
            [("sender", False), ("recipient", True), ("amount", False)],
            [("payer", False), ("amount", False)],  # listed, but the app did not mark it indexed
        ]
    assert [(a.key, a.index) for a in got.events[0].attributes] == [("validator", True), ("amount", False)]
    everything = pb.ResponseFinalizeBlock.FromString(wire.finalize_block(block_events, (TxResult(events=tx_events),),
                                                                         b""))
    assert [a.index for a in everything.tx_results[0].events[0].attributes] == [True, True, True]


def test_index_filter_skips_and_narrows() -> None:
    """app.toml tx_index.skip_events (alone, or with index_events): the skipped attributes lose their
    index flag, the rest keep the app's own; no lists at all is no filter."""
    tx_events = (Event("transfer", (EventAttribute("sender", "a"), EventAttribute("recipient", "b"),
                                    EventAttribute("amount", "5stake"))),
                 Event("fee", (EventAttribute("payer", "a"), EventAttribute("amount", "1stake"))))

    def flags(index_only: object) -> list[list[bool]]:
        got = pb.ResponseFinalizeBlock.FromString(wire.finalize_block((), (TxResult(events=tx_events),), b"",
                                                                      index_only))  # type: ignore[arg-type]
        return [[a.index for a in e.attributes] for e in got.tx_results[0].events]

    skip = wire.IndexFilter.of((), ("transfer.amount", "fee.amount", "fee.payer"))
    assert flags(skip) == [[True, True, False], [False, False]]
    both = wire.IndexFilter.of(("transfer.sender", "transfer.amount"), ("transfer.amount",))
    assert flags(both) == [[True, False, False], [False, False]]
    assert wire.IndexFilter.of((), ()) is None
    assert flags(None) == [[True, True, True], [True, True]]
