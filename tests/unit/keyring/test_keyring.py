"""The file keyring (sidechain/keyring.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from sidechain import keyring as kr
from sidechain.types import address_of_pubkey

PASS = "correct horse battery"


@pytest.fixture
def ring(tmp_path: Path) -> kr.Keyring:
    return kr.Keyring(tmp_path / "home", kr.KdfCost.MIN)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_add_writes_private_files(ring: kr.Keyring) -> None:
    info = ring.add("alice", PASS)
    assert mode(ring.dir) == 0o700
    [f] = list(ring.dir.iterdir())
    assert f.name == "alice.key.json" and mode(f) == 0o600
    rec = json.loads(f.read_text())
    assert rec["public_key"] == info.public_key.hex()
    seed = bytes(ring.signing_key("alice", PASS))
    assert seed.hex() not in f.read_text()  # the seed is never stored in clear
    assert info.address == address_of_pubkey(info.public_key)


def test_existing_dir_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "home" / "keyring").mkdir(parents=True, mode=0o755)
    ring = kr.Keyring(tmp_path / "home", kr.KdfCost.MIN)
    ring.add("a", PASS)
    assert mode(ring.dir) == 0o700


def test_wrong_passphrase(ring: kr.Keyring) -> None:
    ring.add("alice", PASS)
    with pytest.raises(kr.WrongPassphrase, match="wrong passphrase for key 'alice'"):
        ring.signing_key("alice", "not the passphrase")


def test_recover_from_seed_is_deterministic(ring: kr.Keyring) -> None:
    seed = bytes(range(32))
    info = ring.add("bob", PASS, seed)
    assert info.public_key == bytes(SigningKey(seed).verify_key)
    assert ring.export_seed_hex("bob", PASS) == seed.hex()


def test_names_and_duplicates(ring: kr.Keyring) -> None:
    ring.add("alice", PASS)
    with pytest.raises(kr.KeyExists):
        ring.add("alice", PASS)
    for bad in ["", "../evil", "a/b", ".hidden", "x" * 65, "sp ace"]:
        with pytest.raises(kr.InvalidKeyName):
            ring.add(bad, PASS)
    with pytest.raises(kr.WeakPassphrase):
        ring.add("short", "1234567")


def test_list_show_delete(ring: kr.Keyring) -> None:
    assert ring.list() == []
    b = ring.add("bob", PASS)
    a = ring.add("alice", PASS)
    assert [i.name for i in ring.list()] == ["alice", "bob"]
    assert ring.show("bob") == b and ring.show("alice") == a
    ring.delete("alice")
    assert [i.name for i in ring.list()] == ["bob"]
    with pytest.raises(kr.KeyNotFound):
        ring.delete("alice")
    with pytest.raises(kr.KeyNotFound):
        ring.show("alice")


def test_export_import_round_trip(ring: kr.Keyring, tmp_path: Path) -> None:
    info = ring.add("alice", PASS)
    armor = ring.export_armor("alice", PASS, "export passphrase")
    assert armor.startswith(kr.ARMOR_BEGIN) and bytes(ring.signing_key("alice", PASS)).hex() not in armor
    other = kr.Keyring(tmp_path / "other", kr.KdfCost.MIN)
    with pytest.raises(kr.WrongPassphrase):
        other.import_armor("alice2", armor, "wrong export passphrase", "new keyring pass")
    imported = other.import_armor("alice2", armor, "export passphrase", "new keyring pass")
    assert imported.public_key == info.public_key
    assert bytes(other.signing_key("alice2", "new keyring pass")) == bytes(ring.signing_key("alice", PASS))


def test_damaged_armor_and_files(ring: kr.Keyring) -> None:
    with pytest.raises(kr.InvalidArmor):
        kr.parse_armor("hello")
    with pytest.raises(kr.InvalidArmor):
        kr.parse_armor(f"{kr.ARMOR_BEGIN}\n!!!notbase64\n{kr.ARMOR_END}")
    ring.add("alice", PASS)
    path = ring.dir / "alice.key.json"
    rec = json.loads(path.read_text())
    other = kr.Keyring(ring.home / "x", kr.KdfCost.MIN)
    other.add("bob", PASS)
    # splice bob's ciphertext under alice's public key: detected
    rec["ciphertext"] = json.loads((other.dir / "bob.key.json").read_text())["ciphertext"]
    rec["kdf"] = json.loads((other.dir / "bob.key.json").read_text())["kdf"]
    path.write_text(json.dumps(rec))
    with pytest.raises(kr.CorruptKeyFile):
        ring.signing_key("alice", PASS)
    path.write_text("{not json")
    with pytest.raises(kr.CorruptKeyFile):
        ring.show("alice")


def test_parse_seed_hex() -> None:
    assert kr.parse_seed_hex("0x" + "ab" * 32 + "\n") == bytes([0xAB]) * 32
    with pytest.raises(kr.InvalidSeed):
        kr.parse_seed_hex("abc")


def test_default_kdf_cost_round_trip(tmp_path: Path) -> None:
    ring = kr.Keyring(tmp_path)  # the real (interactive) argon2id cost
    ring.add("k", PASS)
    rec = json.loads((ring.dir / "k.key.json").read_text())
    assert rec["kdf"]["opslimit"] == kr.KdfCost.INTERACTIVE.opslimit
    assert ring.signing_key("k", PASS)
