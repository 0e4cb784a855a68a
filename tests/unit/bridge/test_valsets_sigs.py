"""Valsets the sidechain makes (normalised powers, when a new one is due) and the signature rules it
applies before storing a validator's signature over a digest (BRIDGE.md sections 2, 4, 5)."""

from __future__ import annotations

import hashlib

import pytest

from bridge.module.errors import MalformedExtension
from bridge.module.genesis import POWER_THRESHOLD, L1Valset
from bridge.module.sigs import SECP256K1_N, ready, recover, sign, signed_power
from bridge.module.valsets import new_valset_due, normalised, power_moved
from bridge.protocol import Valset

A, B, C, D = (bytes([i]) * 20 for i in (0x11, 0x22, 0x33, 0x44))


def test_normalised_matches_the_l1_tooling_and_the_contract_rules() -> None:
    stakes = {A: 30, D: 10, B: 25, C: 35}
    v = normalised(3, stakes.items())
    ref = Valset.from_stakes(3, {"0x" + a.hex(): s for a, s in stakes.items()})
    assert v.validators == tuple(bytes.fromhex(a[2:]) for a in ref.validators) == (A, B, C, D)
    assert v.powers == ref.powers and v.problem() is None and v.total_power <= 2**32


def test_tiny_stakes_are_left_out() -> None:
    v = normalised(1, [(A, 10**30), (B, 1)])
    assert v.validators == (A,)


def test_a_new_valset_is_due_at_first_on_membership_and_past_five_percent() -> None:
    base = normalised(1, [(A, 25), (B, 25), (C, 25), (D, 25)])
    assert new_valset_due(None, base)
    assert new_valset_due(base, normalised(2, [(A, 25), (B, 25), (C, 25)]))
    # moving 4.9% vs 5.1% of 2^32 of power between two members (|+x| + |-x| = 2x)
    q = 2**32 // 4

    def moved(bps: int) -> L1Valset:
        x = 2**32 * bps // 20_000  # half of the total move on each side
        return L1Valset(2, (A, B, C, D), (q + x, q - x, q, q))

    assert power_moved(base, moved(490)) < 2**32 * 5 // 100 < power_moved(base, moved(510))
    assert not new_valset_due(base, moved(490))
    assert new_valset_due(base, moved(510))


KEYS = [hashlib.sha256(b"bridge-%d" % i).digest() for i in range(4)]


def test_recover_gives_the_signer_and_refuses_malformed_or_malleable_signatures() -> None:
    from eth_keys import keys

    digest = hashlib.sha256(b"a batch digest").digest()
    sig = sign(KEYS[0], digest)
    addr = bytes(keys.PrivateKey(KEYS[0]).public_key.to_canonical_address())
    assert recover(digest, sig) == addr
    assert recover(hashlib.sha256(b"another digest").digest(), sig) != addr  # a digest it never signed
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,))  # the malleable twin
    with pytest.raises(MalformedExtension, match="high"):
        recover(digest, high_s)
    for bad, why in ((sig[:64], "65 bytes"), (sig[:64] + b"\x01", "27 or 28"), (b"\x00" * 32 + sig[32:], "r is")):
        with pytest.raises(MalformedExtension, match=why):
            recover(digest, bad)


def test_readiness_at_exactly_the_threshold_and_one_above() -> None:
    exact = L1Valset(1, (A, B), (POWER_THRESHOLD, 2**32 - POWER_THRESHOLD))
    assert signed_power(exact, {A}) == POWER_THRESHOLD and not ready(exact, {A})
    above = L1Valset(1, (A, B), (POWER_THRESHOLD + 1, 2**32 - POWER_THRESHOLD - 1))
    assert ready(above, {A}) and ready(above, {A, B}) and not ready(above, {B})
    assert not ready(above, {C})  # not a member: counts nothing
