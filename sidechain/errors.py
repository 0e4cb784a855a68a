"""The one root of every error the node, its tools and its CLIs report on purpose.

Every `SidechainError` carries a stable `(codespace, code)` pair. Codes are part of the protocol:
once released, a code keeps its meaning forever. Each package declares its errors in its own
`errors.py`; registration below refuses a duplicate `(codespace, code)` at import time, so two
errors can never share a code by accident. Code 0 is success in ABCI and code 1 is reserved for
internal errors (bugs): no error class may use either, and a grouping class without a code of its
own (e.g. `TxError`) cannot be raised.

Under the root, two families matter to consensus code:

* `InvalidInput`: input that the chain refuses (a malformed or unfunded tx, a bad query, a bad
  genesis). Consensus code turns it into a result: a tx result, a CheckTx answer, a query error.
* everything else (`ConsensusFailure`, `StoreError`, ...): the node cannot go on safely. Consensus
  code never catches these; the ABCI server reports them and stops the node. Any exception that is
  not a `SidechainError` at all is a bug and is treated the same way.

Codespace "sdk" (this file) holds the input errors of the shared types (amounts, denoms, addresses).
"""

from __future__ import annotations

from typing import ClassVar

_REGISTRY: dict[tuple[str, int], type[SidechainError]] = {}
INTERNAL_CODE = 1


class SidechainError(Exception):
    """Root of every error raised on purpose. Concrete subclasses set `codespace` and a unique `code` >= 2."""

    codespace: ClassVar[str] = "sdk"
    code: ClassVar[int] = INTERNAL_CODE

    def __init__(self, message: str) -> None:
        cls = type(self)
        if _REGISTRY.get((cls.codespace, cls.code)) is not cls and not _inherits_code(cls):
            raise TypeError(f"{cls.__name__} is a group of errors without a code: raise one of its subclasses")
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # a grouping class (e.g. a module's base error), or one that shares its parent's code
        key = (cls.codespace, cls.code)
        if cls.code <= INTERNAL_CODE:
            raise TypeError(f"{cls.__name__}: error codes start at 2 (0 is OK, 1 is internal)")
        other = _REGISTRY.get(key)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: code {key} already used by {other.__name__}")
        _REGISTRY[key] = cls

    def __str__(self) -> str:
        return self.message


def _inherits_code(cls: type[SidechainError]) -> bool:
    """A subclass of a concrete error that adds no code of its own reports its parent's code."""
    for base in cls.__mro__[1:]:
        if "code" in base.__dict__ and issubclass(base, SidechainError):
            return _REGISTRY.get((base.codespace, base.code)) is base and base.codespace == cls.codespace
    return False


def registered_errors() -> list[tuple[str, int, str]]:
    """(codespace, code, class name) of every registered error, sorted: the published code table."""
    return sorted((cs, code, cls.__name__) for (cs, code), cls in _REGISTRY.items())


class InvalidInput(SidechainError):
    """Input the chain refuses. Consensus code turns it into a result; it never stops the node."""


class ConsensusFailure(SidechainError):
    """The node cannot safely continue (consensus asked for something this state cannot do)."""

    codespace = "node"
    code = 2


class InvalidAmount(InvalidInput):
    """An amount that is not an integer in [0, 2**256 - 1], or not written canonically."""

    code = 2


class AmountOverflow(InvalidAmount):
    code = 3


class AmountUnderflow(InvalidAmount):
    code = 4


class InvalidDenom(InvalidInput):
    code = 5


class InvalidCoins(InvalidInput):
    """A list of coins that is not strictly sorted by denom, has duplicates or zero amounts."""

    code = 6


class InvalidAddress(InvalidInput):
    code = 7


class InvalidPubKey(InvalidInput):
    code = 8


class InvalidParams(InvalidInput):
    """Params (from genesis or state) that break their own `validate()` rules."""

    code = 9


class InvalidGenesis(InvalidInput):
    """The genesis `app_state` is malformed; the message names the offending path."""

    code = 10
