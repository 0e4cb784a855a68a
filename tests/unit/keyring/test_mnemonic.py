"""Recovery phrases: BIP-39 words, SLIP-0010 ed25519 account keys, the BIP-32 bridge key, and
`keys add` / `keys add --recover` / `keys bridge-key` as a user runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from nacl.signing import SigningKey

from sidechain import keyring as kr
from sidechain.commands.keys import PASSPHRASE_ENV, keys

PASS = "correct horse battery"
# BIP-39's published all-zero-entropy phrase (24 words): its words and checksum are fixed.
ZERO_24 = " ".join(["abandon"] * 23 + ["art"])
# The well-known development phrase; m/44'/60'/0'/0/0 of it is the address every Ethereum dev tool shows.
DEV_12 = "test test test test test test test test test test test junk"


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kr, "DEFAULT_KDF", kr.KdfCost.MIN)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def run(args: list[str], input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(keys, args, input=input, env=env)


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Warning" not in result.output
    return lines[0]


def test_slip10_ed25519_published_vectors() -> None:
    # SLIP-0010 test vector 1 for ed25519 (seed 000102...0f): master key and the deepest child.
    seed = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    assert kr.slip10_ed25519(seed, "m").hex() == "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"
    assert kr.slip10_ed25519(seed, "m/0'").hex() == "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"
    assert (kr.slip10_ed25519(seed, "m/0'/1'/2'/2'/1000000000'").hex()
            == "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793")
    with pytest.raises(kr.InvalidSeed, match="hardened levels only"):
        kr.slip10_ed25519(seed, "m/0")


def test_bip39_seed_and_bridge_path_match_published_values() -> None:
    # BIP-39 vector (trezor's list): all-zero 256-bit entropy, passphrase "TREZOR".
    assert kr.mnemonic_seed(ZERO_24, "TREZOR").hex().startswith("bda85446c68413707090a52022edd26a1c946229")
    first, second = (Account.from_key(kr.bridge_key_from_mnemonic(DEV_12, i)).address for i in (0, 1))
    assert first == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert second == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_the_same_words_give_the_same_account_in_every_version() -> None:
    # Pinned: changing the derivation would move every user's funds out of reach of their words.
    seed = kr.account_key_from_mnemonic(ZERO_24)
    info = kr.KeyInfo("k", bytes(SigningKey(seed).verify_key))
    assert seed.hex() == kr.slip10_ed25519(kr.mnemonic_seed(ZERO_24), "m/44'/118'/0'/0'/0'").hex()
    assert info.bech32("side") == PINNED_ZERO_24_ADDRESS
    assert kr.account_key_from_mnemonic(ZERO_24, 1) != seed


PINNED_ZERO_24_ADDRESS = "side1pywgxt6s0n9qmv2vqgd8vpvcw73j2t26gh96tp"


def test_mnemonic_errors_say_what_is_wrong() -> None:
    with pytest.raises(kr.InvalidMnemonic, match="got 23"):
        kr.normalize_mnemonic(" ".join(ZERO_24.split()[:-1]))
    with pytest.raises(kr.InvalidMnemonic, match=r"word 24 \('artt'\) is not in the BIP-39 English word list; "
                                                 r"did you mean 'art'"):
        kr.normalize_mnemonic(ZERO_24 + "t")
    with pytest.raises(kr.InvalidMnemonic, match="checksum does not match"):
        kr.normalize_mnemonic(" ".join(["abandon"] * 24))
    # Case, extra spaces and line breaks do not matter.
    assert kr.normalize_mnemonic("  " + ZERO_24.upper().replace(" ", "\n ", 3) + "\n") == ZERO_24


def test_add_shows_the_phrase_once_and_recover_on_another_home_gives_the_same_address(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    r = run(["add", "alice", "--home", str(a)], env={PASSPHRASE_ENV: PASS})
    assert r.exit_code == 0, r.output
    assert "Write down this recovery phrase" in r.stdout and "not shown again" in r.stdout
    words = [w for ln in r.stdout.splitlines() if ln[:3].strip().rstrip(".").isdigit()
             for w in ln.split() if not w.rstrip(".").isdigit()]
    assert len(words) == 24
    address = r.stdout.splitlines()[0].split(": ")[1]
    stored = (a / "keyring" / "alice.key.json").read_text()
    assert not any(w in json.loads(stored).values() for w in words) and " ".join(words) not in stored
    assert stat.S_IMODE((a / "keyring" / "alice.key.json").stat().st_mode) == 0o600
    # Restored on another home from the words (on stdin: no terminal), the same address.
    r = run(["add", "alice2", "--recover", "--home", str(b), "-o", "json"], input=" ".join(words) + "\n",
            env={PASSPHRASE_ENV: PASS})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["address"] == address and "mnemonic" not in json.loads(r.stdout)
    # And from a file.
    phrase = tmp_path / "phrase.txt"
    phrase.write_text("\n".join(words) + "\n")
    r = run(["add", "x", "--recover", "--mnemonic-file", str(phrase), "--home", str(c), "-o", "json"],
            env={PASSPHRASE_ENV: PASS})
    assert json.loads(r.stdout)["address"] == address
    # Another index is another key.
    r = run(["add", "y", "--recover", "--index", "1", "--mnemonic-file", str(phrase), "--home", str(c), "-o", "json"],
            env={PASSPHRASE_ENV: PASS})
    assert r.exit_code == 0 and json.loads(r.stdout)["address"] != address
    # A wrong word: one clear line, and nothing written.
    bad = [*words[:5], words[5] + "x", *words[6:]]
    r = run(["add", "z", "--recover", "--home", str(c)], input=" ".join(bad) + "\n", env={PASSPHRASE_ENV: PASS})
    assert f"word 6 ({words[5] + 'x'!r}) is not in the BIP-39 English word list" in one_error_line(r)
    swapped = [words[1], words[0], *words[2:]]
    if kr._bip39().check(" ".join(swapped)) is False:  # a swap breaks the checksum (15 in 16 times)
        r = run(["add", "z", "--recover", "--home", str(c)], input=" ".join(swapped) + "\n",
                env={PASSPHRASE_ENV: PASS})
        assert "checksum does not match" in one_error_line(r)
    assert not (c / "keyring" / "z.key.json").exists()


def test_json_output_carries_the_phrase_and_warning(tmp_path: Path) -> None:
    r = run(["add", "k", "--home", str(tmp_path), "-o", "json"], env={PASSPHRASE_ENV: PASS})
    data = json.loads(r.stdout)
    assert len(data["mnemonic"].split()) == 24 and "not shown again" in data["warning"]
    again = run(["add", "k2", "--recover", "--home", str(tmp_path), "-o", "json"], input=data["mnemonic"] + "\n",
                env={PASSPHRASE_ENV: PASS})
    assert json.loads(again.stdout)["address"] == data["address"]


def test_no_terminal_and_no_source_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(run(["add", "k", "--home", str(tmp_path)]))
    assert "no new passphrase: there is no terminal" in line and "--passphrase-file" in line
    line = one_error_line(run(["add", "k", "--recover", "--home", str(tmp_path)], env={PASSPHRASE_ENV: PASS}))
    assert "no recovery phrase" in line and "--mnemonic-file" in line
    assert not (tmp_path / "keyring" / "k.key.json").exists()


def test_bridge_key_from_the_same_words(tmp_path: Path) -> None:
    out = tmp_path / "bridge.json"
    r = run(["bridge-key", "--out", str(out), "-o", "json"], input=DEV_12 + "\n", env={"BRIDGE_PASSPHRASE": PASS})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["address"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = Account.decrypt(json.loads(out.read_text()), PASS)
    assert Account.from_key(key).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    # The bridge CLI reads it.
    from bridge.keys import load_account

    (tmp_path / "pass").write_text(PASS)
    assert load_account(out, passphrase_file=tmp_path / "pass").address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    line = one_error_line(run(["bridge-key", "--out", str(out)], input=DEV_12 + "\n", env={"BRIDGE_PASSPHRASE": PASS}))
    assert "already exists" in line
