"""The EIP-712 digests validators sign (BRIDGE.md section 4), over raw values: the one implementation,
used by consensus (a batch's digest is stored when the batch forms) and, through bridge/protocol.py,
by the L1 tooling. A property test pins them equal to the contract's.

    domain separator   keccak256(abi.encode(DOMAIN_TYPEHASH, keccak("SidechainBridge"), keccak("1"),
                                            chainId, verifyingContract))
    digest             keccak256(0x1901 || domainSeparator || structHash)     (hashTypedDataV4)
    Valset             keccak256(abi.encode(VALSET_TYPEHASH, nonce, keccak(validators padded),
                                            keccak(powers as words)))
    BatchDigest        keccak256(abi.encode(BATCH_TYPEHASH, nonce, timeoutL1Block, withdrawalsHash))
    withdrawalsHash    keccak256(abi.encode(Withdrawal[])): offset 0x20, length, then 4 words each
                       (token, recipient, amount, fee); plain ABI, not EIP-712 struct arrays
    GuardianChange     keccak256(abi.encode(GUARDIAN_CHANGE_TYPEHASH, nonce, guardian))

Every value is a static 32-byte ABI word, so the encoding is written out here rather than through a
general ABI encoder (a 100-withdrawal batch is hashed in well under a millisecond). Addresses are 20
raw bytes; integers must be in [0, 2^256 - 1] (InvalidL1Integer otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak

from bridge.module.errors import InvalidL1Address, InvalidL1Integer

DOMAIN_NAME = "SidechainBridge"
DOMAIN_VERSION = "1"
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
VALSET_TYPEHASH = keccak(text="Valset(uint256 nonce,address[] validators,uint256[] powers)")
BATCH_TYPEHASH = keccak(text="BatchDigest(uint256 nonce,uint256 timeoutL1Block,bytes32 withdrawalsHash)")
GUARDIAN_CHANGE_TYPEHASH = keccak(text="GuardianChange(uint256 nonce,address guardian)")
UINT256_MAX = 2**256 - 1

# (token, recipient, amount, fee): token and recipient 20 bytes; token all zero = ETH
RawWithdrawal = tuple[bytes, bytes, int, int]


def uint_word(value: int, what: str = "value") -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise InvalidL1Integer(f"{what} must be an integer in [0, 2**256 - 1], got {value!r}")
    return value.to_bytes(32, "big")


def address_word(address: bytes, what: str = "address") -> bytes:
    if not isinstance(address, bytes | bytearray) or len(address) != 20:
        raise InvalidL1Address(f"{what} must be 20 bytes")
    return bytes(12) + bytes(address)


def domain_separator(chain_id: int, contract: bytes) -> bytes:
    return keccak(DOMAIN_TYPEHASH + keccak(text=DOMAIN_NAME) + keccak(text=DOMAIN_VERSION)
                  + uint_word(chain_id, "chain id") + address_word(contract, "contract"))


def typed_digest(separator: bytes, struct_hash: bytes) -> bytes:
    """EIP-712 `hashTypedDataV4`: keccak256(0x1901 || domainSeparator || structHash)."""
    return keccak(b"\x19\x01" + separator + struct_hash)


def valset_struct_hash(nonce: int, validators: Sequence[bytes], powers: Sequence[int]) -> bytes:
    """Arrays of atomic types as EIP-712 encodes them: keccak256 of the elements, each padded to 32 bytes."""
    validators_hash = keccak(b"".join(address_word(a, "validator") for a in validators))
    powers_hash = keccak(b"".join(uint_word(p, "power") for p in powers))
    return keccak(VALSET_TYPEHASH + uint_word(nonce, "valset nonce") + validators_hash + powers_hash)


def withdrawals_hash(withdrawals: Sequence[RawWithdrawal]) -> bytes:
    """keccak256(abi.encode(withdrawals)) of a `Withdrawal[]` (a dynamic array of static tuples)."""
    parts = [uint_word(0x20), uint_word(len(withdrawals))]
    for token, recipient, amount, fee in withdrawals:
        parts += (address_word(token, "token"), address_word(recipient, "recipient"),
                  uint_word(amount, "amount"), uint_word(fee, "fee"))
    return keccak(b"".join(parts))


def batch_struct_hash(nonce: int, timeout_l1_block: int, withdrawals: Sequence[RawWithdrawal]) -> bytes:
    return keccak(BATCH_TYPEHASH + uint_word(nonce, "batch nonce") + uint_word(timeout_l1_block, "timeoutL1Block")
                  + withdrawals_hash(withdrawals))


def guardian_change_struct_hash(nonce: int, guardian: bytes) -> bytes:
    return keccak(GUARDIAN_CHANGE_TYPEHASH + uint_word(nonce, "guardian nonce") + address_word(guardian, "guardian"))


def batch_digest(chain_id: int, contract: bytes, nonce: int, timeout_l1_block: int,
                 withdrawals: Sequence[RawWithdrawal]) -> bytes:
    """The digest validators sign for a batch (the contract's `_hashTypedDataV4` of its BatchDigest)."""
    return typed_digest(domain_separator(chain_id, contract), batch_struct_hash(nonce, timeout_l1_block, withdrawals))


def valset_digest(chain_id: int, contract: bytes, nonce: int, validators: Sequence[bytes],
                  powers: Sequence[int]) -> bytes:
    """The digest validators sign for a valset, and `valsetCheckpoint()` of the contract's current one."""
    return typed_digest(domain_separator(chain_id, contract), valset_struct_hash(nonce, validators, powers))
