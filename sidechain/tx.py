"""Transactions: the wire codec, tx hash, sign bytes, signature check and signing helper.

Wire format (schema: `sidechain/proto/sidechain/tx/v1/tx.proto`): a `TxRaw` holding the exact
serialized `TxBody` and `AuthInfo` bytes that were signed, and a 64-byte ed25519 signature.

Sign bytes (`sign_bytes`): the canonical protobuf encoding of
    SignDoc { body_bytes = 1; auth_info_bytes = 2; chain_id = 3 }
built by concatenating the carried bytes (never by re-serializing the decoded body):
    0x0A uvarint(len(body)) body || 0x12 uvarint(len(auth)) auth || 0x1A uvarint(len(chain_id)) chain_id
The chain id binds a tx to one chain; the signer's sequence (in auth info) makes it valid once.

Decoding is strict: the size is bounded before parsing; `TxRaw`, `TxBody` and `AuthInfo` must each
be in canonical encoding (re-encoding after dropping unknown fields must give the same bytes), so a
tx has one byte string and one hash (sha256 of the raw bytes, as CometBFT computes it).

This module also defines what the rest of the pipeline shares: the `MsgHandler` protocol that each
message type's module implements and `MsgRegistry`. Results and events are `sidechain.blocks`'
`TxResult`/`Event`/`EventAttribute`, which the ABCI adapter already translates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.message import DecodeError
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey

from sidechain.blocks import Event, TxResult
from sidechain.errors import InvalidInput
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.store.api import KVReader, KVStore
from sidechain.types import (
    ADDRESS_LEN,
    PUBKEY_LEN,
    Amount,
    Coin,
    InvalidAmount,
    InvalidDenom,
    address_of_pubkey,
    validate_denom,
)

if TYPE_CHECKING:
    from sidechain.env import TxEnv

SIGNATURE_LEN = 64
MAX_CHAIN_ID_LEN = 50  # CometBFT's limit
# Nothing larger is even parsed, whatever the params say (params are validated below this).
HARD_MAX_TX_BYTES = 1 << 20


# --- errors (codespace "tx") -----------------------------------------------------------------------


class TxError(InvalidInput):
    codespace = "tx"


class TxTooLarge(TxError):
    code = 2


class TxDecodeError(TxError):
    code = 3


class NonCanonicalTx(TxError):
    code = 4


class InvalidSignature(TxError):
    code = 5


class InvalidTxPubKey(TxError):
    code = 6


class NoMessages(TxError):
    code = 7


class UnknownMessage(TxError):
    code = 8


class MemoTooLong(TxError):
    code = 9


class TooManyMessages(TxError):
    code = 10


class SignerMismatch(TxError):
    """A message names a sender other than the key that signed the tx."""

    code = 11


class InvalidFee(TxError):
    code = 12


class TxTimedOut(TxError):
    code = 13


class InvalidMsg(TxError):
    """A message field that is malformed on its own (bad address length, bad coins, ...)."""

    code = 14


class InvalidChainId(TxError):
    code = 15


# --- results ------------------------------------------------------------------------------------------


def failed_result(err: InvalidInput, events: tuple[Event, ...] = ()) -> TxResult:
    return TxResult(code=err.code, codespace=err.codespace, log=err.message, events=events)


# --- message handlers ---------------------------------------------------------------------------------


class MsgHandler(Protocol):
    """One message type: how to decode it and its three phases (STYLE.md habit 3).

    `name` is the field name of the message in the `Msg` oneof, or "<module>.<MsgName>" for a
    module's message (carried in a `ModuleMsg`, whose `value` its `decode` parses, e.g. with
    `decode_module_value`). `decode` does every stateless
    check (it raises an InvalidInput); `spends` lists what the signer pays out (only used to
    explain a lack of funds as "have X, need Y"); `check_stateful` only reads; `execute` writes and may
    still raise, in which case the caller discards its writes. A handler may also offer
    `apply_state(state, msg, env) -> None`: exactly `execute`'s writes without building its events,
    which CheckTx and the proposals use (they throw events away), and declare `reuse_on_recheck = True`
    when its check and writes depend only on the state it reads and the params, never on the block's
    height, time or proposer (a mempool recheck may then reuse them: sidechain/recheck.py).
    """

    name: str
    module: str

    @property
    def msg_type(self) -> type: ...

    def decode(self, pb_msg: Any, signer: bytes) -> Any: ...

    def to_proto(self, msg: Any) -> tx_pb2.Msg: ...

    def spends(self, msg: Any) -> Sequence[Coin]: ...

    def check_stateful(self, state: KVReader, msg: Any, env: TxEnv) -> None: ...

    def execute(self, state: KVStore, msg: Any, env: TxEnv) -> list[Event]: ...



MODULE_MSG_FIELD = "module"  # the `Msg` oneof field of module-defined messages (ModuleMsg)


def is_module_msg_name(name: str) -> bool:
    """A module-defined message type: "<module>.<MsgName>" (carried in a `ModuleMsg`)."""
    module, dot, msg = name.partition(".")
    return bool(dot and module and msg and module.replace("_", "").isalnum() and msg.isalnum())


def core_msg_names() -> frozenset[str]:
    """The message types that are fields of the `Msg` oneof (all but the `ModuleMsg` envelope)."""
    oneof = tx_pb2.Msg.DESCRIPTOR.oneofs_by_name["sum"]
    return frozenset(f.name for f in oneof.fields if f.name != MODULE_MSG_FIELD)


class MsgRegistry:
    """Message types by name (a `Msg` oneof field, or "<module>.<MsgName>"), in a fixed order."""

    def __init__(self, handlers: Sequence[MsgHandler]) -> None:
        by_name: dict[str, MsgHandler] = {}
        known = core_msg_names()
        for h in handlers:
            if h.name in by_name:
                raise ValueError(f"message type {h.name!r} registered twice")
            if h.name not in known and not is_module_msg_name(h.name):
                raise ValueError(f"message type {h.name!r} is neither a field of sidechain.tx.v1.Msg "
                                 "nor a module message name (<module>.<MsgName>)")
            by_name[h.name] = h
        self.handlers: tuple[MsgHandler, ...] = tuple(handlers)
        self._by_name = by_name

    def get(self, name: str) -> MsgHandler | None:
        return self._by_name.get(name)

    def handler(self, name: str) -> MsgHandler:
        """The handler of a decoded message's type (UnknownMessage if it is no longer registered)."""
        h = self._by_name.get(name)
        if h is None:
            raise UnknownMessage(f"message type {name!r} is not enabled")
        return h


