"""Loading Ethereum keys for the bridge tools: an encrypted keystore file (passphrase from a file, an env var
or a prompt), or a raw private key in an environment variable. Key material is never printed or logged; error
messages name the file or variable, never its content.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bridge.errors import KeystoreError

PRIVATE_KEY_ENV = "BRIDGE_PRIVATE_KEY"
PASSPHRASE_ENV = "BRIDGE_PASSPHRASE"


def load_account(
    keystore: Path | None,
    *,
    passphrase_file: Path | None = None,
    private_key_env: str = PRIVATE_KEY_ENV,
    passphrase_env: str = PASSPHRASE_ENV,
    interactive: bool | None = None,
) -> LocalAccount:
    """The signing account: from `keystore` when given, else from the env var `private_key_env`."""
    if keystore is not None:
        return _from_keystore(keystore, passphrase_file, passphrase_env, interactive)
    raw = os.environ.get(private_key_env)
    if raw:
        try:
            return Account.from_key(raw.strip())
        except (ValueError, TypeError):
            raise KeystoreError(f"${private_key_env} does not hold a valid private key") from None
    raise KeystoreError(f"no key: pass --keystore FILE or set ${private_key_env}")


def _from_keystore(
    path: Path, passphrase_file: Path | None, passphrase_env: str, interactive: bool | None
) -> LocalAccount:
    try:
        keyfile = json.loads(path.read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    except json.JSONDecodeError:
        raise KeystoreError(f"keystore {path} is not JSON") from None
    passphrase = _passphrase(path, passphrase_file, passphrase_env, interactive)
    try:
        key = Account.decrypt(keyfile, passphrase)
    except ValueError as exc:
        reason = "wrong passphrase" if "MAC mismatch" in str(exc) else "unreadable keystore"
        raise KeystoreError(f"cannot decrypt keystore {path}: {reason}") from None
    except (KeyError, TypeError):
        raise KeystoreError(f"keystore {path} is not an Ethereum keystore (version 3)") from None
    return Account.from_key(key)


def _passphrase(path: Path, passphrase_file: Path | None, passphrase_env: str, interactive: bool | None) -> str:
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise KeystoreError(f"cannot read passphrase file {passphrase_file}: {exc.strerror}") from None
    from_env = os.environ.get(passphrase_env)
    if from_env is not None:
        return from_env
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise KeystoreError(f"no passphrase for {path}: pass --passphrase-file or set ${passphrase_env}")
    return getpass.getpass(f"passphrase for {path}: ")


def write_keystore(account: LocalAccount, path: Path, passphrase: str, *, iterations: int | None = None) -> None:
    """Encrypt `account` into a version-3 keystore file readable only by its owner."""
    keyfile = Account.encrypt(account.key, passphrase, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(keyfile, out)
