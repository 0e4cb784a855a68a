"""`sidechain keys`: manage the account keys in `<home>/keyring/`.

Passphrases come from `--passphrase-file FILE`, else the environment variable
SIDECHAIN_KEYRING_PASSPHRASE, else a prompt (hidden; confirmed for new keys). Exported keys use a
separate passphrase: `--armor-passphrase-file`, else SIDECHAIN_ARMOR_PASSPHRASE, else a prompt.
Addresses use the prefix in `<home>/config/genesis.json` (app_state.auth.params.address_prefix),
else the default. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sidechain import keyring as kr
from sidechain.auth.params import DEFAULT_ADDRESS_PREFIX
from sidechain.errors import SidechainError
from sidechain.types import validate_prefix

PASSPHRASE_ENV = "SIDECHAIN_KEYRING_PASSPHRASE"
ARMOR_PASSPHRASE_ENV = "SIDECHAIN_ARMOR_PASSPHRASE"

F = TypeVar("F", bound=Callable[..., Any])


class KeysError(click.ClickException):
    """One line on stderr (JSON with --output json), exit status 1."""

    def __init__(self, message: str, output: str = "text", code: int = 1, codespace: str = "") -> None:
        super().__init__(message)
        self.output, self.err_code, self.codespace = output, code, codespace

    def show(self, file: Any = None) -> None:
        if self.output == "json":
            click.echo(
                json.dumps({"error": self.message, "codespace": self.codespace, "code": self.err_code}),
                err=True,
            )
        else:
            click.echo(f"error: {self.message}", err=True)


def _one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = kwargs.get("output", "text")
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except SidechainError as e:
            raise KeysError(e.message, output, e.code, e.codespace) from None
        except OSError as e:
            raise KeysError(f"{e.strerror or e}: {e.filename}" if e.filename else str(e), output) from None
        except Exception as e:  # noqa: BLE001 - a CLI prints a bug as one line too, never a traceback
            raise KeysError(f"internal error ({type(e).__name__}): {e}", output) from None

    return wrapper  # type: ignore[return-value]


def _common(fn: F) -> F:
    fn = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        envvar="SIDECHAIN_HOME",
        help="The node's home directory (keys live in HOME/keyring).",
    )(fn)
    fn = click.option(
        "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
    )(fn)
    return _one_line_errors(fn)


def _passphrase_options(fn: F) -> F:
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help=f"Read the keyring passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).",
    )(fn)


def _armor_options(fn: F) -> F:
    return click.option(
        "--armor-passphrase-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help=f"Passphrase of the exported key (else ${ARMOR_PASSPHRASE_ENV}, else a prompt).",
    )(fn)


def _read_secret_file(path: Path) -> str:
    text = path.read_text()
    return text[:-1] if text.endswith("\n") else text


def _passphrase(file: Path | None, env: str, prompt: str, new: bool) -> str:
    if file is not None:
        value = _read_secret_file(file)
    elif os.environ.get(env):
        value = os.environ[env]
    else:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=new, err=True)
    if new:
        kr.check_new_passphrase(value)
    return value


def address_prefix(home: Path) -> str:
    """The prefix from the home's genesis (app_state.auth.params.address_prefix), else the default."""
    path = home / "config" / "genesis.json"
    if not path.is_file():
        return DEFAULT_ADDRESS_PREFIX
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        raise KeysError(f"{path} is not valid JSON") from None
    prefix = (((doc.get("app_state") or {}).get("auth") or {}).get("params") or {}).get("address_prefix")
    return DEFAULT_ADDRESS_PREFIX if prefix is None else validate_prefix(prefix)


def _emit(output: str, data: object, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if output == "json" else text)


@click.group("keys")
def keys() -> None:
    """Manage account keys (ed25519), encrypted with a passphrase in HOME/keyring."""


@keys.command("add")
@click.argument("name")
@click.option("--recover", is_flag=True, help="Restore a key from its 64-hex-digit seed (prompted, hidden).")
@_passphrase_options
@_common
def add(name: str, recover: bool, passphrase_file: Path | None, home: Path, output: str) -> None:
    """Create a new key NAME (or restore one with --recover)."""
    ring = kr.Keyring(home, kr.DEFAULT_KDF)
    kr.validate_name(name)
    if any(k.name == name for k in ring.list()):
        raise kr.KeyExists(f"a key named {name!r} already exists in {ring.dir}")
    seed = None
    if recover:
        seed = kr.parse_seed_hex(click.prompt("seed (64 hex digits)", hide_input=True, err=True))
    passphrase = _passphrase(passphrase_file, PASSPHRASE_ENV, "new passphrase", new=True)
    info = ring.add(name, passphrase, seed)
    prefix = address_prefix(home)
    _emit(output, info.to_json(prefix), f"added key {name!r}: {info.bech32(prefix)}")


