"""Signing section-4 digests with a validator's bridge key, and assembling the `Signature[]` a call carries.

A digest is signed raw (no EIP-191 prefix): it already is an EIP-712 digest. eth-account produces low-s
signatures with v in {27, 28}, which is what the contract accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_typing import ChecksumAddress

from bridge.errors import InsufficientPowerError, SignatureError
from bridge.protocol import NO_SIGNATURE, POWER_THRESHOLD, Signature, Valset, checksum

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def sign_digest(account: LocalAccount, digest: bytes) -> Signature:
    if len(digest) != 32:
        raise SignatureError(f"a digest is 32 bytes, got {len(digest)}")
    signed = Account.unsafe_sign_hash(digest, account.key)
    return Signature(int(signed.v), int(signed.r), int(signed.s))


def recover_signer(digest: bytes, signature: Signature) -> ChecksumAddress:
    """The address that produced `signature` over `digest`; SignatureError when it is malformed or high-s."""
    if signature.v not in (27, 28):
        raise SignatureError(f"v must be 27 or 28, got {signature.v}")
    if not 0 < signature.s <= SECP256K1_N // 2:
        raise SignatureError("s is zero or in the upper half of the curve order (malleable signature)")
    try:
        sig = keys.Signature(vrs=(signature.v - 27, signature.r, signature.s))
        public_key = sig.recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise SignatureError(f"signature does not recover: {exc}") from None
    return checksum(public_key.to_checksum_address())


def signed_power(valset: Valset, signatures: Mapping[str, Signature]) -> int:
    return sum(valset.powers[valset.index_of(a)] for a in signatures)


def assemble_signatures(
    valset: Valset, digest: bytes, signatures: Mapping[str, Signature], *, require_threshold: bool = True
) -> list[Signature]:
    """The `Signature[]` for a call: entry i signed by validators[i] or `NO_SIGNATURE`.

    Each given signature must recover to the validator it is filed under (a bad one would make the contract
    revert the whole call); signers that are not members are refused. With `require_threshold`, the signed
    power must exceed the threshold, as the contract requires.
    """
    by_index: dict[int, Signature] = {}
    for address, signature in signatures.items():
        index = valset.index_of(address)
        signer = recover_signer(digest, signature)
        if signer != checksum(address):
            raise SignatureError(f"signature filed under {checksum(address)} was made by {signer}")
        by_index[index] = signature
    power = sum(valset.powers[i] for i in by_index)
    if require_threshold and power <= POWER_THRESHOLD:
        raise InsufficientPowerError(power, POWER_THRESHOLD + 1)
    return [by_index.get(i, NO_SIGNATURE) for i in range(len(valset.validators))]


def sign_all(valset: Valset, digest: bytes, accounts: Mapping[str, LocalAccount]) -> list[Signature]:
    """Every listed validator whose key is given signs; convenience for tests, the testnet and tools."""
    signatures: dict[str, Signature] = {checksum(addr): sign_digest(acct, digest) for addr, acct in accounts.items()}
    return assemble_signatures(valset, digest, signatures, require_threshold=False)
