"""The tx codec: round trips, strictness, sign bytes, signature binding (sidechain/tx.py)."""

from __future__ import annotations

import hashlib

import pytest

from sidechain.env import ChainRules
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.tx import (
    InvalidFee,
    InvalidMsg,
    InvalidSignature,
    InvalidTxPubKey,
    MemoTooLong,
    NoMessages,
    NonCanonicalTx,
    SignerMismatch,
    TooManyMessages,
    TxDecodeError,
    TxTooLarge,
    UnknownMessage,
    build_signed_tx,
    decode_tx,
    sign_bytes,
    tx_hash,
    verify_signature,
)
from sidechain.txflow import check_stateless

from .chain import CHAIN_ID, addr, coin, key, new_state, send_msg, send_tx

K0, K1 = key(0), key(1)


@pytest.fixture(scope="module")
def rules() -> ChainRules:
    return new_state([(addr(K0), [coin(1000)])])[1]


def reraw(raw: bytes, **changes: bytes) -> bytes:
    t = tx_pb2.TxRaw.FromString(raw)
    for k, v in changes.items():
        setattr(t, k, v)
    return t.SerializeToString()


def test_round_trip(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, sequence=3, fee=2, memo="hello ✓", timeout_height=9)
    tx = decode_tx(raw, rules.registry, rules.limits)
    verify_signature(tx, CHAIN_ID)
    assert tx.hash == hashlib.sha256(raw).digest() == tx_hash(raw)
    assert tx.signer == addr(K0) and tx.public_key == bytes(K0.verify_key)
    assert (tx.sequence, tx.fee, tx.memo, tx.timeout_height, tx.size) == (3, coin(2), "hello ✓", 9, len(raw))
    [(name, msg)] = tx.msgs
    assert name == "send"
    handler = rules.registry.handler(name)
    assert (msg.from_address, msg.to_address, msg.amount) == (addr(K0), addr(K1), (coin(5),))
    # re-encoding the decoded message gives the carried bytes back
    assert (
        tx_pb2.TxBody(messages=[handler.to_proto(msg)], memo="hello ✓", timeout_height=9).SerializeToString()
        == tx.body_bytes
    )


def test_sign_bytes_are_the_signdoc_encoding() -> None:
    for body, auth in [(b"b" * 5, b"a" * 7), (b"b" * 300, b"a" * 200)]:
        doc = tx_pb2.SignDoc(body_bytes=body, auth_info_bytes=auth, chain_id=CHAIN_ID).SerializeToString()
        assert sign_bytes(body, auth, CHAIN_ID) == doc


def test_signature_binds_chain_id(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0, chain_id="other-chain")
    with pytest.raises(InvalidSignature, match=CHAIN_ID):
        check_stateless(raw, rules)


@pytest.mark.parametrize("field", ["body_bytes", "auth_info_bytes", "signature"])
def test_tampering_is_detected(rules: ChainRules, field: str) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    t = tx_pb2.TxRaw.FromString(raw)
    if field == "body_bytes":
        body = tx_pb2.TxBody.FromString(t.body_bytes)
        body.messages[0].send.amount[0].amount = "500"
        new = body.SerializeToString()
    elif field == "auth_info_bytes":
        auth = tx_pb2.AuthInfo.FromString(t.auth_info_bytes)
        auth.sequence = 1
        new = auth.SerializeToString()
    else:
        new = bytes([t.signature[0] ^ 1]) + t.signature[1:]
    with pytest.raises(InvalidSignature):
        check_stateless(reraw(raw, **{field: new}), rules)


def test_another_key_cannot_sign_for_the_sender(rules: ChainRules) -> None:
    # K1 signs a send from K0's address: the message's sender is not the signer.
    raw = build_signed_tx(K1, CHAIN_ID, [send_msg(K0, addr(K1), coin(5))], 0, coin(1))
    with pytest.raises(SignerMismatch):
        check_stateless(raw, rules)


def test_oversize_rejected_before_parsing(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0, memo="x" * 200)
    small = new_state([], max_tx_bytes=256, max_memo_bytes=100)[1]
    assert len(raw) > 256
    with pytest.raises(TxTooLarge, match="max is 256"):
        check_stateless(raw, small)
    with pytest.raises(TxTooLarge):
        check_stateless(b"\x00" * (rules.limits.max_tx_bytes + 1), rules)


@pytest.mark.parametrize("junk", [b"\xff", b"\x0a\x05ab", b"garbage!"])
def test_garbage_and_trailing_bytes(rules: ChainRules, junk: bytes) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    with pytest.raises((TxDecodeError, NonCanonicalTx)):
        check_stateless(raw + junk, rules)
    with pytest.raises((TxDecodeError, NonCanonicalTx)):
        check_stateless(junk, rules)


