"""Reading and writing auth state (layout in keys.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sidechain.auth.errors import SequenceOverflow
from sidechain.auth.keys import ACCOUNT_PREFIX, PARAMS_KEY, SEQUENCE_LEN
from sidechain.auth.params import AuthParams
from sidechain.store.api import KVReader, KVStore, prefix_end

MAX_SEQUENCE = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Account:
    address: bytes
    sequence: int
    public_key: bytes  # b"" until the account's first tx


def encode_account(sequence: int, public_key: bytes) -> bytes:
    return sequence.to_bytes(SEQUENCE_LEN, "big") + public_key


def decode_account(address: bytes, value: bytes) -> Account:
    return Account(address, int.from_bytes(value[:SEQUENCE_LEN], "big"), value[SEQUENCE_LEN:])


def get_account(state: KVReader, address: bytes) -> Account:
    """The account at `address` (sequence 0 and no key if it never signed a tx)."""
    v = state.get(ACCOUNT_PREFIX + address)
    return Account(address, 0, b"") if v is None else decode_account(address, v)


def get_sequence(state: KVReader, address: bytes) -> int:
    v = state.get(ACCOUNT_PREFIX + address)
    return 0 if v is None else int.from_bytes(v[:SEQUENCE_LEN], "big")


def set_account(state: KVStore, address: bytes, sequence: int, public_key: bytes) -> None:
    if sequence > MAX_SEQUENCE:
        raise SequenceOverflow(f"account sequence would exceed {MAX_SEQUENCE}")
    state.set(ACCOUNT_PREFIX + address, sequence.to_bytes(SEQUENCE_LEN, "big") + public_key)


def iterate_accounts(state: KVReader) -> list[Account]:
    """All accounts in address order."""
    return [decode_account(k[1:], v) for k, v in state.iterate(ACCOUNT_PREFIX, prefix_end(ACCOUNT_PREFIX))]


def get_params(state: KVReader) -> AuthParams:
    v = state.get(PARAMS_KEY)
    if v is None:
        raise LookupError("auth params are not in state (InitChain not run?)")
    return AuthParams.decode(v)


def set_params(state: KVStore, params: AuthParams) -> None:
    params.validate()
    state.set(PARAMS_KEY, params.encode())
