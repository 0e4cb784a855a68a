"""Errors of the bridge's L1 tooling (contract wrappers, signing, keys, CLI), codespace "l1".

All are `SidechainError`s (sidechain/errors.py), one class per failure. The errors of the protocol
rules consensus shares (a malformed valset, address or integer) are input errors, in
bridge/module/errors.py. The CLI prints `str(error)` of any `SidechainError` as one line and exits
non-zero; anything else is a bug.
"""

from __future__ import annotations

from typing import Any

from bridge.module.errors import InvalidL1Address, InvalidL1Integer, InvalidValsetError
from sidechain.errors import SidechainError

__all__ = ["InvalidL1Address", "InvalidL1Integer", "InvalidValsetError"]  # re-exported for the tooling


class BridgeError(SidechainError):
    """Root of every error the bridge's L1 tooling raises on purpose."""

    codespace = "l1"


class ConfigError(BridgeError):
    """Invalid command-line input or configuration (a malformed valset file, a missing option, ...)."""

    code = 2


class ArtifactError(BridgeError):
    """A contract artifact is missing or unreadable (run `make contracts`)."""

    code = 3


class KeystoreError(BridgeError):
    """A key could not be loaded: missing file, wrong passphrase, malformed keystore or env var."""

    code = 4


class SignatureError(BridgeError):
    """A signature does not recover to the validator it is attributed to, or is malformed."""

    code = 5


class InsufficientPowerError(BridgeError):
    """The signatures gathered do not carry more than the threshold of normalised power."""

    code = 6

    def __init__(self, signed: int, required: int) -> None:
        super().__init__(f"signatures carry power {signed}, more than {required - 1} is required")
        self.signed = signed
        self.required = required


class L1ConnectionError(BridgeError):
    """The L1 RPC endpoint cannot be reached or answered with a transport-level error."""

    code = 7


class ChainMismatchError(BridgeError):
    """The L1 RPC endpoint serves another chain than the one expected."""

    code = 8


class InsufficientFundsError(BridgeError):
    """The sending account cannot pay for the transaction."""

    code = 9


class TransactionError(BridgeError):
    """A transaction was mined but failed, or could not be sent, without a decodable contract error."""

    code = 10


class ContractRevertError(BridgeError):
    """The contract reverted; `name` and `fields` are decoded from the ABI (Error(string), Panic too)."""

    code = 11

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


# -- the sidechain side of `bridge deposit` / `bridge status` (codes from 20: 12-19 are the dev L1's and spare) --


class BridgeNotEnabled(BridgeError):
    """The sidechain node has no bridge: no bridge query routes, or a genesis without `app_state.bridge`."""

    code = 20


class WaitTimeout(BridgeError):
    """What a command waited for (a deposit's mint) did not happen in time; the message says where it stands."""

    code = 21


class UnknownDeposit(BridgeError):
    """No deposit with that event nonce: the chain applied that event and it was not a deposit, or L1 has none."""

    code = 22


class UnexpectedAnswer(BridgeError):
    """A sidechain node answered a bridge query with something that is not what the query route defines."""

    code = 23


class WatcherRescan(BridgeError):
    """The L1 watcher found a nonce gap and reads again from the deployment block (internal to its thread)."""

    code = 30


class WatcherWaiting(BridgeError):
    """A condition of L1 the watcher waits out (wrong chain, no contract, inconsistent answers); logged once."""

    code = 31
