"""Vote extensions: the codec, what a validator builds from its watcher's view, and every refusal of
VerifyVoteExtension (BRIDGE.md section 5)."""

from __future__ import annotations

import pytest

from bridge.module.attest import build_extension, check_format, verify_extension
from bridge.module.errors import MalformedExtension
from bridge.module.events import (
    ZERO_ADDRESS,
    BatchExecuted,
    Deposit,
    L1Event,
    ValsetUpdated,
    VoteExtension,
    decode_extension,
    denom_of,
    encode_extension,
    token_of,
)
from bridge.module.observe import Observed
from bridge.module.params import BridgeParams
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb

P = BridgeParams(max_extension_bytes=4096)  # the byte limit these tests push against
ALICE = b"\x07" * 20
TOKEN = bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")


def dep(nonce: int, amount: int = 10**18, block: int | None = None, recipient: bytes = ALICE,
        token: bytes = ZERO_ADDRESS) -> L1Event:
    return L1Event(nonce, 100 + nonce if block is None else block, bytes([nonce % 256]) * 32,
                   Deposit(token, b"\x0a" * 20, recipient, amount))


def test_round_trip_of_every_event_kind() -> None:
    events = (
        dep(2, 2**256 - 1, token=TOKEN),
        L1Event(3, 104, b"\x03" * 32, ValsetUpdated(7, (b"\x01" * 20, b"\x02" * 20), (2**31, 2**31))),
        L1Event(4, 104, b"\x04" * 32, BatchExecuted(9, 100)),
    )
    ext = VoteExtension(events, 104)
    assert decode_extension(encode_extension(ext)) == ext
    assert decode_extension(b"") == VoteExtension((), 0) and encode_extension(VoteExtension((), 0)) == b""


def test_denoms() -> None:
    assert denom_of(ZERO_ADDRESS) == "l1/eth" and denom_of(TOKEN) == "l1/0x" + TOKEN.hex()
    assert token_of("l1/eth") == ZERO_ADDRESS and token_of("l1/0x" + TOKEN.hex()) == TOKEN
    for bad in ("stake", "l1/0x" + TOKEN.hex().upper(), "l1/0x" + "00" * 20, "l1/0x1234", "l1/ETH"):
        assert token_of(bad) is None, bad


# --- VerifyVoteExtension refusals -------------------------------------------------------------------


def refused(data: bytes, last: int = 1, match: str | None = None) -> None:
    with pytest.raises(MalformedExtension, match=match):
        verify_extension(data, last, P)


def test_the_empty_extension_and_a_good_one_are_accepted() -> None:
    assert verify_extension(b"", 1, P) == VoteExtension((), 0)
    ext = VoteExtension((dep(2), dep(3)), 103)
    assert verify_extension(encode_extension(ext), 1, P) == ext


def test_garbage_is_refused() -> None:
    refused(b"\xff\xff\xff", match="not a VoteExtension")
    refused(b"\x0a\x05hello")  # an event field holding bytes that are no event


def test_a_non_canonical_encoding_is_refused() -> None:
    good = encode_extension(VoteExtension((dep(2),), 102))
    refused(good + b"\x78\x01", match="canonical")  # an unknown field 15
    m = pb.VoteExtension.FromString(good)
    m.events[0].deposit.amount = b"\x00" + m.events[0].deposit.amount  # a leading zero byte
    refused(m.SerializeToString(), match="canonical uint256")


def test_malformed_events_are_refused() -> None:
    m = pb.VoteExtension(events=[pb.L1Event(nonce=2, l1_block=5, l1_tx=b"\x01" * 32)], l1_height=5)
    refused(m.SerializeToString(), match="no kind")
    m = pb.VoteExtension(events=[pb.L1Event(nonce=2, l1_block=5, l1_tx=b"\x01" * 31,
                                            deposit=pb.Deposit(token=ZERO_ADDRESS, sender=ALICE, recipient=ALICE,
                                                               amount=b"\x01"))], l1_height=5)
    refused(m.SerializeToString(), match="32 bytes")
    for recipient, amount in ((ZERO_ADDRESS, b"\x01"), (ALICE, b"")):
        m = pb.VoteExtension(events=[pb.L1Event(nonce=2, l1_block=5, l1_tx=b"\x01" * 32, deposit=pb.Deposit(
            token=ZERO_ADDRESS, sender=ALICE, recipient=recipient, amount=amount))], l1_height=5)
        refused(m.SerializeToString(), match="non-zero amount and recipient")
    unsorted = L1Event(2, 5, b"\x01" * 32, ValsetUpdated(1, (b"\x02" * 20, b"\x01" * 20), (2**31, 2**31)))
    refused(encode_extension(VoteExtension((unsorted,), 5)), match="ascending")


