"""A deployed bridge world on an in-process EVM, reset to the same state before every test (snapshots)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3.contract import Contract
from web3.types import TxReceipt

from bridge.errors import ContractRevertError
from bridge.l1 import BridgeContract, LogEvent
from bridge.protocol import ETH_TOKEN, Batch, Signature, Valset, Withdrawal, checksum
from tests.support.bridge_l1.evm import InProcessL1, in_process_l1
from tests.support.bridge_l1.validators import equal_valset, minimum_signers, sign_by, validator_accounts

ONE_ETH = 10**18
RECIPIENT = b"\x5c" * 20  # a sidechain address (bytes20) for deposits


@contextmanager
def reverts(name: str, **fields: Any) -> Iterator[pytest.ExceptionInfo[ContractRevertError]]:
    """Expect the contract to revert with custom error `name` (and the given decoded fields)."""
    with pytest.raises(ContractRevertError) as info:
        yield info
    assert info.value.name == name, f"expected {name}, got {info.value}"
    for key, value in fields.items():
        assert info.value.fields[key] == value, f"{key}: expected {value!r}, got {info.value.fields[key]!r}"


def fresh_address(tag: int) -> ChecksumAddress:
    return checksum("0x" + "%040x" % (0xA11CE << 100 | tag))


@dataclass
class World:
    l1: InProcessL1
    bridge: BridgeContract
    validators: list[LocalAccount]
    valset: Valset
    deployer: ChecksumAddress
    guardian: ChecksumAddress
    user: ChecksumAddress
    relayer: ChecksumAddress
    other: ChecksumAddress
    token: Contract  # TestERC20 (with a blocklist)
    fot: Contract  # FeeOnTransferERC20, 1 %
    evil: Contract  # MaliciousERC20
    noret: Contract  # NoReturnERC20 (USDT-like)
    next_batch_nonce: int = 1
    contracts: dict[str, Contract] = field(default_factory=dict)

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        return self.l1.client

    def send(self, fn: Any, sender: str, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        return self.client.transact(fn, sender, value=value, gas=gas)

    def deploy(self, name: str, *args: Any) -> Contract:
        return self.client.deploy(name, list(args), self.deployer)

    def balance_of(self, token: str, account: str) -> int:
        if checksum(token) == ETH_TOKEN:
            return self.client.balance(account)
        erc20 = self.client.contract("TestERC20", token)
        return int(erc20.functions.balanceOf(checksum(account)).call())

    def fund_eth(self, amount: int) -> None:
        self.bridge.deposit_eth(RECIPIENT, amount, self.user)

    def fund_token(self, token: Contract, amount: int) -> TxReceipt:
        self.send(token.functions.mint(self.user, amount), self.user)
        self.send(token.functions.approve(self.bridge.address, amount), self.user)
        return self.bridge.deposit_erc20(token.address, amount, RECIPIENT, self.user)

    def sign(
        self, digest: bytes, signers: Sequence[int] | None = None, valset: Valset | None = None
    ) -> list[Signature]:
        valset = valset or self.valset
        if signers is None:
            signers = minimum_signers(valset)
        return sign_by(valset, self.validators, digest, signers)

    def batch(self, timeout_in: int = 100, nonce: int | None = None) -> Batch:
        if nonce is None:
            nonce = self.next_batch_nonce
            self.next_batch_nonce += 1
        return Batch(nonce, self.l1.block_number + timeout_in)

    def submit(
        self,
        withdrawals: Sequence[Withdrawal],
        *,
        batch: Batch | None = None,
        sigs: Sequence[Signature] | None = None,
        sender: str | None = None,
        gas: int | None = None,
    ) -> TxReceipt:
        batch = batch or self.batch()
        if sigs is None:
            sigs = self.sign(self.bridge.domain.batch_digest(batch, withdrawals))
        return self.bridge.submit_batch(self.valset, sigs, batch, withdrawals, sender or self.relayer, gas=gas)

    def submit_calldata(self, withdrawals: Sequence[Withdrawal], batch: Batch) -> bytes:
        """ABI-encoded submitBatch call (for relayer contracts and re-entrancy hooks)."""
        sigs = self.sign(self.bridge.domain.batch_digest(batch, withdrawals))
        fn = self.bridge.fn.submitBatch(
            self.valset.to_abi(),
            [s.to_abi() for s in sigs],
            batch.to_abi(),
            [w.to_abi() for w in withdrawals],
        )
        return bytes.fromhex(fn._encode_transaction_data()[2:])

    def events(self, receipt: TxReceipt, name: str | None = None) -> list[LogEvent]:
        events = self.bridge.events(receipt)
        return [e for e in events if name is None or e.name == name]


@pytest.fixture(scope="session")
def _world_and_snapshot() -> tuple[World, int]:
    l1 = in_process_l1()
    deployer, guardian, user, relayer, other = l1.accounts[:5]
    validators = validator_accounts(4)
    valset = equal_valset(validators)
    bridge = BridgeContract.deploy(l1.client, valset, guardian, deployer)
    token = l1.client.deploy("TestERC20", ["Test", "TST"], deployer)
    fot = l1.client.deploy("FeeOnTransferERC20", [100], deployer)
    evil = l1.client.deploy("MaliciousERC20", [], deployer)
    noret = l1.client.deploy("NoReturnERC20", [], deployer)
    world = World(l1, bridge, validators, valset, deployer, guardian, user, relayer, other, token, fot, evil, noret)
    return world, l1.snapshot()


@pytest.fixture
def world(_world_and_snapshot: tuple[World, int]) -> Iterator[World]:
    world, snapshot = _world_and_snapshot
    world.next_batch_nonce = 1
    try:
        yield world
    finally:
        world.l1.revert(snapshot)
