"""`keys` commands through click's CliRunner (sidechain/commands/keys.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sidechain import keyring as kr
from sidechain.commands.keys import ARMOR_PASSPHRASE_ENV, PASSPHRASE_ENV, keys

PASS = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kr, "DEFAULT_KDF", kr.KdfCost.MIN)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(ARMOR_PASSPHRASE_ENV, raising=False)


def run(args: list[str], input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(keys, args, input=input, env=env)


def assert_one_line_error(result, match: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    # prompts also go to stderr; the error itself is exactly one line, the last one
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1] and match in errors[0], result.stderr
    assert "Traceback" not in result.output


def test_add_list_show_delete(tmp_path: Path) -> None:
    home = str(tmp_path)
    r = run(["add", "alice", "--home", home], input=f"{PASS}\n{PASS}\n")
    assert r.exit_code == 0, r.output
    assert "added key 'alice': side1" in r.stdout
    f = tmp_path / "keyring" / "alice.key.json"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    r = run(["add", "bob", "--home", home, "--output", "json"], env={PASSPHRASE_ENV: PASS})
    bob = json.loads(r.stdout)
    assert bob["name"] == "bob" and bob["address"].startswith("side1")
    r = run(["list", "--home", home, "-o", "json"])
    assert [k["name"] for k in json.loads(r.stdout)] == ["alice", "bob"]
    r = run(["show", "bob", "--home", home, "--address"])
    assert r.stdout.strip() == bob["address"]
    r = run(["delete", "bob", "--home", home, "--yes"])
    assert r.exit_code == 0 and "deleted" in r.stdout
    r = run(["delete", "alice", "--home", home], input="n\n")
    assert_one_line_error(r, "not deleted")


def test_prefix_comes_from_genesis(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    genesis = {"app_state": {"auth": {"params": {"address_prefix": "zz"}}}}
    (tmp_path / "config" / "genesis.json").write_text(json.dumps(genesis))
    r = run(["add", "k", "--home", str(tmp_path)], env={PASSPHRASE_ENV: PASS})
    assert "added key 'k': zz1" in r.stdout


def test_passphrase_file_and_hex_import(tmp_path: Path) -> None:
    pf = tmp_path / "pass.txt"
    pf.write_text(PASS + "\n")
    seed = "11" * 32
    r = run(["import", "r", "-", "--hex", "--home", str(tmp_path), "--passphrase-file", str(pf)], input=seed + "\n")
    assert r.exit_code == 0, r.output
    r = run(["export", "r", "--unsafe-hex", "--yes", "--home", str(tmp_path), "--passphrase-file", str(pf)])
    assert r.stdout.strip() == seed


def test_errors_are_one_line(tmp_path: Path) -> None:
    home = str(tmp_path)
    run(["add", "alice", "--home", home], env={PASSPHRASE_ENV: PASS})
    assert_one_line_error(run(["show", "nobody", "--home", home]), "no key named 'nobody'")
    assert_one_line_error(run(["add", "alice", "--home", home], env={PASSPHRASE_ENV: PASS}), "already exists")
    assert_one_line_error(
        run(["add", "../x", "--home", home], env={PASSPHRASE_ENV: PASS}), "invalid key name"
    )
    assert_one_line_error(run(["add", "weak", "--home", home], env={PASSPHRASE_ENV: "short"}), "too short")
    r = run(
        ["export", "alice", "--unsafe-hex", "--yes", "--home", home], env={PASSPHRASE_ENV: "wrong passphrase"}
    )
    assert_one_line_error(r, "wrong passphrase for key 'alice'")
    r = run(["show", "nobody", "--home", home, "-o", "json"])
    assert r.exit_code == 1 and json.loads(r.stderr)["error"].startswith("no key named")
    r = run(["add", "r", "--recover", "--home", home], input="xyz\n", env={PASSPHRASE_ENV: PASS})
    assert_one_line_error(r, "a recovery phrase has 12, 15, 18, 21 or 24 words; got 1")
    r = run(["add", "r", "--recover", "--home", home], input="11" * 32 + "\n", env={PASSPHRASE_ENV: PASS})
    assert_one_line_error(r, "that is a hex seed, not a recovery phrase: import it with")


def test_export_import_round_trip(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    env = {PASSPHRASE_ENV: PASS, ARMOR_PASSPHRASE_ENV: "export passphrase"}
    shown = json.loads(run(["add", "alice", "--home", str(a), "-o", "json"], env=env).stdout)
    r = run(["export", "alice", "--home", str(a)], env=env)
    assert r.exit_code == 0 and r.stdout.startswith(kr.ARMOR_BEGIN)
    armor = tmp_path / "alice.armor"
    armor.write_text(r.stdout)
    r = run(["import", "alice", str(armor), "--home", str(b), "-o", "json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["address"] == shown["address"]
    # wrong armor passphrase: one clear line
    r = run(
        ["import", "alice2", str(armor), "--home", str(b)], env={**env, ARMOR_PASSPHRASE_ENV: "nope nope"}
    )
    assert_one_line_error(r, "wrong passphrase for the exported key")
    # hex import from stdin
    r = run(["import", "h", "-", "--hex", "--home", str(b)], input="22" * 32, env=env)
    assert r.exit_code == 0, r.output


def test_unsafe_export_asks_first(tmp_path: Path) -> None:
    run(["add", "alice", "--home", str(tmp_path)], env={PASSPHRASE_ENV: PASS})
    r = run(
        ["export", "alice", "--unsafe-hex", "--home", str(tmp_path)], input="n\n", env={PASSPHRASE_ENV: PASS}
    )
    assert_one_line_error(r, "not exported")
