"""Errors of the bridge's protocol rules (codespace "bridge"). Codes are stable: never renumber.

These are input errors: the rules in bridge/protocol.py raise them for a malformed valset, L1
address or integer, so that the same rule fails a tx in consensus code and prints one line in a
CLI. The L1 tooling's own failures (RPC, keystores, reverts) are bridge/errors.py's.
"""

from __future__ import annotations

from sidechain.errors import InvalidInput


class BridgeRuleError(InvalidInput):
    codespace = "bridge"


class InvalidValsetError(BridgeRuleError):
    """A valset breaks rule 3 of the bridge protocol (lengths, order, zero address or power, total power)."""

    code = 2


class InvalidL1Address(BridgeRuleError):
    """Not a 20-byte Ethereum address."""

    code = 3


class InvalidL1Integer(BridgeRuleError):
    """Not an integer in [0, 2**256 - 1]."""

    code = 4


class MalformedExtension(BridgeRuleError):
    """A vote extension (or the extended commit carrying them) that is not well formed: bad encoding,
    events not contiguous from the chain's next nonce, too many events, too many bytes."""

    code = 5


class UnknownBridgeRecord(BridgeRuleError):
    """A query for a deposit, withdrawal, batch or valset the chain does not have."""

    code = 6
