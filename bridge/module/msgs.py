"""The bridge module's messages (tx schema: sidechain/proto/sidechain/bridge/v1/bridge.proto), each
carried in a `ModuleMsg` named "bridge.<MsgName>" (BRIDGE.md section 5, step 5).

    bridge.MsgWithdraw          burn amount + fee of a bridged denom from the sender and queue
                                {id, sender, token, recipient, amount, fee} for the next batch
    bridge.MsgCancelWithdrawal  the sender takes a queued (not yet batched) withdrawal back
    bridge.MsgSubmitForgedSignature   anyone shows a validator's bridge-key signature over a valset
                                or batch digest the chain never made: recorded for slashing

Every handler: `decode` (stateless: lengths, coins, the signer), `check_stateful` (reads only),
`execute` (writes). Refusals are bridge/module/errors.py's, each with its stable code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.module import digests
from bridge.module import signing as sg
from bridge.module import state as bs
from bridge.module import withdrawals as wd
from bridge.module.errors import (
    BridgeDisabled,
    FeeDenomMismatch,
    InsufficientBridgedFunds,
    InvalidForgedSignature,
    InvalidWithdrawalRecipient,
    MalformedExtension,
    NotBridgedDenom,
    NotForged,
    NotWithdrawalOwner,
    UnknownBridgeRecord,
    WithdrawalNotQueued,
    WithdrawalQueueFull,
    ZeroWithdrawal,
)
from bridge.module.events import (
    SIGNED_BATCH,
    SIGNED_KINDS,
    SIGNED_VALSET,
    ZERO_ADDRESS,
    denom_of,
    token_of,
    uint256_bytes,
)
from bridge.module.expected import BridgeBank, BridgeValidators
from bridge.module.genesis import BridgeConfig
from bridge.module.params import BridgeParams
from bridge.module.sigs import recover
from sidechain.blocks import Event, EventAttribute
from sidechain.env import TxEnv
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import InvalidMsg, SignerMismatch, address_bytes, decode_coin, decode_module_value, module_msg
from sidechain.types import AMOUNT_MAX, Amount, Coin, bech32_address


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@dataclass(frozen=True, slots=True)
class Withdraw:
    sender: bytes
    recipient: bytes  # L1
    denom: str
    amount: int
    fee: int

    @property
    def token(self) -> bytes:
        token = token_of(self.denom)
        assert token is not None
        return token

    @property
    def total(self) -> int:
        return self.amount + self.fee

    def to_pb(self) -> pb.MsgWithdraw:
        return pb.MsgWithdraw(sender=self.sender, recipient=self.recipient,
                              amount=tx_pb2.Coin(denom=self.denom, amount=str(self.amount)),
                              fee=tx_pb2.Coin(denom=self.denom, amount=str(self.fee)))


@dataclass(frozen=True, slots=True)
class CancelWithdrawal:
    sender: bytes
    id: int

    def to_pb(self) -> pb.MsgCancelWithdrawal:
        return pb.MsgCancelWithdrawal(sender=self.sender, id=self.id)


class _Handler:
    module = "bridge"
    name: str
    pb_type: Any = None

    def __init__(self, params: BridgeParams, config: BridgeConfig | None, bank: BridgeBank,
                 validators: BridgeValidators | None = None) -> None:
        self.params = params
        self.config = config  # None: this chain has no bridge
        self.bank = bank
        self.validators = validators

    def to_proto(self, msg: Any) -> tx_pb2.Msg:
        return module_msg(self.name, msg.to_pb())

    def payload(self, pb_msg: tx_pb2.ModuleMsg) -> Any:
        return decode_module_value(pb_msg.value, self.pb_type, self.name)

    def sender(self, data: bytes, signer: bytes) -> bytes:
        sender = address_bytes(data, f"{self.name}.sender")
        if sender != signer:
            raise SignerMismatch(f"{self.name}.sender is not the address of the key that signed the tx")
        return sender

    def enabled(self) -> BridgeConfig:
        if self.config is None:
            raise BridgeDisabled("this chain has no bridge (its genesis has no app_state.bridge)")
        return self.config

    def credit_back(self, state: KVStore, w: wd.WithdrawalRec) -> None:
        """Amount + fee minted back to the sender (a cancel or a refund): the bridged supply grows back."""
        denom = denom_of(w.token)
        self.bank.mint(state, w.sender, Coin(denom, Amount(w.total)))
        bs.add_supply(state, denom, w.total)


class WithdrawHandler(_Handler):
    name = "bridge.MsgWithdraw"
    msg_type = Withdraw
    pb_type = pb.MsgWithdraw

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> Withdraw:
        m = self.payload(pb_msg)
        sender = self.sender(m.sender, signer)
        recipient = address_bytes(m.recipient, f"{self.name}.recipient")
        amount = decode_coin(m.amount, f"{self.name}.amount")
        if token_of(amount.denom) is None:
            raise NotBridgedDenom(f"{amount.denom} is not a bridged denom: only l1/eth and l1/0x<token> go back "
                                  "to L1")
        fee = decode_coin(m.fee, f"{self.name}.fee") if m.HasField("fee") else Coin(amount.denom, Amount(0))
        if fee.denom != amount.denom:
            raise FeeDenomMismatch(f"the fee is in {fee.denom} but the withdrawal in {amount.denom}: the relayer is "
                                   "paid on L1 in the withdrawn token")
        if amount.amount == 0:
            raise ZeroWithdrawal("the amount to withdraw is 0")
        if recipient == ZERO_ADDRESS:
            raise InvalidWithdrawalRecipient("the L1 recipient is the zero address: the coins would be lost")
        if int(amount.amount) + int(fee.amount) > AMOUNT_MAX:
            raise InvalidMsg(f"{self.name}: amount + fee exceeds 2^256 - 1")
        return Withdraw(sender, recipient, amount.denom, int(amount.amount), int(fee.amount))

    def spends(self, msg: Withdraw) -> Sequence[Coin]:
        return (Coin(msg.denom, Amount(msg.total)),)

    def check_stateful(self, state: KVReader, msg: Withdraw, env: TxEnv) -> None:
        config = self.enabled()
        if msg.recipient == config.contract:
            raise InvalidWithdrawalRecipient("the L1 recipient is the bridge contract itself: it would hold the coins "
                                             "unaccounted (withdraw to an address you control)")
        have = int(self.bank.balance(state, msg.sender, msg.denom))
        if have < msg.total:
            raise InsufficientBridgedFunds(f"insufficient funds: have {have}{msg.denom}, need {msg.total}{msg.denom} "
                                           f"(amount {msg.amount} + fee {msg.fee})")
        queued = wd.get_totals(state, msg.token).queued
        if queued >= self.params.max_queue_per_token:
            raise WithdrawalQueueFull(f"the withdrawal queue of {msg.denom} is full ({queued} waiting, "
                                      f"bridge.max_queue_per_token {self.params.max_queue_per_token}): retry once "
                                      "batches have taken some")

    def execute(self, state: KVStore, msg: Withdraw, env: TxEnv) -> list[Event]:
        self.bank.burn(state, msg.sender, Coin(msg.denom, Amount(msg.total)))
        bs.add_supply(state, msg.denom, -msg.total)
        w = wd.queue(state, msg.sender, msg.token, msg.recipient, msg.amount, msg.fee, env.height)
        return [Event("bridge_withdrawal_queued", (
            EventAttribute("id", str(w.id)),
            EventAttribute("sender", bech32_address(msg.sender, env.address_prefix)),
            EventAttribute("recipient", _hex(msg.recipient)),
            EventAttribute("denom", msg.denom),
            EventAttribute("amount", str(msg.amount)),
            EventAttribute("fee", str(msg.fee))))]


class CancelWithdrawalHandler(_Handler):
    name = "bridge.MsgCancelWithdrawal"
    msg_type = CancelWithdrawal
    pb_type = pb.MsgCancelWithdrawal

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> CancelWithdrawal:
        m = self.payload(pb_msg)
        sender = self.sender(m.sender, signer)
        if m.id == 0:
            raise InvalidMsg(f"{self.name}.id: withdrawal ids start at 1")
        return CancelWithdrawal(sender, m.id)

    def spends(self, msg: CancelWithdrawal) -> Sequence[Coin]:
        return ()

    def _queued(self, state: KVReader, msg: CancelWithdrawal) -> wd.WithdrawalRec:
        self.enabled()
        w = wd.get_withdrawal(state, msg.id)
        if w is None:
            raise UnknownBridgeRecord(f"no withdrawal {msg.id} (the next id is {wd.next_withdrawal_id(state)})")
        if w.sender != msg.sender:
            raise NotWithdrawalOwner(f"withdrawal {msg.id} is not yours: only its sender can cancel it")
        if w.status != wd.QUEUED:
            where = f" (batch {w.batch_nonce})" if w.batch_nonce else ""
            raise WithdrawalNotQueued(f"withdrawal {msg.id} is {w.status}{where}: only a queued withdrawal can be "
                                      "cancelled")
        return w

    def check_stateful(self, state: KVReader, msg: CancelWithdrawal, env: TxEnv) -> None:
        self._queued(state, msg)

    def execute(self, state: KVStore, msg: CancelWithdrawal, env: TxEnv) -> list[Event]:
        w = wd.cancel(state, self._queued(state, msg), env.height)
        self.credit_back(state, w)
        return [Event("bridge_withdrawal_cancelled", (
            EventAttribute("id", str(w.id)),
            EventAttribute("sender", bech32_address(w.sender, env.address_prefix)),
            EventAttribute("denom", denom_of(w.token)),
            EventAttribute("amount", str(w.amount)),
            EventAttribute("fee", str(w.fee))))]


@dataclass(frozen=True, slots=True)
class SubmitForgedSignature:
    submitter: bytes
    kind: int                   # SIGNED_VALSET or SIGNED_BATCH
    nonce: int
    valset: tuple[tuple[bytes, ...], tuple[int, ...]] | None   # (validators, powers)
    batch: tuple[int, tuple[digests.RawWithdrawal, ...]] | None  # (timeoutL1Block, withdrawals)
    signature: bytes

    def to_pb(self) -> pb.MsgSubmitForgedSignature:
        m = pb.MsgSubmitForgedSignature(submitter=self.submitter, signature=self.signature)
        n = uint256_bytes(self.nonce)
        if self.valset is not None:
            m.valset.CopyFrom(pb.ForgedValset(nonce=n, validators=list(self.valset[0]),
                                              powers=[uint256_bytes(p) for p in self.valset[1]]))
        elif self.batch is not None:
            m.batch.CopyFrom(pb.ForgedBatch(nonce=n, timeout_l1_block=uint256_bytes(self.batch[0]), withdrawals=[
                pb.ForgedWithdrawal(token=t, recipient=r, amount=uint256_bytes(a), fee=uint256_bytes(f))
                for t, r, a, f in self.batch[1]]))
        return m

    def digest(self, chain_id: int, contract: bytes) -> bytes:
        if self.valset is not None:
            return digests.valset_digest(chain_id, contract, self.nonce, self.valset[0], self.valset[1])
        assert self.batch is not None
        return digests.batch_digest(chain_id, contract, self.nonce, self.batch[0], self.batch[1])


def _u256_field(data: bytes, what: str) -> int:
    if len(data) > 32 or (data and data[0] == 0):
        raise InvalidMsg(f"{what} is not a canonical uint256 (big-endian, no leading zero bytes)")
    return int.from_bytes(data, "big")


def _l1_address(data: bytes, what: str) -> bytes:
    if len(data) != 20:
        raise InvalidMsg(f"{what} must be a 20-byte L1 address, got {len(data)} bytes")
    return bytes(data)


MAX_FORGED_ITEMS = 1000  # evidence bigger than any batch or valset the contract takes


class SubmitForgedSignatureHandler(_Handler):
    """Evidence that a validator's bridge key signed a digest of the bridge's domain (its L1 chain and
    contract) that the chain never made. Such a signature is what a theft needs: with enough of them
    the contract pays a batch nobody burned for. Recorded (0x4E, `/bridge/forged-signatures`) with the
    operator that registered the key, for slashing; each (digest, signer) once."""

    name = "bridge.MsgSubmitForgedSignature"
    msg_type = SubmitForgedSignature
    pb_type = pb.MsgSubmitForgedSignature

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> SubmitForgedSignature:
        m = self.payload(pb_msg)
        submitter = address_bytes(m.submitter, f"{self.name}.submitter")
        if submitter != signer:
            raise SignerMismatch(f"{self.name}.submitter is not the address of the key that signed the tx")
        if len(m.signature) != 65:
            raise InvalidMsg(f"{self.name}.signature must be 65 bytes (r || s || v)")
        which = m.WhichOneof("subject")
        if which == "valset":
            v = m.valset
            if len(v.validators) > MAX_FORGED_ITEMS or len(v.validators) != len(v.powers):
                raise InvalidMsg(f"{self.name}.valset: as many powers as validators, at most {MAX_FORGED_ITEMS}")
            validators = tuple(_l1_address(a, f"{self.name}.valset.validators") for a in v.validators)
            powers = tuple(_u256_field(p, f"{self.name}.valset.powers") for p in v.powers)
            return SubmitForgedSignature(submitter, SIGNED_VALSET, _u256_field(v.nonce, f"{self.name}.valset.nonce"),
                                         (validators, powers), None, bytes(m.signature))
        if which == "batch":
            b = m.batch
            if len(b.withdrawals) > MAX_FORGED_ITEMS:
                raise InvalidMsg(f"{self.name}.batch: at most {MAX_FORGED_ITEMS} withdrawals")
            items = tuple((_l1_address(w.token, f"{self.name}.batch.token"),
                           _l1_address(w.recipient, f"{self.name}.batch.recipient"),
                           _u256_field(w.amount, f"{self.name}.batch.amount"),
                           _u256_field(w.fee, f"{self.name}.batch.fee")) for w in b.withdrawals)
            return SubmitForgedSignature(submitter, SIGNED_BATCH, _u256_field(b.nonce, f"{self.name}.batch.nonce"),
                                         None, (_u256_field(b.timeout_l1_block, f"{self.name}.batch.timeout"), items),
                                         bytes(m.signature))
        raise InvalidMsg(f"{self.name}: give the forged valset or batch in full")

    def spends(self, msg: SubmitForgedSignature) -> Sequence[Coin]:
        return ()

    def _judge(self, state: KVReader, msg: SubmitForgedSignature) -> tuple[bytes, bytes, bytes]:
        config = self.enabled()
        assert self.validators is not None
        digest = msg.digest(config.l1_chain_id, config.contract)
        if sg.produced(state, msg.kind, msg.nonce, digest):
            raise NotForged(f"the chain made {SIGNED_KINDS[msg.kind]} {msg.nonce} with exactly this digest: "
                            "signing it is what validators do")
        try:
            signer = recover(digest, msg.signature)
        except MalformedExtension as e:
            raise InvalidForgedSignature(f"the signature is not a valid one: {e.message}") from None
        operator = self.validators.operator_of_bridge_key(state, signer)
        if operator is None:
            raise InvalidForgedSignature(f"the signature recovers to 0x{signer.hex()}, which no validator "
                                         "registered as its bridge key")
        if sg.has_forged(state, digest, signer):
            raise InvalidForgedSignature(f"this signature by 0x{signer.hex()} is already recorded")
        return digest, signer, operator

    def check_stateful(self, state: KVReader, msg: SubmitForgedSignature, env: TxEnv) -> None:
        self._judge(state, msg)

    def execute(self, state: KVStore, msg: SubmitForgedSignature, env: TxEnv) -> list[Event]:
        digest, signer, operator = self._judge(state, msg)
        sg.record_forged(state, pb.ForgedSignature(
            digest=digest, signer=signer, operator=operator, kind=msg.kind,  # type: ignore[arg-type]
            nonce=uint256_bytes(msg.nonce), signature=msg.signature, height=env.height, submitter=msg.submitter))
        return [Event("bridge_forged_signature", (
            EventAttribute("kind", SIGNED_KINDS[msg.kind]), EventAttribute("nonce", str(msg.nonce)),
            EventAttribute("digest", _hex(digest)), EventAttribute("signer", _hex(signer)),
            EventAttribute("validator", bech32_address(operator, env.address_prefix))))]


HANDLERS = (WithdrawHandler, CancelWithdrawalHandler, SubmitForgedSignatureHandler)
MSG_NAMES = tuple(h.name for h in HANDLERS)