def test_the_wrong_start_is_refused() -> None:
    refused(encode_extension(VoteExtension((dep(1), dep(2)), 104)), last=1, match="start at nonce 1")
    refused(encode_extension(VoteExtension((dep(35), dep(36)), 104)), last=1, match=r"start at nonce 35.*\[2, 34\]")
    # after what the block voted for applies (its extended commit), up to 32 further on: accepted
    verify_extension(encode_extension(VoteExtension((dep(34),), 134)), 1, P)


def test_a_gap_is_refused() -> None:
    refused(encode_extension(VoteExtension((dep(2), dep(4)), 104)), match="contiguous")
    refused(encode_extension(VoteExtension((dep(2), dep(2)), 104)), match="contiguous")


def test_blocks_going_down_are_refused() -> None:
    refused(encode_extension(VoteExtension((dep(2, block=200), dep(3, block=199)), 300)), match="before its")


def test_more_than_32_events_are_refused() -> None:
    small = tuple(L1Event(n, 100, b"\x01" * 32, BatchExecuted(n, 1)) for n in range(2, 35))  # 33, under 4 KiB
    data = encode_extension(VoteExtension(small, 100))
    assert len(data) < P.max_extension_bytes
    refused(data, match="33 events")
    assert len(verify_extension(encode_extension(VoteExtension(small[:32], 100)), 1, P).events) == 32


def test_oversize_is_refused() -> None:
    big = tuple(dep(n, 2**256 - 1) for n in range(2, 34))
    data = encode_extension(VoteExtension(big, 200))
    assert len(data) > 4096
    refused(data, match="over the limit of 4096")
    with pytest.raises(MalformedExtension, match="bytes"):
        check_format(data, P)


# --- what a validator builds from its watcher --------------------------------------------------------


def test_build_takes_events_from_the_next_nonce_and_the_final_height() -> None:
    seen = Observed((dep(2), dep(3), dep(4)), final_height=150)
    ext = build_extension(seen, 2, P)
    assert [e.nonce for e in ext.events] == [3, 4] and ext.l1_height == 150


def test_build_stops_at_32_events_and_claims_height_below_the_first_left_out() -> None:
    seen = Observed(tuple(dep(n, block=1000 + n) for n in range(2, 50)), final_height=5000)
    ext = build_extension(seen, 1, P)
    assert [e.nonce for e in ext.events] == list(range(2, 34))
    assert ext.l1_height == 1000 + 34 - 1  # every event in blocks <= it is applied or included
    assert len(encode_extension(ext)) <= P.max_extension_bytes
    verify_extension(encode_extension(ext), 1, P)


def test_build_stays_within_the_byte_limit() -> None:
    seen = Observed(tuple(dep(n, 2**256 - 1, block=1000 + n) for n in range(2, 40)), final_height=5000)
    ext = build_extension(seen, 1, P)
    data = encode_extension(ext)
    assert len(data) <= 4096 and len(ext.events) < 32
    assert ext.l1_height == 1000 + (2 + len(ext.events)) - 1
    verify_extension(data, 1, P)


def test_build_claims_nothing_at_or_above_a_gap() -> None:
    seen = Observed((dep(2, block=120), dep(4, block=140)), final_height=200)
    ext = build_extension(seen, 1, P)
    assert [e.nonce for e in ext.events] == [2] and ext.l1_height == 139


def test_build_never_reports_above_the_final_height() -> None:
    seen = Observed((dep(2, block=120), dep(3, block=180)), final_height=150)
    ext = build_extension(seen, 1, P)
    assert [e.nonce for e in ext.events] == [2] and ext.l1_height == 150


def test_an_idle_watcher_makes_a_tiny_extension() -> None:
    assert len(encode_extension(build_extension(Observed((), 12345678), 7, P))) <= 6
    assert encode_extension(build_extension(Observed((), 0), 7, P)) == b""
