"""Bridge genesis (`app_state.bridge`); absent or `{}`: the chain has no bridge (no L1, no vote
extensions, no extended commit in blocks).

    {"l1_chain_id": 1337,
     "contract": "0x<40 hex>",            the SidechainBridge contract
     "deployed_at": 5,                    L1 block of its deployment (holding its event 1)
     "last_event_nonce": 1,               the constructor's ValsetUpdated
     "observed_l1_height": 5,             optional; default deployed_at
     "last_event_l1_block": 5,            optional (an exported chain): L1 block of the last event applied
     "valset": {"nonce": 0, "validators": ["0x..."], "powers": [4294967295]},   what the contract holds
     "supply": [{"denom": "l1/eth", "amount": "0"}],   optional (an exported chain): bridged supply
     "params": {...}}                     bridge/module/params.py

The valset must be well formed as the contract requires (BRIDGE.md section 3, rule 3). The supply
of each `l1/` denom must equal the bank's (a chain cannot start with unbacked bridged coins).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.module.events import MAX_POWER, ZERO_ADDRESS, token_of
from bridge.module.params import BridgeParams
from sidechain.errors import InvalidGenesis, InvalidParams
from sidechain.types import json_int, json_list, json_object, json_str

POWER_THRESHOLD = 2863311530  # floor(2**32 * 2 / 3): signed power must be strictly greater
UINT256_MAX = 2**256 - 1
U63 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class L1Valset:
    nonce: int
    validators: tuple[bytes, ...]  # 20 bytes each, strictly ascending
    powers: tuple[int, ...]

    @property
    def total_power(self) -> int:
        return sum(self.powers)

    def problem(self) -> str | None:
        """Why the contract would refuse this valset (rule 3), or None."""
        if len(self.validators) != len(self.powers):
            return f"{len(self.validators)} validators but {len(self.powers)} powers"
        if not self.validators:
            return "no validators"
        if any(len(a) != 20 or a == ZERO_ADDRESS for a in self.validators):
            return "a validator address is not a non-zero 20-byte address"
        if any(a >= b for a, b in zip(self.validators, self.validators[1:], strict=False)):
            return "validator addresses are not strictly ascending"
        if any(p <= 0 for p in self.powers):
            return "a power is zero"
        if not POWER_THRESHOLD < self.total_power <= MAX_POWER:
            return f"powers sum to {self.total_power}, not in ({POWER_THRESHOLD}, 2^32]"
        return None

    def to_json(self) -> dict[str, object]:
        return {"nonce": self.nonce, "validators": [_hex_address(a) for a in self.validators],
                "powers": list(self.powers)}


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """The bridge's fixed facts, set at genesis."""

    l1_chain_id: int
    contract: bytes  # 20 bytes
    deployed_at: int

    def to_json(self) -> dict[str, object]:
        return {"l1_chain_id": self.l1_chain_id, "contract": _hex_address(self.contract),
                "deployed_at": self.deployed_at}


@dataclass(frozen=True, slots=True)
class BridgeGenesis:
    config: BridgeConfig | None  # None: no bridge on this chain
    params: BridgeParams = field(default_factory=BridgeParams)
    last_event_nonce: int = 1
    observed_l1_height: int = 0
    valset: L1Valset | None = None
    supply: tuple[tuple[str, int], ...] = ()  # sorted by denom, amounts > 0
    last_event_l1_block: int = 0  # 0: the deployment block

    @classmethod
    def disabled(cls) -> BridgeGenesis:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.config is not None

    def to_json(self) -> dict[str, object] | None:
        if self.config is None:
            return None
        assert self.valset is not None
        return {**self.config.to_json(), "last_event_nonce": self.last_event_nonce,
                "observed_l1_height": self.observed_l1_height,
                "last_event_l1_block": self.last_event_l1_block or self.config.deployed_at,
                "valset": self.valset.to_json(),
                "supply": [{"denom": d, "amount": str(a)} for d, a in self.supply],
                "params": self.params.to_json()}


def _hex_address(a: bytes) -> str:
    return "0x" + a.hex()


def parse_l1_address(obj: object, path: str) -> bytes:
    text = json_str(obj, path, InvalidGenesis)
    body = text[2:] if text[:2] in ("0x", "0X") else ""
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = b""
    if len(body) != 40 or len(raw) != 20:
        raise InvalidGenesis(f"{path}: expected an Ethereum address (0x and 40 hex digits), got {text!r}")
    return raw


