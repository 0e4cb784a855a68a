"""Bank params. JSON form (genesis `app_state.bank.params`, and the stored value):

    {"send_enabled": true}

`send_enabled` false stops all MsgSend transfers (fees are still taken: they are not transfers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sidechain.errors import InvalidParams
from sidechain.types import json_bool, json_object


@dataclass(frozen=True, slots=True)
class BankParams:
    send_enabled: bool

    @classmethod
    def default(cls) -> BankParams:
        return cls(send_enabled=True)

    def validate(self) -> None:
        if type(self.send_enabled) is not bool:
            raise InvalidParams(f"send_enabled must be a bool, got {self.send_enabled!r}")

    def to_json(self) -> dict[str, object]:
        return {"send_enabled": self.send_enabled}

    @classmethod
    def from_json(cls, obj: object, path: str = "bank.params") -> BankParams:
        d = json_object(obj, path, ("send_enabled",), InvalidParams)
        p = cls(send_enabled=json_bool(d.get("send_enabled", True), f"{path}.send_enabled", InvalidParams))
        try:
            p.validate()
        except InvalidParams as e:
            raise InvalidParams(f"{path}: {e.message}") from None
        return p

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> BankParams:
        return cls.from_json(json.loads(data))
