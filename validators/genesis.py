"""The genesis validator set, from `app_state.validators` (not from genesis.json's `validators`).

    "validators": [{"name": "val0", "pub_key": "<base64 ed25519 key>", "power": "10"}]

InitChain returns this set to CometBFT, so the validator set is the application's from the
first block on (genesis.json's own `validators` list stays empty). The proof-of-stake module
will derive it from bonded stake; until then the powers are given here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from sidechain.errors import InvalidGenesis

# CometBFT refuses a validator set whose total power exceeds MaxInt64 / 8.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8


class InvalidValidatorsGenesis(InvalidGenesis):
    """`app_state.validators` is malformed; the message names the entry and what is wrong."""


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    name: str
    pub_key: bytes  # ed25519, 32 bytes
    power: int

    @property
    def address(self) -> bytes:
        """CometBFT's validator address: the first 20 bytes of sha256(pubkey)."""
        return hashlib.sha256(self.pub_key).digest()[:20]

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "pub_key": base64.b64encode(self.pub_key).decode(), "power": str(self.power)}


def parse_validators(obj: object) -> tuple[GenesisValidator, ...]:
    path = "app_state.validators"
    if not isinstance(obj, list) or not obj:
        raise InvalidValidatorsGenesis(f"{path}: expected a non-empty list of validators")
    out: list[GenesisValidator] = []
    seen: dict[bytes, int] = {}
    total = 0
    for i, item in enumerate(obj):
        p = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise InvalidValidatorsGenesis(f"{p}: expected an object with name, pub_key and power")
        unknown = sorted(set(item) - {"name", "pub_key", "power"})
        if unknown:
            raise InvalidValidatorsGenesis(f"{p}: unknown field(s) {', '.join(unknown)}")
        name = item.get("name", "")
        if not isinstance(name, str) or len(name) > 70:
            raise InvalidValidatorsGenesis(f"{p}.name: expected a string of at most 70 characters")
        raw_key = item.get("pub_key")
        try:
            key = base64.b64decode(raw_key, validate=True) if isinstance(raw_key, str) else b""
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InvalidValidatorsGenesis(f"{p}.pub_key: expected a base64 ed25519 public key (32 bytes)")
        power_raw = item.get("power")
        if isinstance(power_raw, bool) or not isinstance(power_raw, (str, int)):
            raise InvalidValidatorsGenesis(f"{p}.power: expected a positive integer (as a decimal string)")
        if isinstance(power_raw, str) and not power_raw.isdigit():
            raise InvalidValidatorsGenesis(f"{p}.power: {power_raw!r} is not a decimal integer")
        power = int(power_raw)
        if power <= 0:
            raise InvalidValidatorsGenesis(f"{p}.power: must be positive")
        if key in seen:
            raise InvalidValidatorsGenesis(f"{p}: same pub_key as app_state.validators[{seen[key]}]")
        seen[key] = i
        total += power
        if total > MAX_TOTAL_VOTING_POWER:
            raise InvalidValidatorsGenesis(f"{path}: total power exceeds {MAX_TOTAL_VOTING_POWER}")
        out.append(GenesisValidator(name, key, power))
    return tuple(out)