def decode_module_value(value: bytes, message_type: type[Any], what: str) -> Any:
    """A module message's payload, parsed strictly: canonical encoding, no unknown fields."""
    try:
        pb = message_type.FromString(value)
    except DecodeError as e:
        raise TxDecodeError(f"{what}: not a valid {message_type.DESCRIPTOR.full_name}: {e}") from None
    pb.DiscardUnknownFields()
    if pb.SerializeToString() != value:
        raise NonCanonicalTx(f"{what}: not canonically encoded (unknown fields, order or duplicates)")
    return pb


def module_msg(type_name: str, payload: Any) -> tx_pb2.Msg:
    """The `Msg` envelope of a module message (`payload` is its protobuf message)."""
    return tx_pb2.Msg(module=tx_pb2.ModuleMsg(type=type_name, value=payload.SerializeToString()))


# --- decoded transactions ------------------------------------------------------------------------------


class TxLimits(Protocol):
    """The params that bound decoding (the auth module's params satisfy this)."""

    @property
    def max_tx_bytes(self) -> int: ...

    @property
    def max_memo_bytes(self) -> int: ...

    @property
    def max_msgs_per_tx(self) -> int: ...


@dataclass(slots=True, eq=False)
class DecodedTx:
    """A tx after decoding and stateless checks. Immutable by convention; cached by hash."""

    hash: bytes
    size: int
    signer: bytes  # 20-byte address of public_key
    public_key: bytes
    sequence: int
    fee: Coin
    memo: str
    memo_bytes: int
    timeout_height: int
    # (message type name, decoded message). Handlers are looked up in the current registry when the
    # tx runs, never kept here: a cached tx must not carry the params of the block it was decoded in.
    msgs: tuple[tuple[str, Any], ...]
    body_bytes: bytes
    auth_info_bytes: bytes
    signature: bytes


