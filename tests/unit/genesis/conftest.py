"""Join files made in process from fixed keys (no cometbft): the collect and join-file tests' inputs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from genesis.join import JoinBody, SignedJoin, sign_join
from genesis.keys import ValidatorKey, node_id_of
from sidechain.types import address_of_pubkey, bech32_address, bech32_decode
from validators.bridgekey import sign_bridge_proof

CHAIN = "unit-chain-1"
POWER = 1_000_000  # tokens per unit of voting power (the default power_reduction)


def key(label: str) -> SigningKey:
    return SigningKey(hashlib.sha256(label.encode()).digest())


def operator(i: int) -> str:
    return bech32_address(address_of_pubkey(bytes(key(f"op{i}").verify_key)), "side")


def bridge_key(i: int) -> bytes:
    return hashlib.sha256(f"bridge{i}".encode()).digest()


def make_join(i: int, key_index: int | None = None, **changes: Any) -> SignedJoin:
    """Validator i's signed join (stake 100 + i units of power, its bridge key's proof for the
    join's chain and operator); `key_index` signs with (and claims) another validator's key."""
    vkey = ValidatorKey(key(f"val{i if key_index is None else key_index}"))
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "moniker": f"val{i}",
        "pub_key": vkey.pub_key,
        "stake": (100 + i) * POWER,
        "operator": operator(i),
        "node_id": node_id_of(bytes(key(f"node{i}").verify_key)),
        "p2p_address": f"127.0.0.1:{26601 + 10 * i}",
    }
    fields.update(changes)
    if "bridge_address" not in changes:
        address, proof = sign_bridge_proof(
            bridge_key(i), fields["chain_id"], bech32_decode(fields["operator"], "side")
        )
        fields["bridge_address"], fields["bridge_key_proof"] = "0x" + address.hex(), "0x" + proof.hex()
    return sign_join(JoinBody(**fields), vkey)


@pytest.fixture
def write_join(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, obj: object) -> Path:
        p = tmp_path / name
        p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return p

    return write
