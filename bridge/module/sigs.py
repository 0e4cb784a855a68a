"""Validators' secp256k1 signatures over valset and batch digests (BRIDGE.md sections 4-5): the
rules the contract applies, applied on the sidechain before a signature is stored.

A signature is 65 bytes r || s || v with v in {27, 28}; high-s signatures are refused (the contract
uses OpenZeppelin's ECDSA.tryRecover, which refuses them), so one key has one signature per digest.
A batch or valset is ready when the signatures carry normalised power > 2863311530 in the valset the
contract holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.module.errors import MalformedExtension
from bridge.module.genesis import POWER_THRESHOLD, L1Valset

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def recover(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that made `signature` over `digest`; MalformedExtension if it is not a
    canonical signature (65 bytes, v 27/28, 0 < r < n, 0 < s <= n/2) or recovers to no key."""
    if len(signature) != 65:
        raise MalformedExtension(f"a signature is 65 bytes (r || s || v), got {len(signature)}")
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if v not in (27, 28):
        raise MalformedExtension(f"signature v must be 27 or 28, got {v}")
    if not 0 < r < SECP256K1_N:
        raise MalformedExtension("signature r is out of range")
    if not 0 < s <= SECP256K1_N // 2:
        raise MalformedExtension("signature s is high or zero (malleable): the contract would refuse it")
    from eth_keys import keys
    from eth_keys.exceptions import BadSignature, ValidationError

    try:
        pub = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError):
        raise MalformedExtension("the signature recovers to no key") from None
    return bytes(pub.to_canonical_address())


def sign(private_key: bytes, digest: bytes) -> bytes:
    """65 bytes r || s || v (v 27/28, low s) by a secp256k1 key (the validator's bridge key)."""
    return KeySigner(private_key).sign(digest)


def signed_power(valset: L1Valset, signers: Mapping[bytes, bytes] | set[bytes] | frozenset[bytes]) -> int:
    """Normalised power in `valset` of the addresses in `signers`."""
    return sum(p for a, p in zip(valset.validators, valset.powers, strict=True) if a in signers)


def ready(valset: L1Valset, signers: Mapping[bytes, bytes] | set[bytes] | frozenset[bytes]) -> bool:
    return signed_power(valset, signers) > POWER_THRESHOLD


class KeySigner:
    """A bridge key held in memory (a validator's app process; see sidechain/node.py for loading).
    Its repr and str never show the key."""

    __slots__ = ("_key", "_address")

    def __init__(self, private_key: bytes) -> None:
        from eth_keys import keys

        self._key = keys.PrivateKey(private_key)
        self._address = bytes(self._key.public_key.to_canonical_address())

    @property
    def address(self) -> bytes:
        return self._address

    def sign(self, digest: bytes) -> bytes:
        v, r, s = self._key.sign_msg_hash(digest).vrs
        if s > SECP256K1_N // 2:  # the contract and the chain take only low-s signatures (any backend)
            s, v = SECP256K1_N - s, v ^ 1
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v + 27,))

    def __repr__(self) -> str:
        return f"KeySigner(0x{self._address.hex()})"

    __str__ = __repr__
