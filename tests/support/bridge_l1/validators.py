"""Deterministic validator bridge keys and valsets for tests, the gas report and local testnets."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from bridge.protocol import MAX_TOTAL_POWER, NO_SIGNATURE, POWER_THRESHOLD, Signature, Valset
from bridge.signing import sign_digest


def validator_accounts(count: int, seed: str = "bridge-test") -> list[LocalAccount]:
    """`count` deterministic keys sorted by address (valset order). Public test keys: never fund them."""
    accounts = [Account.from_key(keccak(text=f"{seed}/{i}")) for i in range(count)]
    return sorted(accounts, key=lambda a: int(a.address, 16))


def equal_valset(accounts: Sequence[LocalAccount], nonce: int = 0) -> Valset:
    """Equal stakes, normalised as section 2 says: each power is floor(2^32 / n)."""
    power = MAX_TOTAL_POWER // len(accounts)
    ordered = sorted(accounts, key=lambda a: int(a.address, 16))
    return Valset.of(nonce, [a.address for a in ordered], [power] * len(ordered))


def minimum_signers(valset: Valset) -> list[int]:
    """Indexes of the fewest validators (largest powers first) whose power exceeds the threshold."""
    order = sorted(range(len(valset.powers)), key=lambda i: (-valset.powers[i], i))
    chosen: list[int] = []
    power = 0
    for i in order:
        chosen.append(i)
        power += valset.powers[i]
        if power > POWER_THRESHOLD:
            return sorted(chosen)
    raise ValueError("the whole valset does not exceed the threshold")


def sign_by(
    valset: Valset, accounts: Sequence[LocalAccount], digest: bytes, signers: Sequence[int] | None = None
) -> list[Signature]:
    """Signature[] in valset order, where validators at `signers` (default: all) sign `digest`."""
    by_address = {a.address: a for a in accounts}
    chosen = set(range(len(valset.validators)) if signers is None else signers)
    return [
        sign_digest(by_address[address], digest) if i in chosen else NO_SIGNATURE
        for i, address in enumerate(valset.validators)
    ]