def tx_hash(raw: bytes) -> bytes:
    """sha256 of the raw tx bytes (CometBFT's tx hash)."""
    return hashlib.sha256(raw).digest()


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(tag: int, data: bytes) -> bytes:
    # proto3 omits empty fields; SignDoc's fields are never empty for a valid tx.
    if not data:
        return b""
    n = len(data)
    return (bytes((tag, n)) if n < 0x80 else bytes((tag,)) + _uvarint(n)) + data


def sign_bytes(body_bytes: bytes, auth_info_bytes: bytes, chain_id: str) -> bytes:
    """The canonical encoding of SignDoc(body_bytes, auth_info_bytes, chain_id) (see module doc)."""
    return _ld(0x0A, body_bytes) + _ld(0x12, auth_info_bytes) + _ld(0x1A, chain_id.encode())


def validate_chain_id(chain_id: str) -> str:
    if not isinstance(chain_id, str) or not 0 < len(chain_id) <= MAX_CHAIN_ID_LEN or not chain_id.isascii():
        raise InvalidChainId(f"invalid chain id {chain_id!r}: 1-{MAX_CHAIN_ID_LEN} ASCII characters")
    return chain_id


def decode_coin(pb: tx_pb2.Coin, what: str) -> Coin:
    try:
        return Coin(validate_denom(pb.denom), Amount.parse(pb.amount))
    except (InvalidDenom, InvalidAmount) as e:
        raise InvalidMsg(f"{what}: {e.message}") from None


def check_size(size: int, limits: TxLimits) -> None:
    """A tx of `size` bytes fits the params' limit and the hard limit (checked before parsing anything)."""
    if size > limits.max_tx_bytes or size > HARD_MAX_TX_BYTES:
        raise TxTooLarge(f"tx is {size} bytes, max is {min(limits.max_tx_bytes, HARD_MAX_TX_BYTES)}")


def check_limits(size: int, memo_bytes: int, n_msgs: int, limits: TxLimits) -> None:
    """The param-dependent bounds (re-checked when a cached tx meets possibly newer params)."""
    check_size(size, limits)
    if memo_bytes > limits.max_memo_bytes:
        raise MemoTooLong(f"memo is {memo_bytes} bytes, max is {limits.max_memo_bytes}")
    if n_msgs > limits.max_msgs_per_tx:
        raise TooManyMessages(f"tx has {n_msgs} messages, max is {limits.max_msgs_per_tx}")


