"""Proof of stake through the module seam (sidechain/module.py): staking, rewards, slashing.

One module ("staking", store prefixes 0x20-0x3F, layout in keys.py) because the three share
their records at every step (a delegation change settles rewards; a slash ends a reward period).
Its steps in each block, in this order (sidechain/block.py runs begin-block steps before the txs
and end-block steps after them):

    begin_block  1. process_rewards      the last block's fees and this block's issuance to the
                                          validators that signed the last commit (distribution.py)
                 2. process_evidence      double signing: slash, jail, tombstone (slashing.py)
                 3. process_downtime      the last commit's votes into each signing window
    end_block    4. process_unbonding     matured unbonding entries paid out (staking.py)
                 5. process_redelegations matured redelegation entries dropped
                 6. process_validators    matured unbonding validators become unbonded
                 7. process_validator_set the top validators by power; the changes go to CometBFT,
                                          which applies them at height + 2

It needs the bank (`StakingBank`, expected.py): pools and rewards are bank accounts.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sidechain.blocks import BLOCK_ID_FLAG_COMMIT, BlockEnv, Event, EventAttribute, ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute, StepOutput
from sidechain.errors import InvalidAddress, InvalidGenesis, InvalidInput
from sidechain.extcommit import Member
from sidechain.store.api import KVReader, KVStore, prefix_end
from sidechain.tx import MsgHandler
from sidechain.types import Address, Amount, Coin, bech32_address
from validators import distribution as dist
from validators import keys as k
from validators import msgs
from validators import slashing as sl
from validators import staking as sk
from validators import state as st
from validators.bridgekey import verify_bridge_proof
from validators.expected import StakingBank
from validators.genesis import StakingGenesis, genesis_to_json, parse_genesis
from validators.params import PosParams
from validators.state import BONDED_POOL, DISTRIBUTION, NOT_BONDED_POOL, STATUS_NAMES

PREVIOUS_PROPOSER = b"\x3f"


class StakingKeeper:
    """What staking offers other modules: the bonded set as the bridge needs it."""

    def bridge_members(self, state: KVReader, height: int) -> tuple[tuple[bytes, bytes, int], ...] | None:
        """(consensus address, bridge address, voting power) of each member of the set in force at
        `height`, in consensus-address order; None if that height's set is not kept (or not decided)."""
        vs = st.get_historical(state, height)
        if vs is None:
            return None
        return tuple(sorted((st.consensus_address(m.consensus_pubkey), m.bridge_address, m.power)
                            for m in vs.members))

    def operator_of_bridge_key(self, state: KVReader, address: bytes) -> bytes | None:
        """The operator of the validator that registered bridge address `address`, if any did."""
        return state.get(k.BY_BRIDGE + address)


