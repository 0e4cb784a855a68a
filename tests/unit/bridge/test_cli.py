"""The `bridge` CLI without an L1: one-line errors, keys from keystores and env vars, guardian signature files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from bridge.cli import main
from bridge.errors import ConfigError, KeystoreError, SignatureError
from bridge.keys import load_account, write_keystore
from bridge.operations import GuardianChangeSignature, collect_guardian_signatures, read_signature_files
from bridge.protocol import POWER_THRESHOLD, Domain, checksum
from tests.support.bridge_l1.validators import equal_valset, validator_accounts

CONTRACT = checksum("0x" + "ab" * 20)
GUARDIAN = checksum("0x" + "cd" * 20)
SECRET_KEY = "0x" + keccak(text="cli-test-key").hex()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BRIDGE_PRIVATE_KEY", "BRIDGE_PASSPHRASE", "BRIDGE_KEYSTORE", "BRIDGE_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def valset_file(tmp_path: Path) -> Path:
    path = tmp_path / "valset.json"
    path.write_text(json.dumps(equal_valset(validator_accounts(4, seed="cli")).to_json()))
    return path


def test_unreachable_rpc_is_one_line(
    capsys: pytest.CaptureFixture[str], valset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", SECRET_KEY)
    args = ["deploy", "--l1-rpc", "http://127.0.0.1:9", "--valset", str(valset_file), "--guardian", GUARDIAN]
    code, out, err = _run(capsys, *args)
    assert code == 1 and out == ""
    assert err == "error: cannot reach the L1 RPC at http://127.0.0.1:9 (connection refused)\n"
    assert SECRET_KEY[2:] not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        ('{"nonce": 0}', 'a valset is a JSON object with "nonce", "validators" and "powers"'),
        ('{"nonce": 0, "validators": ["0x12"], "powers": [1]}', "not an Ethereum address"),
        (
            '{"nonce": 0, "validators": ["0x' + "11" * 20 + '"], "powers": [5]}',
            "does not exceed the threshold",
        ),
    ],
)
def test_bad_valset_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "valset.json"
    path.write_text(content)
    code, _, err = _run(
        capsys, "deploy", "--l1-rpc", "http://127.0.0.1:9", "--valset", str(path), "--guardian", GUARDIAN
    )
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_missing_key_and_bad_key_are_one_line(
    capsys: pytest.CaptureFixture[str], valset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["deploy", "--l1-rpc", "http://127.0.0.1:9", "--valset", str(valset_file), "--guardian", GUARDIAN]
    code, _, err = _run(capsys, *args)
    assert (code, err) == (1, "error: no key: pass --keystore FILE or set $BRIDGE_PRIVATE_KEY\n")
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", "0xnot-a-key-but-secret")
    code, _, err = _run(capsys, *args)
    assert (code, err) == (1, "error: $BRIDGE_PRIVATE_KEY does not hold a valid private key\n")


def test_bad_address_is_a_usage_error(capsys: pytest.CaptureFixture[str], valset_file: Path) -> None:
    code, _, err = _run(capsys, "deploy", "--l1-rpc", "http://x", "--valset", str(valset_file), "--guardian", "0x1234")
    assert code == 2 and "not an Ethereum address" in err


def test_keystore_round_trip_and_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.from_key(SECRET_KEY)
    keystore = tmp_path / "key.json"
    write_keystore(account, keystore, "s3cret", iterations=2)
    assert keystore.stat().st_mode & 0o777 == 0o600
    assert SECRET_KEY[2:] not in keystore.read_text()
    passphrase = tmp_path / "pass"
    passphrase.write_text("s3cret\n")
    assert load_account(keystore, passphrase_file=passphrase).address == account.address
    monkeypatch.setenv("BRIDGE_PASSPHRASE", "s3cret")
    assert load_account(keystore).address == account.address
    monkeypatch.setenv("BRIDGE_PASSPHRASE", "wrong")
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load_account(keystore)
    monkeypatch.delenv("BRIDGE_PASSPHRASE")
    with pytest.raises(KeystoreError, match="no passphrase"):
        load_account(keystore, interactive=False)
    with pytest.raises(KeystoreError, match="cannot read keystore"):
        load_account(tmp_path / "missing.json")


def test_guardian_sign_offline_writes_a_verifiable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    validator = validator_accounts(4, seed="cli")[0]
    monkeypatch.setenv("BRIDGE_PRIVATE_KEY", "0x" + validator.key.hex().removeprefix("0x"))
    out = tmp_path / "sigs" / "v0.json"
    code, stdout, err = _run(
        capsys, "guardian", "sign", "--contract", CONTRACT, "--new-guardian", GUARDIAN,
        "--chain-id", "5", "--nonce", "3", "--out", str(out), "--output", "json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out.read_text())
    assert json.loads(stdout) == data
    assert (data["chainId"], data["contract"], data["nonce"], data["guardian"], data["signer"]) == (
        5,
        CONTRACT,
        3,
        GUARDIAN,
        validator.address,
    )
    assert data["digest"] == "0x" + Domain(5, CONTRACT).guardian_change_digest(3, GUARDIAN).hex()
    (parsed,) = read_signature_files([out.parent])
    assert parsed.signer == validator.address
    data["guardian"] = checksum("0x" + "ee" * 20)  # tampered: the signature no longer matches
    out.write_text(json.dumps(data))
    with pytest.raises(SignatureError):
        read_signature_files([out])
    code, _, err = _run(capsys, "guardian", "sign", "--contract", CONTRACT, "--new-guardian", GUARDIAN)
    assert (code, err) == (1, "error: without --l1-rpc, give --chain-id and --nonce\n")


def test_collecting_guardian_signatures_counts_only_matching_members() -> None:
    accounts = validator_accounts(4, seed="collect")
    valset = equal_valset(accounts)
    domain = Domain(7, CONTRACT)
    from bridge.operations import sign_guardian_change

    good = [sign_guardian_change(domain, 1, GUARDIAN, a) for a in accounts[:2]]
    other_nonce = sign_guardian_change(domain, 2, GUARDIAN, accounts[2])
    other_chain = sign_guardian_change(Domain(8, CONTRACT), 1, GUARDIAN, accounts[3])
    outsider = sign_guardian_change(domain, 1, GUARDIAN, Account.from_key(keccak(text="outsider")))
    collected = collect_guardian_signatures([*good, other_nonce, other_chain, outsider], domain, valset, 1, GUARDIAN)
    assert set(collected.signatures) == {accounts[0].address, accounts[1].address}
    assert collected.power == 2 * valset.powers[0] and not collected.enough
    assert len(collected.ignored) == 3
    third = sign_guardian_change(domain, 1, GUARDIAN, accounts[2])
    assert collect_guardian_signatures([*good, third], domain, valset, 1, GUARDIAN).power > POWER_THRESHOLD
    with pytest.raises(ConfigError):
        sign_guardian_change(domain, 0, GUARDIAN, accounts[0])
    with pytest.raises(ConfigError):
        GuardianChangeSignature.from_json({"kind": "Valset"})
