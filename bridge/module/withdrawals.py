"""Withdrawals and batches in the store (BRIDGE.md section 5, steps 1, 4, 5 and 6; key layout in
bridge/module/keys.py). Pure state operations: the caller burns and mints (the bank) and keeps the
bridged supply; these keep the records, the queue's two orders and the per-token totals.

    queued    --form_batch-->  batched  --execute-->  executed  (or deferred: L1 ran the batch but
       |                          |                              could not pay this one; it is owed
     cancel                  refund (timeout)                    on L1 to the recipient: claimDeferred)
       v                          v
    cancelled                  refunded

A withdrawal is in exactly one of these states; every move is one function here, and each keeps
`TokenTotals` equal to the sum over the records (a property test checks it), so the supply invariant
can read the queue and the pending batches of a token from one key.

Consensus code: integers only, keys in byte order, no set or dict iteration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.module import digests
from bridge.module import keys as k
from bridge.module.events import uint256_bytes
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.store.api import KVReader, KVStore, prefix_end

QUEUED, BATCHED, EXECUTED, REFUNDED, CANCELLED = "queued", "batched", "executed", "refunded", "cancelled"
DEFERRED = "deferred"
PENDING = "pending"
_W_STATUS = {QUEUED: pb.WITHDRAWAL_STATUS_QUEUED, BATCHED: pb.WITHDRAWAL_STATUS_BATCHED,
             EXECUTED: pb.WITHDRAWAL_STATUS_EXECUTED, REFUNDED: pb.WITHDRAWAL_STATUS_REFUNDED,
             CANCELLED: pb.WITHDRAWAL_STATUS_CANCELLED, DEFERRED: pb.WITHDRAWAL_STATUS_DEFERRED}
_W_NAME = {v: n for n, v in _W_STATUS.items()}
_B_STATUS = {PENDING: pb.BATCH_STATUS_PENDING, EXECUTED: pb.BATCH_STATUS_EXECUTED, REFUNDED: pb.BATCH_STATUS_REFUNDED}
_B_NAME = {v: n for n, v in _B_STATUS.items()}


def _u256(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _u64(raw: bytes | None) -> int:
    return int.from_bytes(raw, "big") if raw else 0


# --- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WithdrawalRec:
    id: int
    sender: bytes     # 20 bytes, sidechain account
    token: bytes      # 20 bytes; all zero = ETH
    recipient: bytes  # 20 bytes, L1
    amount: int
    fee: int
    queued_height: int
    status: str = QUEUED
    batch_nonce: int = 0
    done_height: int = 0

    @property
    def total(self) -> int:
        return self.amount + self.fee

    def encode(self) -> bytes:
        return pb.WithdrawalRecord(
            id=self.id, sender=self.sender, token=self.token, recipient=self.recipient,
            amount=uint256_bytes(self.amount), fee=uint256_bytes(self.fee), queued_height=self.queued_height,
            status=_W_STATUS[self.status], batch_nonce=self.batch_nonce, done_height=self.done_height,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> WithdrawalRec:
        m = pb.WithdrawalRecord.FromString(raw)
        return cls(m.id, bytes(m.sender), bytes(m.token), bytes(m.recipient), _u256(m.amount), _u256(m.fee),
                   m.queued_height, _W_NAME[m.status], m.batch_nonce, m.done_height)


@dataclass(frozen=True, slots=True)
class BatchEntry:
    id: int
    recipient: bytes
    amount: int
    fee: int


@dataclass(frozen=True, slots=True)
class BatchRec:
    nonce: int
    token: bytes
    timeout_l1_block: int
    digest: bytes
    withdrawals: tuple[BatchEntry, ...]  # in the contract's order: highest fee first, then lowest id
    created_height: int
    status: str = PENDING
    l1_tx: bytes = b""
    l1_block: int = 0
    event_nonce: int = 0
    done_height: int = 0
    ready_height: int = 0  # first height its signatures carried > 2/3 of the contract's valset
    deferred: tuple[tuple[bytes, int], ...] = ()  # once executed: (recipient, amount) L1 could not pay

    @property
    def amount(self) -> int:
        return sum(w.amount for w in self.withdrawals)

    @property
    def fee(self) -> int:
        return sum(w.fee for w in self.withdrawals)

    def raw_withdrawals(self) -> list[digests.RawWithdrawal]:
        """The `Withdrawal[]` the contract receives (and the digest commits to)."""
        return [(self.token, w.recipient, w.amount, w.fee) for w in self.withdrawals]

    def encode(self) -> bytes:
        return pb.BatchRecord(
            nonce=self.nonce, token=self.token, timeout_l1_block=self.timeout_l1_block, digest=self.digest,
            status=_B_STATUS[self.status],
            withdrawals=[pb.BatchEntry(id=w.id, recipient=w.recipient, amount=uint256_bytes(w.amount),
                                       fee=uint256_bytes(w.fee)) for w in self.withdrawals],
            created_height=self.created_height, l1_tx=self.l1_tx, l1_block=self.l1_block,
            event_nonce=self.event_nonce, done_height=self.done_height,
            amount=uint256_bytes(self.amount), fee=uint256_bytes(self.fee), ready_height=self.ready_height,
            deferred=[pb.DeferredPayout(recipient=r, amount=uint256_bytes(a)) for r, a in self.deferred],
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> BatchRec:
        m = pb.BatchRecord.FromString(raw)
        return cls(m.nonce, bytes(m.token), m.timeout_l1_block, bytes(m.digest),
                   tuple(BatchEntry(e.id, bytes(e.recipient), _u256(e.amount), _u256(e.fee)) for e in m.withdrawals),
                   m.created_height, _B_NAME[m.status], bytes(m.l1_tx), m.l1_block, m.event_nonce, m.done_height,
                   m.ready_height, tuple((bytes(d.recipient), _u256(d.amount)) for d in m.deferred))


@dataclass(frozen=True, slots=True)
class Totals:
    """Per token: the queue, the pending batches (counts, amounts, fees) and what L1 has paid out."""

    queued: int = 0
    queued_amount: int = 0
    queued_fee: int = 0
    batched: int = 0
    batched_amount: int = 0
    batched_fee: int = 0
    executed: int = 0
    executed_amount: int = 0
    executed_fee: int = 0

    @property
    def queued_total(self) -> int:
        return self.queued_amount + self.queued_fee

    @property
    def batched_total(self) -> int:
        return self.batched_amount + self.batched_fee

    @property
    def executed_total(self) -> int:
        return self.executed_amount + self.executed_fee

    def encode(self) -> bytes:
        return pb.TokenTotals(
            queued=self.queued, queued_amount=uint256_bytes(self.queued_amount),
            queued_fee=uint256_bytes(self.queued_fee), batched=self.batched,
            batched_amount=uint256_bytes(self.batched_amount), batched_fee=uint256_bytes(self.batched_fee),
            executed=self.executed, executed_amount=uint256_bytes(self.executed_amount),
            executed_fee=uint256_bytes(self.executed_fee),
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> Totals:
        m = pb.TokenTotals.FromString(raw)
        return cls(m.queued, _u256(m.queued_amount), _u256(m.queued_fee), m.batched, _u256(m.batched_amount),
                   _u256(m.batched_fee), m.executed, _u256(m.executed_amount), _u256(m.executed_fee))


# --- reading -----------------------------------------------------------------------------------------


def get_withdrawal(state: KVReader, wid: int) -> WithdrawalRec | None:
    raw = state.get(k.withdrawal_key(wid))
    return None if raw is None else WithdrawalRec.decode(raw)


def get_batch(state: KVReader, nonce: int) -> BatchRec | None:
    if not 0 < nonce < 2**64:
        return None
    raw = state.get(k.batch_key(nonce))
    return None if raw is None else BatchRec.decode(raw)


def get_totals(state: KVReader, token: bytes) -> Totals:
    raw = state.get(k.token_totals_key(token))
    return Totals() if raw is None else Totals.decode(raw)


def all_totals(state: KVReader) -> list[tuple[bytes, Totals]]:
    """(token, totals) of every token with a withdrawal ever, in token order."""
    return [(key[len(k.TOKEN_TOTALS):], Totals.decode(raw))
            for key, raw in state.iterate(k.TOKEN_TOTALS, prefix_end(k.TOKEN_TOTALS))]


def next_withdrawal_id(state: KVReader) -> int:
    return _u64(state.get(k.NEXT_WITHDRAWAL_ID)) or 1


def next_batch_nonce(state: KVReader) -> int:
    return _u64(state.get(k.NEXT_BATCH_NONCE)) or 1


def queue_position(state: KVReader, w: WithdrawalRec) -> int:
    """1 for the withdrawal the next batch of its token takes first (fee order)."""
    start = k.QUEUE_BY_FEE + w.token
    mine = k.queue_fee_key(w.token, w.fee, w.id)
    return 1 + sum(1 for _ in state.iterate(start, mine))


def oldest_queued_height(state: KVReader, token: bytes) -> int | None:
    start = k.QUEUE_BY_AGE + token
    for _, raw in state.iterate(start, prefix_end(start)):
        return _u64(raw)
    return None


def pending_batches(state: KVReader, up_to_timeout: int | None = None) -> list[int]:
    """Nonces of pending batches by timeout (then nonce); only those with timeout <= `up_to_timeout`."""
    end = prefix_end(k.PENDING_BATCH) if up_to_timeout is None else k.PENDING_BATCH + k.u64(up_to_timeout + 1)
    return [int.from_bytes(key[-8:], "big") for key, _ in state.iterate(k.PENDING_BATCH, end)]


def unexpected_executions(state: KVReader) -> list[pb.UnexpectedExecution]:
    return [pb.UnexpectedExecution.FromString(raw)
            for _, raw in state.iterate(k.UNEXPECTED_EXECUTION, prefix_end(k.UNEXPECTED_EXECUTION))]


# --- writing -----------------------------------------------------------------------------------------


def _put(state: KVStore, w: WithdrawalRec) -> None:
    state.set(k.withdrawal_key(w.id), w.encode())


def _set_totals(state: KVStore, token: bytes, t: Totals) -> None:
    state.set(k.token_totals_key(token), t.encode())


def queue(state: KVStore, sender: bytes, token: bytes, recipient: bytes, amount: int, fee: int,
          height: int) -> WithdrawalRec:
    """Record a new withdrawal (its amount + fee already burned) at the end of its token's queue."""
    wid = next_withdrawal_id(state)
    state.set(k.NEXT_WITHDRAWAL_ID, k.u64(wid + 1))
    w = WithdrawalRec(wid, sender, token, recipient, amount, fee, height)
    _put(state, w)
    state.set(k.queue_fee_key(token, fee, wid), b"")
    state.set(k.queue_age_key(token, wid), k.u64(height))
    t = get_totals(state, token)
    _set_totals(state, token, replace(t, queued=t.queued + 1, queued_amount=t.queued_amount + amount,
                                      queued_fee=t.queued_fee + fee))
    return w


