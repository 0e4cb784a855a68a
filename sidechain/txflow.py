"""The transaction pipeline: the three phases every tx goes through, for the app to call.

    check_stateless(raw, ctx, cache)      size, strict decode, signature (chain id bound), messages
    check_stateful(state, tx, env)        timeout, fee >= minimum, sequence, funds >= amounts + fee;
                                          on success applies the tx to `state` (a check-state or a
                                          proposal branch), so the next tx of the same account is
                                          checked against it; on failure writes nothing
    deliver(state, tx, env) -> TxResult   in a block: the ante step (sequence + fee) always stands
                                          once it passes; the messages run on a branch that is
                                          written only if all of them succeed
    end_block(state, env)                 once per block, after the last tx: the block's fees go
                                          to the fee pool (one write per fee denom)

Who calls what (ABCI 2.0):
* CheckTx (new): check_stateless + check_stateful on the check-state.
* CheckTx (recheck, after every Commit on a fresh check-state): check_stateless(recheck=True),
  which never verifies a signature again, + check_stateful.
* PrepareProposal: per tx, check_stateless + check_stateful on a throwaway branch; drop failures,
  stop at the block's max bytes. ProcessProposal: the same, rejecting the block on any failure.
* FinalizeBlock: deliver_raw per tx (check_stateless through the cache, then deliver), end_block.

A `SignatureCache` keeps each verified `DecodedTx` by tx hash, so a tx that passed CheckTx on this
node is neither decoded nor verified again in proposals or FinalizeBlock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sidechain.auth import ante
from sidechain.auth import genesis as auth_genesis
from sidechain.auth import state as auth_state
from sidechain.auth.params import AuthParams
from sidechain.bank import genesis as bank_genesis
from sidechain.bank import state as bank_state
from sidechain.bank.errors import InsufficientFunds
from sidechain.bank.msgs import SendHandler
from sidechain.bank.params import BankParams
from sidechain.bank.state import BankKeeper, CollectedFees
from sidechain.blocks import Event, EventAttribute, TxResult
from sidechain.errors import InvalidGenesis, SidechainError
from sidechain.store.api import KVReader, KVStore
from sidechain.store.cache import CacheKV
from sidechain.tx import (
    DecodedTx,
    MsgHandler,
    MsgRegistry,
    check_limits,
    decode_tx,
    failed_result,
    tx_hash,
    validate_chain_id,
    verify_signature,
)
from sidechain.types import ZERO, Amount, bech32_address

BANK = BankKeeper()


# --- context -------------------------------------------------------------------------------------


def default_registry(bank_params: BankParams) -> MsgRegistry:
    """Every message type of the chain, in a fixed order (later issues append theirs)."""
    handlers: list[MsgHandler] = [SendHandler(bank_params)]
    return MsgRegistry(handlers)


@dataclass(frozen=True, slots=True)
class TxContext:
    """What the phases need besides state: chain id, auth params and the message types."""

    chain_id: str
    auth: AuthParams
    registry: MsgRegistry

    @property
    def max_tx_bytes(self) -> int:
        return self.auth.max_tx_bytes


def load_context(state: KVReader, chain_id: str) -> TxContext:
    """Read the params from state (once per block / after each Commit, not per tx)."""
    registry = default_registry(bank_state.get_params(state))
    return TxContext(validate_chain_id(chain_id), auth_state.get_params(state), registry)


@dataclass(slots=True)
class TxEnv:
    """Where txs execute: the height of the block they go in, the context, and the block's fees.

    For CheckTx use height = last committed height + 1 (the block a mempool tx would go in).
    Implements `sidechain.tx.ExecEnv` for message handlers.
    """

    height: int
    ctx: TxContext
    fees: CollectedFees = field(default_factory=CollectedFees)

    @property
    def address_prefix(self) -> str:
        return self.ctx.auth.address_prefix


# --- signature cache -----------------------------------------------------------------------------


class SignatureCache:
    """Verified DecodedTxs by tx hash (sha256 of the raw bytes), oldest evicted first.

    Identical bytes decode to an identical tx, so a hit needs no decoding and no verification.
    Entries are bound to one chain id (the signature covers it). Speed only: never changes a result.
    """

    def __init__(self, chain_id: str, max_entries: int = 200_000) -> None:
        self.chain_id = chain_id
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, DecodedTx] = OrderedDict()
        self.hits = 0
        self.verifications = 0

    def get(self, digest: bytes) -> DecodedTx | None:
        tx = self._entries.get(digest)
        if tx is not None:
            self.hits += 1
        return tx

    def put(self, tx: DecodedTx) -> None:
        entries = self._entries
        if tx.hash not in entries and len(entries) >= self.max_entries:
            entries.popitem(last=False)
        entries[tx.hash] = tx

    def discard(self, digest: bytes) -> None:
        self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._entries


# --- phase 1: stateless ----------------------------------------------------------------------------


def check_stateless(
    raw: bytes, ctx: TxContext, cache: SignatureCache | None = None, *, recheck: bool = False
) -> DecodedTx:
    """Size, strict decode, message checks and the signature. Raises a SidechainError.

    With `recheck=True` (CheckTx recheck) the signature is not verified again even on a cache miss:
    the tx is in the mempool only because this node verified it at its first CheckTx.
    """
    if len(raw) > ctx.auth.max_tx_bytes:  # before hashing or parsing anything
        check_limits(len(raw), 0, 0, ctx.auth)
    digest = tx_hash(raw)
    if cache is not None:
        if cache.chain_id != ctx.chain_id:
            raise ValueError(f"signature cache is for chain {cache.chain_id!r}, not {ctx.chain_id!r}")
        hit = cache.get(digest)
        if hit is not None:
            # decoded under possibly older params: re-check the param-dependent bounds
            check_limits(hit.size, hit.memo_bytes, len(hit.msgs), ctx.auth)
            return hit
    tx = decode_tx(raw, ctx.registry, ctx.auth, digest)
    if not recheck:
        verify_signature(tx, ctx.chain_id)
        if cache is not None:
            cache.verifications += 1
    if cache is not None:
        cache.put(tx)
    return tx


# --- phase 2: stateful ------------------------------------------------------------------------------


def _explain_funds(state: KVReader, tx: DecodedTx, registry: MsgRegistry) -> None:
    """After a message failed for lack of funds: if the signer's balances before the tx cannot
    cover the fee plus everything its messages pay out, say so per denom ("have 5stake, need 7stake
    (amount 6 + fee 1)"), which is clearer than the failing message's own view after the fee."""
    fee = tx.fee
    need: dict[str, Amount] = {fee.denom: fee.amount} if fee.amount else {}
    for name, msg in tx.msgs:
        for c in registry.handler(name).spends(msg):
            need[c.denom] = need.get(c.denom, ZERO) + c.amount
    for denom in sorted(need):
        have = BANK.balance(state, tx.signer, denom)
        total = need[denom]
        if have < total:
            fee_part = fee.amount if denom == fee.denom else ZERO
            detail = ""
            if fee_part and total != fee_part:
                detail = f" (amount {int(total - fee_part)} + fee {int(fee_part)})"
            raise InsufficientFunds(
                f"insufficient funds: have {int(have)}{denom}, need {int(total)}{denom}{detail}"
            )


def check_stateful(state: KVStore, tx: DecodedTx, env: TxEnv) -> None:
    """Everything a block would check, against `state`, then apply the tx to it (all or nothing).

    Raises a SidechainError (and writes nothing) if the tx could not be included in a block at
    `env.height` on top of `state`. Fees taken here are not added to `env.fees`.
    """
    sequence, fee_balance = ante.check_ante(state, tx, env.ctx.auth, env.height, BANK)
    branch = CacheKV(state)
    ante.apply_ante(branch, tx, sequence, fee_balance, BANK)
    registry = env.ctx.registry
    try:
        for name, msg in tx.msgs:
            handler = registry.handler(name)
            handler.check_stateful(branch, msg, env)
            handler.execute(branch, msg, env)
    except InsufficientFunds:
        _explain_funds(state, tx, registry)
        raise
    branch.write()


# --- phase 3: execution --------------------------------------------------------------------------

_MODULE_ATTRS: dict[tuple[str, str], tuple[EventAttribute, EventAttribute]] = {}


def _message_event(handler: MsgHandler, sender: EventAttribute) -> Event:
    consts = _MODULE_ATTRS.get((handler.module, handler.name))
    if consts is None:
        consts = (EventAttribute("action", handler.name), EventAttribute("module", handler.module))
        _MODULE_ATTRS[(handler.module, handler.name)] = consts
    return Event("message", (consts[0], consts[1], sender))


def deliver(state: KVStore, tx: DecodedTx, env: TxEnv) -> TxResult:
    """Execute a stateless-checked tx in a block. Never raises for invalid input.

    * ante fails (timeout, fee, sequence, cannot pay the fee): nothing is written, the result has
      the error's code; the tx pays nothing (there is nothing it can be charged from).
    * ante passes: the sequence is bumped and the fee taken (added to `env.fees`) for good; then
      the messages run on a branch. If one fails, the branch is dropped and the result carries the
      error's code with the `tx` and `fee` events only.

    Events: `tx` {acc_seq: "<address>/<sequence>"}, `fee` {payer, amount}, then per message a
    `message` {action, module, sender} and the message's own events (`transfer` {sender,
    recipient, amount}). Addresses are bech32, amounts like "5stake"; all attributes are indexed.
    """
    try:
        sequence, fee_balance = ante.check_ante(state, tx, env.ctx.auth, env.height, BANK)
    except SidechainError as e:
        return failed_result(e)
    ante.apply_ante(state, tx, sequence, fee_balance, BANK)
    env.fees.add(tx.fee)

    signer = bech32_address(tx.signer, env.ctx.auth.address_prefix)
    payer = EventAttribute("payer", signer)
    ante_events = (
        Event("tx", (EventAttribute("acc_seq", f"{signer}/{sequence}"),)),
        Event("fee", (payer, EventAttribute("amount", str(tx.fee)))),
    )
    events: list[Event] = list(ante_events)
    sender = EventAttribute("sender", signer)
    branch = CacheKV(state)
    registry = env.ctx.registry
    try:
        for name, msg in tx.msgs:
            handler = registry.handler(name)
            handler.check_stateful(branch, msg, env)
            events.append(_message_event(handler, sender))
            events.extend(handler.execute(branch, msg, env))
    except SidechainError as e:
        return failed_result(e, ante_events)
    branch.write()
    return TxResult(events=tuple(events))


def deliver_raw(state: KVStore, raw: bytes, env: TxEnv, cache: SignatureCache | None = None) -> TxResult:
    """check_stateless (through the cache) + deliver: what FinalizeBlock does for each tx."""
    try:
        tx = check_stateless(raw, env.ctx, cache)
    except SidechainError as e:
        return failed_result(e)
    return deliver(state, tx, env)


def end_block(state: KVStore, env: TxEnv) -> None:
    """Move the block's collected fees into the fee pool (kept for the proof-of-stake module)."""
    if env.fees:
        bank_state.add_to_fee_pool(state, env.fees.coins())
        env.fees.clear()


# --- genesis ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Genesis:
    auth: auth_genesis.AuthGenesis
    bank: bank_genesis.BankGenesis


def parse_genesis(app_state: Any) -> Genesis:
    """Validate the `auth` and `bank` sections of genesis `app_state` (other sections are ignored
    here). Raises InvalidGenesis whose message names the offending path."""
    if not isinstance(app_state, dict):
        raise InvalidGenesis(f"app_state: expected a JSON object, got {type(app_state).__name__}")
    auth = auth_genesis.AuthGenesis.from_json(app_state.get("auth"))
    bank = bank_genesis.BankGenesis.from_json(app_state.get("bank"), auth.params.address_prefix)
    return Genesis(auth, bank)


def init_genesis(state: KVStore, gen: Genesis) -> None:
    auth_genesis.init_genesis(state, gen.auth)
    bank_genesis.init_genesis(state, gen.bank, gen.auth.params.address_prefix)


def default_genesis_json() -> dict[str, object]:
    """The `auth` and `bank` sections of a default app_state (for `sidechain init`)."""
    auth = auth_genesis.AuthGenesis.default()
    bank = bank_genesis.BankGenesis.default()
    return {"auth": auth.to_json(), "bank": bank.to_json(auth.params.address_prefix)}
