"""Errors of the auth module (codespace "auth"). Codes are stable: never renumber."""

from __future__ import annotations

from sidechain.errors import InvalidInput


class AuthError(InvalidInput):
    codespace = "auth"


class WrongSequence(AuthError):
    """The tx's sequence is not the account's next sequence (a replay, or out of order)."""

    code = 2


class FeeDenomNotAccepted(AuthError):
    code = 3


class FeeTooLow(AuthError):
    code = 4


class InsufficientFeeFunds(AuthError):
    """The signer cannot pay the fee at all (nothing else of the tx is attempted)."""

    code = 5


class SequenceOverflow(AuthError):
    code = 6
