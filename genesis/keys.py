"""CometBFT's key files, read in Python: the node key (P2P identity) and the validator key.

Formats (CometBFT v0.38, amino JSON):

    config/node_key.json:
        {"priv_key": {"type": "tendermint/PrivKeyEd25519", "value": b64(seed||pub)}}
    config/priv_validator_key.json:
        {"address": HEX(sha256(pub)[:20]),
         "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64(pub)},
         "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": b64(seed||pub)}}

A node id is the lowercase hex of the first 20 bytes of sha256(node public key); a validator
address is the same hash of the consensus key, in uppercase hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from genesis.errors import KeyFileError

PRIV_TYPE = "tendermint/PrivKeyEd25519"
PUB_TYPE = "tendermint/PubKeyEd25519"


def node_id_of(pub_key: bytes) -> str:
    return hashlib.sha256(pub_key).digest()[:20].hex()


def validator_address_of(pub_key: bytes) -> str:
    return hashlib.sha256(pub_key).digest()[:20].hex().upper()


def _load(path: Path) -> dict[str, object]:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist") from None
    except (OSError, ValueError) as e:
        raise KeyFileError(f"{path} is not readable JSON: {e}") from None
    if not isinstance(obj, dict):
        raise KeyFileError(f"{path}: expected a JSON object")
    return obj


def _priv_key(path: Path, obj: object) -> SigningKey:
    if not isinstance(obj, dict) or obj.get("type") != PRIV_TYPE or not isinstance(obj.get("value"), str):
        raise KeyFileError(f'{path}: priv_key must be {{"type": "{PRIV_TYPE}", "value": <base64>}}')
    try:
        raw = base64.b64decode(obj["value"], validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{path}: priv_key.value is not base64") from None
    if len(raw) != 64:
        raise KeyFileError(
            f"{path}: an ed25519 private key is 64 bytes (seed and public key), got {len(raw)}"
        )
    sk = SigningKey(raw[:32])
    if bytes(sk.verify_key) != raw[32:]:
        raise KeyFileError(f"{path}: the private key's public half does not match its seed")
    return sk


@dataclass(frozen=True)
class NodeKey:
    signing_key: SigningKey

    @property
    def pub_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def node_id(self) -> str:
        return node_id_of(self.pub_key)


@dataclass(frozen=True)
class ValidatorKey:
    signing_key: SigningKey

    @property
    def pub_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def pub_key_b64(self) -> str:
        return base64.b64encode(self.pub_key).decode()

    @property
    def address(self) -> str:
        return validator_address_of(self.pub_key)

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message).signature


def load_node_key(path: Path) -> NodeKey:
    return NodeKey(_priv_key(path, _load(path).get("priv_key")))


def load_validator_key(path: Path) -> ValidatorKey:
    obj = _load(path)
    key = ValidatorKey(_priv_key(path, obj.get("priv_key")))
    pub = obj.get("pub_key")
    if not isinstance(pub, dict) or pub.get("type") != PUB_TYPE or pub.get("value") != key.pub_key_b64:
        raise KeyFileError(f"{path}: pub_key does not match priv_key")
    if obj.get("address") != key.address:
        raise KeyFileError(f"{path}: address does not match the key (expected {key.address})")
    return key


def verify_signature(pub_key: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.exceptions import BadSignatureError

    try:
        VerifyKey(pub_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True
