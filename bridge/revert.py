"""Decoding revert data into readable errors, from any contract ABI (custom errors, Error(string), Panic).

Revert data reaches us in several shapes: web3's ContractCustomError/ContractLogicError carry it as hex in
`.data`; eth-tester's TransactionFailed carries raw bytes, or (through web3's tester provider) a message
"execution reverted: b'...'" holding the bytes' repr (DEPENDENCY-NOTES.md). `revert_data_of` finds it in all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from bridge.errors import ContractRevertError

ERROR_STRING_SELECTOR = keccak(text="Error(string)")[:4]
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
PANIC_CODES = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


def _abi_type(param: dict[str, Any]) -> str:
    """Canonical ABI type of a parameter, tuples expanded (e.g. `(address,uint256)[]`)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class DecodedRevert:
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""

    def to_exception(self, tx_hash: str | None = None) -> ContractRevertError:
        return ContractRevertError(self.name, self.fields, self.data, tx_hash)


class ErrorDecoder:
    """Maps 4-byte selectors to the custom errors of one or more ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(p) for p in item["inputs"]]
                names = [p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"])]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._errors[selector] = (item["name"], types, names)

    def decode(self, data: bytes) -> DecodedRevert:
        if len(data) < 4:
            return DecodedRevert("EmptyRevert" if not data else "MalformedRevert", {}, data)
        selector, payload = data[:4], data[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                (message,) = decode(["string"], payload)
                return DecodedRevert("Error", {"message": message}, data)
            if selector == PANIC_SELECTOR:
                (code,) = decode(["uint256"], payload)
                return DecodedRevert("Panic", {"code": code, "meaning": PANIC_CODES.get(code, "unknown")}, data)
            known = self._errors.get(selector)
            if known is None:
                return DecodedRevert("UnknownError", {"selector": selector}, data)
            name, types, names = known
            values = decode(types, payload)
        except DecodingError:
            return DecodedRevert("MalformedRevert", {"selector": selector}, data)
        return DecodedRevert(name, {n: _normalise(t, v) for n, t, v in zip(names, types, values, strict=True)}, data)


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    return value


_BYTES_REPR = re.compile(r"""(b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")""")


def revert_data_of(exc: BaseException) -> bytes | None:
    """The revert data carried by an exception from web3 or eth-tester, or None when it carries none."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            pass
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, bytes | bytearray):
            return bytes(arg)
        if isinstance(arg, BaseException):
            nested = revert_data_of(arg)
            if nested is not None:
                return nested
        if isinstance(arg, str):
            match = _BYTES_REPR.search(arg)
            if match:
                try:
                    value = ast.literal_eval(match.group(1))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, bytes):
                    return value
        if isinstance(arg, dict) and isinstance(arg.get("data"), str) and arg["data"].startswith("0x"):
            try:
                return bytes.fromhex(arg["data"][2:])
            except ValueError:
                continue
    return None
