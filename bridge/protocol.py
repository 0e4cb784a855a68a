"""The bridge protocol as data (BRIDGE.md sections 2-4): valsets, signatures, withdrawals, batches, their
rules and the EIP-712 digests validators sign. Pure functions; no network, no contract.

The digests are computed by bridge/module/digests.py (the one implementation, shared with consensus);
this module gives them over its typed values. They must equal the contract's (`valsetCheckpoint()`,
the batch digest); a property test pins it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from bridge.errors import ConfigError
from bridge.module import digests
from bridge.module.errors import InvalidL1Address, InvalidL1Integer, InvalidValsetError

# --- constants (section 2 and 3) ------------------------------------------------------------------

POWER_THRESHOLD = 2863311530  # floor(2**32 * 2 / 3); signed power must be strictly greater
MAX_TOTAL_POWER = 2**32
MAX_VALSET_NONCE_JUMP = 1_000_000
MAX_GENESIS_VALSET_NONCE = 2**128  # the contract refuses a larger genesis nonce (no lock by nonce)
ETH_TOKEN: ChecksumAddress = to_checksum_address("0x" + "00" * 20)  # token 0 = ETH
ETH_PAYOUT_GAS = 50_000
ERC20_PAYOUT_GAS = 150_000
UINT256_MAX = 2**256 - 1


def checksum(address: str | bytes) -> ChecksumAddress:
    """A checksummed address from hex text or 20 raw bytes; InvalidL1Address when it is not an address."""
    if isinstance(address, bytes):
        if len(address) != 20:
            raise InvalidL1Address(f"an address is 20 bytes, got {len(address)}")
        return to_checksum_address(address)
    if not isinstance(address, str) or not is_address(address):
        raise InvalidL1Address(f"not an Ethereum address: {address!r}")
    return to_checksum_address(address)


def _uint256(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise InvalidL1Integer(f"{what} must be an integer in [0, 2**256 - 1], got {value!r}")
    return value


# --- valsets (section 2, rule 3) ------------------------------------------------------------------


@dataclass(frozen=True)
class Valset:
    """Validators' bridge addresses and normalised powers as the L1 contract sees them."""

    nonce: int
    validators: tuple[ChecksumAddress, ...]
    powers: tuple[int, ...]

    @classmethod
    def of(cls, nonce: int, validators: Iterable[str], powers: Iterable[int]) -> Valset:
        """Build without validating (tests build broken valsets on purpose); call `validate()` to check."""
        return cls(nonce, tuple(checksum(a) for a in validators), tuple(powers))

    @classmethod
    def from_stakes(cls, nonce: int, stakes: Mapping[str, int]) -> Valset:
        """Section 2: p_i = floor(stake_i * 2^32 / total); zero powers left out; ascending address order."""
        total = sum(stakes.values())
        if total <= 0 or any(s < 0 for s in stakes.values()):
            raise InvalidValsetError("stakes must be non-negative with a positive total")
        members = sorted(
            ((checksum(a), s * MAX_TOTAL_POWER // total) for a, s in stakes.items()),
            key=lambda m: int(m[0], 16),
        )
        members = [m for m in members if m[1] > 0]
        valset = cls(nonce, tuple(a for a, _ in members), tuple(p for _, p in members))
        valset.validate()
        return valset

    @property
    def total_power(self) -> int:
        return sum(self.powers)

    def validate(self) -> None:
        """Rule 3, exactly as the contract applies it (same order of checks)."""
        _uint256(self.nonce, "valset nonce")
        n = len(self.validators)
        if n != len(self.powers):
            raise InvalidValsetError(f"{n} validators but {len(self.powers)} powers")
        if n == 0:
            raise InvalidValsetError("a valset needs at least one validator")
        previous = -1
        for i, (address, power) in enumerate(zip(self.validators, self.powers, strict=True)):
            value = int(address, 16)
            if value == 0:
                raise InvalidValsetError(f"validator {i} is the zero address")
            if value <= previous:
                raise InvalidValsetError(f"validator {i} ({address}) is not in strictly ascending address order")
            _uint256(power, f"power of validator {i}")
            if power == 0:
                raise InvalidValsetError(f"validator {i} ({address}) has zero power")
            previous = value
        total = self.total_power
        if total > MAX_TOTAL_POWER:
            raise InvalidValsetError(f"total power {total} exceeds 2^32")
        if total <= POWER_THRESHOLD:
            raise InvalidValsetError(f"total power {total} does not exceed the threshold {POWER_THRESHOLD}")

    def index_of(self, address: str) -> int:
        target = checksum(address)
        try:
            return self.validators.index(target)
        except ValueError:
            raise ConfigError(f"{target} is not a member of valset {self.nonce}") from None

    def to_abi(self) -> tuple[int, list[str], list[int]]:
        return (self.nonce, list(self.validators), list(self.powers))

    def to_json(self) -> dict[str, Any]:
        return {"nonce": self.nonce, "validators": list(self.validators), "powers": list(self.powers)}

    @classmethod
    def from_json(cls, data: Any) -> Valset:
        """The valset file format: {"nonce": int, "validators": [address, ...], "powers": [int, ...]}."""
        if not isinstance(data, dict) or not {"nonce", "validators", "powers"} <= data.keys():
            raise ConfigError('a valset is a JSON object with "nonce", "validators" and "powers"')
        if not isinstance(data["validators"], list) or not isinstance(data["powers"], list):
            raise ConfigError('"validators" and "powers" must be JSON lists')
        powers = tuple(_uint256(p, "power") for p in data["powers"])
        return cls(_uint256(data["nonce"], "valset nonce"), tuple(checksum(a) for a in data["validators"]), powers)

    @classmethod
    def load(cls, path: str | Path) -> Valset:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read valset file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"valset file {path} is not valid JSON: {exc}") from None
        return cls.from_json(data)


# --- signatures, withdrawals, batches (section 3) -------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """v == 0: did not sign; else v is 27 or 28. r and s are 32-byte big-endian integers."""

    v: int
    r: int
    s: int

    def to_abi(self) -> tuple[int, bytes, bytes]:
        return (self.v, self.r.to_bytes(32, "big"), self.s.to_bytes(32, "big"))

    def to_json(self) -> dict[str, Any]:
        return {"v": self.v, "r": f"0x{self.r:064x}", "s": f"0x{self.s:064x}"}

    @classmethod
    def from_json(cls, data: Any) -> Signature:
        try:
            return cls(int(data["v"]), int(data["r"], 16), int(data["s"], 16))
        except (KeyError, TypeError, ValueError):
            raise ConfigError('a signature is {"v": int, "r": "0x...", "s": "0x..."}') from None


NO_SIGNATURE = Signature(0, 0, 0)


@dataclass(frozen=True)
class Withdrawal:
    token: ChecksumAddress  # ETH_TOKEN (zero address) = ETH
    recipient: ChecksumAddress
    amount: int
    fee: int

    @classmethod
    def of(cls, token: str, recipient: str, amount: int, fee: int) -> Withdrawal:
        return cls(checksum(token), checksum(recipient), amount, fee)

    def to_abi(self) -> tuple[str, str, int, int]:
        return (self.token, self.recipient, self.amount, self.fee)

    def raw(self) -> digests.RawWithdrawal:
        return (_raw(self.token), _raw(self.recipient), self.amount, self.fee)


@dataclass(frozen=True)
class Batch:
    nonce: int
    timeout_l1_block: int

    def to_abi(self) -> tuple[int, int]:
        return (self.nonce, self.timeout_l1_block)


# --- EIP-712 digests (section 4) ------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one deployed contract on one chain."""

    chain_id: int
    contract: ChecksumAddress

    @property
    def separator(self) -> bytes:
        return digests.domain_separator(self.chain_id, _raw(self.contract))

    def typed_digest(self, struct_hash: bytes) -> bytes:
        """EIP-712 `hashTypedDataV4`: keccak256(0x1901 || domainSeparator || structHash)."""
        return digests.typed_digest(self.separator, struct_hash)

    def valset_digest(self, valset: Valset) -> bytes:
        """What validators sign for a valset, and what `valsetCheckpoint()` returns for the current one."""
        return self.typed_digest(valset_struct_hash(valset))

    def batch_digest(self, batch: Batch, withdrawals: Sequence[Withdrawal]) -> bytes:
        return self.typed_digest(batch_struct_hash(batch, withdrawals))

    def guardian_change_digest(self, nonce: int, guardian: str) -> bytes:
        return self.typed_digest(digests.guardian_change_struct_hash(nonce, _raw(checksum(guardian))))


def _raw(address: str) -> bytes:
    return bytes.fromhex(checksum(address)[2:])


def valset_struct_hash(valset: Valset) -> bytes:
    """Arrays of atomic types as EIP-712 requires: keccak256 of the elements, each padded to 32 bytes."""
    return digests.valset_struct_hash(valset.nonce, [_raw(a) for a in valset.validators], valset.powers)


def withdrawals_hash(withdrawals: Sequence[Withdrawal]) -> bytes:
    """keccak256(abi.encode(withdrawals)): plain ABI encoding of Withdrawal[] (not EIP-712 struct arrays)."""
    return digests.withdrawals_hash([w.raw() for w in withdrawals])


def batch_struct_hash(batch: Batch, withdrawals: Sequence[Withdrawal]) -> bytes:
    return digests.batch_struct_hash(batch.nonce, batch.timeout_l1_block, [w.raw() for w in withdrawals])
