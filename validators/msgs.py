"""The validators module's messages (tx schema: sidechain/proto/sidechain/staking/v1/staking.proto),
each carried in a `ModuleMsg` named "staking.<MsgName>".

Every handler: `decode` (stateless: lengths, amounts, strings, the signer), `check_stateful`
(reads only), `execute` (writes; may still raise, then the tx's writes are dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sidechain.blocks import Event, EventAttribute
from sidechain.env import TxEnv
from sidechain.errors import InvalidAmount
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import SignerMismatch, decode_module_value, module_msg
from sidechain.types import Amount, Coin, bech32_address
from validators import distribution as dist
from validators import keys as k
from validators import staking as sk
from validators import state as st
from validators.bridgekey import verify_bridge_proof
from validators.errors import (
    BridgeAddressUsed,
    ConsensusKeyUsed,
    InvalidCommission,
    InvalidStakingMsg,
    NoRewards,
    NotAdmin,
    NotJailed,
    OperatorNotAllowed,
    SelfDelegationTooLow,
    StillJailed,
    ValidatorExists,
    ValidatorTombstoned,
)
from validators.expected import StakingBank
from validators.params import BPS, PosParams

MAX_MONIKER = 70
MAX_DETAILS = 280
DAY_NS = 24 * 3600 * 10**9


def _addr(data: bytes, what: str) -> bytes:
    if len(data) != 20:
        raise InvalidStakingMsg(f"{what} is {len(data)} bytes, expected a 20-byte address")
    return data


def _amount(text: str, what: str, positive: bool = True) -> int:
    try:
        a = int(Amount.parse(text))
    except InvalidAmount as e:
        raise InvalidStakingMsg(f"{what}: {e.message}") from None
    if positive and a == 0:
        raise InvalidStakingMsg(f"{what} must be positive")
    return a


def _text(s: str, what: str, limit: int, required: bool = False) -> str:
    if len(s) > limit or (required and not s.strip()) or not s.isprintable():
        raise InvalidStakingMsg(f"{what} must be {'1-' if required else 'at most '}{limit} printable characters")
    return s


def _signer(addr: bytes, signer: bytes, what: str) -> bytes:
    if addr != signer:
        raise SignerMismatch(f"{what} is not the address of the key that signed the tx")
    return addr


def _ev(kind: str, env: TxEnv, **attrs: object) -> Event:
    prefix = env.address_prefix
    out = []
    for key in sorted(attrs):
        value = attrs[key]
        if isinstance(value, bytes):
            value = bech32_address(value, prefix) if len(value) == 20 else value.hex()
        out.append(EventAttribute(key, str(value)))
    return Event(kind, tuple(out))


class _Handler:
    module = "staking"
    pb_type: Any = None

    def __init__(self, params: PosParams, bank: StakingBank) -> None:
        self.params = params
        self.bank = bank

    def ctx(self, state: KVStore, env: TxEnv) -> sk.Ctx:
        return sk.Ctx(state, self.bank, self.params, env.height, env.time_ns)

    def spends(self, msg: Any) -> Sequence[Coin]:
        return ()

    def to_proto(self, msg: Any) -> tx_pb2.Msg:
        return module_msg(self.name, msg.to_pb())  # type: ignore[attr-defined]

    def payload(self, pb_msg: tx_pb2.ModuleMsg) -> Any:
        return decode_module_value(pb_msg.value, self.pb_type, self.name)  # type: ignore[attr-defined]

    def denom_coin(self, amount: int) -> Coin:
        return Coin(self.params.staking.bond_denom, Amount(amount))


# --- create / edit -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateValidator:
    operator: bytes
    consensus_pubkey: bytes
    bridge_address: bytes
    bridge_key_proof: bytes
    moniker: str
    details: str
    commission_bps: int
    max_commission_bps: int
    max_change_bps: int
    min_self_delegation: int
    self_delegation: int

    def to_pb(self) -> pb.MsgCreateValidator:
        return pb.MsgCreateValidator(
            operator=self.operator, consensus_pubkey=self.consensus_pubkey, bridge_address=self.bridge_address,
            bridge_key_proof=self.bridge_key_proof, moniker=self.moniker, details=self.details,
            commission_bps=self.commission_bps, max_commission_bps=self.max_commission_bps,
            max_change_bps=self.max_change_bps, min_self_delegation=str(self.min_self_delegation),
            self_delegation=str(self.self_delegation))


def check_commission(rate: int, max_rate: int, max_change: int) -> None:
    if not 0 <= max_rate <= BPS:
        raise InvalidCommission(f"max commission {max_rate} bps is above 100% (10000 bps)")
    if rate > max_rate:
        raise InvalidCommission(f"commission {rate} bps is above the max commission {max_rate} bps")
    if max_change > max_rate:
        raise InvalidCommission(f"max daily change {max_change} bps is above the max commission {max_rate} bps")


class CreateValidatorHandler(_Handler):
    name = "staking.MsgCreateValidator"
    msg_type = CreateValidator
    pb_type = pb.MsgCreateValidator

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> CreateValidator:
        m = self.payload(pb_msg)
        if len(m.consensus_pubkey) != 32:
            raise InvalidStakingMsg("consensus_pubkey must be a 32-byte ed25519 public key")
        check_commission(m.commission_bps, m.max_commission_bps, m.max_change_bps)
        msg = CreateValidator(
            _signer(_addr(m.operator, "operator"), signer, "operator"), m.consensus_pubkey,
            _addr(m.bridge_address, "bridge_address"), m.bridge_key_proof,
            _text(m.moniker, "moniker", MAX_MONIKER, required=True), _text(m.details, "details", MAX_DETAILS),
            m.commission_bps, m.max_commission_bps, m.max_change_bps,
            _amount(m.min_self_delegation, "min_self_delegation"), _amount(m.self_delegation, "self_delegation"))
        if msg.self_delegation < msg.min_self_delegation:
            raise SelfDelegationTooLow(f"self_delegation {msg.self_delegation} is below min_self_delegation "
                                       f"{msg.min_self_delegation}")
        return msg

    def spends(self, msg: CreateValidator) -> Sequence[Coin]:
        return (self.denom_coin(msg.self_delegation),)

    def check_stateful(self, state: KVReader, msg: CreateValidator, env: TxEnv) -> None:
        allowed = self.params.staking.allowed_operators
        if allowed and msg.operator not in allowed:
            raise OperatorNotAllowed("this network is permissioned: the operator is not in staking.allowed_operators")
        if st.get_validator(state, msg.operator) is not None:
            raise ValidatorExists("this operator already has a validator")
        if state.get(k.BY_CONSENSUS + st.consensus_address(msg.consensus_pubkey)) is not None:
            raise ConsensusKeyUsed("this consensus key is, or was, another validator's; make a new one")
        if state.get(k.BY_BRIDGE + msg.bridge_address) is not None:
            raise BridgeAddressUsed("this bridge address is, or was, registered by a validator")
        verify_bridge_proof(env.chain_id, msg.operator, msg.bridge_address, msg.bridge_key_proof)

    def execute(self, state: KVStore, msg: CreateValidator, env: TxEnv) -> list[Event]:
        create_validator(self.ctx(state, env), msg)
        return [_ev("create_validator", env, validator=msg.operator, moniker=msg.moniker,
                    amount=f"{msg.self_delegation}{self.params.staking.bond_denom}")]


def create_validator(ctx: sk.Ctx, msg: CreateValidator) -> st.Validator:
    v = st.Validator(msg.operator, msg.consensus_pubkey, msg.bridge_address, msg.moniker, msg.details,
                     msg.commission_bps, msg.max_commission_bps, msg.max_change_bps, ctx.time_ns,
                     msg.min_self_delegation, created_height=ctx.height)
    st.set_validator(ctx.state, v, ctx.reduction)
    ctx.state.set(k.BY_CONSENSUS + v.consensus_address, v.operator)
    ctx.state.set(k.BY_BRIDGE + v.bridge_address, v.operator)
    dist.init_validator(ctx.state, v.operator, v.commission_bps)
    sk.add_tokens(ctx, v, msg.operator, msg.self_delegation, msg.operator)
    return v


@dataclass(frozen=True, slots=True)
class EditValidator:
    operator: bytes
    moniker: str | None
    details: str | None
    commission_bps: int | None
    min_self_delegation: int | None
    bridge_address: bytes
    bridge_key_proof: bytes

    def to_pb(self) -> pb.MsgEditValidator:
        m = pb.MsgEditValidator(operator=self.operator, bridge_address=self.bridge_address,
                                bridge_key_proof=self.bridge_key_proof)
        if self.moniker is not None:
            m.moniker = self.moniker
        if self.details is not None:
            m.details = self.details
        if self.commission_bps is not None:
            m.commission_bps = self.commission_bps
        if self.min_self_delegation is not None:
            m.min_self_delegation = str(self.min_self_delegation)
        return m


class EditValidatorHandler(_Handler):
    name = "staking.MsgEditValidator"
    msg_type = EditValidator
    pb_type = pb.MsgEditValidator

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> EditValidator:
        m = self.payload(pb_msg)
        if m.bridge_address and len(m.bridge_address) != 20:
            raise InvalidStakingMsg("bridge_address must be 20 bytes")
        return EditValidator(
            _signer(_addr(m.operator, "operator"), signer, "operator"),
            _text(m.moniker, "moniker", MAX_MONIKER, required=True) if m.HasField("moniker") else None,
            _text(m.details, "details", MAX_DETAILS) if m.HasField("details") else None,
            m.commission_bps if m.HasField("commission_bps") else None,
            _amount(m.min_self_delegation, "min_self_delegation") if m.HasField("min_self_delegation") else None,
            m.bridge_address, m.bridge_key_proof)

    def check_stateful(self, state: KVReader, msg: EditValidator, env: TxEnv) -> None:
        v = sk.must_get(state, msg.operator)
        if msg.commission_bps is not None and msg.commission_bps != v.commission_bps:
            if msg.commission_bps > v.max_commission_bps:
                raise InvalidCommission(f"commission {msg.commission_bps} bps is above the max "
                                        f"{v.max_commission_bps} bps")
            if abs(msg.commission_bps - v.commission_bps) > v.max_change_bps:
                raise InvalidCommission(f"the commission may change by at most {v.max_change_bps} bps at a time")
            if env.time_ns < v.commission_changed_ns + DAY_NS:
                raise InvalidCommission("the commission may change once per 24 h of block time")
        if msg.min_self_delegation is not None:
            if msg.min_self_delegation < v.min_self_delegation:
                raise SelfDelegationTooLow("min_self_delegation may only increase")
            own = v.tokens_of(st.get_delegation(state, v.operator, v.operator))
            if msg.min_self_delegation > own:
                raise SelfDelegationTooLow(f"min_self_delegation {msg.min_self_delegation} is above the "
                                           f"self-delegation {own}")
        if msg.bridge_address:
            if state.get(k.BY_BRIDGE + msg.bridge_address) is not None:
                raise BridgeAddressUsed("this bridge address is, or was, registered by a validator")
            verify_bridge_proof(env.chain_id, msg.operator, msg.bridge_address, msg.bridge_key_proof)

    def execute(self, state: KVStore, msg: EditValidator, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        v = sk.must_get(ctx, msg.operator)
        old = replace(v)
        if msg.moniker is not None:
            v.moniker = msg.moniker
        if msg.details is not None:
            v.details = msg.details
        if msg.commission_bps is not None and msg.commission_bps != v.commission_bps:
            v.commission_bps = msg.commission_bps
            v.commission_changed_ns = env.time_ns
            dist.set_commission_rate(state, v.operator, v.commission_bps)
        if msg.min_self_delegation is not None:
            v.min_self_delegation = msg.min_self_delegation
        if msg.bridge_address:
            v.bridge_address = msg.bridge_address
            state.set(k.BY_BRIDGE + msg.bridge_address, v.operator)
            member = st.last_set(state).get(v.operator)
            if member is not None:  # in the set: its record and the historical set follow at block end
                st.set_last(state, st.SetMember(v.operator, member.consensus_pubkey, v.bridge_address, member.power))
                state.set(k.SET_DIRTY, b"")
        sk.save(ctx, v, old)
        return [_ev("edit_validator", env, validator=v.operator, commission_bps=v.commission_bps,
                    bridge_address="0x" + v.bridge_address.hex())]


# --- delegation ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delegate:
    delegator: bytes
    validator: bytes
    amount: int

    def to_pb(self) -> pb.MsgDelegate:
        return pb.MsgDelegate(delegator=self.delegator, validator=self.validator, amount=str(self.amount))


class DelegateHandler(_Handler):
    name = "staking.MsgDelegate"
    msg_type = Delegate
    pb_type = pb.MsgDelegate

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> Delegate:
        m = self.payload(pb_msg)
        return Delegate(_signer(_addr(m.delegator, "delegator"), signer, "delegator"),
                        _addr(m.validator, "validator"), _amount(m.amount, "amount"))

    def spends(self, msg: Delegate) -> Sequence[Coin]:
        return (self.denom_coin(msg.amount),)

    def check_stateful(self, state: KVReader, msg: Delegate, env: TxEnv) -> None:
        sk.must_get(state, msg.validator)

    def execute(self, state: KVStore, msg: Delegate, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        v = sk.must_get(ctx, msg.validator)
        sk.add_tokens(ctx, v, msg.delegator, msg.amount, msg.delegator)
        return [_ev("delegate", env, delegator=msg.delegator, validator=msg.validator,
                    amount=f"{msg.amount}{ctx.denom}")]


@dataclass(frozen=True, slots=True)
class Undelegate:
    delegator: bytes
    validator: bytes
    amount: int

    def to_pb(self) -> pb.MsgUndelegate:
        return pb.MsgUndelegate(delegator=self.delegator, validator=self.validator, amount=str(self.amount))


class UndelegateHandler(_Handler):
    name = "staking.MsgUndelegate"
    msg_type = Undelegate
    pb_type = pb.MsgUndelegate

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> Undelegate:
        m = self.payload(pb_msg)
        return Undelegate(_signer(_addr(m.delegator, "delegator"), signer, "delegator"),
                          _addr(m.validator, "validator"), _amount(m.amount, "amount"))

    def check_stateful(self, state: KVReader, msg: Undelegate, env: TxEnv) -> None:
        pass  # everything is checked by execute, on the tx's own branch

    def execute(self, state: KVStore, msg: Undelegate, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        v = sk.must_get(ctx, msg.validator)
        done = sk.undelegate(ctx, v, msg.delegator, msg.amount)
        return [_ev("unbond", env, delegator=msg.delegator, validator=msg.validator,
                    amount=f"{msg.amount}{ctx.denom}", completion_time_ns=done)]


@dataclass(frozen=True, slots=True)
class Redelegate:
    delegator: bytes
    src: bytes
    dst: bytes
    amount: int

    def to_pb(self) -> pb.MsgRedelegate:
        return pb.MsgRedelegate(delegator=self.delegator, src_validator=self.src, dst_validator=self.dst,
                                amount=str(self.amount))


class RedelegateHandler(_Handler):
    name = "staking.MsgRedelegate"
    msg_type = Redelegate
    pb_type = pb.MsgRedelegate

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> Redelegate:
        m = self.payload(pb_msg)
        return Redelegate(_signer(_addr(m.delegator, "delegator"), signer, "delegator"),
                          _addr(m.src_validator, "src_validator"), _addr(m.dst_validator, "dst_validator"),
                          _amount(m.amount, "amount"))

    def check_stateful(self, state: KVReader, msg: Redelegate, env: TxEnv) -> None:
        pass

    def execute(self, state: KVStore, msg: Redelegate, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        src, dst = sk.must_get(ctx, msg.src), sk.must_get(ctx, msg.dst)
        done = sk.redelegate(ctx, src, dst, msg.delegator, msg.amount)
        return [_ev("redelegate", env, delegator=msg.delegator, source_validator=msg.src,
                    destination_validator=msg.dst, amount=f"{msg.amount}{ctx.denom}", completion_time_ns=done)]


# --- jail, rewards, permissions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unjail:
    operator: bytes

    def to_pb(self) -> pb.MsgUnjail:
        return pb.MsgUnjail(operator=self.operator)


class UnjailHandler(_Handler):
    name = "staking.MsgUnjail"
    msg_type = Unjail
    pb_type = pb.MsgUnjail

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> Unjail:
        m = self.payload(pb_msg)
        return Unjail(_signer(_addr(m.operator, "operator"), signer, "operator"))

    def check_stateful(self, state: KVReader, msg: Unjail, env: TxEnv) -> None:
        v = sk.must_get(state, msg.operator)
        if v.tombstoned:
            raise ValidatorTombstoned("this validator double-signed and is tombstoned: it can never unjail")
        if not v.jailed:
            raise NotJailed("this validator is not jailed")
        if env.time_ns < v.jailed_until_ns:
            raise StillJailed(f"jailed until {v.jailed_until_ns} ns of block time (now {env.time_ns})")
        own = v.tokens_of(st.get_delegation(state, v.operator, v.operator))
        if own < v.min_self_delegation:
            raise SelfDelegationTooLow(f"the self-delegation {own} is below the minimum {v.min_self_delegation}: "
                                       "delegate more first")

    def execute(self, state: KVStore, msg: Unjail, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        v = sk.must_get(ctx, msg.operator)
        old = replace(v)
        v.jailed = False
        v.jailed_until_ns = 0
        sk.save(ctx, v, old)
        from validators.slashing import reset_window

        reset_window(state, v.consensus_address, env.height)
        return [_ev("unjail", env, validator=v.operator)]


@dataclass(frozen=True, slots=True)
class WithdrawRewards:
    delegator: bytes
    validator: bytes  # b"": all

    def to_pb(self) -> pb.MsgWithdrawRewards:
        return pb.MsgWithdrawRewards(delegator=self.delegator, validator=self.validator)


class WithdrawRewardsHandler(_Handler):
    name = "staking.MsgWithdrawRewards"
    msg_type = WithdrawRewards
    pb_type = pb.MsgWithdrawRewards

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> WithdrawRewards:
        m = self.payload(pb_msg)
        return WithdrawRewards(_signer(_addr(m.delegator, "delegator"), signer, "delegator"),
                               _addr(m.validator, "validator") if m.validator else b"")

    def check_stateful(self, state: KVReader, msg: WithdrawRewards, env: TxEnv) -> None:
        targets = [msg.validator] if msg.validator else [op for op, _ in st.delegations_of(state, msg.delegator)]
        if not targets or any(st.get_delegation(state, msg.delegator, op) == 0 for op in targets):
            raise NoRewards("no delegation to withdraw rewards from")

    def execute(self, state: KVStore, msg: WithdrawRewards, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        targets = [msg.validator] if msg.validator else [op for op, _ in st.delegations_of(state, msg.delegator)]
        events = []
        for op in targets:
            v = sk.must_get(ctx, op)
            paid = sk.settle_rewards(ctx, v, msg.delegator)
            sk.restart_rewards(ctx, v, msg.delegator)
            events.append(_ev("rewards", env, delegator=msg.delegator, validator=op,
                              amount=",".join(str(c) for c in paid) or "0"))
        return events


@dataclass(frozen=True, slots=True)
class WithdrawCommission:
    operator: bytes

    def to_pb(self) -> pb.MsgWithdrawCommission:
        return pb.MsgWithdrawCommission(operator=self.operator)


class WithdrawCommissionHandler(_Handler):
    name = "staking.MsgWithdrawCommission"
    msg_type = WithdrawCommission
    pb_type = pb.MsgWithdrawCommission

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> WithdrawCommission:
        m = self.payload(pb_msg)
        return WithdrawCommission(_signer(_addr(m.operator, "operator"), signer, "operator"))

    def check_stateful(self, state: KVReader, msg: WithdrawCommission, env: TxEnv) -> None:
        sk.must_get(state, msg.operator)
        if not dist.get_commission(state, msg.operator):
            raise NoRewards("no commission to withdraw")

    def execute(self, state: KVStore, msg: WithdrawCommission, env: TxEnv) -> list[Event]:
        ctx = self.ctx(state, env)
        paid = dist.withdraw_commission(state, self.bank, sk.must_get(ctx, msg.operator))
        return [_ev("commission", env, validator=msg.operator, amount=",".join(str(c) for c in paid) or "0")]


@dataclass(frozen=True, slots=True)
class SetAllowedOperators:
    admin: bytes
    operators: tuple[bytes, ...]

    def to_pb(self) -> pb.MsgSetAllowedOperators:
        return pb.MsgSetAllowedOperators(admin=self.admin, operators=list(self.operators))


class SetAllowedOperatorsHandler(_Handler):
    name = "staking.MsgSetAllowedOperators"
    msg_type = SetAllowedOperators
    pb_type = pb.MsgSetAllowedOperators

    def decode(self, pb_msg: tx_pb2.ModuleMsg, signer: bytes) -> SetAllowedOperators:
        m = self.payload(pb_msg)
        ops = tuple(_addr(o, f"operators[{i}]") for i, o in enumerate(m.operators))
        if list(ops) != sorted(set(ops)):
            raise InvalidStakingMsg("operators must be strictly ascending (sorted, no duplicates)")
        return SetAllowedOperators(_signer(_addr(m.admin, "admin"), signer, "admin"), ops)

    def check_stateful(self, state: KVReader, msg: SetAllowedOperators, env: TxEnv) -> None:
        if not self.params.staking.admin or msg.admin != self.params.staking.admin:
            raise NotAdmin("only the staking admin set in genesis may change the allowed operators")

    def execute(self, state: KVStore, msg: SetAllowedOperators, env: TxEnv) -> list[Event]:
        from validators.state import set_params

        staking = replace(self.params.staking, allowed_operators=msg.operators)
        set_params(state, replace(self.params, staking=staking))
        return [_ev("set_allowed_operators", env, count=len(msg.operators))]


HANDLERS = (CreateValidatorHandler, EditValidatorHandler, DelegateHandler, UndelegateHandler, RedelegateHandler,
            UnjailHandler, WithdrawRewardsHandler, WithdrawCommissionHandler, SetAllowedOperatorsHandler)

