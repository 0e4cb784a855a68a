"""Join files: a validator's signed request to be in a network's genesis (gentx-style).

Each operator makes one on their own machine (`sidechain genesis join`); a coordinator collects
them into one genesis (`sidechain genesis collect`). The file:

    {
      "type": "sidechain/genesis-join",
      "version": 1,
      "body": {
        "chain_id": "sidechain-1",
        "moniker": "val0",
        "pub_key": "<base64 ed25519 consensus key>",
        "stake": "100000000",                # the self-delegation, bonded from the operator's balance
        "operator": "side1...",              # the operator's account address
        "bridge_address": "0x...",           # the validator's secp256k1 bridge key (20 bytes)
        "bridge_key_proof": "0x...",         # that key's proof of possession for chain and operator
        "commission_bps": "1000",
        "node_id": "<40 hex>",               # sha256(node key)[:20]
        "p2p_address": "203.0.113.5:26656"   # where peers dial this node
      },
      "signature": "<base64 ed25519 signature by the consensus key>"
    }

What is signed: SIGN_DOMAIN followed by the body as canonical JSON (keys sorted, no spaces, ASCII
only). The domain prefix keeps a join signature from ever being valid as any other message signed
by a consensus key (CometBFT's votes and proposals are protobuf, which never starts like this).
The signature proves the holder of the consensus key asked for exactly this body: its chain,
stake, operator, node id and address cannot be changed by whoever carries the file.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path

from genesis.errors import JoinFileError
from genesis.keys import ValidatorKey, verify_signature
from genesis.spec import CHAIN_ID_RE, MONIKER_RE
from sidechain.errors import SidechainError
from sidechain.types import bech32_decode
from validators.bridgekey import verify_bridge_proof

JOIN_TYPE = "sidechain/genesis-join"
JOIN_VERSION = 2
SIGN_DOMAIN = b"sidechain/genesis-join/v2\n"
_BODY_FIELDS = ("bridge_address", "bridge_key_proof", "chain_id", "commission_bps", "moniker", "node_id", "operator",
                "p2p_address", "pub_key", "stake")
MAX_STAKE = 10**60
_NODE_ID_RE = re.compile(r"^[0-9a-f]{40}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?$")


def check_p2p_address(addr: str, what: str = "p2p_address") -> str:
    """HOST:PORT where HOST is an IPv4 address or a DNS name (CometBFT's NetAddress, without the id)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise JoinFileError(f"{what} {addr!r} must be HOST:PORT")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host):
            raise JoinFileError(
                f"{what} {addr!r}: {host!r} is neither an IP address nor a host name"
            ) from None
    else:
        if ip.is_unspecified:
            raise JoinFileError(
                f"{what} {addr!r}: peers cannot dial {host}; give the address they should use"
            )
    return addr


@dataclass(frozen=True)
class JoinBody:
    chain_id: str
    moniker: str
    pub_key: bytes
    stake: int
    operator: str
    node_id: str
    p2p_address: str
    bridge_address: str = ""
    bridge_key_proof: str = ""
    commission_bps: int = 1000

    @property
    def pub_key_b64(self) -> str:
        return base64.b64encode(self.pub_key).decode()

    @property
    def peer(self) -> str:
        """This node as a CometBFT persistent peer: ID@HOST:PORT."""
        return f"{self.node_id}@{self.p2p_address}"

    def to_json(self) -> dict[str, str]:
        return {
            "bridge_address": self.bridge_address,
            "bridge_key_proof": self.bridge_key_proof,
            "chain_id": self.chain_id,
            "commission_bps": str(self.commission_bps),
            "moniker": self.moniker,
            "node_id": self.node_id,
            "operator": self.operator,
            "p2p_address": self.p2p_address,
            "pub_key": self.pub_key_b64,
            "stake": str(self.stake),
        }

    def sign_bytes(self) -> bytes:
        return SIGN_DOMAIN + canonical_json(self.to_json())


@dataclass(frozen=True)
class SignedJoin:
    body: JoinBody
    signature: bytes
    source: str = ""  # where it was read from, for messages

    def to_json(self) -> dict[str, object]:
        return {
            "type": JOIN_TYPE,
            "version": JOIN_VERSION,
            "body": self.body.to_json(),
            "signature": base64.b64encode(self.signature).decode(),
        }


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign_join(body: JoinBody, key: ValidatorKey) -> SignedJoin:
    if key.pub_key != body.pub_key:
        raise JoinFileError("the join body's pub_key is not the key signing it")
    return SignedJoin(body, key.sign(body.sign_bytes()))


def _body_from_json(obj: object, address_prefix: str) -> JoinBody:
    if not isinstance(obj, dict):
        raise JoinFileError("body: expected an object")
    unknown = sorted(set(obj) - set(_BODY_FIELDS))
    if unknown:
        raise JoinFileError(f"body: unknown field(s) {', '.join(unknown)}")
    missing = [f for f in _BODY_FIELDS if f not in obj]
    if missing:
        raise JoinFileError(f"body: missing field(s) {', '.join(missing)}")
    if not all(isinstance(obj[f], str) for f in _BODY_FIELDS):
        raise JoinFileError("body: every field is a string")
    chain_id, moniker = obj["chain_id"], obj["moniker"]
    if not CHAIN_ID_RE.match(chain_id):
        raise JoinFileError(f"body.chain_id {chain_id!r} is not a valid chain id")
    if not MONIKER_RE.match(moniker):
        raise JoinFileError(f"body.moniker {moniker!r} must be 1-32 letters, digits, '.', '_' or '-'")
    try:
        pub_key = base64.b64decode(obj["pub_key"], validate=True)
    except (binascii.Error, ValueError):
        pub_key = b""
    if len(pub_key) != 32:
        raise JoinFileError("body.pub_key: expected a base64 ed25519 public key (32 bytes)")
    stake_s = obj["stake"]
    if not re.fullmatch(r"[1-9][0-9]{0,59}", stake_s):
        raise JoinFileError(f"body.stake {stake_s!r} must be a positive decimal integer (the self-delegation)")
    if not re.fullmatch(r"0x[0-9a-f]{40}", obj["bridge_address"]):
        raise JoinFileError("body.bridge_address: expected 0x and 40 lowercase hex digits")
    if not re.fullmatch(r"0x[0-9a-f]{130}", obj["bridge_key_proof"]):
        raise JoinFileError("body.bridge_key_proof: expected 0x and 130 lowercase hex digits (65 bytes)")
    if not re.fullmatch(r"[0-9]{1,5}", obj["commission_bps"]) or int(obj["commission_bps"]) > 10_000:
        raise JoinFileError("body.commission_bps: expected an integer in [0, 10000]")
    try:
        bech32_decode(obj["operator"], address_prefix)
    except SidechainError as e:
        raise JoinFileError(f"body.operator: {e}") from None
    if not _NODE_ID_RE.match(obj["node_id"]):
        raise JoinFileError("body.node_id: expected 40 lowercase hex digits")
    check_p2p_address(obj["p2p_address"], "body.p2p_address")
    return JoinBody(
        chain_id, moniker, pub_key, int(stake_s), obj["operator"], obj["node_id"], obj["p2p_address"],
        obj["bridge_address"], obj["bridge_key_proof"], int(obj["commission_bps"]),
    )


def join_from_json(obj: object, address_prefix: str = "side", source: str = "") -> SignedJoin:
    """Parse and verify a join file's JSON; every failure is a JoinFileError with one line."""
    if not isinstance(obj, dict):
        raise JoinFileError("not a join file: expected a JSON object")
    if obj.get("type") != JOIN_TYPE:
        raise JoinFileError(f'not a join file: "type" must be {JOIN_TYPE!r}')
    if obj.get("version") != JOIN_VERSION:
        raise JoinFileError(
            f"unsupported join file version {obj.get('version')!r} (this tool reads {JOIN_VERSION})"
        )
    unknown = sorted(set(obj) - {"type", "version", "body", "signature"})
    if unknown:
        raise JoinFileError(f"unknown field(s) {', '.join(unknown)}")
    body = _body_from_json(obj.get("body"), address_prefix)
    sig_raw = obj.get("signature")
    if sig_raw in (None, ""):
        raise JoinFileError("unsigned: no signature (make join files with `sidechain genesis join`)")
    try:
        sig = base64.b64decode(sig_raw, validate=True) if isinstance(sig_raw, str) else b""
    except (binascii.Error, ValueError):
        sig = b""
    if len(sig) != 64:
        raise JoinFileError("signature: expected a base64 ed25519 signature (64 bytes)")
    if not verify_signature(body.pub_key, body.sign_bytes(), sig):
        raise JoinFileError(
            f"bad signature: the body was not signed by validator key {body.pub_key_b64} "
            "(altered after signing, or signed by another key)"
        )
    try:  # the check InitChain makes, here where the file can still be named
        verify_bridge_proof(body.chain_id, bech32_decode(body.operator, address_prefix),
                            bytes.fromhex(body.bridge_address[2:]), bytes.fromhex(body.bridge_key_proof[2:]))
    except SidechainError as e:
        raise JoinFileError(f"body.bridge_key_proof: {e}") from None
    return SignedJoin(body, sig, source)


def read_join_file(path: Path, address_prefix: str = "side") -> SignedJoin:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise JoinFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JoinFileError(f"{path}: cannot read: {e}") from None
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise JoinFileError(f"{path}: not valid JSON ({e})") from None
    try:
        return join_from_json(obj, address_prefix, str(path))
    except JoinFileError as e:
        raise JoinFileError(f"{path}: {e}") from None


def write_join_file(path: Path, join: SignedJoin) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(join.to_json(), indent=2) + "\n")