class StakingModule:
    name: ClassVar[str] = "staking"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x20, 0x3F)
    msg_names: ClassVar[tuple[str, ...]] = tuple(h.name for h in msgs.HANDLERS)
    needs: ClassVar[Mapping[str, type]] = {"bank": StakingBank}
    params_type: ClassVar[Any] = PosParams
    module_accounts: ClassVar[tuple[bytes, ...]] = (BONDED_POOL, NOT_BONDED_POOL, DISTRIBUTION)

    def __init__(self, bank: StakingBank) -> None:
        self._bank = bank
        self._keeper = StakingKeeper()

    @property
    def keeper(self) -> object:
        return self._keeper

    def get_params(self, state: KVReader) -> PosParams:
        return st.get_params(state)

    def consensus_members(self, state: KVReader, height: int) -> dict[bytes, Member] | None:
        """The set in force at `height` by consensus address (to check an extended commit against)."""
        vs = st.get_historical(state, height)
        if vs is None:
            return None
        return {st.consensus_address(m.consensus_pubkey): Member(m.consensus_pubkey, m.power, m.bridge_address)
                for m in vs.members}

    def ctx(self, state: KVStore, env: BlockEnv) -> sk.Ctx:
        return sk.Ctx(state, self._bank, self.get_params(state), env.height, env.time_ns)

    # -- genesis ---------------------------------------------------------------------------------

    def default_genesis(self) -> StakingGenesis:
        return StakingGenesis.default()

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> StakingGenesis:
        return parse_genesis(obj, ctx.address_prefix)

    def init_genesis(self, state: KVStore, gen: StakingGenesis, ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        if gen.state:
            for key, value in gen.state:
                state.set(key, value)
            return [ValidatorUpdate("ed25519", m.consensus_pubkey, m.power)
                    for _, m in sorted(st.last_set(state).items())]
        st.set_params(state, gen.params)
        bctx = sk.Ctx(state, self._bank, gen.params, ctx.initial_height, ctx.genesis_time_ns)
        for i, c in enumerate(gen.validators):
            path = f"app_state.staking.validators[{i}]"
            if ctx.chain_id:
                try:
                    verify_bridge_proof(ctx.chain_id, c.operator, c.bridge_address, c.bridge_key_proof)
                except InvalidInput as e:
                    raise InvalidGenesis(f"{path}.bridge_key_proof: {e.message}") from None
            have = self._bank.balance(state, c.operator, gen.params.staking.bond_denom)
            if have < c.self_delegation:
                raise InvalidGenesis(f"{path}: the operator holds {int(have)}{gen.params.staking.bond_denom} in "
                                     f"app_state.bank, less than its self_delegation {c.self_delegation}")
            msgs.create_validator(bctx, c)
        updates = sk.process_validator_set(bctx, ctx.initial_height)
        sk.process_validator_set(bctx, ctx.initial_height + 1)  # the same set is in force at H+1
        return updates

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> StakingGenesis:
        rows = tuple((key, value) for key, value in state.iterate(bytes([self.prefixes.first]),
                                                                  bytes([self.prefixes.last + 1])))
        return StakingGenesis(self.get_params(state), (), rows)

    def genesis_to_json(self, gen: StakingGenesis, ctx: GenesisContext) -> dict[str, object]:
        return genesis_to_json(gen, ctx.address_prefix)

    # -- txs ---------------------------------------------------------------------------------------

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        params = self.get_params(state)
        return tuple(h(params, self._bank) for h in msgs.HANDLERS)  # type: ignore[misc]

    # -- blocks ------------------------------------------------------------------------------------

    def begin_block(self, state: KVStore, env: BlockEnv) -> StepOutput:
        ctx = self.ctx(state, env)
        prefix = ctx.params.address_prefix
        events: list[Event] = []
        events.extend(process_rewards(ctx, env))
        for res in sl.process_evidence(ctx, env):
            events.extend(_slash_events(res, env, prefix))
        for res in sl.process_downtime(ctx, env):
            events.extend(_slash_events(res, env, prefix))
        return StepOutput(events=tuple(events))

    def end_block(self, state: KVStore, env: BlockEnv) -> StepOutput:
        ctx = self.ctx(state, env)
        prefix = ctx.params.address_prefix
        events = []
        for delegator, operator, amount in sk.process_unbonding_queue(ctx):
            events.append(Event("complete_unbonding", (
                EventAttribute("amount", f"{amount}{ctx.denom}"),
                EventAttribute("delegator", bech32_address(delegator, prefix)),
                EventAttribute("validator", bech32_address(operator, prefix)))))
        sk.process_redelegation_queue(ctx)
        sk.process_validator_queue(ctx)
        updates = sk.process_validator_set(ctx, env.height + 2)
        state.set(PREVIOUS_PROPOSER, env.proposer_address)
        return StepOutput(events=tuple(events), validator_updates=tuple(updates))

    # -- queries -----------------------------------------------------------------------------------

    def query_routes(self) -> Sequence[QueryRoute]:
        return (
            QueryRoute("staking", self._q_staking, "/staking/validators | validator/<op or moniker> | "
                       "delegation/<delegator>/<op> | delegations/<delegator> | unbonding/<delegator> | "
                       "redelegations/<delegator> | pool | params | set/<height>", min_args=1, max_args=3),
            QueryRoute("slashing", self._q_slashing, "/slashing/signing-info/<op or moniker>", min_args=2,
                       max_args=2),
            QueryRoute("distribution", self._q_distribution, "/distribution/rewards/<delegator>[/<op>] | "
                       "commission/<op> | community-pool", min_args=1, max_args=3),
        )

    def _q_staking(self, reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
        prefix = rules.address_prefix
        what, rest = args[0], list(args[1:])
        params = st.get_params(reader)
        if what == "validators" and not rest:
            vals = sorted(st.iterate_validators(reader), key=lambda v: (-v.tokens, v.operator))
            return QueryAnswer({"validators": [validator_json(v, params, prefix) for v in vals]})
        if what == "validator" and len(rest) == 1:
            v = find_validator(reader, rest[0], prefix)
            return QueryAnswer(validator_json(v, params, prefix), k.validator_key(v.operator))
        if what == "delegation" and len(rest) == 2:
            delegator = _address(rest[0], prefix)
            v = find_validator(reader, rest[1], prefix)
            shares = st.get_delegation(reader, delegator, v.operator)
            return QueryAnswer({"delegator": rest[0], "validator": bech32_address(v.operator, prefix),
                                "shares": str(shares), "tokens": str(v.tokens_of(shares))},
                               k.delegation_key(delegator, v.operator))
        if what == "delegations" and len(rest) == 1:
            delegator = _address(rest[0], prefix)
            dels: list[dict[str, object]] = []
            for op, shares in st.delegations_of(reader, delegator):
                v = sk.must_get(reader, op)
                dels.append({"validator": bech32_address(op, prefix), "moniker": v.moniker, "shares": str(shares),
                             "tokens": str(v.tokens_of(shares))})
            return QueryAnswer({"delegator": rest[0], "delegations": dels})
        if what == "unbonding" and len(rest) == 1:
            delegator = _address(rest[0], prefix)
            p = k.UNBONDING + delegator
            out: list[dict[str, object]] = []
            for key, _ in reader.iterate(p, prefix_end(p)):
                for e in st.get_unbonding(reader, delegator, key[21:41]):
                    out.append({"validator": bech32_address(key[21:41], prefix), "creation_height": e.creation_height,
                                "completion_time_ns": e.completion_ns, "initial_balance": str(e.initial_balance),
                                "balance": str(e.balance)})
            return QueryAnswer({"delegator": rest[0], "entries": out})
        if what == "redelegations" and len(rest) == 1:
            delegator = _address(rest[0], prefix)
            p = k.REDELEGATION + delegator
            reds: list[dict[str, object]] = []
            for key, _ in reader.iterate(p, prefix_end(p)):
                src, dst = key[21:41], key[41:61]
                for r in st.get_redelegation(reader, delegator, src, dst):
                    reds.append({"source": bech32_address(src, prefix), "destination": bech32_address(dst, prefix),
                                 "creation_height": r.creation_height, "completion_time_ns": r.completion_ns,
                                 "initial_balance": str(r.initial_balance)})
            return QueryAnswer({"delegator": rest[0], "entries": reds})
        if what == "pool" and not rest:
            denom = params.staking.bond_denom
            return QueryAnswer({"bonded": str(int(self._bank.balance(reader, BONDED_POOL, denom))),
                                "not_bonded": str(int(self._bank.balance(reader, NOT_BONDED_POOL, denom))),
                                "denom": denom})
        if what == "params" and not rest:
            return QueryAnswer(params.to_json())
        if what == "set" and len(rest) == 1 and rest[0].isdigit():
            vs = st.get_historical(reader, int(rest[0]))
            if vs is None:
                raise InvalidQuery(f"no validator set kept for height {rest[0]}")
            return QueryAnswer({"height": vs.height, "total_power": vs.total_power, "validators": [
                {"operator": bech32_address(m.operator, prefix), "power": m.power,
                 "consensus_pubkey": base64.b64encode(m.consensus_pubkey).decode(),
                 "bridge_address": "0x" + m.bridge_address.hex()} for m in vs.members]})
        raise InvalidQuery(f"unknown staking query {'/'.join(args)!r}")

    def _q_slashing(self, reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
        if args[0] != "signing-info":
            raise InvalidQuery("usage: /slashing/signing-info/<operator or moniker>")
        v = find_validator(reader, args[1], rules.address_prefix)
        info = sl.get_signing_info(reader, v.consensus_address)
        params = st.get_params(reader).slashing
        body: dict[str, object] = {"validator": bech32_address(v.operator, rules.address_prefix),
                                   "jailed": v.jailed, "tombstoned": v.tombstoned,
                                   "jailed_until_ns": v.jailed_until_ns, "window": params.signed_blocks_window}
        if info is not None:
            body.update(start_height=info.start_height, index_offset=info.index_offset,
                        missed_blocks=info.missed_blocks)
        return QueryAnswer(body)

    def _q_distribution(self, reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
        prefix = rules.address_prefix
        what, rest = args[0], list(args[1:])
        if what == "community-pool" and not rest:
            return QueryAnswer({"pool": dec_json(dist.get_community_pool(reader))})
        if what == "commission" and len(rest) == 1:
            v = find_validator(reader, rest[0], prefix)
            return QueryAnswer({"validator": bech32_address(v.operator, prefix),
                                "commission": dec_json(dist.get_commission(reader, v.operator))})
        if what == "rewards" and rest:
            delegator = _address(rest[0], prefix)
            targets = [find_validator(reader, rest[1], prefix)] if len(rest) == 2 else \
                [sk.must_get(reader, op) for op, _ in st.delegations_of(reader, delegator)]
            out = []
            for v in targets:
                stake = v.tokens_of(st.get_delegation(reader, delegator, v.operator))
                out.append({"validator": bech32_address(v.operator, prefix),
                            "rewards": dec_json(dist.pending_now(reader, v, delegator, stake))})
            return QueryAnswer({"delegator": rest[0], "rewards": out})
        raise InvalidQuery(f"unknown distribution query {'/'.join(args)!r}")


class InvalidQuery(InvalidInput):
    codespace = "staking"
    code = 40


def _address(text: str, prefix: str) -> bytes:
    return bytes(Address.from_bech32(text, prefix))


def find_validator(reader: KVReader, text: str, prefix: str) -> st.Validator:
    """A validator by its operator's bech32 address or by its moniker."""
    if text.startswith(prefix + "1"):
        v = st.get_validator(reader, _address(text, prefix))
        if v is not None:
            return v
    else:
        for v in st.iterate_validators(reader):
            if v.moniker == text:
                return v
    raise InvalidAddress(f"no validator {text!r} (give its operator address or its moniker)")


def validator_json(v: st.Validator, params: PosParams, prefix: str) -> dict[str, object]:
    return {"operator": bech32_address(v.operator, prefix), "moniker": v.moniker, "details": v.details,
            "consensus_pubkey": base64.b64encode(v.consensus_pubkey).decode(),
            "bridge_address": "0x" + v.bridge_address.hex(), "tokens": str(v.tokens), "shares": str(v.shares),
            "power": v.power(params.staking.power_reduction), "status": STATUS_NAMES[v.status], "jailed": v.jailed,
            "tombstoned": v.tombstoned, "jailed_until_ns": v.jailed_until_ns, "commission_bps": v.commission_bps,
            "max_commission_bps": v.max_commission_bps, "max_change_bps": v.max_change_bps,
            "min_self_delegation": str(v.min_self_delegation), "unbonding_done_ns": v.unbonding_done_ns}


def dec_json(coins: Mapping[str, int]) -> list[dict[str, str]]:
    """Whole tokens (rounded down) and the exact amount in dec units (10^-18 of a token)."""
    return [{"denom": d, "amount": str(coins[d] // dist.DEC), "dec": str(coins[d])} for d in sorted(coins)]


def process_rewards(ctx: sk.Ctx, env: BlockEnv) -> list[Event]:
    """The fees the last block collected (in the bank's fee pool) and this block's issuance go to
    the distribution account, then to the validators that signed the last commit."""
    state, bank = ctx.state, ctx.bank
    collected: dict[str, int] = {c.denom: int(c.amount) for c in bank.take_fee_pool(state, DISTRIBUTION)}
    minted = dist.issuance(ctx.params, sk.bonded_tokens(ctx))
    if minted:
        bank.mint(state, DISTRIBUTION, Coin(ctx.denom, Amount(minted)))
        collected[ctx.denom] = collected.get(ctx.denom, 0) + minted
    if not collected:
        return []
    voters = []
    for vote in sorted(env.last_commit.votes, key=lambda vt: vt.validator.address):
        if vote.block_id_flag != BLOCK_ID_FLAG_COMMIT:
            continue
        op = st.operator_by_consensus(state, vote.validator.address)
        if op is not None:
            voters.append((op, vote.validator.power))
    prev = state.get(PREVIOUS_PROPOSER)
    proposer = st.operator_by_consensus(state, prev) if prev else None
    dist.allocate(state, bank, ctx.params, collected, voters, proposer)
    amount = ",".join(f"{collected[d]}{d}" for d in sorted(collected))
    return [Event("rewards", (EventAttribute("amount", amount), EventAttribute("minted", f"{minted}{ctx.denom}")))]


def _slash_events(res: sl.SlashResult, env: BlockEnv, prefix: str) -> list[Event]:
    """A slash and the jailing that comes with it (both indexed: `tx_search`/block results find them)."""
    who = EventAttribute("validator", bech32_address(res.operator, prefix))
    return [Event("slash", (who, EventAttribute("reason", res.reason), EventAttribute("burned", str(res.burned)))),
            Event("jail", (who, EventAttribute("reason", res.reason),
                           EventAttribute("tombstoned", "true" if res.reason == "double_sign" else "false")))]
