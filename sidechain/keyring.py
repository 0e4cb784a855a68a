"""A file keyring of ed25519 account keys in `<home>/keyring/`, each encrypted with a passphrase.

One file per key, `<name>.key.json`, mode 0600 in a 0700 directory:

    {"version": 1, "name": "alice", "type": "ed25519", "public_key": "<64 hex>",
     "kdf": {"alg": "argon2id13", "opslimit": 2, "memlimit": 67108864, "salt": "<32 hex>"},
     "ciphertext": "<hex: XSalsa20-Poly1305 secretbox (nonce || box) of the 32-byte seed>"}

The secretbox key is argon2id(passphrase, salt). A wrong passphrase fails the box's MAC; the
decrypted seed must also yield the stored public key, so a file cannot be spliced from two keys.

An exported key ("armor") is the same record without the name, encrypted under an export
passphrase, base64-wrapped between BEGIN/END lines; importing it re-encrypts under the keyring's
passphrase. Only `export_seed_hex` ever returns a key unencrypted.

Recovery phrases (docs/GUIDE.md, "Keys"): `keys add` makes a 24-word BIP-39 mnemonic (English word
list, 256 bits of entropy) and derives the account key from it; `keys add --recover` derives it
again. The derivation is fixed for every version of this software:

    seed    = BIP-39 seed of the mnemonic (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic" + the
              optional BIP-39 passphrase, empty by default)
    account = SLIP-0010 ed25519 key at m/44'/118'/0'/0'/<index>'  (every level hardened; index 0
              unless `--index` is given); its 32-byte private key is the ed25519 seed we store
    bridge  = BIP-32 secp256k1 key at m/44'/60'/0'/0/<index> (the usual Ethereum path, so a
              wallet given the same words shows the same L1 address)

SLIP-0010 for ed25519: I = HMAC-SHA512(key="ed25519 seed", seed); k, c = I[:32], I[32:]; for each
(hardened) index i: I = HMAC-SHA512(c, 0x00 || k || ser32(i | 2**31)); k, c = I[:32], I[32:].
The mnemonic is shown once and never stored.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import hmac
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl.exceptions import CryptoError
from nacl.signing import SigningKey

from sidechain.errors import SidechainError
from sidechain.types import address_of_pubkey, bech32_address

KEYRING_DIR = "keyring"
SUFFIX = ".key.json"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_PASSPHRASE_LEN = 8
ARMOR_BEGIN = "-----BEGIN SIDECHAIN ED25519 PRIVATE KEY-----"
ARMOR_END = "-----END SIDECHAIN ED25519 PRIVATE KEY-----"
_KDF_ALG = "argon2id13"


class KeyringError(SidechainError):
    codespace = "keyring"


class KeyNotFound(KeyringError):
    code = 2


class KeyExists(KeyringError):
    code = 3


class WrongPassphrase(KeyringError):
    code = 4


class InvalidKeyName(KeyringError):
    code = 5


class CorruptKeyFile(KeyringError):
    code = 6


class WeakPassphrase(KeyringError):
    code = 7


class InvalidArmor(KeyringError):
    code = 8


class InvalidSeed(KeyringError):
    code = 9


class InvalidMnemonic(KeyringError):
    code = 10


@dataclass(frozen=True, slots=True)
class KdfCost:
    """argon2id work factors; stored in each file, so changing the default never breaks old keys."""

    opslimit: int
    memlimit: int

    INTERACTIVE: ClassVar[KdfCost]
    MIN: ClassVar[KdfCost]  # for tests only: no protection worth the name


KdfCost.INTERACTIVE = KdfCost(
    nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
)
KdfCost.MIN = KdfCost(nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
DEFAULT_KDF = KdfCost.INTERACTIVE


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    public_key: bytes

    @property
    def address(self) -> bytes:
        return address_of_pubkey(self.public_key)

    def bech32(self, prefix: str) -> str:
        return bech32_address(self.address, prefix)

    def to_json(self, prefix: str) -> dict[str, str]:
        return {"name": self.name, "address": self.bech32(prefix), "public_key": self.public_key.hex()}


def validate_name(name: str) -> str:
    if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
        raise InvalidKeyName(
            f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise WeakPassphrase(f"passphrase too short: use at least {MIN_PASSPHRASE_LEN} characters")
    return passphrase


def parse_seed_hex(text: str) -> bytes:
    t = text.strip().lower().removeprefix("0x")
    try:
        seed = bytes.fromhex(t)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise InvalidSeed("a private key seed is 64 hex digits (32 bytes)")
    return seed


# --- recovery phrases (BIP-39) and HD derivation (SLIP-0010 ed25519, BIP-32 secp256k1) -------------

MNEMONIC_WORDS = 24
ACCOUNT_PATH = "m/44'/118'/0'/0'/{index}'"
BRIDGE_PATH = "m/44'/60'/0'/0/{index}"
MAX_INDEX = 2**31 - 1
_HARDENED = 2**31


def _bip39() -> Any:
    from mnemonic import Mnemonic

    return Mnemonic("english")


def new_mnemonic() -> str:
    """A fresh 24-word recovery phrase (256 bits from the OS's random source)."""
    return str(_bip39().generate(strength=256))


def normalize_mnemonic(text: str) -> str:
    """The words of a phrase in canonical form, or InvalidMnemonic saying which word is wrong."""
    words = unicodedata.normalize("NFKD", text).lower().split()
    bip39 = _bip39()
    if len(words) not in (12, 15, 18, 21, 24):
        raise InvalidMnemonic(f"a recovery phrase has 12, 15, 18, 21 or 24 words; got {len(words)}")
    known = set(bip39.wordlist)
    for i, w in enumerate(words, 1):
        if w not in known:
            close = difflib.get_close_matches(w, bip39.wordlist, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise InvalidMnemonic(f"word {i} ({w!r}) is not in the BIP-39 English word list{hint}")
    phrase = " ".join(words)
    if not bip39.check(phrase):
        raise InvalidMnemonic("the recovery phrase's checksum does not match: a word is wrong or out of order")
    return phrase


def mnemonic_seed(mnemonic: str, bip39_passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of a (valid) phrase."""
    from mnemonic import Mnemonic

    return bytes(Mnemonic.to_seed(normalize_mnemonic(mnemonic), bip39_passphrase))


def _check_index(index: int) -> int:
    if type(index) is not int or not 0 <= index <= MAX_INDEX:
        raise InvalidSeed(f"key index {index!r} must be an integer in [0, {MAX_INDEX}]")
    return index


def slip10_ed25519(seed: bytes, path: str) -> bytes:
    """SLIP-0010 ed25519 private key (32 bytes) of `seed` at `path` (every level hardened)."""
    parts = path.split("/")
    if parts[0] != "m":
        raise InvalidSeed(f"derivation path {path!r} must start with m/")
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = digest[:32], digest[32:]
    for part in parts[1:]:
        if not part.endswith("'") or not part[:-1].isdigit() or int(part[:-1]) > MAX_INDEX:
            raise InvalidSeed(f"derivation path {path!r}: ed25519 has hardened levels only (like 44')")
        index = int(part[:-1]) | _HARDENED
        digest = hmac.new(chain, b"\x00" + key + index.to_bytes(4, "big"), hashlib.sha512).digest()
        key, chain = digest[:32], digest[32:]
    return key


def account_key_from_mnemonic(mnemonic: str, index: int = 0, bip39_passphrase: str = "") -> bytes:
    """The 32-byte ed25519 seed of account key `index` of a recovery phrase."""
    path = ACCOUNT_PATH.format(index=_check_index(index))
    return slip10_ed25519(mnemonic_seed(mnemonic, bip39_passphrase), path)


def bridge_key_from_mnemonic(mnemonic: str, index: int = 0, bip39_passphrase: str = "") -> bytes:
    """The 32-byte secp256k1 private key of bridge key `index` of a recovery phrase (BIP-32)."""
    from eth_account.hdaccount import key_from_seed

    path = BRIDGE_PATH.format(index=_check_index(index))
    return bytes(key_from_seed(mnemonic_seed(mnemonic, bip39_passphrase), path))


# --- encryption -----------------------------------------------------------------------------------


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=opslimit, memlimit=memlimit
    )


def _seal(seed: bytes, passphrase: str, kdf: KdfCost) -> dict[str, Any]:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, kdf.opslimit, kdf.memlimit))
    public_key = bytes(SigningKey(seed).verify_key)
    return {
        "version": 1,
        "type": "ed25519",
        "public_key": public_key.hex(),
        "kdf": {"alg": _KDF_ALG, "opslimit": kdf.opslimit, "memlimit": kdf.memlimit, "salt": salt.hex()},
        "ciphertext": bytes(box.encrypt(seed)).hex(),
    }


def _record_public_key(rec: Any, what: str) -> bytes:
    try:
        pk = bytes.fromhex(rec["public_key"])
        if rec.get("version") != 1 or rec.get("type") != "ed25519" or len(pk) != 32:
            raise ValueError
        return pk
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CorruptKeyFile(f"{what} is not a valid key record") from None


def open_record(rec: Any, passphrase: str, what: str) -> bytes:
    """Decrypt a key record (a key file or a parsed armor) -> the 32-byte seed."""
    public_key = _record_public_key(rec, what)
    try:
        kdf = rec["kdf"]
        if kdf["alg"] != _KDF_ALG:
            raise CorruptKeyFile(f"{what}: unsupported key derivation {kdf['alg']!r}")
        salt = bytes.fromhex(kdf["salt"])
        opslimit, memlimit = int(kdf["opslimit"]), int(kdf["memlimit"])
        ciphertext = bytes.fromhex(rec["ciphertext"])
    except (KeyError, TypeError, ValueError):
        raise CorruptKeyFile(f"{what} is not a valid key record") from None
    try:
        key = _derive(passphrase, salt, opslimit, memlimit)
        seed = nacl.secret.SecretBox(key).decrypt(ciphertext)
    except CryptoError:
        raise WrongPassphrase(f"wrong passphrase for {what}") from None
    if len(seed) != 32 or bytes(SigningKey(seed).verify_key) != public_key:
        raise CorruptKeyFile(f"{what}: decrypted key does not match its public key")
    return seed


# --- the keyring ----------------------------------------------------------------------------------


class Keyring:
    def __init__(self, home: Path | str, kdf: KdfCost | None = None) -> None:
        self.home = Path(home)
        self.dir = self.home / KEYRING_DIR
        self.kdf = kdf or DEFAULT_KDF

    def _path(self, name: str) -> Path:
        return self.dir / (validate_name(name) + SUFFIX)

    def _ensure_dir(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def _write_new(self, name: str, record: dict[str, Any]) -> None:
        """Write atomically, mode 0600, refusing to replace an existing key."""
        self._ensure_dir()
        path = self._path(name)
        tmp = self.dir / f".{name}.{os.getpid()}.{nacl.utils.random(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if the name is taken
        except FileExistsError:
            raise KeyExists(f"a key named {name!r} already exists in {self.dir}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise KeyNotFound(f"no key named {name!r} in {self.dir}") from None
        try:
            rec = json.loads(text)
        except ValueError:
            raise CorruptKeyFile(f"key file {path} is not valid JSON") from None
        if not isinstance(rec, dict):
            raise CorruptKeyFile(f"key file {path} is not a key record")
        return rec

    def add(self, name: str, passphrase: str, seed: bytes | None = None) -> KeyInfo:
        """A new key (random, or from a 32-byte seed), encrypted with `passphrase`."""
        validate_name(name)
        check_new_passphrase(passphrase)
        if self._path(name).exists():
            raise KeyExists(f"a key named {name!r} already exists in {self.dir}")
        if seed is None:
            seed = bytes(SigningKey.generate())
        elif len(seed) != 32:
            raise InvalidSeed("a private key seed is 32 bytes")
        record = {"name": name, **_seal(seed, passphrase, self.kdf)}
        self._write_new(name, record)
        return KeyInfo(name, bytes.fromhex(record["public_key"]))

    def show(self, name: str) -> KeyInfo:
        return KeyInfo(name, _record_public_key(self._read(name), f"key {name!r}"))

    def list(self) -> list[KeyInfo]:
        """All keys, sorted by name."""
        if not self.dir.is_dir():
            return []
        names = sorted(p.name[: -len(SUFFIX)] for p in self.dir.glob("*" + SUFFIX))
        return [self.show(n) for n in names if NAME_RE.fullmatch(n)]

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise KeyNotFound(f"no key named {name!r} in {self.dir}") from None

    def signing_key(self, name: str, passphrase: str) -> SigningKey:
        return SigningKey(open_record(self._read(name), passphrase, f"key {name!r}"))

    def export_seed_hex(self, name: str, passphrase: str) -> str:
        return bytes(self.signing_key(name, passphrase)).hex()

    def export_armor(self, name: str, passphrase: str, export_passphrase: str) -> str:
        seed = open_record(self._read(name), passphrase, f"key {name!r}")
        rec = _seal(seed, check_new_passphrase(export_passphrase), self.kdf)
        body = base64.b64encode(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"

    def import_armor(self, name: str, armor: str, armor_passphrase: str, passphrase: str) -> KeyInfo:
        seed = open_record(parse_armor(armor), armor_passphrase, "the armored key")
        return self.add(name, passphrase, seed)


def parse_armor(armor: str) -> dict[str, Any]:
    lines = [ln.strip() for ln in armor.strip().splitlines() if ln.strip()]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise InvalidArmor(f"not an exported key: expected text between '{ARMOR_BEGIN}' and '{ARMOR_END}'")
    try:
        rec = json.loads(base64.b64decode("".join(lines[1:-1]), validate=True))
    except (binascii.Error, ValueError):
        raise InvalidArmor("exported key is damaged (bad base64 or JSON)") from None
    if not isinstance(rec, dict):
        raise InvalidArmor("exported key is damaged")
    return rec
