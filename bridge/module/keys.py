"""Store keys of the bridge module (prefixes 0x40-0x4F). Heights and nonces are 8 bytes big-endian,
so keys sort in numeric order.

    0x40                      params (JSON, canonical)
    0x41                      the bridge's fixed facts: L1 chain id, contract, deployment block (JSON)
    0x42                      last applied event nonce (8 bytes)
    0x43                      observed_l1_height (8 bytes)
    0x44                      the L1 valset the contract holds (L1Valset)
    0x45 | denom              bridged supply of a denom (uint256, minimal big-endian)
    0x46 | nonce              deposit record (DepositRecord), by event nonce
    0x47 | nonce | address    a validator's report that disagreed with applied event `nonce` (Disagreement)
    0x48 | nonce              sha256 of the applied event `nonce` (to compare later reports against)
    0x49                      L1 block of the last applied event (8 bytes)
    0x4A                      withdrawals (BRIDGE.md section 5, step 5):
      0x4A 00                   the next withdrawal id (8 bytes)
      0x4A 01 | id              withdrawal record (WithdrawalRecord), kept after it is done
      0x4A 02 | token | rank | id   the queue of `token` in batch order: rank = 2^256 - 1 - fee (32
                                bytes), so the highest fee comes first and equal fees go by id; empty value
      0x4A 03 | token | id      the queue of `token` by age (value: queued height, 8 bytes)
      0x4A 04 | token           per-token totals: queued, in batches, executed (TokenTotals)
    0x4B                      batches (steps 1, 4 and 6):
      0x4B 00                   the next batch nonce (8 bytes)
      0x4B 01 | nonce           batch record (BatchRecord), kept after it is done
      0x4B 02 | timeout | nonce   pending batches by timeoutL1Block (8 + 8 bytes); empty value
      0x4B 03 | nonce (32)      a BatchExecuted applied for a batch that is not pending (UnexpectedExecution)
    0x4C                      valsets (step 7):
      0x4C 00                   the newest valset's nonce (32 bytes)
      0x4C 01 | nonce (32)      valset record (ValsetRecord); the genesis valset is one, created_height 0
    0x4D | kind | nonce (32) | address (20)   a validator's signature (65 bytes) over the digest of valset
                              (kind 1) or batch (kind 2) `nonce`, by the bridge address it recovers to (step 3)
    0x4E | digest | address   a signature over a digest the chain never produced (ForgedSignature)

A token is its 20-byte L1 address (ETH: all zero), so one token's keys are contiguous.
"""

from __future__ import annotations

PARAMS = b"\x40"
CONFIG = b"\x41"
LAST_EVENT_NONCE = b"\x42"
OBSERVED_L1_HEIGHT = b"\x43"
L1_VALSET = b"\x44"
SUPPLY = b"\x45"
DEPOSIT = b"\x46"
DISAGREEMENT = b"\x47"
APPLIED = b"\x48"
LAST_EVENT_L1_BLOCK = b"\x49"
WITHDRAWALS = b"\x4a"
NEXT_WITHDRAWAL_ID = WITHDRAWALS + b"\x00"
WITHDRAWAL = WITHDRAWALS + b"\x01"
QUEUE_BY_FEE = WITHDRAWALS + b"\x02"
QUEUE_BY_AGE = WITHDRAWALS + b"\x03"
TOKEN_TOTALS = WITHDRAWALS + b"\x04"
BATCHES = b"\x4b"
NEXT_BATCH_NONCE = BATCHES + b"\x00"
BATCH = BATCHES + b"\x01"
PENDING_BATCH = BATCHES + b"\x02"
UNEXPECTED_EXECUTION = BATCHES + b"\x03"
VALSETS = b"\x4c"
LATEST_VALSET_NONCE = VALSETS + b"\x00"
VALSET = VALSETS + b"\x01"
SIGNATURE = b"\x4d"
FORGED = b"\x4e"
UINT256_MAX = 2**256 - 1


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def supply_key(denom: str) -> bytes:
    return SUPPLY + denom.encode()


def deposit_key(nonce: int) -> bytes:
    return DEPOSIT + u64(nonce)


def disagreement_key(nonce: int, validator: bytes) -> bytes:
    return DISAGREEMENT + u64(nonce) + validator


def withdrawal_key(wid: int) -> bytes:
    return WITHDRAWAL + u64(wid)


def queue_fee_key(token: bytes, fee: int, wid: int) -> bytes:
    return QUEUE_BY_FEE + token + (UINT256_MAX - fee).to_bytes(32, "big") + u64(wid)


def queue_age_key(token: bytes, wid: int) -> bytes:
    return QUEUE_BY_AGE + token + u64(wid)


def token_totals_key(token: bytes) -> bytes:
    return TOKEN_TOTALS + token


def batch_key(nonce: int) -> bytes:
    return BATCH + u64(nonce)


def pending_batch_key(timeout_l1_block: int, nonce: int) -> bytes:
    return PENDING_BATCH + u64(timeout_l1_block) + u64(nonce)


def unexpected_execution_key(batch_nonce: int) -> bytes:
    return UNEXPECTED_EXECUTION + batch_nonce.to_bytes(32, "big")


def u256(n: int) -> bytes:
    return n.to_bytes(32, "big")


def valset_key(nonce: int) -> bytes:
    return VALSET + u256(nonce)


def signatures_prefix(kind: int, nonce: int) -> bytes:
    return SIGNATURE + bytes((kind,)) + u256(nonce)


def signature_key(kind: int, nonce: int, address: bytes) -> bytes:
    return signatures_prefix(kind, nonce) + address


def forged_key(digest: bytes, signer: bytes) -> bytes:
    return FORGED + digest + signer