def decode_tx(raw: bytes, registry: MsgRegistry, limits: TxLimits, digest: bytes | None = None) -> DecodedTx:
    """Bytes -> DecodedTx with every stateless check except the signature (see `verify_signature`)."""
    size = len(raw)
    check_size(size, limits)
    try:
        txr = tx_pb2.TxRaw.FromString(raw)
        body = tx_pb2.TxBody.FromString(txr.body_bytes)
        auth = tx_pb2.AuthInfo.FromString(txr.auth_info_bytes)
    except DecodeError as e:
        raise TxDecodeError(f"tx is not a valid sidechain.tx.v1.TxRaw: {e}") from None
    txr.DiscardUnknownFields()
    body.DiscardUnknownFields()
    auth.DiscardUnknownFields()
    if txr.SerializeToString() != raw:
        raise NonCanonicalTx("tx bytes are not canonically encoded (unknown fields, order or duplicates)")
    if body.SerializeToString() != txr.body_bytes:
        raise NonCanonicalTx("tx body is not canonically encoded (unknown fields or unknown message type?)")
    if auth.SerializeToString() != txr.auth_info_bytes:
        raise NonCanonicalTx("tx auth info is not canonically encoded (unknown fields?)")

    signature = txr.signature
    if len(signature) != SIGNATURE_LEN:
        raise InvalidSignature(f"signature is {len(signature)} bytes, expected {SIGNATURE_LEN}")
    public_key = auth.public_key
    if len(public_key) != PUBKEY_LEN:
        raise InvalidTxPubKey(f"public key is {len(public_key)} bytes, expected {PUBKEY_LEN} (ed25519)")
    signer = address_of_pubkey(public_key)
    if not auth.HasField("fee"):
        raise InvalidFee("tx has no fee (a fee coin is required, even if its minimum is 0)")
    try:
        fee = Coin(validate_denom(auth.fee.denom), Amount.parse(auth.fee.amount))
    except (InvalidDenom, InvalidAmount) as e:
        raise InvalidFee(f"invalid fee: {e.message}") from None

    memo = body.memo
    memo_bytes = len(memo.encode()) if memo else 0
    pb_msgs = body.messages
    if not pb_msgs:
        raise NoMessages("tx has no messages")
    check_limits(size, memo_bytes, len(pb_msgs), limits)
    msgs = []
    for i, m in enumerate(pb_msgs):
        name = m.WhichOneof("sum")
        if name is None:
            raise UnknownMessage(f"message {i}: empty message envelope")
        pb_msg = getattr(m, name)
        if name == MODULE_MSG_FIELD:
            name = pb_msg.type  # a module message: the handler decodes pb_msg.value
        handler = registry.get(name)
        if handler is None:
            raise UnknownMessage(f"message {i}: unknown or empty message type {name!r}")
        msgs.append((name, handler.decode(pb_msg, signer)))

    return DecodedTx(
        hash=digest if digest is not None else hashlib.sha256(raw).digest(),
        size=size,
        signer=signer,
        public_key=public_key,
        sequence=auth.sequence,
        fee=fee,
        memo=memo,
        memo_bytes=memo_bytes,
        timeout_height=body.timeout_height,
        msgs=tuple(msgs),
        body_bytes=txr.body_bytes,
        auth_info_bytes=txr.auth_info_bytes,
        signature=signature,
    )


def verify_signature(tx: DecodedTx, chain_id: str) -> None:
    """ed25519 over sign_bytes(body, auth_info, chain_id) by tx.public_key, or InvalidSignature."""
    msg = sign_bytes(tx.body_bytes, tx.auth_info_bytes, chain_id)
    try:
        crypto_sign_open(tx.signature + msg, tx.public_key)
    except (BadSignatureError, CryptoError, ValueError):
        raise InvalidSignature(
            f"signature verification failed: not signed by this key for chain {chain_id!r}, "
            "or the tx was altered"
        ) from None


# --- building and signing (CLI, tests, benchmarks) -----------------------------------------------------


def signing_key(key: SigningKey | bytes) -> SigningKey:
    return key if isinstance(key, SigningKey) else SigningKey(bytes(key))


def build_signed_tx(
    key: SigningKey | bytes,
    chain_id: str,
    msgs: Sequence[tx_pb2.Msg],
    sequence: int,
    fee: Coin,
    memo: str = "",
    timeout_height: int = 0,
) -> bytes:
    """A signed, canonically encoded TxRaw. `key` is a SigningKey or its 32-byte seed;
    `msgs` are `tx_pb2.Msg` envelopes (e.g. from `MsgSend.to_proto()` in sidechain.bank)."""
    sk = signing_key(key)
    body = tx_pb2.TxBody(messages=list(msgs), memo=memo, timeout_height=timeout_height)
    auth = tx_pb2.AuthInfo(
        public_key=bytes(sk.verify_key),
        sequence=sequence,
        fee=tx_pb2.Coin(denom=fee.denom, amount=str(int(fee.amount))),
    )
    body_bytes = body.SerializeToString()
    auth_bytes = auth.SerializeToString()
    sig = sk.sign(sign_bytes(body_bytes, auth_bytes, validate_chain_id(chain_id))).signature
    return tx_pb2.TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_bytes, signature=sig).SerializeToString()


def address_bytes(data: bytes, what: str) -> bytes:
    """A message's 20-byte address field, or InvalidMsg."""
    if len(data) != ADDRESS_LEN:
        raise InvalidMsg(f"{what} is {len(data)} bytes, expected a {ADDRESS_LEN}-byte address")
    return data
