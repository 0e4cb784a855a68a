"""L1 events and vote extensions as values (BRIDGE.md sections 3 and 5), with their wire codec.

An `L1Event` is what a validator's watcher read from the contract's logs and what the chain applies
once more than 2/3 of the power reported the identical event. Equality of two events is equality of
these values (every field, the L1 block and tx included), never of their bytes.

Consensus code: no network, no clock. Decoding raises `MalformedExtension` for anything that is
not a canonical, well-formed message, so `VerifyVoteExtension` can refuse it deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from bridge.module.errors import MalformedExtension
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb

ZERO_ADDRESS = b"\x00" * 20
UINT256_MAX = 2**256 - 1
MAX_POWER = 2**32
U64_MAX = 2**64 - 1


def uint256_bytes(value: int) -> bytes:
    """Big-endian without leading zero bytes; zero is empty."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def uint256_from(data: bytes, what: str) -> int:
    if len(data) > 32 or (data and data[0] == 0):
        raise MalformedExtension(f"{what} is not a canonical uint256 ({len(data)} bytes)")
    return int.from_bytes(data, "big")


def _address(data: bytes, what: str) -> bytes:
    if len(data) != 20:
        raise MalformedExtension(f"{what} must be 20 bytes, got {len(data)}")
    return bytes(data)


@dataclass(frozen=True, slots=True)
class Deposit:
    token: bytes      # 20 bytes; ZERO_ADDRESS = ETH
    sender: bytes     # 20 bytes (L1)
    recipient: bytes  # 20 bytes (sidechain account)
    amount: int

    @property
    def denom(self) -> str:
        """`l1/eth` or `l1/0x<token, lowercase hex>` (BRIDGE.md section 5, step 1)."""
        return denom_of(self.token)


@dataclass(frozen=True, slots=True)
class ValsetUpdated:
    valset_nonce: int
    validators: tuple[bytes, ...]
    powers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BatchExecuted:
    batch_nonce: int
    withdrawals: int
    # The payouts L1 deferred in that transaction (its WithdrawalDeferred logs): (recipient, amount).
    deferred: tuple[tuple[bytes, int], ...] = ()


EventKind = Deposit | ValsetUpdated | BatchExecuted


@dataclass(frozen=True, slots=True)
class L1Event:
    nonce: int
    l1_block: int
    l1_tx: bytes  # 32 bytes
    kind: EventKind

    @property
    def name(self) -> str:
        return type(self.kind).__name__


SIGNED_VALSET = 1
SIGNED_BATCH = 2
SIGNED_KINDS = {SIGNED_VALSET: "valset", SIGNED_BATCH: "batch"}


@dataclass(frozen=True, slots=True)
class DigestSig:
    """A validator's signature over the digest of the chain's valset or batch `nonce`."""

    kind: int        # SIGNED_VALSET or SIGNED_BATCH
    nonce: int
    signature: bytes  # 65 bytes


@dataclass(frozen=True, slots=True)
class VoteExtension:
    events: tuple[L1Event, ...]
    l1_height: int
    signatures: tuple[DigestSig, ...] = ()


EMPTY_EXTENSION = VoteExtension((), 0)


def denom_of(token: bytes) -> str:
    return "l1/eth" if token == ZERO_ADDRESS else "l1/0x" + token.hex()


def token_of(denom: str) -> bytes | None:
    """The token address of a bridged denom, or None when the denom is not one."""
    if denom == "l1/eth":
        return ZERO_ADDRESS
    if denom.startswith("l1/0x") and len(denom) == 45:
        try:
            token = bytes.fromhex(denom[5:])
        except ValueError:
            return None
        if denom[5:] == token.hex() and token != ZERO_ADDRESS:
            return token
    return None


# --- codec ------------------------------------------------------------------------------------


def event_to_pb(e: L1Event) -> pb.L1Event:
    m = pb.L1Event(nonce=e.nonce, l1_block=e.l1_block, l1_tx=e.l1_tx)
    k = e.kind
    if isinstance(k, Deposit):
        m.deposit.CopyFrom(pb.Deposit(token=k.token, sender=k.sender, recipient=k.recipient,
                                      amount=uint256_bytes(k.amount)))
    elif isinstance(k, ValsetUpdated):
        m.valset_updated.CopyFrom(pb.ValsetUpdated(valset_nonce=uint256_bytes(k.valset_nonce),
                                                   validators=list(k.validators), powers=list(k.powers)))
    else:
        m.batch_executed.CopyFrom(pb.BatchExecuted(
            batch_nonce=uint256_bytes(k.batch_nonce), withdrawals=k.withdrawals,
            deferred=[pb.DeferredPayout(recipient=r, amount=uint256_bytes(a)) for r, a in k.deferred]))
    return m


