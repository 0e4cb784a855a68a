"""Decoding revert data (custom errors, Error(string), Panic) from every shape web3 and eth-tester produce."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from bridge.artifacts import load_artifact
from bridge.revert import ErrorDecoder, revert_data_of

DECODER = ErrorDecoder([load_artifact("SidechainBridge").abi])


def _error(signature: str, types: list[str], values: list) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_custom_error_with_arguments() -> None:
    data = _error("InsufficientPower(uint256,uint256)", ["uint256", "uint256"], [5, 2863311531])
    decoded = DECODER.decode(data)
    assert decoded.name == "InsufficientPower"
    assert decoded.fields == {"signed": 5, "required": 2863311531}
    assert str(decoded.to_exception()) == "contract reverted: InsufficientPower(signed=5, required=2863311531)"


def test_addresses_are_checksummed_and_bytes_rendered() -> None:
    data = _error(
        "InvalidSignature(uint256,address,address)",
        ["uint256", "address", "address"],
        [1, "0x" + "ab" * 20, "0x" + "00" * 20],
    )
    decoded = DECODER.decode(data)
    assert decoded.fields["expected"] == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    malleable = DECODER.decode(_error("MalleableSignature(uint256,bytes32)", ["uint256", "bytes32"], [0, b"\x01" * 32]))
    assert "s=0x0101" in str(malleable.to_exception())


def test_error_string_panic_unknown_and_malformed() -> None:
    assert DECODER.decode(_error("Error(string)", ["string"], ["blocked"])).fields == {"message": "blocked"}
    panic = DECODER.decode(_error("Panic(uint256)", ["uint256"], [0x11]))
    assert panic.name == "Panic" and panic.fields["meaning"] == "arithmetic overflow or underflow"
    assert DECODER.decode(b"\xde\xad\xbe\xef").name == "UnknownError"
    assert DECODER.decode(b"").name == "EmptyRevert"
    truncated = _error("InsufficientPower(uint256,uint256)", ["uint256"], [5])
    assert DECODER.decode(truncated).name == "MalformedRevert"


def test_revert_data_is_found_in_every_exception_shape() -> None:
    data = _error("ZeroPower(uint256)", ["uint256"], [3])
    assert revert_data_of(ContractCustomError("0x" + data.hex(), data="0x" + data.hex())) == data

    class TransactionFailed(Exception):  # eth-tester's, raw or as web3's tester provider re-raises it
        pass

    assert revert_data_of(TransactionFailed(data)) == data
    assert revert_data_of(TransactionFailed(f"execution reverted: {data!r}")) == data
    assert revert_data_of(Exception({"code": 3, "message": "execution reverted", "data": "0x" + data.hex()})) == data
    assert revert_data_of(ValueError("something else")) is None
