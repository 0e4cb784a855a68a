"""Bridge params (`app_state.bridge.params`, stored at 0x40).

    {"l1_confirmations": 12, "max_events_per_extension": 32, "max_extension_bytes": 16384,
     "max_signatures_per_extension": 128, "max_queue_per_token": 10000, "max_batch_size": 100,
     "batch_interval_blocks": 1, "batch_timeout_l1_blocks": 600}

`l1_confirmations` is the depth a watcher waits where L1 has no finality (a dev chain); where L1
finalizes, watchers read up to its `finalized` block instead (app.toml `[bridge] finality`).
The extension limits bound what one validator adds to every block (BRIDGE.md section 5): 32 events
of about 120 bytes take 4 KiB; a signature over a valset or batch digest 74 bytes, so 128 of
them take 9.3 KiB more. A validator with more to sign than fits signs the rest in its next votes.

Withdrawals (BRIDGE.md section 5, steps 5 and 6): a token's queue holds at most `max_queue_per_token`
withdrawals (MsgWithdraw is refused while it is full); a batch forms when the queue holds
`max_batch_size` or its oldest has waited `batch_interval_blocks` sidechain blocks (0: in the block
it was queued), and takes at most `max_batch_size` of the highest fees. `max_batch_size` is bounded
by what one L1 block can execute: an ERC-20 payout reserves 150,000 gas, so 200 take 30M gas.
A batch times out at L1 block `observed_l1_height + batch_timeout_l1_blocks`; it must exceed
`l1_confirmations` (observed_l1_height trails the L1 head by about that much, and the relayer needs
the rest of the window to submit it).
Params absent from a genesis take their defaults, so older genesis files keep working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sidechain.errors import InvalidParams
from sidechain.types import json_int, json_object

MIN_EXTENSION_BYTES = 1024
MAX_EXTENSION_BYTES = 64 * 1024
MAX_BATCH_SIZE = 200
FIELDS = ("l1_confirmations", "max_events_per_extension", "max_extension_bytes", "max_signatures_per_extension",
          "max_queue_per_token",
          "max_batch_size", "batch_interval_blocks", "batch_timeout_l1_blocks")
RANGES = {  # inclusive bounds of each param
    "l1_confirmations": (0, 10_000),
    "max_events_per_extension": (1, 1000),
    "max_extension_bytes": (MIN_EXTENSION_BYTES, MAX_EXTENSION_BYTES),
    "max_signatures_per_extension": (1, 1000),
    "max_queue_per_token": (1, 1_000_000),
    "max_batch_size": (1, MAX_BATCH_SIZE),
    "batch_interval_blocks": (0, 100_000),
    "batch_timeout_l1_blocks": (1, 1_000_000),
}


@dataclass(frozen=True, slots=True)
class BridgeParams:
    l1_confirmations: int = 12
    max_events_per_extension: int = 32
    max_extension_bytes: int = 16384
    max_signatures_per_extension: int = 128
    max_queue_per_token: int = 10_000
    max_batch_size: int = 100
    batch_interval_blocks: int = 1
    batch_timeout_l1_blocks: int = 600

    @classmethod
    def default(cls) -> BridgeParams:
        return cls()

    def validate(self) -> None:
        for name in FIELDS:
            low, high = RANGES[name]
            value = getattr(self, name)
            if not low <= value <= high:
                raise InvalidParams(f"bridge.{name} {value} is out of range [{low}, {high}]")
        if self.batch_timeout_l1_blocks <= self.l1_confirmations:
            raise InvalidParams(f"bridge.batch_timeout_l1_blocks {self.batch_timeout_l1_blocks} must exceed "
                                f"bridge.l1_confirmations {self.l1_confirmations}: observed_l1_height trails the "
                                "L1 head by that much, so a batch would time out before it could be relayed")

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_json(cls, obj: object, path: str = "bridge.params") -> BridgeParams:
        d = json_object(obj, path, FIELDS, InvalidParams)
        defaults = cls()
        values = {name: json_int(d.get(name, getattr(defaults, name)), f"{path}.{name}", *RANGES[name], InvalidParams)
                  for name in FIELDS}
        p = cls(**values)
        p.validate()
        return p

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> BridgeParams:
        return cls.from_json(json.loads(raw))