def event_from_pb(m: pb.L1Event) -> L1Event:
    if m.nonce < 1:
        raise MalformedExtension("an event nonce starts at 1")
    if len(m.l1_tx) != 32:
        raise MalformedExtension(f"event {m.nonce}: the L1 tx hash must be 32 bytes, got {len(m.l1_tx)}")
    which = m.WhichOneof("kind")
    kind: EventKind
    if which == "deposit":
        d = m.deposit
        amount = uint256_from(d.amount, f"event {m.nonce}: amount")
        recipient = _address(d.recipient, f"event {m.nonce}: recipient")
        if amount == 0 or recipient == ZERO_ADDRESS:
            raise MalformedExtension(f"event {m.nonce}: a deposit has a non-zero amount and recipient")
        kind = Deposit(_address(d.token, f"event {m.nonce}: token"), _address(d.sender, f"event {m.nonce}: sender"),
                       recipient, amount)
    elif which == "valset_updated":
        v = m.valset_updated
        validators = tuple(_address(a, f"event {m.nonce}: validator") for a in v.validators)
        powers = tuple(int(p) for p in v.powers)
        if len(validators) != len(powers) or not validators:
            raise MalformedExtension(f"event {m.nonce}: a valset has as many powers as validators, at least one")
        if any(p == 0 or p > MAX_POWER for p in powers) or sum(powers) > MAX_POWER:
            raise MalformedExtension(f"event {m.nonce}: valset powers must be in [1, 2^32] and sum to <= 2^32")
        if any(a >= b for a, b in zip(validators, validators[1:], strict=False)):
            raise MalformedExtension(f"event {m.nonce}: valset addresses must be strictly ascending")
        kind = ValsetUpdated(uint256_from(v.valset_nonce, f"event {m.nonce}: valset nonce"), validators, powers)
    elif which == "batch_executed":
        b = m.batch_executed
        deferred = tuple((_address(d.recipient, f"event {m.nonce}: deferred recipient"),
                          uint256_from(d.amount, f"event {m.nonce}: deferred amount")) for d in b.deferred)
        kind = BatchExecuted(uint256_from(b.batch_nonce, f"event {m.nonce}: batch nonce"), int(b.withdrawals),
                             deferred)
    else:
        raise MalformedExtension(f"event {m.nonce} has no kind")
    return L1Event(int(m.nonce), int(m.l1_block), bytes(m.l1_tx), kind)


def encode_event(e: L1Event) -> bytes:
    return event_to_pb(e).SerializeToString(deterministic=True)


def sig_to_pb(s: DigestSig) -> pb.DigestSignature:
    return pb.DigestSignature(kind=s.kind, nonce=uint256_bytes(s.nonce),  # type: ignore[arg-type]
                              signature=s.signature)


def encode_sig(s: DigestSig) -> bytes:
    return sig_to_pb(s).SerializeToString(deterministic=True)


def sig_from_pb(m: pb.DigestSignature) -> DigestSig:
    if m.kind not in SIGNED_KINDS:
        raise MalformedExtension(f"a signature is over a valset or a batch, not kind {m.kind}")
    if len(m.signature) != 65:
        raise MalformedExtension(f"a signature is 65 bytes (r || s || v), got {len(m.signature)}")
    return DigestSig(int(m.kind), uint256_from(m.nonce, "signed nonce"), bytes(m.signature))


def encode_extension(ext: VoteExtension) -> bytes:
    if not ext.events and ext.l1_height == 0 and not ext.signatures:
        return b""
    m = pb.VoteExtension(events=[event_to_pb(e) for e in ext.events], l1_height=ext.l1_height,
                         signatures=[sig_to_pb(s) for s in ext.signatures])
    return m.SerializeToString(deterministic=True)


def decode_extension(data: bytes) -> VoteExtension:
    """The extension in `data`, which must be its canonical encoding (a node re-encodes and compares)."""
    if not data:
        return EMPTY_EXTENSION
    m = pb.VoteExtension()
    try:
        m.ParseFromString(data)
    except DecodeError:
        raise MalformedExtension("not a VoteExtension message") from None
    ext = VoteExtension(tuple(event_from_pb(e) for e in m.events), int(m.l1_height),
                        tuple(sig_from_pb(s) for s in m.signatures))
    keys = [(s.kind, s.nonce) for s in ext.signatures]
    if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
        raise MalformedExtension("signatures must be in strictly ascending (kind, nonce) order, one per digest")
    if encode_extension(ext) != data:
        raise MalformedExtension("not in canonical encoding (unknown fields, or fields out of order)")
    return ext


def check_contiguous(events: Sequence[L1Event], first: int) -> None:
    """Event nonces must be first, first + 1, ...; L1 blocks never go down."""
    for i, e in enumerate(events):
        if e.nonce != first + i:
            raise MalformedExtension(f"events must be contiguous from nonce {first}: found {e.nonce} at position {i}")
        if i and e.l1_block < events[i - 1].l1_block:
            raise MalformedExtension(f"event {e.nonce} is in L1 block {e.l1_block}, before its predecessor's")
