"""Bridge params (`app_state.bridge.params`, stored at 0x40).

    {"l1_confirmations": 12, "max_events_per_extension": 32, "max_extension_bytes": 4096}

`l1_confirmations` is the depth a watcher waits where L1 has no finality (a dev chain); where L1
finalizes, watchers read up to its `finalized` block instead (app.toml `[bridge] finality`).
The extension limits bound what one validator adds to every block (BRIDGE.md section 5): 32 events
of about 120 bytes fit in 4 KiB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sidechain.errors import InvalidParams
from sidechain.types import json_int, json_object

MIN_EXTENSION_BYTES = 1024
MAX_EXTENSION_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class BridgeParams:
    l1_confirmations: int = 12
    max_events_per_extension: int = 32
    max_extension_bytes: int = 4096

    @classmethod
    def default(cls) -> BridgeParams:
        return cls()

    def validate(self) -> None:
        if not 0 <= self.l1_confirmations <= 10_000:
            raise InvalidParams(f"bridge.l1_confirmations {self.l1_confirmations} is out of range [0, 10000]")
        if not 1 <= self.max_events_per_extension <= 1000:
            raise InvalidParams(f"bridge.max_events_per_extension {self.max_events_per_extension} is out of "
                                "range [1, 1000]")
        if not MIN_EXTENSION_BYTES <= self.max_extension_bytes <= MAX_EXTENSION_BYTES:
            raise InvalidParams(f"bridge.max_extension_bytes {self.max_extension_bytes} is out of range "
                                f"[{MIN_EXTENSION_BYTES}, {MAX_EXTENSION_BYTES}]")

    def to_json(self) -> dict[str, object]:
        return {"l1_confirmations": self.l1_confirmations, "max_events_per_extension": self.max_events_per_extension,
                "max_extension_bytes": self.max_extension_bytes}

    @classmethod
    def from_json(cls, obj: object, path: str = "bridge.params") -> BridgeParams:
        d = json_object(obj, path, ("l1_confirmations", "max_events_per_extension", "max_extension_bytes"),
                        InvalidParams)
        p = cls(
            l1_confirmations=json_int(d.get("l1_confirmations", 12), f"{path}.l1_confirmations", 0, 10_000,
                                      InvalidParams),
            max_events_per_extension=json_int(d.get("max_events_per_extension", 32),
                                              f"{path}.max_events_per_extension", 1, 1000, InvalidParams),
            max_extension_bytes=json_int(d.get("max_extension_bytes", 4096), f"{path}.max_extension_bytes",
                                         MIN_EXTENSION_BYTES, MAX_EXTENSION_BYTES, InvalidParams),
        )
        p.validate()
        return p

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> BridgeParams:
        return cls.from_json(json.loads(raw))
