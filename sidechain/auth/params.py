"""Auth params: tx limits, minimum fees and the address prefix (set in genesis, stored in state).

JSON form (genesis `app_state.auth.params`, and the stored value):
    {"address_prefix": "side", "max_memo_bytes": 256, "max_msgs_per_tx": 16,
     "max_tx_bytes": 8192, "min_fees": [{"amount": "1000000000000", "denom": "l1/eth"},
                                        {"amount": "1", "denom": "stake"}]}

`min_fees` lists every accepted fee denom with its minimum fee (a tx pays one fee coin). More than
the native denom may be listed: a user who bridged ETH in has no `stake` yet and pays in `l1/eth`.
A minimum of 0 accepts that denom for free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sidechain.errors import InvalidAddress, InvalidParams
from sidechain.tx import HARD_MAX_TX_BYTES
from sidechain.types import (
    NATIVE_DENOM,
    Amount,
    Coin,
    coin_json,
    json_coin,
    json_int,
    json_list,
    json_object,
    json_str,
    validate_prefix,
)

DEFAULT_ADDRESS_PREFIX = "side"
BRIDGED_ETH_DENOM = "l1/eth"
MIN_TX_BYTES_LIMIT = 256  # a max_tx_bytes below this could not hold one transfer
_FIELDS = ("address_prefix", "max_memo_bytes", "max_msgs_per_tx", "max_tx_bytes", "min_fees")


@dataclass(frozen=True, slots=True)
class AuthParams:
    max_tx_bytes: int
    max_memo_bytes: int
    max_msgs_per_tx: int
    min_fees: tuple[Coin, ...]  # sorted by denom, unique; amounts may be 0
    address_prefix: str

    @classmethod
    def default(cls) -> AuthParams:
        return cls(
            max_tx_bytes=8192,
            max_memo_bytes=256,
            max_msgs_per_tx=16,
            # Bridged ETH is accepted for fees by default (1e12 wei = 0.000001 ETH minimum):
            # a user whose first asset is bridged ETH must be able to pay for a transfer.
            min_fees=(Coin(BRIDGED_ETH_DENOM, Amount(10**12)), Coin(NATIVE_DENOM, Amount(1))),
            address_prefix=DEFAULT_ADDRESS_PREFIX,
        )

    def validate(self) -> None:
        if not MIN_TX_BYTES_LIMIT <= self.max_tx_bytes <= HARD_MAX_TX_BYTES:
            raise InvalidParams(
                f"max_tx_bytes {self.max_tx_bytes} is out of range "
                f"[{MIN_TX_BYTES_LIMIT}, {HARD_MAX_TX_BYTES}]"
            )
        if not 0 <= self.max_memo_bytes < self.max_tx_bytes:
            raise InvalidParams(f"max_memo_bytes {self.max_memo_bytes} must be in [0, max_tx_bytes)")
        if not 1 <= self.max_msgs_per_tx <= 1024:
            raise InvalidParams(f"max_msgs_per_tx {self.max_msgs_per_tx} is out of range [1, 1024]")
        if not self.min_fees:
            raise InvalidParams("min_fees is empty: at least one fee denom must be accepted")
        denoms = [c.denom for c in self.min_fees]
        if denoms != sorted(set(denoms)):
            raise InvalidParams(f"min_fees must be sorted by denom without duplicates: {denoms}")
        try:
            validate_prefix(self.address_prefix)
        except InvalidAddress as e:
            raise InvalidParams(f"address_prefix: {e.message}") from None

    def min_fee(self, denom: str) -> Amount | None:
        """The minimum fee in `denom`, or None when fees are not accepted in it."""
        for c in self.min_fees:
            if c.denom == denom:
                return c.amount
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "address_prefix": self.address_prefix,
            "max_memo_bytes": self.max_memo_bytes,
            "max_msgs_per_tx": self.max_msgs_per_tx,
            "max_tx_bytes": self.max_tx_bytes,
            "min_fees": [coin_json(c) for c in self.min_fees],
        }

    @classmethod
    def from_json(cls, obj: object, path: str = "auth.params") -> AuthParams:
        """Parse and validate; a missing field takes its default value."""
        d = json_object(obj, path, _FIELDS, InvalidParams)
        dflt = cls.default()
        fees = dflt.min_fees
        if "min_fees" in d:
            items = json_list(d["min_fees"], f"{path}.min_fees", InvalidParams)
            fees = tuple(json_coin(c, f"{path}.min_fees[{i}]", InvalidParams) for i, c in enumerate(items))

        def num(name: str, default: int) -> int:
            return json_int(d.get(name, default), f"{path}.{name}", 0, 1 << 62, InvalidParams)

        p = cls(
            max_tx_bytes=num("max_tx_bytes", dflt.max_tx_bytes),
            max_memo_bytes=num("max_memo_bytes", dflt.max_memo_bytes),
            max_msgs_per_tx=num("max_msgs_per_tx", dflt.max_msgs_per_tx),
            min_fees=fees,
            address_prefix=json_str(d.get("address_prefix", dflt.address_prefix), f"{path}.address_prefix",
                                    InvalidParams),
        )
        try:
            p.validate()
        except InvalidParams as e:
            raise InvalidParams(f"{path}: {e.message}") from None
        return p

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> AuthParams:
        return cls.from_json(json.loads(data))
