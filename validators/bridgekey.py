"""A validator's bridge key: the proof of possession its registration carries (bridge protocol, section 2).

The proof is a secp256k1 signature (65 bytes r || s || v, v in {27, 28} or {0, 1}) by the bridge key
over `keccak256("sidechain-bridge-key" || chain_id || operator_address)`; it must recover to the
registered address. Without it a validator could register someone else's address. High-s
signatures are refused (one signature per key and message).
"""

from __future__ import annotations

from validators.errors import InvalidBridgeProof

# eth-keys and eth-utils are imported on first use: loading them costs ~0.7 s, which every CLI
# command would otherwise pay at start-up (only staking messages and genesis need them).

DOMAIN = b"sidechain-bridge-key"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def proof_digest(chain_id: str, operator: bytes) -> bytes:
    from eth_utils import keccak

    return bytes(keccak(DOMAIN + chain_id.encode() + operator))


def verify_bridge_proof(chain_id: str, operator: bytes, bridge_address: bytes, proof: bytes) -> None:
    """InvalidBridgeProof unless `proof` is `bridge_address`'s signature for this chain and operator."""
    if len(bridge_address) != 20 or bridge_address == b"\x00" * 20:
        raise InvalidBridgeProof("the bridge address must be 20 bytes and not zero")
    if len(proof) != 65:
        raise InvalidBridgeProof(f"the bridge key proof is {len(proof)} bytes, expected 65 (r || s || v)")
    from eth_keys import keys
    from eth_keys.exceptions import BadSignature, ValidationError

    r, s, v = int.from_bytes(proof[:32], "big"), int.from_bytes(proof[32:64], "big"), proof[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise InvalidBridgeProof("the bridge key proof is not a canonical secp256k1 signature (low s, v 27/28)")
    try:
        pub = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(proof_digest(chain_id, operator))
    except (BadSignature, ValidationError):
        raise InvalidBridgeProof("the bridge key proof does not recover to any key") from None
    if pub.to_canonical_address() != bridge_address:
        raise InvalidBridgeProof(
            f"the bridge key proof was made by 0x{pub.to_canonical_address().hex()}, not the bridge address "
            f"0x{bridge_address.hex()} (sign the proof with the bridge key, for this chain and operator)")


def sign_bridge_proof(private_key: bytes, chain_id: str, operator: bytes) -> tuple[bytes, bytes]:
    """(bridge address, 65-byte proof) for a bridge private key (CLI, genesis tools and tests)."""
    from eth_keys import keys

    pk = keys.PrivateKey(private_key)
    sig = pk.sign_msg_hash(proof_digest(chain_id, operator))
    v, r, s = sig.vrs
    return pk.public_key.to_canonical_address(), r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v + 27,))