def parse_valset(obj: object, path: str) -> L1Valset:
    d = json_object(obj, path, ("nonce", "validators", "powers"), InvalidGenesis)
    if not {"nonce", "validators", "powers"} <= d.keys():
        raise InvalidGenesis(f"{path}: a valset needs 'nonce', 'validators' and 'powers'")
    validators = tuple(parse_l1_address(a, f"{path}.validators[{i}]")
                       for i, a in enumerate(json_list(d["validators"], f"{path}.validators", InvalidGenesis)))
    powers = tuple(json_int(p, f"{path}.powers[{i}]", 0, MAX_POWER, InvalidGenesis)
                   for i, p in enumerate(json_list(d["powers"], f"{path}.powers", InvalidGenesis)))
    v = L1Valset(json_int(d["nonce"], f"{path}.nonce", 0, 2**128, InvalidGenesis), validators, powers)
    problem = v.problem()
    if problem:
        raise InvalidGenesis(f"{path}: the contract refuses this valset: {problem}")
    return v


FIELDS = ("l1_chain_id", "contract", "deployed_at", "last_event_nonce", "observed_l1_height",
          "last_event_l1_block", "valset", "supply", "params")


def parse_genesis(obj: object, bank_supply: dict[str, int]) -> BridgeGenesis:
    """`bank_supply`: the bank genesis' supply per denom, to check that bridged coins are backed."""
    path = "app_state.bridge"
    if obj is None or obj == {}:
        return BridgeGenesis.disabled()  # `l1/` denoms are then plain names: nothing backs or mints them
    d = json_object(obj, path, FIELDS, InvalidGenesis)
    missing = [f for f in ("l1_chain_id", "contract", "deployed_at", "valset") if f not in d]
    if missing:
        raise InvalidGenesis(f"{path}: missing {', '.join(missing)} (or leave the section out for a chain "
                             "without a bridge)")
    config = BridgeConfig(
        l1_chain_id=json_int(d["l1_chain_id"], f"{path}.l1_chain_id", 1, U63, InvalidGenesis),
        contract=parse_l1_address(d["contract"], f"{path}.contract"),
        deployed_at=json_int(d["deployed_at"], f"{path}.deployed_at", 0, U63, InvalidGenesis),
    )
    if config.contract == ZERO_ADDRESS:
        raise InvalidGenesis(f"{path}.contract: the zero address is not a contract")
    try:
        params = BridgeParams.from_json(d.get("params", {}), f"{path}.params")
    except InvalidParams as e:
        raise InvalidGenesis(e.message) from None
    last = json_int(d.get("last_event_nonce", 1), f"{path}.last_event_nonce", 1, U63, InvalidGenesis)
    observed = json_int(d.get("observed_l1_height", config.deployed_at), f"{path}.observed_l1_height",
                        config.deployed_at, U63, InvalidGenesis)
    supply: list[tuple[str, int]] = []
    for i, c in enumerate(json_list(d.get("supply", []), f"{path}.supply", InvalidGenesis)):
        cd = json_object(c, f"{path}.supply[{i}]", ("denom", "amount"), InvalidGenesis)
        denom = json_str(cd.get("denom"), f"{path}.supply[{i}].denom", InvalidGenesis)
        if token_of(denom) is None:
            raise InvalidGenesis(f"{path}.supply[{i}].denom: {denom!r} is not a bridged denom (l1/eth or l1/0x...)")
        amount = json_int(cd.get("amount"), f"{path}.supply[{i}].amount", 0, UINT256_MAX, InvalidGenesis)
        if amount:
            supply.append((denom, amount))
    if [s[0] for s in supply] != sorted({s[0] for s in supply}):
        raise InvalidGenesis(f"{path}.supply: denoms must be sorted and unique")
    bridged = {dn: a for dn, a in bank_supply.items() if token_of(dn) is not None and a}
    if bridged != dict(supply):
        raise InvalidGenesis(f"{path}.supply {dict(supply)} differs from the bank's supply of bridged denoms "
                             f"{bridged}: every bridged coin must be backed on L1")
    last_block = json_int(d.get("last_event_l1_block", config.deployed_at), f"{path}.last_event_l1_block",
                          config.deployed_at, U63, InvalidGenesis)
    return BridgeGenesis(config, params, last, observed, parse_valset(d["valset"], f"{path}.valset"), tuple(supply),
                         last_block)
