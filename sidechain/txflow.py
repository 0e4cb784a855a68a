"""The transaction pipeline: the three phases every tx goes through, whatever its modules.

    check_stateless(raw, rules, cache)    size, strict decode, signature (chain id bound), messages
    check_stateful(state, tx, env)        the ante step (timeout, fee >= minimum, sequence, fee
                                          funds), then every message's check and execution (with
                                          the handler's `apply_state` if it has one: the writes of
                                          `execute` without its events); on success the tx is
                                          applied to `state` (a check-state or a proposal branch),
                                          so the next tx of the same account is checked against
                                          it; on failure nothing is written
    deliver(state, tx, env) -> TxResult   in a block: the ante effects (sequence + fee) always
                                          stand once they pass; the messages run on a branch that
                                          is written only if all of them succeed

Who calls what (ABCI 2.0):
* CheckTx (new): check_stateless + check_stateful on the check-state.
* CheckTx (recheck, after every Commit on a fresh check-state): check_stateless(recheck=True),
  which never verifies a signature again, + check_stateful.
* PrepareProposal: per tx, check_stateless + check_stateful on a throwaway branch; drop failures,
  stop at the block's max bytes. ProcessProposal: the same, rejecting the block on any failure.
* FinalizeBlock (sidechain/block.py): deliver_raw per tx.

The ante step is the auth module's (`rules.ante`), the message handlers are the modules'
(`rules.registry`); a module may turn a failure into a clearer error (`rules.explain`).

A `SignatureCache` keeps each verified `DecodedTx` by tx hash, so a tx that passed CheckTx on this
node is neither decoded nor verified again in proposals or FinalizeBlock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from sidechain.blocks import Event, EventAttribute, TxResult
from sidechain.env import ChainRules, TxEnv
from sidechain.errors import InvalidInput
from sidechain.store.api import KVStore
from sidechain.store.cache import CacheKV
from sidechain.tx import (
    DecodedTx,
    MsgHandler,
    check_limits,
    check_size,
    decode_tx,
    failed_result,
    tx_hash,
    verify_signature,
)
from sidechain.types import bech32_address

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


# --- parallel signature verification ----------------------------------------------------------------

VERIFY_THREADS = 2
MIN_PARALLEL = 8  # fewer uncached txs than this: the sequential path verifies them as it goes
VERIFY_CHUNK = 8  # txs per task of the pool


def _verify_chunk(txs: list[DecodedTx], chain_id: str) -> list[bool]:
    out = []
    for tx in txs:
        try:
            verify_signature(tx, chain_id)
        except InvalidInput:
            out.append(False)
        else:
            out.append(True)
    return out


class ParallelVerifier:
    """Verifies the signatures of many txs at once on a small thread pool, into a SignatureCache.

    libsodium's verification (through PyNaCl's cffi binding) runs without the GIL, so the threads
    verify in parallel with each other and with this thread, which decodes the next txs meanwhile.
    The pool gets chunks of VERIFY_CHUNK txs (one future per tx cost more than a tenth of a
    verification); once every tx is decoded, this thread verifies the chunks no pool thread has started
    (from the back: the pool takes them from the front) instead of waiting for them.
    Speed only, never a result: a tx is decoded exactly as `check_stateless` decodes it, and only a
    tx whose signature verified goes into the cache (which then skips decoding and verifying it);
    every other tx is left to the sequential path, which gives its error. The cache is only touched
    from the calling thread.
    """

    def __init__(self, threads: int = VERIFY_THREADS) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def verify(self, txs: Iterable[DecodedTx], rules: ChainRules, cache: SignatureCache) -> int:
        """Verify `txs` (decoded, not in `cache`; an iterator may decode them lazily, overlapping the
        verification of those before) in parallel; put those that verify into `cache`. Fewer than
        MIN_PARALLEL: nothing is done (the sequential path verifies them). Returns how many verified."""
        if cache.chain_id != rules.chain_id:
            raise ValueError(f"signature cache is for chain {cache.chain_id!r}, not {rules.chain_id!r}")
        if self.threads <= 0:
            return 0  # verified on the caller's thread, one by one, by the sequential path
        chain_id = rules.chain_id
        chunks: list[list[DecodedTx]] = []
        futures: list[Future[list[bool]]] = []
        chunk: list[DecodedTx] = []
        seen = 0
        pool = self._pool
        for tx in txs:
            chunk.append(tx)
            seen += 1
            if len(chunk) >= VERIFY_CHUNK and seen >= MIN_PARALLEL:
                if pool is None:
                    pool = self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ed25519")
                chunks.append(chunk)
                futures.append(pool.submit(_verify_chunk, chunk, chain_id))
                chunk = []
        if seen < MIN_PARALLEL:
            return 0
        results: list[list[bool] | None] = [None] * len(chunks)
        if chunk:  # the last, partial chunk: this thread's own
            chunks.append(chunk)
            results.append(_verify_chunk(chunk, chain_id))
        for i in range(len(futures) - 1, -1, -1):
            if not futures[i].cancel():
                break  # a pool thread has started it, so every chunk before it too
            results[i] = _verify_chunk(chunks[i], chain_id)
        ok = 0
        for i, chunk in enumerate(chunks):
            verified = results[i]
            if verified is None:
                verified = futures[i].result()
            for tx, good in zip(chunk, verified, strict=True):
                if good:
                    cache.put(tx)
                    cache.verifications += 1
                    ok += 1
        return ok

    def verify_raw(self, raws: Iterable[bytes], rules: ChainRules, cache: SignatureCache) -> int:
        """The txs of a block (or proposal) not in `cache` yet: decoded here, verified in parallel."""
        return self.verify(self.uncached(raws, rules, cache), rules, cache)

    @staticmethod
    def uncached(raws: Iterable[bytes], rules: ChainRules, cache: SignatureCache) -> Iterator[DecodedTx]:
        """The txs of `raws` not in `cache`, decoded as check_stateless decodes them (those that do not
        decode are skipped: the sequential path refuses them)."""
        limits = rules.limits
        for raw in raws:
            digest = tx_hash(raw)
            if digest in cache:
                continue
            try:
                yield decode_tx(raw, rules.registry, limits, digest)
            except InvalidInput:
                continue

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


# --- phase 1: stateless ----------------------------------------------------------------------------


def check_stateless(
    raw: bytes, rules: ChainRules, cache: SignatureCache | None = None, *, recheck: bool = False,
    precheck: Callable[[DecodedTx], object] | None = None,
) -> DecodedTx:
    """Size, strict decode, message checks and the signature. Raises an InvalidInput.

    With `recheck=True` (CheckTx recheck) the signature is not verified again even on a cache miss:
    the tx is in the mempool only because this node verified it at its first CheckTx.

    `precheck` (CheckTx of a new tx only, never in a block: it changes which error a tx with several
    faults gets) runs on a decoded tx before its signature is verified, and may raise: a tx that
    cannot pass anyway (a wrong sequence, arriving out of order by gossip; a fee it cannot pay) is
    refused without the ed25519 verification, the costliest check.
    """
    limits = rules.limits
    check_size(len(raw), limits)  # before hashing or parsing anything
    digest = tx_hash(raw)
    if cache is not None:
        if cache.chain_id != rules.chain_id:
            raise ValueError(f"signature cache is for chain {cache.chain_id!r}, not {rules.chain_id!r}")
        hit = cache.get(digest)
        if hit is not None:
            # decoded under possibly older params: re-check the param-dependent bounds
            check_limits(hit.size, hit.memo_bytes, len(hit.msgs), limits)
            return hit
    tx = decode_tx(raw, rules.registry, limits, digest)
    if precheck is not None:
        precheck(tx)
    if not recheck:
        verify_signature(tx, rules.chain_id)
        if cache is not None:
            cache.verifications += 1
    if cache is not None:
        cache.put(tx)
    return tx


# --- phase 2: stateful ------------------------------------------------------------------------------


def check_stateful(state: KVStore, tx: DecodedTx, env: TxEnv) -> None:
    """Everything a block would check, against `state`, then apply the tx to it (all or nothing).

    Raises an InvalidInput (and writes nothing) if the tx could not be included in a block at
    `env.height` on top of `state`. Fees taken here are not added to `env.fees`.
    """
    rules = env.rules
    checked = rules.ante.check(state, tx, env.height)
    branch = CacheKV(state)
    rules.ante.apply(branch, tx, checked)
    registry = rules.registry
    try:
        for name, msg in tx.msgs:
            handler = registry.handler(name)
            handler.check_stateful(branch, msg, env)
            apply = getattr(handler, "apply_state", None)  # execute without building events, if offered
            if apply is None:
                handler.execute(branch, msg, env)
            else:
                apply(branch, msg, env)
    except InvalidInput as e:
        better = rules.explain(state, tx, e)
        if better is e:
            raise
        raise better from None
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
    recipient, amount}). Addresses are bech32, amounts like "5stake"; all attributes are marked indexed
    (a node may have CometBFT index fewer: app.toml tx_index.index_events).
    """
    rules = env.rules
    try:
        checked = rules.ante.check(state, tx, env.block.height)
    except InvalidInput as e:
        return failed_result(e)
    sequence = rules.ante.apply(state, tx, checked)
    env.fees.add(tx.fee)

    signer = bech32_address(tx.signer, rules.address_prefix)
    payer = EventAttribute("payer", signer)
    ante_events = (
        Event("tx", (EventAttribute("acc_seq", f"{signer}/{sequence}"),)),
        Event("fee", (payer, EventAttribute("amount", str(tx.fee)))),
    )
    events: list[Event] = list(ante_events)
    sender = EventAttribute("sender", signer)
    branch = CacheKV(state)
    registry = rules.registry
    try:
        for name, msg in tx.msgs:
            handler = registry.handler(name)
            handler.check_stateful(branch, msg, env)
            events.append(_message_event(handler, sender))
            events.extend(handler.execute(branch, msg, env))
    except InvalidInput as e:
        return failed_result(e, ante_events)
    branch.write()
    return TxResult(events=tuple(events))


def deliver_raw(state: KVStore, raw: bytes, env: TxEnv, cache: SignatureCache | None = None) -> TxResult:
    """check_stateless (through the cache) + deliver: what FinalizeBlock does for each tx."""
    try:
        tx = check_stateless(raw, env.rules, cache)
    except InvalidInput as e:
        return failed_result(e)
    return deliver(state, tx, env)
