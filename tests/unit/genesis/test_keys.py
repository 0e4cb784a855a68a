"""CometBFT key files read in Python: ids and addresses equal to what cometbft itself computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis.errors import KeyFileError
from genesis.keys import load_node_key, load_validator_key

# Made by `cometbft init` (v0.38.26) for this test; `cometbft show-node-id` printed NODE_ID.
NODE_KEY = {
    "priv_key": {
        "type": "tendermint/PrivKeyEd25519",
        "value": "HnB4zL1Bt8ZC/kdA2hFeNNKxUgzYUc3VOseAqQs1DQ+PJgSRbQQlh5B+o2YVpMOrzm8sw8PMpL3t4yI1rCcp6Q==",
    }
}
NODE_ID = "9d2f71f171db903aed4131e9ca12c5817d63b1c9"
PRIV_VALIDATOR_KEY = {
    "address": "3CF82A7CF103A82C283903CB941C7B81860AE30E",
    "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "63B0l+RhfWusCxJKw+kA5ltHjnQJTYqNfEKgCZw4zLE="},
    "priv_key": {
        "type": "tendermint/PrivKeyEd25519",
        "value": "lwrMqJ4IN8l2A9kVwNVPQABhNsHn+7UmpRUbhA/fC7PrcHSX5GF9a6wLEkrD6QDmW0eOdAlNio18QqAJnDjMsQ==",
    },
}


def write(tmp_path: Path, obj: object) -> Path:
    p = tmp_path / "key.json"
    p.write_text(json.dumps(obj))
    return p


def test_node_id_is_cometbfts(tmp_path: Path) -> None:
    assert load_node_key(write(tmp_path, NODE_KEY)).node_id == NODE_ID


def test_validator_key_address_and_pub_key(tmp_path: Path) -> None:
    k = load_validator_key(write(tmp_path, PRIV_VALIDATOR_KEY))
    assert k.address == PRIV_VALIDATOR_KEY["address"]
    assert k.pub_key_b64 == PRIV_VALIDATOR_KEY["pub_key"]["value"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(address="00" * 20), "address does not match"),
        (lambda d: d["pub_key"].update(value=NODE_KEY["priv_key"]["value"]), "pub_key does not match"),
        (lambda d: d["priv_key"].update(type="tendermint/PrivKeySecp256k1"), "priv_key must be"),
        (lambda d: d["priv_key"].update(value="not base64!"), "not base64"),
        (lambda d: d["priv_key"].update(value="AAAA"), "64 bytes"),
    ],
)
def test_bad_validator_key_files(tmp_path: Path, mutate: object, message: str) -> None:
    d = json.loads(json.dumps(PRIV_VALIDATOR_KEY))
    mutate(d)  # type: ignore[operator]
    with pytest.raises(KeyFileError, match=message):
        load_validator_key(write(tmp_path, d))


def test_missing_and_non_json_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_node_key(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(KeyFileError, match="not readable JSON"):
        load_node_key(tmp_path / "bad.json")
