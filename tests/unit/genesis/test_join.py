"""Join files: what is signed, and every way a file is refused (one line each)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genesis.errors import JoinFileError
from genesis.join import SIGN_DOMAIN, canonical_json, join_from_json, read_join_file
from genesis.keys import ValidatorKey
from tests.unit.genesis.conftest import key, make_join


def test_round_trip_and_what_is_signed() -> None:
    j = make_join(0)
    doc = j.to_json()
    assert doc["type"] == "sidechain/genesis-join" and doc["version"] == 2
    parsed = join_from_json(json.loads(json.dumps(doc)))
    assert parsed.body == j.body and parsed.signature == j.signature
    # The signed message: the domain, then the body as canonical JSON (sorted keys, no spaces).
    msg = j.body.sign_bytes()
    assert msg == SIGN_DOMAIN + canonical_json(doc["body"])
    assert (
        msg.startswith(b"sidechain/genesis-join/v2\n")
        and b'"chain_id":"unit-chain-1","commission_bps":"1000","moniker":"val0"' in msg
        and f'"bridge_key_proof":"{j.body.bridge_key_proof}"'.encode() in msg
        and b'"stake":"100000000"' in msg
    )
    ValidatorKey(key("val0")).signing_key.verify_key.verify(msg, j.signature)
    assert j.body.peer == f"{j.body.node_id}@127.0.0.1:26601"


def _doc(**body_changes: Any) -> dict[str, Any]:
    doc = make_join(0).to_json()
    body = dict(doc["body"])  # type: ignore[call-overload]
    body.update(body_changes)
    for k, v in list(body.items()):
        if v is None:
            del body[k]
    doc["body"] = body
    return doc


def _resigned(**body_changes: Any) -> dict[str, Any]:
    """A body changed and signed again by its own key: only the field checks can refuse it."""
    doc = _doc(**body_changes)
    sig = ValidatorKey(key("val0")).sign(SIGN_DOMAIN + canonical_json(doc["body"]))
    doc["signature"] = base64.b64encode(sig).decode()
    return doc


def _signed_by_other_key() -> dict[str, Any]:
    doc = make_join(0).to_json()
    other = make_join(0, key_index=1)  # same body fields, other key; then claim val0's key
    doc["signature"] = other.to_json()["signature"]
    return doc


def _set(**top: Any) -> dict[str, Any]:
    doc = make_join(0).to_json()
    for k, v in top.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


CASES: list[tuple[str, object, str]] = [
    ("bad JSON", "{not json", "not valid JSON"),
    ("not an object", "[1, 2]", "not a join file: expected a JSON object"),
    ("wrong type", _set(type="cosmos/gentx"), 'not a join file: "type" must be'),
    ("old version", _set(version=1), "unsupported join file version 1 (this tool reads 2)"),
    ("no signature", _set(signature=None), "unsigned: no signature"),
    ("empty signature", _set(signature=""), "unsigned: no signature"),
    ("signature not base64", _set(signature="%%%"), "signature: expected a base64 ed25519 signature"),
    ("short signature", _set(signature=base64.b64encode(b"x" * 10).decode()), "64 bytes"),
    ("stake altered after signing", _doc(stake="1000000"), "bad signature"),
    ("operator altered after signing", _doc(operator=make_join(1).body.operator), "bad signature"),
    ("bridge address altered after signing", _doc(bridge_address=make_join(1).body.bridge_address), "bad signature"),
    ("commission altered after signing", _doc(commission_bps="500"), "bad signature"),
    ("signed by another key", _signed_by_other_key(), "bad signature"),
    ("unknown top-level field", _set(extra=1), "unknown field(s) extra"),
    ("missing field", _resigned(node_id=None), "missing field(s) node_id"),
    ("unknown body field", _resigned(power="5"), "body: unknown field(s) power"),
    ("number instead of string", _resigned(stake=100), "every field is a string"),
    ("zero stake", _resigned(stake="0"), "body.stake '0'"),
    ("leading zero stake", _resigned(stake="0100"), "body.stake '0100'"),
    ("bad chain id", _resigned(chain_id="bad chain"), "body.chain_id"),
    ("bad moniker", _resigned(moniker="two words"), "body.moniker"),
    ("bad pub key", _resigned(pub_key="AAAA"), "body.pub_key"),
    ("short bridge address", _resigned(bridge_address="0x" + "ab" * 19), "body.bridge_address"),
    ("uppercase bridge address", _resigned(bridge_address="0x" + "AB" * 20), "body.bridge_address"),
    ("short bridge proof", _resigned(bridge_key_proof="0x" + "01" * 64), "body.bridge_key_proof"),
    ("bridge proof without 0x", _resigned(bridge_key_proof="01" * 65), "body.bridge_key_proof"),
    (
        "bridge proof for another operator",
        _resigned(bridge_key_proof=make_join(1).body.bridge_key_proof),
        "body.bridge_key_proof: the bridge key proof was made by 0x",
    ),
    (
        "bridge proof for another chain",
        _resigned(bridge_key_proof=make_join(0, chain_id="other-1").body.bridge_key_proof),
        "body.bridge_key_proof: the bridge key proof was made by 0x",
    ),
    ("commission over 100%", _resigned(commission_bps="10001"), "body.commission_bps"),
    ("negative commission", _resigned(commission_bps="-1"), "body.commission_bps"),
    (
        "operator of another prefix",
        _resigned(operator="cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"),
        "body.operator",
    ),
    ("bad node id", _resigned(node_id="ABC"), "body.node_id"),
    ("unspecified p2p address", _resigned(p2p_address="0.0.0.0:26656"), "peers cannot dial 0.0.0.0"),
    ("p2p address without port", _resigned(p2p_address="example.org"), "must be HOST:PORT"),
    ("p2p bad host", _resigned(p2p_address="bad_host!:1"), "neither an IP address nor a host name"),
]


@pytest.mark.parametrize(("obj", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_one_clear_line(write_join: Callable[..., Path], obj: object, message: str) -> None:
    path = write_join("bad.join.json", obj)
    with pytest.raises(JoinFileError) as e:
        read_join_file(path)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text, text
    assert "\n" not in text


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JoinFileError, match="no such file"):
        read_join_file(tmp_path / "absent.json")


def test_a_valid_file_is_read(write_join: Callable[..., Path]) -> None:
    j = make_join(2)
    assert read_join_file(write_join("ok.json", j.to_json())).body == j.body