@keys.command("list")
@_common
def list_keys(home: Path, output: str) -> None:
    """List the keys (name, address, public key)."""
    prefix = address_prefix(home)
    infos = kr.Keyring(home).list()
    if output == "json":
        _emit(output, [i.to_json(prefix) for i in infos], "")
        return
    if not infos:
        click.echo(f"no keys in {home / kr.KEYRING_DIR}")
        return
    width = max(len(i.name) for i in infos)
    for i in infos:
        click.echo(f"{i.name:<{width}}  {i.bech32(prefix)}  {i.public_key.hex()}")


@keys.command("show")
@click.argument("name")
@click.option("--address", "address_only", is_flag=True, help="Print the address only.")
@_common
def show(name: str, address_only: bool, home: Path, output: str) -> None:
    """Show key NAME's address and public key."""
    info = kr.Keyring(home).show(name)
    prefix = address_prefix(home)
    if address_only and output == "text":
        click.echo(info.bech32(prefix))
        return
    _emit(
        output,
        info.to_json(prefix),
        f"name: {info.name}\naddress: {info.bech32(prefix)}\npublic_key: {info.public_key.hex()}",
    )


@keys.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_common
def delete(name: str, yes: bool, home: Path, output: str) -> None:
    """Delete key NAME (its funds are lost unless you have a backup)."""
    ring = kr.Keyring(home)
    ring.show(name)  # a clear error if it does not exist
    if not yes and not click.confirm(
        f"delete key {name!r}? It cannot be recovered without a backup", err=True
    ):
        raise KeysError("not deleted", output)
    ring.delete(name)
    _emit(output, {"deleted": name}, f"deleted key {name!r}")


@keys.command("export")
@click.argument("name")
@click.option("--unsafe-hex", is_flag=True, help="Print the UNENCRYPTED private key seed as hex.")
@click.option("--yes", "-y", is_flag=True, help="With --unsafe-hex: do not ask for confirmation.")
@_passphrase_options
@_armor_options
@_common
def export(
    name: str,
    unsafe_hex: bool,
    yes: bool,
    passphrase_file: Path | None,
    armor_passphrase_file: Path | None,
    home: Path,
    output: str,
) -> None:
    """Export key NAME, encrypted with a new passphrase (armored text), or as raw hex with --unsafe-hex."""
    ring = kr.Keyring(home, kr.DEFAULT_KDF)
    ring.show(name)
    if (
        unsafe_hex
        and not yes
        and not click.confirm(
            "print the unencrypted private key? Anyone who sees it controls the account", err=True
        )
    ):
        raise KeysError("not exported", output)
    passphrase = _passphrase(passphrase_file, PASSPHRASE_ENV, f"passphrase of {name!r}", new=False)
    if unsafe_hex:
        seed = ring.export_seed_hex(name, passphrase)
        _emit(output, {"name": name, "seed_hex": seed}, seed)
        return
    ring.signing_key(name, passphrase)  # wrong passphrase: fail before asking for the export one
    export_pass = _passphrase(
        armor_passphrase_file, ARMOR_PASSPHRASE_ENV, "passphrase for the export", new=True
    )
    armor = ring.export_armor(name, passphrase, export_pass)
    _emit(output, {"name": name, "armor": armor}, armor.rstrip("\n"))


@keys.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--hex", "is_hex", is_flag=True, help="FILE holds a raw 64-hex-digit seed, not an exported key."
)
@_passphrase_options
@_armor_options
@_common
def import_key(
    name: str,
    file: Path,
    is_hex: bool,
    passphrase_file: Path | None,
    armor_passphrase_file: Path | None,
    home: Path,
    output: str,
) -> None:
    """Import key NAME from FILE ('-' for stdin): an exported (armored) key, or a hex seed with --hex."""
    ring = kr.Keyring(home, kr.DEFAULT_KDF)
    kr.validate_name(name)
    if any(k.name == name for k in ring.list()):
        raise kr.KeyExists(f"a key named {name!r} already exists in {ring.dir}")
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    if is_hex:
        seed = kr.parse_seed_hex(text)
    else:
        record = kr.parse_armor(text)
        armor_pass = _passphrase(
            armor_passphrase_file, ARMOR_PASSPHRASE_ENV, "passphrase of the exported key", new=False
        )
        seed = kr.open_record(record, armor_pass, "the exported key")
    passphrase = _passphrase(passphrase_file, PASSPHRASE_ENV, "new passphrase", new=True)
    info = ring.add(name, passphrase, seed)
    prefix = address_prefix(home)
    _emit(output, info.to_json(prefix), f"imported key {name!r}: {info.bech32(prefix)}")
