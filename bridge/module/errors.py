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


# --- withdrawals (BRIDGE.md section 5, step 5): refusals of MsgWithdraw and MsgCancelWithdrawal ---------------


class NotBridgedDenom(BridgeRuleError):
    """A withdrawal of a denom that is not a bridged one (`l1/eth`, `l1/0x<token>`)."""

    code = 8


class ZeroWithdrawal(BridgeRuleError):
    """A withdrawal of amount 0."""

    code = 9


class InvalidWithdrawalRecipient(BridgeRuleError):
    """The L1 recipient is the zero address or the bridge contract itself."""

    code = 10


class BridgeDisabled(BridgeRuleError):
    """A bridge message on a chain whose genesis has no bridge."""

    code = 11


class WithdrawalQueueFull(BridgeRuleError):
    """The token's queue holds `max_queue_per_token` withdrawals: retry once batches have drained it."""

    code = 12


class InsufficientBridgedFunds(BridgeRuleError):
    """The sender holds less than amount + fee of the denom."""

    code = 13


class FeeDenomMismatch(BridgeRuleError):
    """The fee is not in the withdrawn denom (the relayer is paid on L1 in the same token)."""

    code = 14


class NotWithdrawalOwner(BridgeRuleError):
    """A cancel by someone other than the withdrawal's sender."""

    code = 15


class WithdrawalNotQueued(BridgeRuleError):
    """A cancel of a withdrawal already in a batch, or done."""

    code = 16


class NotForged(BridgeRuleError):
    """Forged-signature evidence whose digest the chain did produce (a valset or batch it made)."""

    code = 17


class InvalidForgedSignature(BridgeRuleError):
    """Forged-signature evidence whose signature is malformed or recovers to no registered bridge key,
    or that is already recorded."""

    code = 18
