"""Errors of the genesis tooling (building networks, join files, collecting, local testnets).

These never reach consensus: they are for operators, so each carries a one-line message that says
what is wrong and, where it helps, what to do. The CLI prints `error: <message>` and exits 1.
"""

from __future__ import annotations

from sidechain.errors import SidechainError


class GenesisToolError(SidechainError):
    """Root of every error of the genesis tooling (codespace "genesis"); `str(e)` is the one-line message."""

    codespace = "genesis"


class SpecError(GenesisToolError):
    """A network spec (or a params file) is malformed."""

    code = 2


class KeyFileError(GenesisToolError):
    """A CometBFT key file is missing or not in CometBFT's format."""

    code = 3


class JoinFileError(GenesisToolError):
    """A join file is malformed, unsigned, badly signed or for another chain."""

    code = 4


class CollectError(GenesisToolError):
    """Join files that cannot go into one genesis together (duplicates, conflicts)."""

    code = 5


class HomeError(GenesisToolError):
    """A node home is missing, already initialised, or does not match the genesis."""

    code = 6


class TestnetError(GenesisToolError):
    """The local testnet cannot be started, stopped or inspected as asked."""

    code = 7
