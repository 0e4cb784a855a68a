"""Proof-of-stake params (`app_state.staking.params`, stored at 0x20): staking, slashing, distribution.

    {"staking": {"bond_denom": "stake", "max_validators": 100, "unbonding_time": "1814400s",
                 "max_entries": 7, "power_reduction": "1000000", "historical_entries": 1000,
                 "admin": "", "allowed_operators": []},
     "slashing": {"signed_blocks_window": 100, "min_signed_per_window_bps": 5000,
                  "downtime_jail_duration": "600s", "slash_fraction_double_sign_bps": 500,
                  "slash_fraction_downtime_bps": 1, "max_evidence_age_blocks": 100000,
                  "max_evidence_age": "172800s"},
     "distribution": {"community_tax_bps": 200, "proposer_bonus_bps": 100, "inflation_bps": 700,
                      "blocks_per_year": 6311520, "issuance_per_block": "0"}}

Why these defaults: 21 days of unbonding (longer than the evidence age, so stake that misbehaved
cannot leave before it can be slashed); 100 validators (CometBFT's gossip stays cheap); a 1,000,000
power reduction (a token is 10^-6 of a unit of power, so 2^63/8 of power is never reached); a
5% double-sign slash with tombstoning and 0.01% for downtime over a 100-block window, half of it
required (Cosmos Hub's figures); 7% yearly issuance on bonded tokens at one block per 5 s; 2% of
rewards to the community pool and 1% to the proposer. Fractions are integer basis points (10,000 =
100%); durations are integer nanoseconds of block time, written like "600s" in JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from sidechain.errors import InvalidParams
from sidechain.types import bech32_address, json_address, json_int, json_list, json_object, json_str, validate_denom

BPS = 10_000
_DURATION_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _duration(obj: object, path: str) -> int:
    """A positive integer of nanoseconds, or one number and one unit: "600s", "21h", "1814400000000000ns"."""
    if type(obj) is int and obj > 0:
        return obj
    if isinstance(obj, str):
        num = obj.rstrip("nsuhm")
        unit = obj[len(num):]
        if num.isdigit() and unit in _DURATION_UNITS and int(num) > 0:
            return int(num) * _DURATION_UNITS[unit]
    raise InvalidParams(f'{path}: expected a positive duration such as "600s" or "21h", got {obj!r}')


def _bps(d: dict[str, object], name: str, default: int, path: str) -> int:
    return json_int(d.get(name, default), f"{path}.{name}", 0, BPS, InvalidParams)


@dataclass(frozen=True, slots=True)
class StakingParams:
    bond_denom: str = "stake"
    max_validators: int = 100
    unbonding_time_ns: int = 21 * 24 * 3600 * 10**9
    max_entries: int = 7
    power_reduction: int = 1_000_000
    historical_entries: int = 1000
    admin: bytes = b""  # may set the allowed operators (empty: nobody)
    allowed_operators: tuple[bytes, ...] = ()  # empty: anyone may create a validator

    def validate(self) -> None:
        validate_denom(self.bond_denom)
        if not 1 <= self.max_validators <= 1000:
            raise InvalidParams(f"staking.max_validators {self.max_validators} is out of range [1, 1000]")
        if not 1 <= self.max_entries <= 100:
            raise InvalidParams(f"staking.max_entries {self.max_entries} is out of range [1, 100]")
        if not 1 <= self.power_reduction <= 10**30:
            raise InvalidParams("staking.power_reduction must be in [1, 10^30]")
        if not 1 <= self.historical_entries <= 100_000:
            raise InvalidParams("staking.historical_entries must be in [1, 100000]")
        if list(self.allowed_operators) != sorted(set(self.allowed_operators)):
            raise InvalidParams("staking.allowed_operators must be sorted by address without duplicates")

    def to_json(self, prefix: str) -> dict[str, object]:
        return {"bond_denom": self.bond_denom, "max_validators": self.max_validators,
                "unbonding_time": f"{self.unbonding_time_ns}ns", "max_entries": self.max_entries,
                "power_reduction": str(self.power_reduction), "historical_entries": self.historical_entries,
                "admin": bech32_address(self.admin, prefix) if self.admin else "",
                "allowed_operators": [bech32_address(a, prefix) for a in self.allowed_operators]}

    @classmethod
    def from_json(cls, obj: object, path: str, prefix: str) -> StakingParams:
        d = json_object(obj, path, tuple(_STAKING_JSON), InvalidParams)
        dflt = cls()
        admin_text = json_str(d.get("admin", ""), f"{path}.admin", InvalidParams)
        admin = json_address(admin_text, f"{path}.admin", prefix, InvalidParams) if admin_text else b""
        allowed = tuple(json_address(a, f"{path}.allowed_operators[{i}]", prefix, InvalidParams)
                        for i, a in enumerate(json_list(d.get("allowed_operators", []), f"{path}.allowed_operators",
                                                        InvalidParams)))
        reduction = d.get("power_reduction", str(dflt.power_reduction))
        if not isinstance(reduction, str) or not reduction.isdigit():
            raise InvalidParams(f"{path}.power_reduction: expected a decimal string, got {reduction!r}")
        return cls(
            bond_denom=json_str(d.get("bond_denom", dflt.bond_denom), f"{path}.bond_denom", InvalidParams),
            max_validators=json_int(d.get("max_validators", dflt.max_validators), f"{path}.max_validators", 0,
                                    1 << 30, InvalidParams),
            unbonding_time_ns=_duration(d.get("unbonding_time", dflt.unbonding_time_ns), f"{path}.unbonding_time"),
            max_entries=json_int(d.get("max_entries", dflt.max_entries), f"{path}.max_entries", 0, 1 << 30,
                                 InvalidParams),
            power_reduction=int(reduction),
            historical_entries=json_int(d.get("historical_entries", dflt.historical_entries),
                                        f"{path}.historical_entries", 0, 1 << 30, InvalidParams),
            admin=admin,
            allowed_operators=tuple(sorted(allowed)),  # validate() refuses a repeated operator
        )


_STAKING_JSON = ("admin", "allowed_operators", "bond_denom", "historical_entries", "max_entries", "max_validators",
                 "power_reduction", "unbonding_time")


@dataclass(frozen=True, slots=True)
class SlashingParams:
    signed_blocks_window: int = 100
    min_signed_per_window_bps: int = 5000
    downtime_jail_duration_ns: int = 600 * 10**9
    slash_fraction_double_sign_bps: int = 500
    slash_fraction_downtime_bps: int = 1
    max_evidence_age_blocks: int = 100_000
    max_evidence_age_ns: int = 48 * 3600 * 10**9

    def validate(self) -> None:
        if not 10 <= self.signed_blocks_window <= 1_000_000:
            raise InvalidParams("slashing.signed_blocks_window must be in [10, 1000000]")
        for name in ("min_signed_per_window_bps", "slash_fraction_double_sign_bps", "slash_fraction_downtime_bps"):
            if not 0 <= getattr(self, name) <= BPS:
                raise InvalidParams(f"slashing.{name} must be in [0, {BPS}]")
        if self.max_evidence_age_blocks < 1 or self.max_evidence_age_ns < 1 or self.downtime_jail_duration_ns < 1:
            raise InvalidParams("slashing durations and ages must be positive")

    def to_json(self) -> dict[str, object]:
        return {"signed_blocks_window": self.signed_blocks_window,
                "min_signed_per_window_bps": self.min_signed_per_window_bps,
                "downtime_jail_duration": f"{self.downtime_jail_duration_ns}ns",
                "slash_fraction_double_sign_bps": self.slash_fraction_double_sign_bps,
                "slash_fraction_downtime_bps": self.slash_fraction_downtime_bps,
                "max_evidence_age_blocks": self.max_evidence_age_blocks,
                "max_evidence_age": f"{self.max_evidence_age_ns}ns"}

    @classmethod
    def from_json(cls, obj: object, path: str) -> SlashingParams:
        keys = ("downtime_jail_duration", "max_evidence_age", "max_evidence_age_blocks", "min_signed_per_window_bps",
                "signed_blocks_window", "slash_fraction_double_sign_bps", "slash_fraction_downtime_bps")
        d = json_object(obj, path, keys, InvalidParams)
        dflt = cls()
        return cls(
            signed_blocks_window=json_int(d.get("signed_blocks_window", dflt.signed_blocks_window),
                                          f"{path}.signed_blocks_window", 0, 1 << 40, InvalidParams),
            min_signed_per_window_bps=_bps(d, "min_signed_per_window_bps", dflt.min_signed_per_window_bps, path),
            downtime_jail_duration_ns=_duration(d.get("downtime_jail_duration", dflt.downtime_jail_duration_ns),
                                                f"{path}.downtime_jail_duration"),
            slash_fraction_double_sign_bps=_bps(d, "slash_fraction_double_sign_bps",
                                                dflt.slash_fraction_double_sign_bps, path),
            slash_fraction_downtime_bps=_bps(d, "slash_fraction_downtime_bps", dflt.slash_fraction_downtime_bps, path),
            max_evidence_age_blocks=json_int(d.get("max_evidence_age_blocks", dflt.max_evidence_age_blocks),
                                             f"{path}.max_evidence_age_blocks", 0, 1 << 62, InvalidParams),
            max_evidence_age_ns=_duration(d.get("max_evidence_age", dflt.max_evidence_age_ns),
                                          f"{path}.max_evidence_age"),
        )


@dataclass(frozen=True, slots=True)
class DistributionParams:
    community_tax_bps: int = 200
    proposer_bonus_bps: int = 100
    inflation_bps: int = 700  # yearly issuance as a share of bonded tokens
    blocks_per_year: int = 6_311_520
    issuance_per_block: int = 0  # a fixed issuance per block instead (then inflation_bps must be 0)

    def validate(self) -> None:
        if self.community_tax_bps + self.proposer_bonus_bps > BPS:
            raise InvalidParams("distribution.community_tax_bps + proposer_bonus_bps must not exceed 10000")
        if not 0 <= self.inflation_bps <= BPS:
            raise InvalidParams("distribution.inflation_bps must be in [0, 10000]")
        if self.blocks_per_year < 1:
            raise InvalidParams("distribution.blocks_per_year must be positive")
        if self.inflation_bps and self.issuance_per_block:
            raise InvalidParams("distribution: set inflation_bps or issuance_per_block, not both")

    def to_json(self) -> dict[str, object]:
        return {"community_tax_bps": self.community_tax_bps, "proposer_bonus_bps": self.proposer_bonus_bps,
                "inflation_bps": self.inflation_bps, "blocks_per_year": self.blocks_per_year,
                "issuance_per_block": str(self.issuance_per_block)}

    @classmethod
    def from_json(cls, obj: object, path: str) -> DistributionParams:
        keys = ("blocks_per_year", "community_tax_bps", "inflation_bps", "issuance_per_block", "proposer_bonus_bps")
        d = json_object(obj, path, keys, InvalidParams)
        dflt = cls()
        issuance = d.get("issuance_per_block", "0")
        if not isinstance(issuance, str) or not issuance.isdigit() or len(issuance) > 70:
            raise InvalidParams(f"{path}.issuance_per_block: expected a decimal string, got {issuance!r}")
        return cls(
            community_tax_bps=_bps(d, "community_tax_bps", dflt.community_tax_bps, path),
            proposer_bonus_bps=_bps(d, "proposer_bonus_bps", dflt.proposer_bonus_bps, path),
            inflation_bps=_bps(d, "inflation_bps", dflt.inflation_bps, path),
            blocks_per_year=json_int(d.get("blocks_per_year", dflt.blocks_per_year), f"{path}.blocks_per_year", 0,
                                     1 << 40, InvalidParams),
            issuance_per_block=int(issuance),
        )


@dataclass(frozen=True, slots=True)
class PosParams:
    staking: StakingParams = StakingParams()
    slashing: SlashingParams = SlashingParams()
    distribution: DistributionParams = DistributionParams()
    address_prefix: str = "side"  # how addresses in the JSON form are written (not a param of its own)

    @classmethod
    def default(cls) -> PosParams:
        return cls()

    def validate(self) -> None:
        self.staking.validate()
        self.slashing.validate()
        self.distribution.validate()
        if self.staking.unbonding_time_ns < self.slashing.max_evidence_age_ns:
            raise InvalidParams("staking.unbonding_time must be at least slashing.max_evidence_age, or stake "
                                "could leave before its misbehaviour can be slashed")

    def to_json(self) -> dict[str, object]:
        return {"staking": self.staking.to_json(self.address_prefix), "slashing": self.slashing.to_json(),
                "distribution": self.distribution.to_json()}

    @classmethod
    def from_json(cls, obj: object, path: str = "staking.params", prefix: str = "side") -> PosParams:
        d = json_object(obj, path, ("distribution", "slashing", "staking"), InvalidParams)
        p = cls(StakingParams.from_json(d.get("staking", {}), f"{path}.staking", prefix),
                SlashingParams.from_json(d.get("slashing", {}), f"{path}.slashing"),
                DistributionParams.from_json(d.get("distribution", {}), f"{path}.distribution"),
                prefix)
        try:
            p.validate()
        except InvalidParams as e:
            raise InvalidParams(f"{path}: {e.message}") from None
        return p

    def encode(self) -> bytes:
        """The stored form: the JSON form plus the address prefix it is written with."""
        return json.dumps({**self.to_json(), "address_prefix": self.address_prefix}, sort_keys=True,
                          separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> PosParams:
        obj = json.loads(data)
        prefix = obj.pop("address_prefix")
        return cls.from_json(obj, "staking.params", prefix)

    def with_prefix(self, prefix: str) -> PosParams:
        return replace(self, address_prefix=prefix)