def _unqueue(state: KVStore, w: WithdrawalRec) -> None:
    state.delete(k.queue_fee_key(w.token, w.fee, w.id))
    state.delete(k.queue_age_key(w.token, w.id))


def cancel(state: KVStore, w: WithdrawalRec, height: int) -> WithdrawalRec:
    """A queued withdrawal leaves the queue (the caller mints amount + fee back to its sender)."""
    assert w.status == QUEUED, w
    _unqueue(state, w)
    done = replace(w, status=CANCELLED, done_height=height)
    _put(state, done)
    t = get_totals(state, w.token)
    _set_totals(state, w.token, replace(t, queued=t.queued - 1, queued_amount=t.queued_amount - w.amount,
                                        queued_fee=t.queued_fee - w.fee))
    return done


def batch_due(state: KVReader, token: bytes, totals: Totals, height: int, max_batch_size: int,
              interval: int) -> bool:
    """Step 6: the queue is not empty and holds a full batch or its oldest has waited `interval` blocks."""
    if totals.queued == 0:
        return False
    if totals.queued >= max_batch_size:
        return True
    oldest = oldest_queued_height(state, token)
    return oldest is not None and height - oldest >= interval


def form_batch(state: KVStore, token: bytes, max_batch_size: int, timeout_l1_block: int, height: int,
               l1_chain_id: int, contract: bytes) -> BatchRec:
    """The `max_batch_size` highest-fee withdrawals of `token`'s queue (ties: lowest id first) as the
    next batch, with its digest; they leave the queue."""
    start = k.QUEUE_BY_FEE + token
    picked: list[int] = []
    for key, _ in state.iterate(start, prefix_end(start)):
        picked.append(int.from_bytes(key[-8:], "big"))
        if len(picked) == max_batch_size:
            break
    assert picked, "form_batch on an empty queue"
    nonce = next_batch_nonce(state)
    state.set(k.NEXT_BATCH_NONCE, k.u64(nonce + 1))
    entries = []
    for wid in picked:
        w = get_withdrawal(state, wid)
        assert w is not None and w.status == QUEUED and w.token == token, (wid, w)
        _unqueue(state, w)
        _put(state, replace(w, status=BATCHED, batch_nonce=nonce))
        entries.append(BatchEntry(w.id, w.recipient, w.amount, w.fee))
    b = BatchRec(nonce, token, timeout_l1_block, b"", tuple(entries), height)
    b = replace(b, digest=digests.batch_digest(l1_chain_id, contract, nonce, timeout_l1_block, b.raw_withdrawals()))
    state.set(k.batch_key(nonce), b.encode())
    state.set(k.pending_batch_key(timeout_l1_block, nonce), b"")
    amount, fee = b.amount, b.fee
    t = get_totals(state, token)
    _set_totals(state, token, replace(
        t, queued=t.queued - len(entries), queued_amount=t.queued_amount - amount, queued_fee=t.queued_fee - fee,
        batched=t.batched + len(entries), batched_amount=t.batched_amount + amount,
        batched_fee=t.batched_fee + fee))
    return b


