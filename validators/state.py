"""Reading and writing staking state (layout in keys.py). Records are protobuf (staking.proto),
serialized deterministically; integers too large for protobuf (tokens, shares) are decimal strings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from sidechain.store.api import KVReader, KVStore, prefix_end
from validators import keys as k
from validators.params import PosParams

UNBONDED, UNBONDING, BONDED = 1, 2, 3
STATUS_NAMES = {UNBONDED: "unbonded", UNBONDING: "unbonding", BONDED: "bonded"}
SHARES_PER_TOKEN = 10**18  # shares of a validator that has never been slashed, per token

_params_cache: dict[bytes, PosParams] = {}


def module_account(name: str) -> bytes:
    """The address of a module's account in the bank: no key can sign for it (no ed25519 key's
    address is sha256 of this preimage)."""
    return hashlib.sha256(b"sidechain-module-account:" + name.encode()).digest()[:20]


BONDED_POOL = module_account("bonded_pool")
NOT_BONDED_POOL = module_account("not_bonded_pool")
DISTRIBUTION = module_account("distribution")


def consensus_address(pubkey: bytes) -> bytes:
    """CometBFT's validator address: the first 20 bytes of sha256(ed25519 pubkey)."""
    return hashlib.sha256(pubkey).digest()[:20]


# --- params -------------------------------------------------------------------------------------


def get_params(state: KVReader) -> PosParams:
    raw = state.get(k.PARAMS_KEY)
    if raw is None:
        raise LookupError("staking params are not in state (InitChain not run?)")
    hit = _params_cache.get(raw)
    if hit is None:  # params are read every block: decode each stored form once
        hit = PosParams.decode(raw)
        if len(_params_cache) > 64:
            _params_cache.clear()
        _params_cache[raw] = hit
    return hit


def set_params(state: KVStore, params: PosParams) -> None:
    params.validate()
    state.set(k.PARAMS_KEY, params.encode())


# --- validators --------------------------------------------------------------------------------


