"""The tx-wide checks and effects that run before any message: timeout, fee and sequence.

`check_ante` only reads; `apply_ante` bumps the sequence, records the public key and takes the
fee. In a block, the ante effects of a tx stand even when its messages fail (the fee pays for the
block space), which is why they are applied outside the messages' branch.
"""

from __future__ import annotations

from sidechain.auth.errors import FeeDenomNotAccepted, FeeTooLow, InsufficientFeeFunds, WrongSequence
from sidechain.auth.expected import FeeBank
from sidechain.auth.keys import ACCOUNT_PREFIX, SEQUENCE_LEN
from sidechain.auth.params import AuthParams
from sidechain.auth.state import set_account
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import DecodedTx, TxTimedOut
from sidechain.types import Amount, coins_str


def check_fee_params(tx: DecodedTx, params: AuthParams) -> None:
    """The fee denom is accepted and the fee is at least its minimum (no state needed)."""
    fee = tx.fee
    minimum = params.min_fee(fee.denom)
    if minimum is None:
        raise FeeDenomNotAccepted(
            f"fees are not accepted in {fee.denom!r}; accepted minimums: {coins_str(params.min_fees)}"
        )
    if fee.amount < minimum:
        raise FeeTooLow(f"fee {fee} is below the minimum {int(minimum)}{fee.denom}")


def check_ante(
    state: KVReader, tx: DecodedTx, params: AuthParams, height: int, bank: FeeBank
) -> tuple[int, Amount]:
    """-> (the account's sequence, its balance in the fee denom). Raises on any failure."""
    if tx.timeout_height and height > tx.timeout_height:
        raise TxTimedOut(f"tx timed out at height {tx.timeout_height}; this block is {height}")
    check_fee_params(tx, params)
    v = state.get(ACCOUNT_PREFIX + tx.signer)
    sequence = 0 if v is None else int.from_bytes(v[:SEQUENCE_LEN], "big")
    if tx.sequence != sequence:
        raise WrongSequence(
            f"account sequence mismatch: expected {sequence}, got {tx.sequence}"
            + (" (already used: a replay?)" if tx.sequence < sequence else "")
        )
    fee = tx.fee
    balance = bank.balance(state, tx.signer, fee.denom)
    if balance < fee.amount:
        raise InsufficientFeeFunds(f"insufficient funds for fee: have {int(balance)}{fee.denom}, need {fee}")
    return sequence, balance


def apply_ante(state: KVStore, tx: DecodedTx, sequence: int, fee_balance: Amount, bank: FeeBank) -> None:
    """Bump the sequence, record the key, take the fee (the caller credits it to the block's fees)."""
    set_account(state, tx.signer, sequence + 1, tx.public_key)
    if tx.fee.amount:
        bank.set_balance(state, tx.signer, tx.fee.denom, fee_balance - tx.fee.amount)