def deferred_ids(b: BatchRec, deferred: Sequence[tuple[bytes, int]]) -> set[int]:
    """The withdrawals of `b` that L1 deferred (see `match_deferred`)."""
    return match_deferred([(e.id, e.recipient, e.amount) for e in b.withdrawals], deferred)


def match_deferred(entries: Sequence[tuple[int, bytes, int]], deferred: Sequence[tuple[bytes, int]]) -> set[int]:
    """The ids among a batch's `(id, recipient, amount)` entries, in the contract's order, that L1
    deferred: the contract pays in that order and logs each failed payout in that order, so the logs
    match the entries in one pass (what is left over is the relayer's fee payment, deferred after the
    payouts). The chain and `bridge withdraw` both apply this rule."""
    out: set[int] = set()
    i = 0
    for wid, recipient, amount in entries:
        if i < len(deferred) and deferred[i] == (recipient, amount) and amount > 0:
            out.add(wid)
            i += 1
    return out


def _finish(state: KVStore, b: BatchRec, status: str, height: int, event_nonce: int = 0, l1_tx: bytes = b"",
            l1_block: int = 0, deferred: Sequence[tuple[bytes, int]] = ()) -> BatchRec:
    """A pending batch leaves the pending set as `status`; so does each of its withdrawals (those L1
    deferred become `deferred`)."""
    assert b.status == PENDING, b
    state.delete(k.pending_batch_key(b.timeout_l1_block, b.nonce))
    done = replace(b, status=status, done_height=height, event_nonce=event_nonce, l1_tx=l1_tx, l1_block=l1_block,
                   deferred=tuple(deferred))
    state.set(k.batch_key(b.nonce), done.encode())
    owed = deferred_ids(b, deferred) if deferred else set()
    for e in b.withdrawals:
        w = get_withdrawal(state, e.id)
        assert w is not None and w.status == BATCHED and w.batch_nonce == b.nonce, (e.id, w)
        _put(state, replace(w, status=DEFERRED if e.id in owed else status, done_height=height))
    t = get_totals(state, b.token)
    n, amount, fee = len(b.withdrawals), b.amount, b.fee
    t = replace(t, batched=t.batched - n, batched_amount=t.batched_amount - amount, batched_fee=t.batched_fee - fee)
    if status == EXECUTED:
        t = replace(t, executed=t.executed + n, executed_amount=t.executed_amount + amount,
                    executed_fee=t.executed_fee + fee)
    _set_totals(state, b.token, t)
    return done


