"""The few ERC-20 calls the bridge tools make on a token they did not deploy: metadata, balances, allowances
and an exact approval. The ABI is the standard one (EIP-20), written out here: no artifact is needed for a
token found on L1. `decimals()` and `symbol()` are optional in EIP-20; a token without them reads as None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from web3.types import TxReceipt

from bridge.errors import ConfigError
from bridge.l1 import L1Client, Sender
from bridge.protocol import checksum


def _fn(name: str, inputs: list[tuple[str, str]], outputs: list[str], mutability: str) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "inputs": [{"name": n, "type": t} for n, t in inputs],
        "outputs": [{"name": "", "type": t} for t in outputs],
        "stateMutability": mutability,
    }


ERC20_ABI: list[dict[str, Any]] = [
    _fn("balanceOf", [("account", "address")], ["uint256"], "view"),
    _fn("allowance", [("owner", "address"), ("spender", "address")], ["uint256"], "view"),
    _fn("decimals", [], ["uint8"], "view"),
    _fn("symbol", [], ["string"], "view"),
    _fn("approve", [("spender", "address"), ("amount", "uint256")], ["bool"], "nonpayable"),
]


class Erc20:
    """An ERC-20 token at `address` on the L1 `client` serves."""

    def __init__(self, client: L1Client, address: str) -> None:
        self.client = client
        self.address: ChecksumAddress = checksum(address)
        self.contract = client.w3.eth.contract(address=self.address, abi=ERC20_ABI)

    def require_code(self) -> None:
        if not self.client.code(self.address):
            raise ConfigError(f"--token {self.address}: there is no contract at that address on L1 chain "
                              f"{self.client.chain_id}")

    def _optional(self, fn: Any) -> Any | None:
        try:
            return self.client.call(fn)
        except Exception:  # noqa: BLE001 - optional EIP-20 metadata: a revert or a malformed answer both mean "none"
            return None

    def decimals(self) -> int | None:
        value = self._optional(self.contract.functions.decimals())
        return int(value) if isinstance(value, int) else None

    def symbol(self) -> str | None:
        value = self._optional(self.contract.functions.symbol())
        if isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= 32:
            return value.strip()
        return None

    def balance_of(self, account: str, block: int | str = "latest") -> int:
        return int(self.client.call(self.contract.functions.balanceOf(checksum(account)), block=block))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self.client.call(self.contract.functions.allowance(checksum(owner), checksum(spender))))

    def approve(
        self, spender: str, amount: int, sender: Sender, *, on_sent: Callable[[str], None] | None = None
    ) -> TxReceipt:
        return self.client.transact(self.contract.functions.approve(checksum(spender), amount), sender,
                                    on_sent=on_sent)
