"""Framing: uvarint length prefixes, split reads, batched reads, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abci_app.framing import FrameDecoder, FrameTooLarge, FramingError, encode_frame, encode_uvarint


def test_uvarint_known_values() -> None:
    assert encode_uvarint(0) == b"\x00"
    assert encode_uvarint(1) == b"\x01"
    assert encode_uvarint(127) == b"\x7f"
    assert encode_uvarint(128) == b"\x80\x01"
    assert encode_uvarint(300) == b"\xac\x02"
    assert encode_uvarint(2**64 - 1) == b"\xff" * 9 + b"\x01"


def test_frame_split_across_many_reads() -> None:
    payload = bytes(range(256)) * 40  # 10,240 bytes: a 2-byte prefix
    wire = encode_frame(payload)
    dec = FrameDecoder(1 << 20)
    out: list[bytes] = []
    for i in range(len(wire)):
        out += dec.feed(wire[i:i + 1])
        if i < len(wire) - 1:
            assert out == []
    assert out == [payload]
    assert dec.buffered == 0


def test_many_frames_in_one_read() -> None:
    payloads = [b"", b"a", b"bc" * 100, bytes(300), b"\xff" * 5]
    dec = FrameDecoder(1 << 20)
    assert dec.feed(b"".join(encode_frame(p) for p in payloads)) == payloads
    assert dec.buffered == 0


def test_zero_length_frame() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(b"\x00") == [b""]
    assert dec.feed(b"\x00\x00\x01x") == [b"", b"", b"x"]


def test_oversize_frame_is_refused_at_its_prefix() -> None:
    dec = FrameDecoder(1000)
    with pytest.raises(FrameTooLarge) as ei:
        dec.feed(encode_uvarint(1001))  # no body sent: refused before buffering anything
    assert ei.value.size == 1001 and ei.value.limit == 1000


def test_frame_at_limit_is_accepted() -> None:
    dec = FrameDecoder(1000)
    assert dec.feed(encode_frame(b"x" * 1000)) == [b"x" * 1000]


def test_oversize_detected_from_partial_prefix() -> None:
    dec = FrameDecoder(1000)
    with pytest.raises(FrameTooLarge):
        dec.feed(b"\xff\xff\xff")  # continuation bits set: already > 1000 whatever follows


def test_overlong_varint_is_garbage() -> None:
    dec = FrameDecoder(2**70)
    with pytest.raises(FramingError):
        dec.feed(b"\x80" * 11)


@pytest.mark.parametrize("garbage", [b"\x80" * 11, b"\xff\xff\xff", encode_uvarint(1001)])
def test_error_carries_the_frames_completed_before_it(garbage: bytes) -> None:
    dec = FrameDecoder(1000)
    with pytest.raises(FramingError) as e:
        dec.feed(encode_frame(b"one") + encode_frame(b"") + encode_frame(b"two") + garbage)
    assert e.value.complete == (b"one", b"", b"two")
    dec = FrameDecoder(1000)
    assert dec.feed(encode_frame(b"one")) == [b"one"]
    with pytest.raises(FramingError) as e:
        dec.feed(garbage)
    assert e.value.complete == ()  # only this call's frames: the earlier one was returned already


@given(st.lists(st.binary(max_size=300), max_size=20), st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(p) for p in payloads)
    dec = FrameDecoder(1 << 16)
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        out += dec.feed(wire[pos:pos + step])
        pos += step
        i += 1
    assert out == payloads
