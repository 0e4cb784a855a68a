"""Typed access to the L1 bridge contract over web3.py: deploy, send, call, decode reverts and events.

`L1Client` owns the connection and the transaction plumbing (estimate, sign locally or through the node,
wait, turn a revert into a `ContractRevertError` named after the contract's custom error). `BridgeContract`
is the contract's ABI (BRIDGE.md section 3) as Python methods taking `bridge.protocol` types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import requests
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt

from bridge.artifacts import Artifact, load_artifact
from bridge.errors import (
    BridgeError,
    ChainMismatchError,
    InsufficientFundsError,
    L1ConnectionError,
    TransactionError,
)
from bridge.protocol import Batch, Domain, Signature, Valset, Withdrawal, checksum
from bridge.revert import ErrorDecoder, revert_data_of

# A transaction sender: a local key (signed here) or an address the node holds unlocked (dev chains, tests).
Sender = LocalAccount | str

BRIDGE_ARTIFACT = "SidechainBridge"
# Contracts whose custom errors the default decoder knows (the test contracts' artifacts are optional).
_DECODER_ARTIFACTS = ("SidechainBridge",)

T = TypeVar("T")


def sender_address(sender: Sender) -> ChecksumAddress:
    return checksum(sender.address if isinstance(sender, LocalAccount) else sender)


def default_decoder(extra: Sequence[str] = ()) -> ErrorDecoder:
    return ErrorDecoder(load_artifact(name).abi for name in (*_DECODER_ARTIFACTS, *extra))


@dataclass(frozen=True)
class LogEvent:
    name: str
    address: ChecksumAddress
    args: dict[str, Any]
    log_index: int


class L1Client:
    """A web3 connection with transaction plumbing shared by every contract wrapper."""

    def __init__(self, w3: Web3, decoder: ErrorDecoder | None = None, *, receipt_timeout: float = 120.0) -> None:
        self.w3 = w3
        self.decoder = decoder or default_decoder()
        self.receipt_timeout = receipt_timeout
        self._chain_id: int | None = None
        self.last_receipt: TxReceipt | None = None  # of the last transaction `transact` sent

    @classmethod
    def connect(cls, url: str, expected_chain_id: int | None = None, *, timeout: float = 10.0) -> L1Client:
        """Connect over HTTP; one clear error when the endpoint is unreachable or serves another chain."""
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        client = cls(w3)
        try:
            chain_id = client.chain_id
        except BridgeError:
            raise
        except Exception as exc:  # transport errors come in many types (requests, web3, OS)
            raise L1ConnectionError(f"cannot reach the L1 RPC at {url} ({_transport_reason(exc)})") from None
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ChainMismatchError(f"the L1 RPC at {url} serves chain id {chain_id}, expected {expected_chain_id}")
        return client

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=checksum(address), abi=load_artifact(name).abi)

    def balance(self, address: str, block: int | str = "latest") -> int:
        return int(self._translating(lambda: self.w3.eth.get_balance(checksum(address), cast(Any, block))))

    def code(self, address: str) -> bytes:
        return bytes(self._translating(lambda: self.w3.eth.get_code(checksum(address))))

    def block_number(self) -> int:
        return int(self._translating(lambda: self.w3.eth.block_number))

    def finalized_block(self) -> int | None:
        """The number of the L1 `finalized` block, or None where the node has none (no finality yet, old nodes)."""
        try:
            return int(self._translating(lambda: self.w3.eth.get_block("finalized"))["number"])
        except L1ConnectionError:
            raise
        except Exception:  # noqa: BLE001 - "finalized block not found" comes in several shapes
            return None

    # -- calls and transactions ---------------------------------------------------------------------

    def call(self, fn: Any, *, block: int | str = "latest") -> Any:
        return self._translating(lambda: fn.call(block_identifier=block))

    def estimate_gas(self, fn: Any, sender: Sender, *, value: int = 0) -> int:
        params: TxParams = {"from": sender_address(sender), "value": value}  # type: ignore[typeddict-item]
        return self._translating(lambda: int(fn.estimate_gas(params)))

    def deploy(self, name: str, args: Sequence[Any], sender: Sender, *, gas: int | None = None) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.transact(factory.constructor(*args), sender, gas=gas)
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionError(f"deployment of {name} produced no contract address")
        return self.w3.eth.contract(address=address, abi=artifact.abi)

    def transact(
        self,
        fn: Any,
        sender: Sender,
        *,
        value: int = 0,
        gas: int | None = None,
        on_sent: Callable[[str], None] | None = None,
    ) -> TxReceipt:
        """Send `fn` (a bound contract function or constructor) and wait for it; raise on any failure.

        Without `gas`, the node estimates it (a revert surfaces here, decoded). With `gas`, the transaction
        is sent as is; if it fails, it is replayed as a call on the parent block to recover the reason.
        `on_sent` is called with the transaction hash (0x hex) once the node accepted it, before it is mined.
        """
        address = sender_address(sender)
        params: TxParams = {"from": address, "value": value}  # type: ignore[typeddict-item]
        if gas is None:
            gas = self._translating(lambda: int(fn.estimate_gas(params)))
            gas = gas + gas // 5 + 10_000  # headroom: state may move between estimate and inclusion
        params["gas"] = gas  # type: ignore[typeddict-unknown-key]
        if isinstance(sender, LocalAccount):
            params["nonce"] = self.w3.eth.get_transaction_count(address, "pending")
            params["chainId"] = self.chain_id
            tx = self._translating(lambda: fn.build_transaction(params))
            signed = sender.sign_transaction(tx)
            tx_hash = self._translating(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction))
        else:
            tx_hash = self._translating(lambda: fn.transact(params))
        if on_sent is not None:
            on_sent(HexBytes(tx_hash).to_0x_hex())
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        except TimeExhausted:
            raise TransactionError(
                f"transaction {HexBytes(tx_hash).to_0x_hex()} not mined within {self.receipt_timeout:.0f} s"
            ) from None
        self.last_receipt = receipt
        if receipt["status"] != 1:
            self._raise_failed(fn, params, receipt)
        return receipt

    def _raise_failed(self, fn: Any, params: TxParams, receipt: TxReceipt) -> None:
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        replay = dict(params)
        replay.pop("nonce", None)
        replay.pop("chainId", None)
        try:
            fn.call(replay, block_identifier=max(int(receipt["blockNumber"]) - 1, 0))
        except Exception as exc:
            data = revert_data_of(exc)
            if data is not None:
                raise self.decoder.decode(data).to_exception(tx_hash) from None
        used, limit = receipt["gasUsed"], params.get("gas")
        raise TransactionError(f"transaction {tx_hash} failed (gas used {used} of {limit}), reason unknown")

    def _translating(self, action: Callable[[], T]) -> T:
        """Run a web3 action, turning reverts, funding problems and transport errors into BridgeErrors."""
        try:
            return action()
        except BridgeError:
            raise
        except (requests.ConnectionError, requests.Timeout, ConnectionError) as exc:
            raise L1ConnectionError(f"L1 RPC unreachable: {_one_line(exc)}") from None
        except Exception as exc:
            data = revert_data_of(exc)
            if data is not None:
                raise self.decoder.decode(data).to_exception() from None
            text = _one_line(exc)
            if "insufficient funds" in text.lower():
                raise InsufficientFundsError(f"insufficient funds: {text}") from None
            if type(exc).__name__ in {"TransactionFailed", "ContractLogicError", "Web3RPCError"}:
                raise TransactionError(text) from None
            raise

    # -- logs ---------------------------------------------------------------------------------------

    def events(self, contract: Contract, receipt: TxReceipt) -> list[LogEvent]:
        """Every event `contract` emitted in `receipt`, in log order, decoded with its ABI."""
        out: list[LogEvent] = []
        for item in cast(list[dict[str, Any]], contract.abi):
            if item.get("type") != "event":
                continue
            for log in contract.events[item["name"]]().process_receipt(receipt, errors=DISCARD):
                if log["address"] == contract.address:
                    out.append(LogEvent(log["event"], log["address"], dict(log["args"]), int(log["logIndex"])))
        return sorted(out, key=lambda e: e.log_index)


def _transport_reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("Name or service not known", "unknown host"),
        ("No route to host", "no route to host"),
        ("Invalid URL", "invalid URL"),
        ("No connection adapters", "invalid URL"),
    ):
        if needle.lower() in text.lower():
            return reason
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


class BridgeContract:
    """The SidechainBridge ABI (BRIDGE.md section 3) over an `L1Client`."""

    def __init__(self, client: L1Client, address: str, *, artifact: str = BRIDGE_ARTIFACT) -> None:
        self.client = client
        self.contract = client.contract(artifact, address)
        self.address: ChecksumAddress = self.contract.address

    @staticmethod
    def artifact(name: str = BRIDGE_ARTIFACT) -> Artifact:
        return load_artifact(name)

    @classmethod
    def deploy(
        cls,
        client: L1Client,
        genesis_valset: Valset,
        guardian: str,
        sender: Sender,
        *,
        artifact: str = BRIDGE_ARTIFACT,
        gas: int | None = None,
    ) -> BridgeContract:
        deployed = client.deploy(artifact, [genesis_valset.to_abi(), checksum(guardian)], sender, gas=gas)
        return cls(client, deployed.address, artifact=artifact)

    @property
    def domain(self) -> Domain:
        return Domain(self.client.chain_id, self.address)

    @property
    def fn(self) -> Any:
        return self.contract.functions

    def _send(self, fn: Any, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        return self.client.transact(fn, sender, value=value, gas=gas)

    # -- state-changing functions ---------------------------------------------------------------------

    def deposit_eth(self, recipient: bytes, amount: int, sender: Sender, *, gas: int | None = None) -> TxReceipt:
        return self._send(self.fn.depositETH(recipient), sender, value=amount, gas=gas)

    def deposit_erc20(
        self, token: str, amount: int, recipient: bytes, sender: Sender, *, gas: int | None = None
    ) -> TxReceipt:
        return self._send(self.fn.depositERC20(checksum(token), amount, recipient), sender, gas=gas)

    def update_valset(
        self,
        new_valset: Valset,
        current_valset: Valset,
        sigs: Sequence[Signature],
        sender: Sender,
        *,
        gas: int | None = None,
    ) -> TxReceipt:
        fn = self.fn.updateValset(new_valset.to_abi(), current_valset.to_abi(), [s.to_abi() for s in sigs])
        return self._send(fn, sender, gas=gas)

    def submit_batch(
        self,
        current_valset: Valset,
        sigs: Sequence[Signature],
        batch: Batch,
        withdrawals: Sequence[Withdrawal],
        sender: Sender,
        *,
        gas: int | None = None,
    ) -> TxReceipt:
        fn = self.fn.submitBatch(
            current_valset.to_abi(),
            [s.to_abi() for s in sigs],
            batch.to_abi(),
            [w.to_abi() for w in withdrawals],
        )
        return self._send(fn, sender, gas=gas)

    def claim_deferred(self, token: str, to: str, sender: Sender, *, gas: int | None = None) -> TxReceipt:
        return self._send(self.fn.claimDeferred(checksum(token), checksum(to)), sender, gas=gas)

    def set_guardian(
        self,
        new_guardian: str,
        nonce: int,
        current_valset: Valset,
        sigs: Sequence[Signature],
        sender: Sender,
        *,
        gas: int | None = None,
    ) -> TxReceipt:
        fn = self.fn.setGuardian(checksum(new_guardian), nonce, current_valset.to_abi(), [s.to_abi() for s in sigs])
        return self._send(fn, sender, gas=gas)

    def pause(self, sender: Sender) -> TxReceipt:
        return self._send(self.fn.pause(), sender)

    def unpause(self, sender: Sender) -> TxReceipt:
        return self._send(self.fn.unpause(), sender)

    def set_daily_limit(self, token: str, limit: int, sender: Sender) -> TxReceipt:
        return self._send(self.fn.setDailyLimit(checksum(token), limit), sender)

    # -- views -----------------------------------------------------------------------------------------

    def _view(self, fn: Any, block: int | str = "latest") -> Any:
        return self.client.call(fn, block=block)

    def valset_checkpoint(self) -> bytes:
        return bytes(self._view(self.fn.valsetCheckpoint()))

    def valset_nonce(self) -> int:
        return int(self._view(self.fn.valsetNonce()))

    def event_nonce(self) -> int:
        return int(self._view(self.fn.eventNonce()))

    def batch_executed(self, batch_nonce: int) -> bool:
        return bool(self._view(self.fn.batchExecuted(batch_nonce)))

    def deferred(self, token: str, account: str, block: int | str = "latest") -> int:
        return int(self._view(self.fn.deferred(checksum(token), checksum(account)), block))

    def total_deferred(self, token: str, block: int | str = "latest") -> int:
        return int(self._view(self.fn.totalDeferred(checksum(token)), block))

    def guardian(self) -> ChecksumAddress:
        return checksum(self._view(self.fn.guardian()))

    def guardian_nonce(self) -> int:
        return int(self._view(self.fn.guardianNonce()))

    def paused(self) -> bool:
        return bool(self._view(self.fn.paused()))

    def daily_limit(self, token: str) -> int:
        return int(self._view(self.fn.dailyLimit(checksum(token))))

    def events(self, receipt: TxReceipt) -> list[LogEvent]:
        return self.client.events(self.contract, receipt)
