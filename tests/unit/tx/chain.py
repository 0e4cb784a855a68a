"""Test fixtures shared by the tx, auth and bank tests: keys, a funded in-memory state, tx builders."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from nacl.signing import SigningKey

from sidechain.bank.msgs import MsgSend
from sidechain.env import ChainRules, TxEnv, next_block_env
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.module import CHAIN
from sidechain.store.backends import MemoryBackend
from sidechain.store.cache import CacheKV
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address

CHAIN_ID = "test-chain-1"
PREFIX = "side"


def key(i: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"test-key-%d" % i).digest())


def addr(k: SigningKey) -> bytes:
    return address_of_pubkey(bytes(k.verify_key))


def bech(a: bytes) -> str:
    return bech32_address(a, PREFIX)


def coin(amount: int, denom: str = "stake") -> Coin:
    return Coin(denom, Amount(amount))


def genesis_json(
    balances: Iterable[tuple[bytes, Sequence[Coin]]],
    min_fees: Sequence[Coin] = (Coin("stake", Amount(1)),),
    **auth_params: object,
) -> dict[str, object]:
    params: dict[str, object] = {
        "address_prefix": PREFIX,
        "min_fees": [{"denom": c.denom, "amount": str(int(c.amount))} for c in min_fees],
    }
    params.update(auth_params)
    return {
        "auth": {"params": params},
        "bank": {
            "balances": [
                {
                    "address": bech(a),
                    "coins": [{"denom": c.denom, "amount": str(int(c.amount))} for c in coins],
                }
                for a, coins in balances
            ]
        },
    }


def new_state(
    balances: Iterable[tuple[bytes, Sequence[Coin]]], chain_id: str = CHAIN_ID, **kw: object
) -> tuple[CacheKV, ChainRules]:
    """A fresh state (CacheKV over an in-memory backend) after genesis, and its tx rules."""
    state = CacheKV(MemoryBackend())
    CHAIN.init_genesis(state, CHAIN.parse_genesis(genesis_json(balances, **kw)))  # type: ignore[arg-type]
    return state, CHAIN.rules(state, chain_id)


def env(rules: ChainRules, height: int = 1) -> TxEnv:
    return TxEnv(next_block_env(rules.chain_id, height, 0), rules)


def send_msg(k: SigningKey, to: bytes, *coins: Coin) -> tx_pb2.Msg:
    return MsgSend(addr(k), to, tuple(sorted(coins, key=lambda c: c.denom))).to_proto()


def send_tx(
    k: SigningKey,
    to: bytes,
    amount: int | Coin,
    sequence: int,
    fee: int | Coin = 1,
    chain_id: str = CHAIN_ID,
    memo: str = "",
    timeout_height: int = 0,
) -> bytes:
    c = amount if isinstance(amount, Coin) else coin(amount)
    f = fee if isinstance(fee, Coin) else coin(fee)
    return build_signed_tx(k, chain_id, [send_msg(k, to, c)], sequence, f, memo, timeout_height)
