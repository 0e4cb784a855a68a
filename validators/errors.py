"""Errors of the validators module (codespace "staking"). Codes are stable: never renumber."""

from __future__ import annotations

from sidechain.errors import InvalidInput


class StakingError(InvalidInput):
    codespace = "staking"


class ValidatorExists(StakingError):
    code = 2


class ConsensusKeyUsed(StakingError):
    """The consensus key belongs, or belonged, to another validator."""

    code = 3


class BridgeAddressUsed(StakingError):
    code = 4


class InvalidBridgeProof(StakingError):
    """The proof of possession does not recover to the bridge address for this chain and operator."""

    code = 5


class ValidatorNotFound(StakingError):
    code = 6


class InvalidCommission(StakingError):
    code = 7


class SelfDelegationTooLow(StakingError):
    code = 8


class DelegationNotFound(StakingError):
    code = 9


class InsufficientShares(StakingError):
    code = 10


class TooManyEntries(StakingError):
    """At most `max_entries` unbonding (or redelegation) entries per delegator and validator (pair)."""

    code = 11


class TransitiveRedelegation(StakingError):
    """Redelegating away from a validator that is itself the destination of an unmatured redelegation."""

    code = 12


class SelfRedelegation(StakingError):
    code = 13


class ValidatorJailed(StakingError):
    code = 14


class NotJailed(StakingError):
    code = 15


class ValidatorTombstoned(StakingError):
    code = 16


class StillJailed(StakingError):
    code = 17


class OperatorNotAllowed(StakingError):
    code = 18


class NotAdmin(StakingError):
    code = 19


class InvalidStakingMsg(StakingError):
    """A message field malformed on its own (lengths, amounts, strings)."""

    code = 20


class ZeroShares(StakingError):
    """The amount is too small to buy a share of the validator's tokens."""

    code = 21


class NoRewards(StakingError):
    code = 22