@dataclass(slots=True)
class Validator:
    operator: bytes
    consensus_pubkey: bytes
    bridge_address: bytes
    moniker: str
    details: str
    commission_bps: int
    max_commission_bps: int
    max_change_bps: int
    commission_changed_ns: int
    min_self_delegation: int
    tokens: int = 0
    shares: int = 0
    status: int = UNBONDED
    jailed: bool = False
    tombstoned: bool = False
    jailed_until_ns: int = 0
    unbonding_height: int = 0
    unbonding_done_ns: int = 0
    created_height: int = 0

    @property
    def consensus_address(self) -> bytes:
        return consensus_address(self.consensus_pubkey)

    def power(self, reduction: int) -> int:
        return self.tokens // reduction

    def shares_for(self, tokens: int) -> int:
        """Shares issued for `tokens` newly delegated (floor; the first delegation sets the rate)."""
        if self.shares == 0 or self.tokens == 0:
            return tokens * SHARES_PER_TOKEN
        return tokens * self.shares // self.tokens

    def tokens_of(self, shares: int) -> int:
        """Tokens that `shares` are worth (floor)."""
        return 0 if self.shares == 0 else shares * self.tokens // self.shares

    def shares_to_remove(self, tokens: int) -> int:
        """Shares that are worth at least `tokens` (ceiling), to undelegate `tokens`."""
        if self.tokens == 0:
            return 0
        return -((-tokens * self.shares) // self.tokens)

    def to_proto(self) -> pb.Validator:
        return pb.Validator(
            operator=self.operator, consensus_pubkey=self.consensus_pubkey, bridge_address=self.bridge_address,
            moniker=self.moniker, details=self.details, commission_bps=self.commission_bps,
            max_commission_bps=self.max_commission_bps, max_change_bps=self.max_change_bps,
            commission_changed_ns=self.commission_changed_ns, min_self_delegation=str(self.min_self_delegation),
            tokens=str(self.tokens), shares=str(self.shares), status=self.status, jailed=self.jailed,
            tombstoned=self.tombstoned, jailed_until_ns=self.jailed_until_ns, unbonding_height=self.unbonding_height,
            unbonding_done_ns=self.unbonding_done_ns, created_height=self.created_height)

    @classmethod
    def from_proto(cls, m: pb.Validator) -> Validator:
        return cls(m.operator, m.consensus_pubkey, m.bridge_address, m.moniker, m.details, m.commission_bps,
                   m.max_commission_bps, m.max_change_bps, m.commission_changed_ns, int(m.min_self_delegation),
                   int(m.tokens), int(m.shares), m.status, m.jailed, m.tombstoned, m.jailed_until_ns,
                   m.unbonding_height, m.unbonding_done_ns, m.created_height)


def get_validator(state: KVReader, operator: bytes) -> Validator | None:
    raw = state.get(k.validator_key(operator))
    return None if raw is None else Validator.from_proto(pb.Validator.FromString(raw))


def set_validator(state: KVStore, v: Validator, reduction: int, old: Validator | None = None) -> None:
    """Write `v` and keep the power index in step (`old`: the record before this change, if any).
    A change of the index marks the set for recomputation at the end of the block."""
    old_key = None if old is None or old.jailed or old.tokens <= 0 else k.power_index_key(old.power(reduction),
                                                                                          old.operator)
    new_key = None if v.jailed or v.tokens <= 0 else k.power_index_key(v.power(reduction), v.operator)
    if old_key != new_key:
        if old_key is not None:
            state.delete(old_key)
        if new_key is not None:
            state.set(new_key, b"")
        state.set(k.SET_DIRTY, b"")
    state.set(k.validator_key(v.operator), v.to_proto().SerializeToString(deterministic=True))


def iterate_validators(state: KVReader) -> list[Validator]:
    return [Validator.from_proto(pb.Validator.FromString(raw))
            for _, raw in state.iterate(k.VALIDATOR, prefix_end(k.VALIDATOR))]


def operator_by_consensus(state: KVReader, cons_addr: bytes) -> bytes | None:
    return state.get(k.BY_CONSENSUS + cons_addr)


def candidate_powers(state: KVReader, limit: int) -> list[tuple[bytes, int]]:
    """(operator, power) of the top candidates, read from the power index keys alone."""
    out = []
    for key, _ in state.iterate(k.POWER_INDEX, prefix_end(k.POWER_INDEX)):
        out.append((key[9:29], k.U64_MAX - int.from_bytes(key[1:9], "big")))
        if len(out) >= limit:
            break
    return out


def last_set(state: KVReader) -> dict[bytes, SetMember]:
    """The set last sent to CometBFT, by operator."""
    return {key[1:]: SetMember(key[1:], v[8:40], v[40:60], int.from_bytes(v[:8], "big"))
            for key, v in state.iterate(k.LAST_POWER, prefix_end(k.LAST_POWER))}


def set_last(state: KVStore, m: SetMember) -> None:
    state.set(k.LAST_POWER + m.operator, k.u64(m.power) + m.consensus_pubkey + m.bridge_address)



# --- delegations ----------------------------------------------------------------------------------


def get_delegation(state: KVReader, delegator: bytes, operator: bytes) -> int:
    raw = state.get(k.delegation_key(delegator, operator))
    return 0 if raw is None else int(pb.Delegation.FromString(raw).shares)


def set_delegation(state: KVStore, delegator: bytes, operator: bytes, shares: int) -> None:
    if shares < 0:
        raise ValueError("negative shares")
    if shares == 0:
        state.delete(k.delegation_key(delegator, operator))
        state.delete(k.DELEGATORS_OF + operator + delegator)
    else:
        state.set(k.delegation_key(delegator, operator), pb.Delegation(shares=str(shares)).SerializeToString())
        state.set(k.DELEGATORS_OF + operator + delegator, b"")


def delegations_of(state: KVReader, delegator: bytes) -> list[tuple[bytes, int]]:
    p = k.DELEGATION + delegator
    return [(key[21:], int(pb.Delegation.FromString(v).shares)) for key, v in state.iterate(p, prefix_end(p))]


def delegators_of(state: KVReader, operator: bytes) -> list[bytes]:
    p = k.DELEGATORS_OF + operator
    return [key[21:] for key, _ in state.iterate(p, prefix_end(p))]


@dataclass(slots=True)
class UnbondingEntry:
    creation_height: int
    completion_ns: int
    initial_balance: int
    balance: int


def get_unbonding(state: KVReader, delegator: bytes, operator: bytes) -> list[UnbondingEntry]:
    raw = state.get(k.unbonding_key(delegator, operator))
    if raw is None:
        return []
    return [UnbondingEntry(e.creation_height, e.completion_ns, int(e.initial_balance), int(e.balance))
            for e in pb.UnbondingEntries.FromString(raw).entries]


def set_unbonding(state: KVStore, delegator: bytes, operator: bytes, entries: list[UnbondingEntry]) -> None:
    key = k.unbonding_key(delegator, operator)
    if not entries:
        state.delete(key)
        return
    msg = pb.UnbondingEntries(entries=[
        pb.UnbondingEntry(creation_height=e.creation_height, completion_ns=e.completion_ns,
                          initial_balance=str(e.initial_balance), balance=str(e.balance)) for e in entries])
    state.set(key, msg.SerializeToString(deterministic=True))


def unbondings_from(state: KVReader, operator: bytes) -> list[tuple[bytes, list[UnbondingEntry]]]:
    """Every delegator's unbonding entries from `operator` (for slashing), by delegator."""
    out = []
    for key, _ in state.iterate(k.UNBONDING, prefix_end(k.UNBONDING)):
        if key[21:41] == operator:
            out.append((key[1:21], get_unbonding(state, key[1:21], operator)))
    return out


@dataclass(slots=True)
class RedelegationEntry:
    creation_height: int
    completion_ns: int
    initial_balance: int
    shares_dst: int


def get_redelegation(state: KVReader, delegator: bytes, src: bytes, dst: bytes) -> list[RedelegationEntry]:
    raw = state.get(k.redelegation_key(delegator, src, dst))
    if raw is None:
        return []
    return [RedelegationEntry(e.creation_height, e.completion_ns, int(e.initial_balance), int(e.shares_dst))
            for e in pb.RedelegationEntries.FromString(raw).entries]


def set_redelegation(state: KVStore, delegator: bytes, src: bytes, dst: bytes,
                     entries: list[RedelegationEntry]) -> None:
    key = k.redelegation_key(delegator, src, dst)
    idx = k.REDELEGATION_BY_DST + delegator + dst + src
    if not entries:
        state.delete(key)
        state.delete(idx)
        return
    msg = pb.RedelegationEntries(entries=[
        pb.RedelegationEntry(creation_height=e.creation_height, completion_ns=e.completion_ns,
                             initial_balance=str(e.initial_balance), shares_dst=str(e.shares_dst)) for e in entries])
    state.set(key, msg.SerializeToString(deterministic=True))
    state.set(idx, b"")


def has_redelegation_into(state: KVReader, delegator: bytes, dst: bytes) -> bool:
    p = k.REDELEGATION_BY_DST + delegator + dst
    return any(True for _ in state.iterate(p, prefix_end(p)))


def redelegations_from(state: KVReader, src: bytes) -> list[tuple[bytes, bytes, list[RedelegationEntry]]]:
    """(delegator, dst, entries) of every redelegation away from `src` (for slashing)."""
    out = []
    for key, _ in state.iterate(k.REDELEGATION, prefix_end(k.REDELEGATION)):
        if key[21:41] == src:
            out.append((key[1:21], key[41:61], get_redelegation(state, key[1:21], src, key[41:61])))
    return out


# --- the set in force at recent heights --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetMember:
    operator: bytes
    consensus_pubkey: bytes
    bridge_address: bytes
    power: int


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    height: int
    members: tuple[SetMember, ...] = field(default=())

    @property
    def total_power(self) -> int:
        return sum(m.power for m in self.members)


def set_historical(state: KVStore, from_height: int, members: list[SetMember], keep: int) -> None:
    """Record the set in force from `from_height` on; forget sets that ended more than `keep`
    heights before it."""
    msg = pb.ValidatorSet(validators=[pb.ValidatorSetEntry(operator=m.operator, consensus_pubkey=m.consensus_pubkey,
                                                           bridge_address=m.bridge_address, power=m.power)
                                      for m in members])
    state.set(k.HISTORICAL_SET + k.u64(from_height), msg.SerializeToString(deterministic=True))
    starts = [int.from_bytes(key[1:9], "big")
              for key, _ in state.iterate(k.HISTORICAL_SET, k.HISTORICAL_SET + k.u64(from_height))]
    for start, nxt in zip(starts, [*starts[1:], from_height][: len(starts)], strict=True):
        if nxt <= from_height - keep:  # ended before the oldest height kept
            state.delete(k.HISTORICAL_SET + k.u64(start))


def get_historical(state: KVReader, height: int) -> ValidatorSet | None:
    """The set in force at `height` (None if it is older than what is kept, or not decided yet)."""
    found = None
    for _, raw in state.iterate(k.HISTORICAL_SET, k.HISTORICAL_SET + k.u64(height + 1)):
        found = raw
    if found is None:
        return None
    m = pb.ValidatorSet.FromString(found)
    return ValidatorSet(height, tuple(SetMember(e.operator, e.consensus_pubkey, e.bridge_address, e.power)
                                      for e in m.validators))
