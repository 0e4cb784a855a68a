"""`sidechain keys`: manage the account keys in `<home>/keyring/`.

`keys add` makes a 24-word BIP-39 recovery phrase, shows it once with a warning, and stores only the
key derived from it (SLIP-0010 ed25519 at m/44'/118'/0'/0'/INDEX'; sidechain/keyring.py and
docs/GUIDE.md write the derivation down). `keys add --recover` derives the same key from the words;
`keys bridge-key` derives the validator's secp256k1 bridge key (m/44'/60'/0'/0/INDEX) from them and
writes an Ethereum keystore for `bridge --keystore`.

Passphrases come from `--passphrase-file FILE`, else the environment variable
SIDECHAIN_KEYRING_PASSPHRASE, else a prompt (hidden; confirmed for new keys); without a terminal,
a line of standard input, else a one-line error (sidechain/commands/common.read_secret). Exported
keys use a separate passphrase: `--armor-passphrase-file`, else SIDECHAIN_ARMOR_PASSPHRASE, else a prompt.
Addresses use the prefix in `<home>/config/genesis.json` (app_state.auth.params.address_prefix),
else the default. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sidechain import keyring as kr
from sidechain.auth.params import DEFAULT_ADDRESS_PREFIX
from sidechain.commands.common import (
    CommandError,
    confirm,
    one_line_errors,
    read_secret,
    read_secret_file,
    read_text_input,
)
from sidechain.types import validate_prefix

PASSPHRASE_ENV = "SIDECHAIN_KEYRING_PASSPHRASE"
ARMOR_PASSPHRASE_ENV = "SIDECHAIN_ARMOR_PASSPHRASE"
BRIDGE_PASSPHRASE_ENV = "BRIDGE_PASSPHRASE"

F = TypeVar("F", bound=Callable[..., Any])

KeysError = CommandError  # the name older code and tests use
_one_line_errors = one_line_errors

BACKUP_WARNING = (
    "Write down this recovery phrase and keep it offline. It is the only way to recover this key if the "
    "keyring is lost, and anyone who has it controls the account. It is not shown again."
)


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


_read_secret_file = read_secret_file


def _passphrase(file: Path | None, env: str, prompt: str, new: bool) -> str:
    return read_secret(file, env, prompt, new=new, check=kr.check_new_passphrase if new else None,
                       file_option="--armor-passphrase-file" if env == ARMOR_PASSPHRASE_ENV else "--passphrase-file")


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


@click.group("keys", short_help="Manage account keys (recovery phrases, encrypted keyring).")
def keys() -> None:
    """Manage account keys (ed25519), encrypted with a passphrase in HOME/keyring."""


def _mnemonic_option(fn: F) -> F:
    return click.option(
        "--mnemonic-file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default=None,
        help="Read the recovery phrase from this file ('-': stdin) instead of a prompt.")(fn)


index_option = click.option("--index", type=click.IntRange(0, kr.MAX_INDEX), default=0, show_default=True,
                            help="Which key of the recovery phrase (the last level of the derivation path).")


def _read_mnemonic(file: Path | None) -> str:
    text = read_text_input(file, "recovery phrase (12-24 words)", "--mnemonic-file")
    words = text.split()
    if len(words) == 1 and len(words[0].removeprefix("0x")) == 64:
        raise kr.InvalidMnemonic("that is a hex seed, not a recovery phrase: import it with "
                                 "`sidechain keys import NAME FILE --hex` ('-' reads it from stdin)")
    return kr.normalize_mnemonic(text)


@keys.command("add", short_help="Create a key from a new recovery phrase, or --recover one.")
@click.argument("name")
@click.option("--recover", is_flag=True, help="Restore the key from its recovery phrase (BIP-39 words).")
@_mnemonic_option
@index_option
@_passphrase_options
@_common
def add(name: str, recover: bool, mnemonic_file: Path | None, index: int, passphrase_file: Path | None,
        home: Path, output: str) -> None:
    """Create key NAME from a new 24-word recovery phrase (shown once), or restore one with --recover.

    The account key is the SLIP-0010 ed25519 key at m/44'/118'/0'/0'/INDEX' of the phrase: the same
    words give the same address in every version (docs/GUIDE.md, "Keys")."""
    ring = kr.Keyring(home, kr.DEFAULT_KDF)
    kr.validate_name(name)
    if any(k.name == name for k in ring.list()):
        raise kr.KeyExists(f"a key named {name!r} already exists in {ring.dir}")
    if mnemonic_file is not None and not recover:
        raise KeysError("--mnemonic-file goes with --recover", output)
    mnemonic = _read_mnemonic(mnemonic_file) if recover else kr.new_mnemonic()
    seed = kr.account_key_from_mnemonic(mnemonic, index)
    passphrase = _passphrase(passphrase_file, PASSPHRASE_ENV, "new passphrase", new=True)
    info = ring.add(name, passphrase, seed)
    prefix = address_prefix(home)
    data: dict[str, object] = {**info.to_json(prefix), "index": index}
    if recover:
        _emit(output, data, f"recovered key {name!r}: {info.bech32(prefix)}")
        return
    if output == "json":
        _emit(output, {**data, "mnemonic": mnemonic, "warning": BACKUP_WARNING}, "")
        return
    words = mnemonic.split()
    rows = [" ".join(f"{i + 1:>2}. {w:<9}" for i, w in list(enumerate(words))[r : r + 6]).rstrip()
            for r in range(0, len(words), 6)]
    click.echo(f"added key {name!r}: {info.bech32(prefix)}\n\n" + "\n".join(
        [*_wrap(BACKUP_WARNING), "", *rows, "", f"restore it with: sidechain keys add {name} --recover --home HOME"]))


def _wrap(text: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


@keys.command("bridge-key", short_help="Write the bridge (L1, secp256k1) key of a recovery phrase.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write an Ethereum keystore (for `bridge --keystore`) here; it must not exist.")
@_mnemonic_option
@index_option
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help=f"Passphrase for the keystore (else ${BRIDGE_PASSPHRASE_ENV}, else a prompt).")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_one_line_errors
def bridge_key(out: Path, mnemonic_file: Path | None, index: int, passphrase_file: Path | None,
               output: str) -> None:
    """From a recovery phrase, derive the bridge key (BIP-32 secp256k1 at m/44'/60'/0'/0/INDEX, the usual
    Ethereum path) and write it as an encrypted Ethereum keystore, mode 0600."""
    import os

    from eth_account import Account

    if out.exists():
        raise KeysError(f"{out} already exists; choose another --out", output)
    mnemonic = _read_mnemonic(mnemonic_file)
    private = kr.bridge_key_from_mnemonic(mnemonic, index)
    passphrase = read_secret(passphrase_file, BRIDGE_PASSPHRASE_ENV, "new keystore passphrase", new=True,
                             check=kr.check_new_passphrase)
    keystore = Account.encrypt(private, passphrase)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keystore, f)
    address = Account.from_key(private).address
    _emit(output, {"address": address, "keystore": str(out), "index": index},
          f"bridge key {address} written to {out} (Ethereum keystore; use it with bridge --keystore {out})")


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
    if not yes and not confirm(f"delete key {name!r}? It cannot be recovered without a backup", output):
        raise KeysError("not deleted", output)
    ring.delete(name)
    _emit(output, {"deleted": name}, f"deleted key {name!r}")


@keys.command("export", short_help="Export a key, encrypted (or as raw hex with --unsafe-hex).")
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
        and not confirm("print the unencrypted private key? Anyone who sees it controls the account", output)
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


@keys.command("import", short_help="Import an exported key, or a hex seed with --hex.")
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
