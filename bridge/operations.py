"""What the `bridge` CLI does, as library functions: deploy the contract, claim a deferred payout, and the
two halves of a guardian replacement (each validator signs; anyone collects signatures and submits).

A guardian-change signature travels as a small JSON file (`GuardianChangeSignature`): it names the chain, the
contract, the nonce and the new guardian it is for, so `submit` can refuse a file meant for something else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes

from bridge.errors import ConfigError, InsufficientFundsError, SignatureError
from bridge.l1 import BridgeContract, L1Client
from bridge.protocol import MAX_GENESIS_VALSET_NONCE, POWER_THRESHOLD, Domain, Signature, Valset, checksum
from bridge.signing import assemble_signatures, recover_signer, sign_digest


@dataclass(frozen=True)
class DeployResult:
    contract: ChecksumAddress
    chain_id: int
    deployer: ChecksumAddress
    guardian: ChecksumAddress
    tx_hash: str
    gas_used: int
    valset_nonce: int
    checkpoint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "chainId": self.chain_id,
            "deployer": self.deployer,
            "guardian": self.guardian,
            "txHash": self.tx_hash,
            "gasUsed": self.gas_used,
            "valsetNonce": self.valset_nonce,
            "checkpoint": self.checkpoint,
        }


def _require_funds(client: L1Client, account: str, gas: int, what: str) -> None:
    """Refuse early, in one line, when `account` cannot pay for `gas` at the current fee level."""
    balance = client.balance(account)
    fee_per_gas = _fee_per_gas(client)
    needed = gas * fee_per_gas
    if balance < needed:
        raise InsufficientFundsError(
            f"{checksum(account)} has {balance / 1e18:.6f} ETH on chain {client.chain_id}; "
            f"{what} needs about {needed / 1e18:.6f} ETH ({gas:,} gas at {fee_per_gas / 1e9:.2f} gwei)"
        )


def _fee_per_gas(client: L1Client) -> int:
    block = client.w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas") or 0)
    try:
        tip = int(client.w3.eth.max_priority_fee)
    except Exception:  # nodes without eth_maxPriorityFeePerGas
        tip = 10**9
    return 2 * base + tip


def deploy(client: L1Client, valset: Valset, guardian: str, deployer: LocalAccount) -> DeployResult:
    valset.validate()
    if valset.nonce > MAX_GENESIS_VALSET_NONCE:
        raise ConfigError(f"a genesis valset nonce is at most 2^128, got {valset.nonce}")
    guardian = checksum(guardian)
    if int(guardian, 16) == 0:
        raise ConfigError("the guardian must not be the zero address")
    factory = client.w3.eth.contract(abi=BridgeContract.artifact().abi, bytecode=BridgeContract.artifact().bytecode)
    constructor = factory.constructor(valset.to_abi(), guardian)
    gas = client.estimate_gas(constructor, deployer.address)
    _require_funds(client, deployer.address, gas, "deployment")
    bridge = BridgeContract.deploy(client, valset, guardian, deployer, gas=gas + gas // 5)
    receipt = client.last_receipt
    assert receipt is not None
    return DeployResult(
        contract=bridge.address,
        chain_id=client.chain_id,
        deployer=checksum(deployer.address),
        guardian=guardian,
        tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        gas_used=int(receipt["gasUsed"]),
        valset_nonce=bridge.valset_nonce(),
        checkpoint="0x" + bridge.valset_checkpoint().hex(),
    )


def claim(bridge: BridgeContract, token: str, to: str, account: LocalAccount) -> dict[str, Any]:
    owed = bridge.deferred(token, account.address)
    if owed == 0:
        raise ConfigError(f"nothing is owed to {account.address} in token {checksum(token)}")
    receipt = bridge.claim_deferred(token, to, account)
    return {
        "token": checksum(token),
        "account": account.address,
        "to": checksum(to),
        "amount": owed,
        "txHash": HexBytes(receipt["transactionHash"]).to_0x_hex(),
    }


# -- guardian replacement (BRIDGE.md section 6) ------------------------------------------------------


@dataclass(frozen=True)
class GuardianChangeSignature:
    """One validator's signature over GuardianChange(nonce, guardian) for one contract on one chain."""

    chain_id: int
    contract: ChecksumAddress
    nonce: int
    guardian: ChecksumAddress
    signer: ChecksumAddress
    signature: Signature

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.contract)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "GuardianChange",
            "chainId": self.chain_id,
            "contract": self.contract,
            "nonce": self.nonce,
            "guardian": self.guardian,
            "signer": self.signer,
            "digest": "0x" + self.domain.guardian_change_digest(self.nonce, self.guardian).hex(),
            **self.signature.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "signature") -> GuardianChangeSignature:
        if not isinstance(data, dict) or data.get("kind") != "GuardianChange":
            raise ConfigError(f"{source} is not a guardian-change signature (run `bridge guardian sign`)")
        try:
            parsed = cls(
                chain_id=int(data["chainId"]),
                contract=checksum(data["contract"]),
                nonce=int(data["nonce"]),
                guardian=checksum(data["guardian"]),
                signer=checksum(data["signer"]),
                signature=Signature.from_json(data),
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{source} is missing fields of a guardian-change signature") from None
        digest = parsed.domain.guardian_change_digest(parsed.nonce, parsed.guardian)
        if recover_signer(digest, parsed.signature) != parsed.signer:
            raise SignatureError(f"{source}: the signature was not made by {parsed.signer}")
        return parsed


def sign_guardian_change(domain: Domain, nonce: int, guardian: str, validator: LocalAccount) -> GuardianChangeSignature:
    if nonce < 1:
        raise ConfigError("a guardian-change nonce is guardianNonce() + 1, so at least 1")
    guardian = checksum(guardian)
    if int(guardian, 16) == 0:
        raise ConfigError("the new guardian must not be the zero address")
    digest = domain.guardian_change_digest(nonce, guardian)
    return GuardianChangeSignature(
        domain.chain_id, domain.contract, nonce, guardian, checksum(validator.address), sign_digest(validator, digest)
    )


def read_signature_files(paths: Iterable[Path]) -> list[GuardianChangeSignature]:
    """Signature files from the given files and directories (every *.json in a directory)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"no such signature file or directory: {path}")
    out = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read signature file {file}: {exc}") from None
        out.append(GuardianChangeSignature.from_json(data, source=str(file)))
    return out


@dataclass(frozen=True)
class Collected:
    signatures: dict[str, Signature]
    power: int
    ignored: list[str]

    @property
    def enough(self) -> bool:
        return self.power > POWER_THRESHOLD


def collect_guardian_signatures(
    signatures: Iterable[GuardianChangeSignature], domain: Domain, valset: Valset, nonce: int, guardian: str
) -> Collected:
    """Keep the signatures for exactly this change by members of `valset`; report why others are ignored."""
    guardian = checksum(guardian)
    kept: dict[str, Signature] = {}
    ignored: list[str] = []
    for sig in signatures:
        if (sig.chain_id, sig.contract) != (domain.chain_id, domain.contract):
            ignored.append(f"{sig.signer}: for contract {sig.contract} on chain {sig.chain_id}")
        elif (sig.nonce, sig.guardian) != (nonce, guardian):
            ignored.append(f"{sig.signer}: for guardian {sig.guardian} with nonce {sig.nonce}")
        elif sig.signer not in valset.validators:
            ignored.append(f"{sig.signer}: not a member of valset {valset.nonce}")
        else:
            kept[sig.signer] = sig.signature
    power = sum(valset.powers[valset.validators.index(a)] for a in kept)  # type: ignore[arg-type]
    return Collected(kept, power, ignored)


def submit_guardian_change(
    bridge: BridgeContract,
    valset: Valset,
    nonce: int,
    guardian: str,
    collected: Collected,
    sender: LocalAccount,
) -> dict[str, Any]:
    checkpoint = bridge.valset_checkpoint()
    if bridge.domain.valset_digest(valset) != checkpoint:
        raise ConfigError(
            f"the valset file (nonce {valset.nonce}) is not the contract's current valset "
            f"(nonce {bridge.valset_nonce()}); use the latest valset"
        )
    expected = bridge.guardian_nonce() + 1
    if nonce != expected:
        raise ConfigError(f"the contract expects guardian nonce {expected}, the signatures are for {nonce}")
    digest = bridge.domain.guardian_change_digest(nonce, guardian)
    sigs = assemble_signatures(valset, digest, collected.signatures)
    receipt = bridge.set_guardian(guardian, nonce, valset, sigs, sender)
    return {
        "guardian": checksum(guardian),
        "nonce": nonce,
        "signedPower": collected.power,
        "signers": sorted(collected.signatures),
        "txHash": HexBytes(receipt["transactionHash"]).to_0x_hex(),
    }
