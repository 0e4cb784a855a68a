"""Errors of the bank module (codespace "bank"). Codes are stable: never renumber."""

from __future__ import annotations

from sidechain.errors import InvalidInput


class BankError(InvalidInput):
    codespace = "bank"


class InsufficientFunds(BankError):
    code = 2


class SendDisabled(BankError):
    code = 3


class SupplyOverflow(BankError):
    """Minting would push a denom's supply past 2**256 - 1."""

    code = 4


class ModuleAccountRecipient(BankError):
    """A transfer to a module's account (a pool): it would break that module's accounting."""

    code = 5
