"""Funded test keys of a local network, kept in a test keyring (sidechain.keyring).

TEST ONLY. The passphrase is published (printed by `make testnet`, written in README.md) and the
key derivation uses the keyring's minimum cost, since a published passphrase protects nothing:
never hold value with these keys. Files are the keyring's own (mode 0600 in a 0700 directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from genesis.errors import TestnetError
from sidechain.errors import SidechainError
from sidechain.keyring import KdfCost, Keyring

TEST_PASSPHRASE = "testnet-only-passphrase"


class KeyMaker(Protocol):
    """Creates named account keys and says where they are (a home holding `keyring/`)."""

    @property
    def location(self) -> Path: ...

    def create(self, name: str) -> str:
        """A new key NAME; returns its bech32 address."""
        ...


class TestKeyring:
    """Keys in `<home>/keyring/` encrypted with TEST_PASSPHRASE."""

    __test__ = False  # not a pytest test class

    def __init__(self, home: Path, address_prefix: str, passphrase: str = TEST_PASSPHRASE) -> None:
        self.home = home
        self.prefix = address_prefix
        self.passphrase = passphrase
        self.keyring = Keyring(home, KdfCost.MIN)

    @property
    def location(self) -> Path:
        return self.home

    def create(self, name: str) -> str:
        try:
            return self.keyring.add(name, self.passphrase).bech32(self.prefix)
        except SidechainError as e:
            raise TestnetError(f"cannot create test key {name!r}: {e}") from None
