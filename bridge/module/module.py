"""The bridge module through the module seam (sidechain/module.py): L1 events attested in vote
extensions and applied in FinalizeBlock (BRIDGE.md section 5).

    begin_block   1. L1 events: each next event reported identically by more than 2/3 of the power
                     of the extended commit at the top of the block is applied, in nonce order
                     (a Deposit mints, a ValsetUpdated records the contract's valset, a
                     BatchExecuted completes its pending batch, or is recorded when the chain
                     has no such batch pending); reports that differ are recorded for slashing
                  2. observed_l1_height: the highest L1 height more than 2/3 of the power vouch
                     for, each report capped below the first event it carries that was not applied
                  4. timeouts: every pending batch with observed_l1_height >= its timeoutL1Block is
                     refunded (amount + fee minted back to each sender). Its BatchExecuted, had L1
                     run it, is an event in an L1 block below the timeout, so step 1 applied it
                     first (observed_l1_height is complete): a batch is never both paid and refunded
    transactions  5. bridge.MsgWithdraw burns amount + fee and queues; bridge.MsgCancelWithdrawal
                     takes a queued one back (bridge/module/msgs.py)
    end_block     6. new batches: per token, in token order, when its queue holds max_batch_size or
                     its oldest has waited batch_interval_blocks, the highest fees (ties: lowest id)
                     form a batch with the next nonce and timeoutL1Block = observed_l1_height +
                     batch_timeout_l1_blocks, and its EIP-712 digest (bridge/module/digests.py)
    vote extensions   the owner (see sidechain.module.VoteExtender): extend_vote builds this
                  validator's extension from its watcher; verify_vote_extension checks another's

A chain whose genesis has no `bridge` section has no bridge: nothing is stored, extensions are
empty, and blocks carry no extended commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from bridge.module import attest, msgs
from bridge.module import keys as k
from bridge.module import state as bs
from bridge.module import withdrawals as wd
from bridge.module.errors import MalformedExtension, UnknownBridgeRecord
from bridge.module.events import (
    BatchExecuted,
    Deposit,
    L1Event,
    ValsetUpdated,
    denom_of,
    encode_extension,
    token_of,
)
from bridge.module.expected import BridgeBank
from bridge.module.genesis import BridgeGenesis, L1Valset, parse_genesis
from bridge.module.observe import NOTHING_OBSERVED, ChainProgress, L1Observer
from bridge.module.params import BridgeParams
from sidechain.blocks import BlockEnv, Event, EventAttribute, ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute, StepOutput
from sidechain.errors import InvalidGenesis, InvalidInput
from sidechain.extcommit import CommitTxError, ExtendedCommit, decode_commit_tx, is_commit_tx
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import MsgHandler
from sidechain.types import Amount, Coin, bech32_address, json_int


class InvalidBridgeQuery(InvalidInput):
    codespace = "bridge"
    code = 7


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


USAGE = ("/bridge/state | deposit/<event nonce> | supply/<denom> | disagreements[/<event nonce>] | "
         "withdrawal/<id> | batch/<nonce> | batches/pending | queue/<denom> | unexpected-executions")


def _withdrawal_json(reader: KVReader, w: wd.WithdrawalRec, prefix: str) -> dict[str, object]:
    out: dict[str, object] = {
        "id": w.id, "sender": bech32_address(w.sender, prefix), "denom": denom_of(w.token), "token": _hex(w.token),
        "recipient": _hex(w.recipient), "amount": str(w.amount), "fee": str(w.fee), "status": w.status,
        "queued_height": w.queued_height,
    }
    if w.batch_nonce:
        out["batch_nonce"] = w.batch_nonce
    if w.status == wd.QUEUED:
        out["position"] = wd.queue_position(reader, w)  # 1: the next batch takes it first
    if w.done_height:
        out["done_height"] = w.done_height
    return out


def _batch_json(b: wd.BatchRec) -> dict[str, object]:
    out: dict[str, object] = {
        "nonce": b.nonce, "denom": denom_of(b.token), "token": _hex(b.token), "timeout_l1_block": b.timeout_l1_block,
        "digest": _hex(b.digest), "status": b.status, "created_height": b.created_height,
        "amount": str(b.amount), "fee": str(b.fee),
        "withdrawals": [{"id": e.id, "recipient": _hex(e.recipient), "amount": str(e.amount), "fee": str(e.fee)}
                        for e in b.withdrawals],
    }
    if b.status == wd.EXECUTED:
        out.update(l1_tx=_hex(b.l1_tx), l1_block=b.l1_block, event_nonce=b.event_nonce)
    if b.done_height:
        out["done_height"] = b.done_height
    return out


class BridgeModule:
    name: ClassVar[str] = "bridge"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x40, 0x4F)
    msg_names: ClassVar[tuple[str, ...]] = msgs.MSG_NAMES
    needs: ClassVar[Mapping[str, type]] = {"bank": BridgeBank}
    params_type: ClassVar[Any] = BridgeParams

    def __init__(self, bank: BridgeBank) -> None:
        self._bank = bank
        self._module_accounts: frozenset[bytes] = frozenset()

    @property
    def keeper(self) -> object:
        return None

    def bind_module_accounts(self, accounts: frozenset[bytes]) -> None:
        self._module_accounts = accounts

    def get_params(self, state: KVReader) -> BridgeParams | None:
        return bs.get_params(state) if state.get(k.CONFIG) is not None else None

    # -- genesis ---------------------------------------------------------------------------------

    def default_genesis(self) -> BridgeGenesis:
        return BridgeGenesis.disabled()

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> BridgeGenesis:
        bank = ctx.earlier.get("bank")
        supply = {c.denom: int(c.amount) for c in getattr(bank, "supply", ())}
        return parse_genesis(obj, supply)

    def init_genesis(self, state: KVStore, gen: BridgeGenesis, ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        if gen.config is None:
            return ()
        if ctx.vote_extensions_enable_height < 1:
            raise InvalidGenesis("app_state.bridge: the bridge needs vote extensions: set "
                                 "consensus_params.abci.vote_extensions_enable_height (e.g. to 1)")
        assert gen.valset is not None
        bs.set_config(state, gen.config, ctx.vote_extensions_enable_height)
        bs.set_params(state, gen.params)
        bs.set_last_event_nonce(state, gen.last_event_nonce)
        bs.set_observed_l1_height(state, gen.observed_l1_height)
        state.set(k.LAST_EVENT_L1_BLOCK, k.u64(gen.last_event_l1_block or gen.config.deployed_at))
        bs.set_l1_valset(state, gen.valset)
        for denom, amount in gen.supply:
            bs.add_supply(state, denom, amount)
        return ()

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> BridgeGenesis:
        found = bs.get_config(state)
        if found is None:
            return BridgeGenesis.disabled()
        return BridgeGenesis(found[0], bs.get_params(state), bs.last_event_nonce(state), bs.observed_l1_height(state),
                             bs.get_l1_valset(state), tuple(bs.all_supply(state)), bs.last_event_l1_block(state))

    def genesis_to_json(self, gen: BridgeGenesis, ctx: GenesisContext) -> object | None:
        return gen.to_json()

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        found = bs.get_config(state)
        params = bs.get_params(state)
        return tuple(h(params, found[0] if found else None, self._bank) for h in msgs.HANDLERS)

    # -- vote extensions -------------------------------------------------------------------------

    def extended_commit_required(self, state: KVReader, height: int) -> bool:
        found = bs.get_config(state)
        return found is not None and height - 1 >= found[1]

    def extend_vote(self, state: KVReader, height: int, local: object, block_txs: Sequence[bytes]) -> bytes:
        if state.get(k.CONFIG) is None:
            return b""
        observer: L1Observer = local  # type: ignore[assignment]
        observed = observer.observed() if observer is not None else NOTHING_OBSERVED
        params = bs.get_params(state)
        # Start after what the block voted for will itself apply (its extended commit is first in it),
        # so that a burst of events moves at `max_events_per_extension` per block, not per two blocks.
        last = bs.last_event_nonce(state)
        if block_txs and is_commit_tx(block_txs[0]):
            try:
                commit = decode_commit_tx(block_txs[0])
            except CommitTxError:
                commit = None
            if commit is not None:
                last += len(attest.decide_events(self._reports(commit, params),
                                                 sum(v.power for v in commit.votes), last))
        return encode_extension(attest.build_extension(observed, last, params))

    def verify_vote_extension(self, state: KVReader, height: int, validator: bytes, extension: bytes) -> bool:
        if state.get(k.CONFIG) is None:
            return extension == b""
        try:
            attest.verify_extension(extension, bs.last_event_nonce(state), bs.get_params(state))
        except MalformedExtension:
            return False
        return True

    def after_commit(self, state: KVReader, height: int, local: object) -> None:
        found = bs.get_config(state)
        if found is None or local is None:
            return
        config = found[0]
        observer: L1Observer = local  # type: ignore[assignment]
        observer.progress(ChainProgress(
            height=height, l1_chain_id=config.l1_chain_id, contract=config.contract, deployed_at=config.deployed_at,
            last_event_nonce=bs.last_event_nonce(state), observed_l1_height=bs.observed_l1_height(state),
            l1_confirmations=bs.get_params(state).l1_confirmations))

    # -- FinalizeBlock ---------------------------------------------------------------------------

    def begin_block(self, state: KVStore, env: BlockEnv) -> StepOutput:
        commit = env.extended_commit
        if commit is None or state.get(k.CONFIG) is None:
            return StepOutput()
        reports = self._reports(commit, bs.get_params(state))
        total = sum(v.power for v in commit.votes)
        events: list[Event] = []
        last = bs.last_event_nonce(state)
        decided = attest.decide_events(reports, total, last)
        for e in decided:
            events.append(self._apply(state, e, env.height))
        new_last = last + len(decided)
        if new_last != last:
            bs.set_last_event_nonce(state, new_last)

        def is_applied(e: L1Event) -> bool:
            if e.nonce > new_last:
                return False
            digest = bs.applied_digest(state, e.nonce)
            return digest is None or digest == bs.event_digest(e)

        for r in reports:
            for e in (r.extension.events if r.extension else ()):
                if e.nonce <= new_last and not is_applied(e) and bs.put_disagreement(
                        state, e.nonce, r.validator, commit.height, e):
                    events.append(Event("bridge_report_disagreed", (
                        EventAttribute("event_nonce", str(e.nonce)),
                        EventAttribute("validator", r.validator.hex().upper()))))
        observed = bs.observed_l1_height(state)
        h = attest.decide_l1_height(reports, total, is_applied)
        if h > observed:
            bs.set_observed_l1_height(state, h)
            events.append(Event("bridge_observed_l1_height", (EventAttribute("height", str(h)),)))
        events.extend(self._refund_timed_out(state, max(h, observed), env.height))
        return StepOutput(events=tuple(events))

    def _refund_timed_out(self, state: KVStore, observed: int, height: int) -> list[Event]:
        """Step 4: after steps 1 and 2, every pending batch with observed_l1_height >= its timeout."""
        events = []
        for nonce in wd.pending_batches(state, up_to_timeout=observed):
            b = wd.get_batch(state, nonce)
            assert b is not None and b.status == wd.PENDING, (nonce, b)
            for w in wd.batch_withdrawals(state, b):
                denom = denom_of(w.token)
                self._bank.mint(state, w.sender, Coin(denom, Amount(w.total)))
                bs.add_supply(state, denom, w.total)
            wd.refund(state, b, height)
            events.append(Event("bridge_batch_refunded", (
                EventAttribute("batch_nonce", str(nonce)), EventAttribute("denom", denom_of(b.token)),
                EventAttribute("withdrawals", str(len(b.withdrawals))),
                EventAttribute("amount", str(b.amount)), EventAttribute("fee", str(b.fee)),
                EventAttribute("timeout_l1_block", str(b.timeout_l1_block)),
                EventAttribute("observed_l1_height", str(observed)))))
        return events

    def end_block(self, state: KVStore, env: BlockEnv) -> StepOutput:
        """Step 6: new batches, per token in token order."""
        found = bs.get_config(state)
        if found is None:
            return StepOutput()
        config = found[0]
        params = bs.get_params(state)
        timeout = bs.observed_l1_height(state) + params.batch_timeout_l1_blocks
        events = []
        for token, totals in wd.all_totals(state):
            if not wd.batch_due(state, token, totals, env.height, params.max_batch_size, params.batch_interval_blocks):
                continue
            b = wd.form_batch(state, token, params.max_batch_size, timeout, env.height, config.l1_chain_id,
                              config.contract)
            events.append(Event("bridge_batch_created", (
                EventAttribute("batch_nonce", str(b.nonce)), EventAttribute("denom", denom_of(token)),
                EventAttribute("withdrawals", str(len(b.withdrawals))),
                EventAttribute("amount", str(b.amount)), EventAttribute("fee", str(b.fee)),
                EventAttribute("timeout_l1_block", str(b.timeout_l1_block)),
                EventAttribute("digest", _hex(b.digest)))))
        return StepOutput(events=tuple(events))

    @staticmethod
    def _reports(commit: ExtendedCommit, params: BridgeParams) -> list[attest.Report]:
        reports = []
        for v in commit.committed():
            try:
                ext = attest.check_format(v.vote_extension, params)
            except MalformedExtension:
                ext = None  # a late or faulty vote: it reports nothing
            reports.append(attest.Report(v.validator_address, v.power, ext))
        return reports

    def _apply(self, state: KVStore, e: L1Event, height: int) -> Event:
        bs.set_applied(state, e)
        attrs = [EventAttribute("event_nonce", str(e.nonce)), EventAttribute("l1_tx", _hex(e.l1_tx))]
        kind = e.kind
        if isinstance(kind, Deposit):
            denom = denom_of(kind.token)
            credited = kind.recipient not in self._module_accounts
            if credited:
                self._bank.mint(state, kind.recipient, Coin(denom, Amount(kind.amount)))
                bs.add_supply(state, denom, kind.amount)
            bs.put_deposit(state, e, kind, height, credited)
            attrs += [EventAttribute("denom", denom), EventAttribute("amount", str(kind.amount)),
                      EventAttribute("recipient", kind.recipient.hex()),
                      EventAttribute("credited", "true" if credited else "false")]
            return Event("bridge_deposit", tuple(attrs))
        if isinstance(kind, ValsetUpdated):
            bs.set_l1_valset(state, L1Valset(kind.valset_nonce, kind.validators, kind.powers))
            attrs.append(EventAttribute("valset_nonce", str(kind.valset_nonce)))
            return Event("bridge_valset_updated", tuple(attrs))
        assert isinstance(kind, BatchExecuted)
        attrs.append(EventAttribute("batch_nonce", str(kind.batch_nonce)))
        b = wd.get_batch(state, kind.batch_nonce)
        if b is not None and b.status == wd.PENDING:
            wd.execute(state, b, e.nonce, e.l1_tx, e.l1_block, height)
            attrs += [EventAttribute("denom", denom_of(b.token)),
                      EventAttribute("withdrawals", str(len(b.withdrawals))),
                      EventAttribute("amount", str(b.amount)), EventAttribute("fee", str(b.fee))]
            return Event("bridge_batch_executed", tuple(attrs))
        # Not a batch this chain has pending: an unknown nonce, or (more than 1/3 of the power faulty)
        # one already refunded. Recorded for operators (/bridge/unexpected-executions); nothing moves.
        reason = "unknown" if b is None else b.status
        wd.record_unexpected(state, kind.batch_nonce, e.nonce, e.l1_tx, e.l1_block, height, reason)
        attrs.append(EventAttribute("reason", reason))
        return Event("bridge_unexpected_batch_execution", tuple(attrs))

    # -- queries ---------------------------------------------------------------------------------

    def query_routes(self) -> Sequence[QueryRoute]:
        return (QueryRoute("bridge", self._query, USAGE, min_args=1, max_args=None),)

    def _query(self, reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
        what, rest = args[0], list(args[1:])
        found = bs.get_config(reader)
        if what == "state" and not rest:
            if found is None:
                return QueryAnswer({"enabled": False})
            config, ve_height = found
            valset = bs.get_l1_valset(reader)
            totals = wd.all_totals(reader)
            return QueryAnswer({
                "enabled": True, "l1_chain_id": config.l1_chain_id, "contract": _hex(config.contract),
                "deployed_at": config.deployed_at, "vote_extensions_enable_height": ve_height,
                "last_event_nonce": bs.last_event_nonce(reader), "observed_l1_height": bs.observed_l1_height(reader),
                "last_event_l1_block": bs.last_event_l1_block(reader), "audit_l1_height": bs.audit_l1_height(reader),
                "valset": valset.to_json() if valset else None,
                "supply": {d: str(a) for d, a in bs.all_supply(reader)},
                # burned on the sidechain, not yet paid on L1 (amount + fee): the supply invariant counts them
                "queued": {denom_of(t): str(x.queued_total) for t, x in totals if x.queued},
                "in_batches": {denom_of(t): str(x.batched_total) for t, x in totals if x.batched},
                "executed": {denom_of(t): str(x.executed_total) for t, x in totals if x.executed},
                "next_withdrawal_id": wd.next_withdrawal_id(reader), "next_batch_nonce": wd.next_batch_nonce(reader),
                "params": bs.get_params(reader).to_json(),
            })
        if what == "deposit" and len(rest) == 1:
            nonce = json_int(rest[0], "event nonce", 1, 2**63 - 1, InvalidBridgeQuery)
            rec = bs.get_deposit(reader, nonce)
            if rec is None:
                applied = nonce <= bs.last_event_nonce(reader)
                raise UnknownBridgeRecord(f"event {nonce} is not a deposit" if applied else
                                          f"deposit {nonce} is not applied yet (last applied event: "
                                          f"{bs.last_event_nonce(reader)})")
            d = rec.deposit
            return QueryAnswer({
                "event_nonce": rec.event_nonce, "denom": rec.denom, "token": _hex(d.token), "sender": _hex(d.sender),
                "recipient": bech32_address(d.recipient, rules.address_prefix),
                "amount": str(int.from_bytes(d.amount, "big")), "l1_tx": _hex(rec.l1_tx), "l1_block": rec.l1_block,
                "height": rec.height, "credited": rec.credited,
            }, k.deposit_key(nonce))
        if what == "supply" and rest:
            denom = "/".join(rest)
            if token_of(denom) is None:
                raise InvalidBridgeQuery(f"{denom!r} is not a bridged denom (l1/eth or l1/0x<token>)")
            return QueryAnswer({"denom": denom, "amount": str(bs.supply(reader, denom))}, k.supply_key(denom))
        if what == "disagreements" and len(rest) <= 1:
            only = json_int(rest[0], "event nonce", 1, 2**63 - 1, InvalidBridgeQuery) if rest else None
            return QueryAnswer({"disagreements": [
                {"event_nonce": d.event_nonce, "validator": d.validator_address.hex().upper(), "height": d.height}
                for d in bs.disagreements(reader, only)]})
        if what == "withdrawal" and len(rest) == 1:
            wid = json_int(rest[0], "withdrawal id", 1, 2**64 - 1, InvalidBridgeQuery)
            w = wd.get_withdrawal(reader, wid)
            if w is None:
                raise UnknownBridgeRecord(f"no withdrawal {wid} (the next id is {wd.next_withdrawal_id(reader)})")
            return QueryAnswer(_withdrawal_json(reader, w, rules.address_prefix), k.withdrawal_key(wid))
        if what == "batch" and len(rest) == 1:
            nonce = json_int(rest[0], "batch nonce", 1, 2**64 - 1, InvalidBridgeQuery)
            b = wd.get_batch(reader, nonce)
            if b is None:
                raise UnknownBridgeRecord(f"no batch {nonce} (the next batch nonce is {wd.next_batch_nonce(reader)})")
            return QueryAnswer(_batch_json(b), k.batch_key(nonce))
        if what == "batches" and rest == ["pending"]:
            pending = [wd.get_batch(reader, n) for n in wd.pending_batches(reader)]
            return QueryAnswer({"batches": [_batch_json(b) for b in pending if b is not None]})
        if what == "queue" and rest:
            denom = "/".join(rest)
            token = token_of(denom)
            if token is None:
                raise InvalidBridgeQuery(f"{denom!r} is not a bridged denom (l1/eth or l1/0x<token>)")
            t = wd.get_totals(reader, token)
            oldest = wd.oldest_queued_height(reader, token)
            return QueryAnswer({
                "denom": denom, "token": _hex(token), "queued": t.queued, "amount": str(t.queued_amount),
                "fee": str(t.queued_fee), "total": str(t.queued_total), "oldest_queued_height": oldest,
                "in_batches": {"withdrawals": t.batched, "amount": str(t.batched_amount), "fee": str(t.batched_fee),
                               "total": str(t.batched_total)},
                "executed": {"withdrawals": t.executed, "amount": str(t.executed_amount), "fee": str(t.executed_fee),
                             "total": str(t.executed_total)},
            }, k.token_totals_key(token))
        if what == "unexpected-executions" and not rest:
            return QueryAnswer({"executions": [
                {"batch_nonce": int.from_bytes(u.batch_nonce, "big"), "event_nonce": u.event_nonce,
                 "l1_tx": _hex(u.l1_tx), "l1_block": u.l1_block, "height": u.height, "reason": u.reason}
                for u in wd.unexpected_executions(reader)]})
        raise InvalidBridgeQuery("usage: " + USAGE)
