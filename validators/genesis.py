"""Proof-of-stake genesis (`app_state.staking`).

A new chain lists its genesis validators; each is created at InitChain exactly as a
`MsgCreateValidator` would create it, bonding its self-delegation from its operator's balance
(so the bank section must fund the operators; a validator with nothing bonded is refused):

    "staking": {
      "params": {...see params.py...},
      "validators": [{"operator": "side1...", "consensus_pubkey": "<base64 ed25519>",
                      "bridge_address": "0x<20 bytes>", "bridge_key_proof": "0x<65 bytes>",
                      "moniker": "val0", "details": "", "commission_bps": 1000,
                      "max_commission_bps": 2000, "max_change_bps": 100,
                      "min_self_delegation": "1", "self_delegation": "100000000"}]
    }

An exported chain (`sidechain export`) carries the module's whole state instead, key by key:

    "staking": {"state": [["<hex key>", "<hex value>"], ...]}

which a new chain loads as it is (every key must be in the module's prefix range, params included).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sidechain.errors import InvalidGenesis, InvalidInput, InvalidParams
from sidechain.types import json_address, json_int, json_list, json_object, json_str
from validators import keys as k
from validators.msgs import CreateValidator, check_commission
from validators.params import PosParams

# CometBFT refuses a validator set whose total power exceeds MaxInt64 / 8.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8

_FIELDS = ("bridge_address", "bridge_key_proof", "commission_bps", "consensus_pubkey", "details",
           "max_change_bps", "max_commission_bps", "min_self_delegation", "moniker", "operator", "self_delegation")


@dataclass(frozen=True, slots=True)
class StakingGenesis:
    params: PosParams
    validators: tuple[CreateValidator, ...] = ()
    state: tuple[tuple[bytes, bytes], ...] = ()  # an exported chain's records, sorted by key

    @classmethod
    def default(cls) -> StakingGenesis:
        return cls(PosParams.default())


def _hex(obj: object, path: str, size: int | None) -> bytes:
    text = json_str(obj, path, InvalidGenesis)
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise InvalidGenesis(f"{path}: expected hex digits") from None
    if size is not None and len(raw) != size:
        raise InvalidGenesis(f"{path}: expected {size} bytes, got {len(raw)}")
    return raw


def _amount(obj: object, path: str) -> int:
    if not isinstance(obj, str) or not obj.isdigit() or (len(obj) > 1 and obj[0] == "0") or len(obj) > 78:
        raise InvalidGenesis(f"{path}: expected a decimal amount as a string, got {obj!r}")
    return int(obj)


def parse_create(obj: object, path: str, prefix: str) -> CreateValidator:
    d = json_object(obj, path, _FIELDS, InvalidGenesis)
    for name in ("operator", "consensus_pubkey", "bridge_address", "bridge_key_proof", "moniker", "self_delegation"):
        if name not in d:
            raise InvalidGenesis(f"{path}: missing {name!r}")
    operator = json_address(d["operator"], f"{path}.operator", prefix, InvalidGenesis)
    raw_key = d["consensus_pubkey"]
    try:
        pubkey = base64.b64decode(raw_key, validate=True) if isinstance(raw_key, str) else b""
    except (binascii.Error, ValueError):
        pubkey = b""
    if len(pubkey) != 32:
        raise InvalidGenesis(f"{path}.consensus_pubkey: expected a base64 ed25519 public key (32 bytes)")
    moniker = json_str(d["moniker"], f"{path}.moniker", InvalidGenesis)
    if not 0 < len(moniker) <= 70:
        raise InvalidGenesis(f"{path}.moniker: 1-70 characters")
    msg = CreateValidator(
        operator=operator, consensus_pubkey=pubkey,
        bridge_address=_hex(d["bridge_address"], f"{path}.bridge_address", 20),
        bridge_key_proof=_hex(d["bridge_key_proof"], f"{path}.bridge_key_proof", 65),
        moniker=moniker, details=json_str(d.get("details", ""), f"{path}.details", InvalidGenesis),
        commission_bps=json_int(d.get("commission_bps", 1000), f"{path}.commission_bps", 0, 10_000, InvalidGenesis),
        max_commission_bps=json_int(d.get("max_commission_bps", 2000), f"{path}.max_commission_bps", 0, 10_000,
                                    InvalidGenesis),
        max_change_bps=json_int(d.get("max_change_bps", 100), f"{path}.max_change_bps", 0, 10_000, InvalidGenesis),
        min_self_delegation=_amount(d.get("min_self_delegation", "1"), f"{path}.min_self_delegation"),
        self_delegation=_amount(d["self_delegation"], f"{path}.self_delegation"),
    )
    try:
        check_commission(msg.commission_bps, msg.max_commission_bps, msg.max_change_bps)
    except InvalidInput as e:
        raise InvalidGenesis(f"{path}: {e.message}") from None
    if msg.min_self_delegation == 0 or msg.self_delegation < msg.min_self_delegation:
        raise InvalidGenesis(f"{path}: self_delegation must be positive and at least min_self_delegation")
    return msg


def create_to_json(m: CreateValidator, prefix: str) -> dict[str, object]:
    from sidechain.types import bech32_address

    return {"operator": bech32_address(m.operator, prefix),
            "consensus_pubkey": base64.b64encode(m.consensus_pubkey).decode(),
            "bridge_address": "0x" + m.bridge_address.hex(), "bridge_key_proof": "0x" + m.bridge_key_proof.hex(),
            "moniker": m.moniker, "details": m.details, "commission_bps": m.commission_bps,
            "max_commission_bps": m.max_commission_bps, "max_change_bps": m.max_change_bps,
            "min_self_delegation": str(m.min_self_delegation), "self_delegation": str(m.self_delegation)}


def parse_genesis(obj: object, prefix: str) -> StakingGenesis:
    path = "app_state.staking"
    d = json_object({} if obj is None else obj, path, ("params", "state", "validators"), InvalidGenesis)
    if "state" in d:
        if "params" in d or "validators" in d:
            raise InvalidGenesis(f"{path}: an exported state carries its params and validators in 'state'")
        rows = []
        for i, item in enumerate(json_list(d["state"], f"{path}.state", InvalidGenesis)):
            if not isinstance(item, list) or len(item) != 2:
                raise InvalidGenesis(f"{path}.state[{i}]: expected [hex key, hex value]")
            key, value = _hex(item[0], f"{path}.state[{i}][0]", None), _hex(item[1], f"{path}.state[{i}][1]", None)
            if not key or not 0x20 <= key[0] <= 0x3F:
                raise InvalidGenesis(f"{path}.state[{i}]: key {key.hex()} is not the staking module's (0x20-0x3f)")
            rows.append((key, value))
        if [r[0] for r in rows] != sorted({r[0] for r in rows}):
            raise InvalidGenesis(f"{path}.state: keys must be sorted without duplicates")
        params_raw = dict(rows).get(k.PARAMS_KEY)
        if params_raw is None:
            raise InvalidGenesis(f"{path}.state: no params (key 20)")
        try:
            params = PosParams.decode(params_raw)
        except (InvalidParams, ValueError, KeyError) as e:
            raise InvalidGenesis(f"{path}.state: bad params: {e}") from None
        return StakingGenesis(params, (), tuple(rows))
    try:
        params = PosParams.from_json(d.get("params", {}), f"{path}.params", prefix)
    except InvalidParams as e:
        raise InvalidGenesis(e.message) from None
    creates = tuple(parse_create(item, f"{path}.validators[{i}]", prefix)
                    for i, item in enumerate(json_list(d.get("validators", []), f"{path}.validators",
                                                       InvalidGenesis)))
    seen: dict[bytes, str] = {}
    total = 0
    for i, c in enumerate(creates):
        p = f"{path}.validators[{i}]"
        for what, value in (("operator", c.operator), ("consensus_pubkey", c.consensus_pubkey),
                            ("bridge_address", c.bridge_address), ("moniker", c.moniker.encode())):
            key = what.encode() + b":" + value
            if key in seen:
                raise InvalidGenesis(f"{p}.{what}: the same as {seen[key]}")
            seen[key] = p
        total += c.self_delegation // params.staking.power_reduction
        if c.self_delegation // params.staking.power_reduction == 0:
            raise InvalidGenesis(f"{p}.self_delegation: {c.self_delegation} is less than one unit of power "
                                 f"(power_reduction {params.staking.power_reduction})")
    if total > MAX_TOTAL_VOTING_POWER:
        raise InvalidGenesis(f"{path}.validators: total power exceeds {MAX_TOTAL_VOTING_POWER}")
    return StakingGenesis(params, creates)


def genesis_to_json(gen: StakingGenesis, prefix: str) -> dict[str, object]:
    if gen.state:
        return {"state": [[key.hex(), value.hex()] for key, value in gen.state]}
    return {"params": gen.params.with_prefix(prefix).to_json(),
            "validators": [create_to_json(c, prefix) for c in gen.validators]}
