"""The one root of every error that invalid input can cause.

A `SidechainError` carries a stable `(codespace, code)` pair: it becomes the `code`/`codespace`
of an ABCI result (CheckTx, FinalizeBlock tx results, queries) and a one-line message for the
CLI. Codes are part of the protocol: once released, a code keeps its meaning forever. Each
module declares its errors in its own `errors.py`; registration below refuses a duplicate
`(codespace, code)` at import time, so two errors can never share a code by accident.

Any exception that is *not* a `SidechainError` is a bug: consensus code lets it propagate
(the node stops) rather than turning it into a tx result.

Codespace "sdk" (this file) holds errors of the shared types (amounts, denoms, addresses).
"""

from __future__ import annotations

from typing import ClassVar

# Code 0 is success in ABCI; 1 is reserved for "internal error" (never raised on purpose).
_REGISTRY: dict[tuple[str, int], type[SidechainError]] = {}


class SidechainError(Exception):
    """Root of all input errors. Subclasses set `codespace` and a unique `code` >= 2."""

    codespace: ClassVar[str] = "sdk"
    code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # an abstract grouping class (e.g. a module's base error): no code of its own
        key = (cls.codespace, cls.code)
        if cls.code < 2:
            raise TypeError(f"{cls.__name__}: error codes start at 2 (0 is OK, 1 is internal)")
        other = _REGISTRY.get(key)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: code {key} already used by {other.__name__}")
        _REGISTRY[key] = cls

    def __str__(self) -> str:
        return self.message


def registered_errors() -> list[tuple[str, int, str]]:
    """(codespace, code, class name) of every registered error, sorted: the published code table."""
    return sorted((cs, code, cls.__name__) for (cs, code), cls in _REGISTRY.items())


class InvalidAmount(SidechainError):
    """An amount that is not an integer in [0, 2**256 - 1], or not written canonically."""

    code = 2


class AmountOverflow(InvalidAmount):
    code = 3


class AmountUnderflow(InvalidAmount):
    code = 4


class InvalidDenom(SidechainError):
    code = 5


class InvalidCoins(SidechainError):
    """A list of coins that is not strictly sorted by denom, has duplicates or zero amounts."""

    code = 6


class InvalidAddress(SidechainError):
    code = 7


class InvalidPubKey(SidechainError):
    code = 8


class InvalidParams(SidechainError):
    """Params (from genesis or state) that break their own `validate()` rules."""

    code = 9


class InvalidGenesis(SidechainError):
    """The genesis `app_state` is malformed; the message names the offending path."""

    code = 10
