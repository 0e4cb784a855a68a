"""Proof-of-stake fixtures: deterministic genesis validators (operator, consensus and bridge keys)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey

from sidechain.types import address_of_pubkey, bech32_address
from validators.bridgekey import sign_bridge_proof

DEFAULT_SELF_DELEGATION = 10 * 1_000_000  # 10 units of power at the default power reduction


@dataclass(frozen=True)
class GenesisValidatorKeys:
    index: int
    operator_key: SigningKey
    consensus_key: SigningKey
    bridge_key: bytes  # secp256k1 private key

    @property
    def operator(self) -> bytes:
        return address_of_pubkey(bytes(self.operator_key.verify_key))

    @property
    def consensus_pubkey(self) -> bytes:
        return bytes(self.consensus_key.verify_key)

    @property
    def consensus_address(self) -> bytes:
        return hashlib.sha256(self.consensus_pubkey).digest()[:20]


def validator_keys(i: int) -> GenesisValidatorKeys:
    return GenesisValidatorKeys(
        i, SigningKey(hashlib.sha256(b"operator-%d" % i).digest()),
        SigningKey(hashlib.sha256(b"consensus-%d" % i).digest()),
        hashlib.sha256(b"bridge-%d" % i).digest())


def create_entry(keys: GenesisValidatorKeys, chain_id: str, prefix: str = "side",
                 self_delegation: int = DEFAULT_SELF_DELEGATION, commission_bps: int = 1000) -> dict[str, Any]:
    bridge_address, proof = sign_bridge_proof(keys.bridge_key, chain_id, keys.operator)
    return {"operator": bech32_address(keys.operator, prefix),
            "consensus_pubkey": base64.b64encode(keys.consensus_pubkey).decode(),
            "bridge_address": "0x" + bridge_address.hex(), "bridge_key_proof": "0x" + proof.hex(),
            "moniker": f"val{keys.index}", "details": "", "commission_bps": commission_bps,
            "max_commission_bps": 2000, "max_change_bps": 100, "min_self_delegation": "1",
            "self_delegation": str(self_delegation)}


def staking_section(chain_id: str, n: int = 1, prefix: str = "side", params: dict[str, Any] | None = None,
                    self_delegation: int = DEFAULT_SELF_DELEGATION) -> dict[str, Any]:
    section: dict[str, Any] = {"validators": [create_entry(validator_keys(i), chain_id, prefix, self_delegation)
                                              for i in range(n)]}
    if params is not None:
        section["params"] = params
    return section


def operator_balances(n: int, amount: int, denom: str = "stake") -> list[tuple[bytes, int, str]]:
    return [(validator_keys(i).operator, amount, denom) for i in range(n)]