def test_unknown_fields_rejected(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    # an unknown varint field 15 appended to the TxRaw, to the (signed) body, to the auth info
    with pytest.raises(NonCanonicalTx):
        check_stateless(raw + b"\x78\x01", rules)
    t = tx_pb2.TxRaw.FromString(raw)
    body = t.body_bytes + b"\x78\x01"
    signed = K0.sign(sign_bytes(body, t.auth_info_bytes, CHAIN_ID)).signature
    with pytest.raises(NonCanonicalTx, match="body"):
        check_stateless(reraw(raw, body_bytes=body, signature=signed), rules)
    auth = t.auth_info_bytes + b"\x78\x01"
    with pytest.raises(NonCanonicalTx, match="auth"):
        check_stateless(reraw(raw, auth_info_bytes=auth), rules)


def test_non_canonical_field_order_rejected(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    t = tx_pb2.TxRaw.FromString(raw)
    swapped = (
        tx_pb2.TxRaw(signature=t.signature).SerializeToString()
        + tx_pb2.TxRaw(body_bytes=t.body_bytes, auth_info_bytes=t.auth_info_bytes).SerializeToString()
    )
    assert tx_pb2.TxRaw.FromString(swapped) == t  # the same message, another byte string
    with pytest.raises(NonCanonicalTx):
        check_stateless(swapped, rules)


def _signed(body: tx_pb2.TxBody, auth: tx_pb2.AuthInfo | None = None, k=K0) -> bytes:  # type: ignore[no-untyped-def]
    if auth is None:
        auth = tx_pb2.AuthInfo(
            public_key=bytes(k.verify_key), sequence=0, fee=tx_pb2.Coin(denom="stake", amount="1")
        )
    bb, ab = body.SerializeToString(), auth.SerializeToString()
    sig = k.sign(sign_bytes(bb, ab, CHAIN_ID)).signature
    return tx_pb2.TxRaw(body_bytes=bb, auth_info_bytes=ab, signature=sig).SerializeToString()


def test_no_messages(rules: ChainRules) -> None:
    with pytest.raises(NoMessages):
        check_stateless(_signed(tx_pb2.TxBody(memo="m")), rules)


def test_empty_message_envelope(rules: ChainRules) -> None:
    with pytest.raises(UnknownMessage):
        check_stateless(_signed(tx_pb2.TxBody(messages=[tx_pb2.Msg()])), rules)


def test_too_many_messages(rules: ChainRules) -> None:
    msgs = [send_msg(K0, addr(K1), coin(1))] * (rules.limits.max_msgs_per_tx + 1)
    with pytest.raises(TooManyMessages):
        check_stateless(_signed(tx_pb2.TxBody(messages=msgs)), rules)


def test_memo_limit_counts_bytes(rules: ChainRules) -> None:
    n = rules.limits.max_memo_bytes
    ok = _signed(tx_pb2.TxBody(messages=[send_msg(K0, addr(K1), coin(1))], memo="x" * n))
    check_stateless(ok, rules)
    bad = _signed(tx_pb2.TxBody(messages=[send_msg(K0, addr(K1), coin(1))], memo="é" * (n // 2 + 1)))
    with pytest.raises(MemoTooLong):
        check_stateless(bad, rules)


@pytest.mark.parametrize(
    "amount, match",
    [
        ([tx_pb2.Coin(denom="stake", amount="0")], "zero"),
        ([tx_pb2.Coin(denom="stake", amount="01")], "canonical"),
        ([tx_pb2.Coin(denom="stake", amount=str(1 << 256))], "256 bits"),
        ([tx_pb2.Coin(denom="Stake", amount="1")], "denom"),
        ([tx_pb2.Coin(denom="stake", amount="1"), tx_pb2.Coin(denom="l1/eth", amount="1")], "sorted"),
        ([tx_pb2.Coin(denom="stake", amount="1"), tx_pb2.Coin(denom="stake", amount="1")], "sorted"),
        ([], "no coins"),
    ],
)
def test_bad_send_amounts(rules: ChainRules, amount: list[tx_pb2.Coin], match: str) -> None:
    msg = tx_pb2.Msg(send=tx_pb2.MsgSend(from_address=addr(K0), to_address=addr(K1), amount=amount))
    with pytest.raises(InvalidMsg, match=match):
        check_stateless(_signed(tx_pb2.TxBody(messages=[msg])), rules)


def test_bad_recipient_length(rules: ChainRules) -> None:
    msg = tx_pb2.Msg(
        send=tx_pb2.MsgSend(
            from_address=addr(K0), to_address=b"\x01" * 19, amount=[tx_pb2.Coin(denom="stake", amount="1")]
        )
    )
    with pytest.raises(InvalidMsg, match="to_address"):
        check_stateless(_signed(tx_pb2.TxBody(messages=[msg])), rules)


def test_fee_required_and_valid(rules: ChainRules) -> None:
    body = tx_pb2.TxBody(messages=[send_msg(K0, addr(K1), coin(1))])
    pk = bytes(K0.verify_key)
    with pytest.raises(InvalidFee, match="no fee"):
        check_stateless(_signed(body, tx_pb2.AuthInfo(public_key=pk)), rules)
    with pytest.raises(InvalidFee):
        check_stateless(
            _signed(body, tx_pb2.AuthInfo(public_key=pk, fee=tx_pb2.Coin(denom="stake", amount="-1"))), rules
        )


def test_bad_public_key_length(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    t = tx_pb2.TxRaw.FromString(raw)
    auth = tx_pb2.AuthInfo.FromString(t.auth_info_bytes)
    auth.public_key = auth.public_key[:31]
    with pytest.raises(InvalidTxPubKey):
        check_stateless(reraw(raw, auth_info_bytes=auth.SerializeToString()), rules)


def test_bad_signature_length(rules: ChainRules) -> None:
    raw = send_tx(K0, addr(K1), 5, 0)
    with pytest.raises(InvalidSignature, match="64"):
        check_stateless(reraw(raw, signature=b"\x00" * 63), rules)
