"""The bridge module through the module seam (sidechain/module.py): L1 events attested in vote
extensions and applied in FinalizeBlock (BRIDGE.md section 5).

    begin_block   1. L1 events: each next event reported identically by more than 2/3 of the power
                     of the extended commit at the top of the block is applied, in nonce order
                     (a Deposit mints, a ValsetUpdated records the contract's valset, a
                     BatchExecuted completes its pending batch, or is recorded when the chain
                     has no such batch pending); reports that differ are recorded for slashing
                  2. observed_l1_height: the highest L1 height more than 2/3 of the power vouch
                     for, each report capped below the first event it carries that was not applied
                  3. signatures: each valid signature of the commit's extensions over a pending valset
                     or batch digest is stored; a subject is ready once its signers carry
                     > 2863311530 of the normalised power of the contract's valset (bridge/module/signing.py)
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
                  7. new valset: when the set decided for height + 2 (staking's end-block step runs
                     first) differs in membership from the newest valset, or moved its normalised
                     powers by more than 5% in total (bridge/module/valsets.py)
    vote extensions   the owner (see sidechain.module.VoteExtender): extend_vote builds this
                  validator's extension from its watcher and signs what is pending with its bridge
                  key; verify_vote_extension checks another's

A chain whose genesis has no `bridge` section has no bridge: nothing is stored, extensions are
empty, and blocks carry no extended commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from bridge.module import attest, msgs
from bridge.module import keys as k
from bridge.module import signing as sg
from bridge.module import state as bs
from bridge.module import withdrawals as wd
from bridge.module.errors import MalformedExtension, UnknownBridgeRecord
from bridge.module.events import (
    SIGNED_BATCH,
    SIGNED_VALSET,
    BatchExecuted,
    Deposit,
    DigestSig,
    L1Event,
    ValsetUpdated,
    VoteExtension,
    denom_of,
    encode_extension,
    encode_sig,
    token_of,
)
from bridge.module.expected import BridgeBank, BridgeValidators
from bridge.module.genesis import BridgeGenesis, L1Valset, parse_genesis
from bridge.module.observe import NOTHING_OBSERVED, ChainProgress, ValidatorLocal
from bridge.module.params import BridgeParams
from bridge.module.valsets import new_valset_due, normalised
from sidechain.blocks import BlockEnv, Event, EventAttribute, ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute, StepOutput
from sidechain.errors import InvalidGenesis, InvalidInput
from sidechain.extcommit import CommitTxError, ExtendedCommit, decode_commit_tx, is_commit_tx
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import MsgHandler
from sidechain.types import Amount, Coin, bech32_address, json_int

log = logging.getLogger("sidechain.bridge")


class InvalidBridgeQuery(InvalidInput):
    codespace = "bridge"
    code = 7


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


USAGE = ("/bridge/state | deposit/<event nonce> | supply/<denom> | disagreements[/<event nonce>] | "
         "withdrawal/<id> | batch/<nonce> | batches/pending | queue/<denom> | unexpected-executions | "
         "valset/<nonce>|latest | valsets/pending | forged-signatures")


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


def _valset_json(reader: KVReader, v: sg.ValsetRec) -> dict[str, object]:
    out: dict[str, object] = {
        "nonce": v.nonce, "validators": [_hex(a) for a in v.validators], "powers": list(v.powers),
        "digest": _hex(v.digest), "created_height": v.created_height, "status": sg.valset_status(reader, v.nonce),
        **sg.signature_json(reader, SIGNED_VALSET, v.nonce),
    }
    if v.ready_height:
        out["ready_height"] = v.ready_height
    return out


def _batch_json(reader: KVReader, b: wd.BatchRec) -> dict[str, object]:
    out: dict[str, object] = {
        "nonce": b.nonce, "denom": denom_of(b.token), "token": _hex(b.token), "timeout_l1_block": b.timeout_l1_block,
        "digest": _hex(b.digest), "status": b.status, "created_height": b.created_height,
        "amount": str(b.amount), "fee": str(b.fee),
        "withdrawals": [{"id": e.id, "recipient": _hex(e.recipient), "amount": str(e.amount), "fee": str(e.fee)}
                        for e in b.withdrawals],
    }
    if b.status == wd.EXECUTED:
        out.update(l1_tx=_hex(b.l1_tx), l1_block=b.l1_block, event_nonce=b.event_nonce)
        if b.deferred:
            owed = wd.deferred_ids(b, b.deferred)
            out["deferred"] = [{"id": e.id, "recipient": _hex(e.recipient), "amount": str(e.amount)}
                               for e in b.withdrawals if e.id in owed]
    if b.done_height:
        out["done_height"] = b.done_height
    out.update(sg.signature_json(reader, SIGNED_BATCH, b.nonce))
    if b.ready_height:
        out["ready_height"] = b.ready_height
    return out


class BridgeModule:
    name: ClassVar[str] = "bridge"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x40, 0x4F)
    msg_names: ClassVar[tuple[str, ...]] = msgs.MSG_NAMES
    needs: ClassVar[Mapping[str, type]] = {"bank": BridgeBank, "validators": BridgeValidators}
    params_type: ClassVar[Any] = BridgeParams

    def __init__(self, bank: BridgeBank, validators: BridgeValidators) -> None:
        self._bank = bank
        self._validators = validators
        self._module_accounts: frozenset[bytes] = frozenset()
        self._unregistered_warned: bytes | None = None

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
        if sg.get_valset(state, gen.valset.nonce) is None:  # the contract was deployed with it
            sg.make_valset(state, gen.valset, 0)
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
        return tuple(h(params, found[0] if found else None, self._bank, self._validators) for h in msgs.HANDLERS)

    # -- vote extensions -------------------------------------------------------------------------

    def extended_commit_required(self, state: KVReader, height: int) -> bool:
        found = bs.get_config(state)
        return found is not None and height - 1 >= found[1]

    def extend_vote(self, state: KVReader, height: int, local: object, block_txs: Sequence[bytes]) -> bytes:
        if state.get(k.CONFIG) is None:
            return b""
        mine = local if isinstance(local, ValidatorLocal) else None
        observed = mine.observer.observed() if mine is not None else NOTHING_OBSERVED
        params = bs.get_params(state)
        # Start after what the block voted for will itself apply (its extended commit is first in it),
        # so that a burst of events moves at `max_events_per_extension` per block, not per two blocks.
        last = bs.last_event_nonce(state)
        commit = None
        if block_txs and is_commit_tx(block_txs[0]):
            try:
                commit = decode_commit_tx(block_txs[0])
            except CommitTxError:
                commit = None
            if commit is not None:
                last += len(attest.decide_events(self._reports(commit, params),
                                                 sum(v.power for v in commit.votes), last))
        ext = attest.build_extension(observed, last, params)
        signer = mine.signer if mine is not None else None
        if signer is not None:
            ext = self._sign_pending(state, height, signer, commit, params, ext)
        return encode_extension(ext)

    def _sign_pending(self, state: KVReader, height: int, signer: Any, commit: ExtendedCommit | None,
                      params: BridgeParams, ext: VoteExtension) -> VoteExtension:
        """`ext` with this validator's signatures over what is pending and not yet signed by it: not
        stored, and not in its own vote of the extended commit the voted block applies."""
        address = signer.address
        members = self._validators.bridge_members(state, height)
        if members is None or all(bridge != address for _, bridge, _ in members):
            if self._unregistered_warned != address:  # a key the chain does not know: others would refuse it
                self._unregistered_warned = address
                log.warning("bridge key 0x%s is not the registered bridge address of a validator in the set of "
                            "height %d: signing nothing (check app.toml [bridge] key_file)", address.hex(), height)
            return ext
        skip: frozenset[tuple[int, int]] = frozenset()
        if commit is not None:
            previous = self._validators.bridge_members(state, commit.height) or ()
            mine = {consensus for consensus, bridge, _ in previous if bridge == address}
            for v in commit.committed():
                if v.validator_address in mine:
                    try:
                        carried = attest.check_format(v.vote_extension, params).signatures
                    except MalformedExtension:
                        carried = ()
                    skip = frozenset((x.kind, x.nonce) for x in carried)
        size = len(encode_extension(ext))
        out: list[DigestSig] = []
        for kind, nonce, digest in sg.to_sign(state, address, skip, params.max_signatures_per_extension):
            sig = DigestSig(kind, nonce, signer.sign(digest))
            item = len(encode_sig(sig))
            if size + 3 + item > params.max_extension_bytes:  # tag + length (<= 2 bytes) + the message
                break
            out.append(sig)
            size += 3 + item
        return VoteExtension(ext.events, ext.l1_height, tuple(out)) if out else ext

    def verify_vote_extension(self, state: KVReader, height: int, validator: bytes, extension: bytes) -> bool:
        if state.get(k.CONFIG) is None:
            return extension == b""
        params = bs.get_params(state)
        try:
            ext = attest.verify_extension(extension, bs.last_event_nonce(state), params)
            if ext.signatures:
                members = self._validators.bridge_members(state, height) or ()
                bridge = next((b for c, b, _ in members if c == validator), None)
                sg.verify_signatures(state, ext.signatures, bridge, params.max_signatures_per_extension)
        except MalformedExtension as e:
            log.info("vote extension of %s at height %d refused: %s", validator.hex().upper(), height, e.message)
            return False
        return True

    def after_commit(self, state: KVReader, height: int, local: object) -> None:
        found = bs.get_config(state)
        if found is None:
            return
        config = found[0]
        if not isinstance(local, ValidatorLocal):
            return
        local.observer.progress(ChainProgress(
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
        valset_changed = any(isinstance(e.kind, ValsetUpdated) for e in decided)
        events.extend(self._store_signatures(state, commit, reports, valset_changed, env.height))
        events.extend(self._refund_timed_out(state, max(h, observed), env.height))
        return StepOutput(events=tuple(events))

    def _store_signatures(self, state: KVStore, commit: ExtendedCommit, reports: Sequence[attest.Report],
                          valset_changed: bool, height: int) -> list[Event]:
        """Step 3: the commit's signatures, each checked again, stored by the bridge address of its
        validator in the set of the commit's height; readiness re-judged where it can have changed."""
        signing = [r for r in reports if r.extension is not None and r.extension.signatures]
        if not signing and not valset_changed:
            return []  # most blocks: nothing signed, nothing to judge again
        members = self._validators.bridge_members(state, commit.height) or ()
        bridge_of = {consensus: bridge for consensus, bridge, _ in members}
        given = [(bridge_of[r.validator], r.extension.signatures) for r in signing
                 if r.extension is not None and r.validator in bridge_of]
        touched = sg.store_signatures(state, given)
        judge = sg.all_subject_keys(state) if valset_changed else sorted(touched)
        events = []
        for kind, nonce in sg.mark_ready(state, judge, height):
            name = "bridge_valset_ready" if kind == SIGNED_VALSET else "bridge_batch_ready"
            power = sg.signers_power(state, kind, nonce, bs.get_l1_valset(state))
            events.append(Event(name, (EventAttribute("nonce", str(nonce)),
                                       EventAttribute("signed_power", str(power)))))
        return events

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
        events.extend(self._new_valset(state, env.height))
        return StepOutput(events=tuple(events))

    def _new_valset(self, state: KVStore, height: int) -> list[Event]:
        """Step 7: the set staking decided for height + 2, normalised; a new valset when it is due."""
        members = self._validators.bridge_members(state, height + 2)
        if members is None:
            return []
        latest = sg.latest_valset(state)
        nonce = latest.nonce + 1 if latest is not None else 1
        candidate = normalised(nonce, ((bridge, power) for _, bridge, power in members))
        if not new_valset_due(latest.valset if latest is not None else None, candidate):
            return []
        rec = sg.make_valset(state, candidate, height)
        return [Event("bridge_valset_created", (
            EventAttribute("valset_nonce", str(rec.nonce)), EventAttribute("validators", str(len(rec.validators))),
            EventAttribute("digest", _hex(rec.digest))))]

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
            wd.execute(state, b, e.nonce, e.l1_tx, e.l1_block, height, kind.deferred)
            attrs += [EventAttribute("denom", denom_of(b.token)),
                      EventAttribute("withdrawals", str(len(b.withdrawals))),
                      EventAttribute("amount", str(b.amount)), EventAttribute("fee", str(b.fee)),
                      EventAttribute("deferred", str(len(kind.deferred)))]
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
                "latest_valset_nonce": sg.latest_valset_nonce(reader),
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
            return QueryAnswer(_batch_json(reader, b), k.batch_key(nonce))
        if what == "batches" and rest == ["pending"]:
            pending = [wd.get_batch(reader, n) for n in wd.pending_batches(reader)]
            return QueryAnswer({"batches": [_batch_json(reader, b) for b in pending if b is not None]})
        if what == "valset" and len(rest) == 1:
            latest = sg.latest_valset_nonce(reader)
            nonce = latest if rest[0] == "latest" and latest is not None else json_int(
                rest[0], "valset nonce", 0, 2**256 - 1, InvalidBridgeQuery)
            v = sg.get_valset(reader, nonce)
            if v is None:
                raise UnknownBridgeRecord(f"no valset {nonce} (the newest is {latest})")
            return QueryAnswer(_valset_json(reader, v), k.valset_key(nonce))
        if what == "valsets" and rest == ["pending"]:
            return QueryAnswer({"valsets": [_valset_json(reader, v) for v in sg.pending_valsets(reader)]})
        if what == "forged-signatures" and not rest:
            return QueryAnswer({"forged": [f for f in sg.forged_json(reader)]})
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