def execute(state: KVStore, b: BatchRec, event_nonce: int, l1_tx: bytes, l1_block: int, height: int,
            deferred: Sequence[tuple[bytes, int]] = ()) -> BatchRec:
    """Step 1, BatchExecuted: L1 ran the batch; it is done and can never be refunded. A payout L1
    deferred is still out of the sidechain's hands: L1 owes it to the recipient (claimDeferred)."""
    return _finish(state, b, EXECUTED, height, event_nonce, l1_tx, l1_block, deferred)


def set_ready_height(state: KVStore, b: BatchRec, height: int) -> None:
    state.set(k.batch_key(b.nonce), replace(b, ready_height=height).encode())


def refund(state: KVStore, b: BatchRec, height: int) -> BatchRec:
    """Step 4, timeout: the batch is cancelled (the caller mints each withdrawal's amount + fee back)."""
    return _finish(state, b, REFUNDED, height)


def record_unexpected(state: KVStore, batch_nonce: int, event_nonce: int, l1_tx: bytes, l1_block: int, height: int,
                      reason: str) -> None:
    m = pb.UnexpectedExecution(batch_nonce=uint256_bytes(batch_nonce), event_nonce=event_nonce, l1_tx=l1_tx,
                               l1_block=l1_block, height=height, reason=reason)
    state.set(k.unexpected_execution_key(batch_nonce), m.SerializeToString(deterministic=True))


def batch_withdrawals(state: KVReader, b: BatchRec) -> Sequence[WithdrawalRec]:
    out = []
    for e in b.withdrawals:
        w = get_withdrawal(state, e.id)
        assert w is not None
        out.append(w)
    return out
