"""Errors of the bridge's L1 tooling (contract wrappers, signing, keys, CLI): one root, one class per failure.

The CLI prints `str(error)` of any `BridgeError` as one line and exits non-zero; anything else is a bug.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Root of every error the bridge's L1 tooling raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BridgeError):
    """Invalid command-line input or configuration (a bad address, a malformed valset file, ...)."""


class ArtifactError(BridgeError):
    """A contract artifact is missing or unreadable (run `make contracts`)."""


class KeystoreError(BridgeError):
    """A key could not be loaded: missing file, wrong passphrase, malformed keystore or env var."""


class InvalidValsetError(BridgeError):
    """A valset breaks rule 3 of BRIDGE.md (lengths, order, zero address or power, total power)."""


class SignatureError(BridgeError):
    """A signature does not recover to the validator it is attributed to, or is malformed."""


class InsufficientPowerError(BridgeError):
    """The signatures gathered do not carry more than the threshold of normalised power."""

    def __init__(self, signed: int, required: int) -> None:
        super().__init__(f"signatures carry power {signed}, more than {required - 1} is required")
        self.signed = signed
        self.required = required


class L1ConnectionError(BridgeError):
    """The L1 RPC endpoint cannot be reached or answered with a transport-level error."""


class ChainMismatchError(BridgeError):
    """The L1 RPC endpoint serves another chain than the one expected."""


class InsufficientFundsError(BridgeError):
    """The sending account cannot pay for the transaction."""


class TransactionError(BridgeError):
    """A transaction was mined but failed, or could not be sent, without a decodable contract error."""


class ContractRevertError(BridgeError):
    """The contract reverted; `name` and `fields` are decoded from the ABI (Error(string), Panic too)."""

    def __init__(self, name: str, fields: dict[str, Any], data: bytes, tx_hash: str | None = None) -> None:
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in fields.items())
        super().__init__(f"contract reverted: {name}({rendered})")
        self.name = name
        self.fields = fields
        self.data = data
        self.tx_hash = tx_hash


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
