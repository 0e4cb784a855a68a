"""One validator's home, on its own machine: create it, make its join file, install the genesis.

The steps are the same whether the homes are made one per machine by their operators or all at
once by `genesis.network` for a local testnet:

1. `init_validator_home`: `cometbft init` (node key, validator key, config.toml), our settings
   (ports, ABCI transport, timeouts; everything on 127.0.0.1 unless told otherwise), app.toml;
2. `make_join`: the join file, signed by the home's consensus key;
3. `install_genesis`: the collected genesis.json and the persistent peers, into the home.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis.errors import GenesisToolError, HomeError
from genesis.join import JoinBody, SignedJoin, check_p2p_address, sign_join
from genesis.keys import load_node_key, load_validator_key
from genesis.spec import CHAIN_ID_RE, MONIKER_RE, NodeSettings
from sidechain.cometbft import (
    CometBFTError,
    CometPorts,
    configure,
    find_cometbft,
    run_init,
    set_genesis_chain,
    set_toml_values,
    toml_str,
)
from sidechain.config import AppConfig, NodeHome


@dataclass(frozen=True)
class NodePorts:
    """Every port one node listens on."""

    rpc: int
    p2p: int
    abci: int
    metrics: int  # the app's Prometheus metrics
    cometbft_metrics: int

    def named(self) -> dict[str, int]:
        return {
            "rpc": self.rpc,
            "p2p": self.p2p,
            "abci": self.abci,
            "metrics": self.metrics,
            "cometbft_metrics": self.cometbft_metrics,
        }

    @classmethod
    def from_base(cls, base: int, index: int) -> NodePorts:
        """Node `index` of a local network: a block of 10 ports from base + 10 * index."""
        b = base + 10 * index
        return cls(rpc=b, p2p=b + 1, abci=b + 2, metrics=b + 3, cometbft_metrics=b + 4)

    def validate(self) -> None:
        values = list(self.named().values())
        if len(set(values)) != len(values) or not all(0 < p < 65536 for p in values):
            raise HomeError(f"ports must be distinct and within 1-65535, got {self.named()}")


def init_validator_home(
    home: Path,
    moniker: str,
    chain_id: str,
    ports: NodePorts,
    settings: NodeSettings | None = None,
    p2p_host: str = "127.0.0.1",
) -> None:
    """Create a validator's home: keys, CometBFT config, app config. Refuses an existing home.
    Everything listens on 127.0.0.1 except P2P, which listens on `p2p_host`."""
    settings = settings or NodeSettings()
    if not CHAIN_ID_RE.match(chain_id):
        raise HomeError(f"chain id {chain_id!r} must be 1-49 letters, digits, '.', '_' or '-'")
    if not MONIKER_RE.match(moniker):
        raise HomeError(f"moniker {moniker!r} must be 1-32 letters, digits, '.', '_' or '-'")
    ports.validate()
    nh = NodeHome(home)
    if nh.genesis.exists() or nh.cometbft_config.exists():
        raise HomeError(f"{home} is already initialised; use another --home (its keys are kept as they are)")
    try:
        home.mkdir(parents=True, exist_ok=True)
        run_init(find_cometbft(), home)
        configure(
            nh,
            moniker=moniker,
            ports=CometPorts(
                rpc=ports.rpc, p2p=ports.p2p, abci=ports.abci, prometheus=ports.cometbft_metrics
            ),
            abci_transport=settings.abci_transport,
            timeout_commit=settings.timeout_commit,
            host="127.0.0.1",
        )
        text = nh.cometbft_config.read_text()
        text = set_toml_values(text, "consensus", {"timeout_propose": toml_str(settings.timeout_propose)})
        p2p = {
            "flush_throttle_timeout": toml_str(settings.flush_throttle_timeout),
            # Only P2P may face other machines; RPC, ABCI and metrics stay on 127.0.0.1.
            "laddr": toml_str(f"tcp://{p2p_host}:{ports.p2p}"),
        }
        text = set_toml_values(text, "p2p", p2p)
        if settings.mempool_size:  # else CometBFT's default
            text = set_toml_values(text, "mempool", {
                "size": str(settings.mempool_size),
                # CometBFT's default cache (10,000) remembers the txs seen lately; keep it above the size.
                "cache_size": str(max(10_000, 2 * settings.mempool_size)),
            })
        nh.cometbft_config.write_text(text)
        create_bridge_key(nh)
        # Until a network's genesis is installed, the home holds a one-validator genesis of its own.
        set_genesis_chain(nh, chain_id, standalone_app_state(home, chain_id, moniker))
        cfg = AppConfig(
            abci_transport=settings.abci_transport,
            abci_address=f"tcp://127.0.0.1:{ports.abci}",
            metrics_address=f"127.0.0.1:{ports.metrics}",
        )
        nh.app_config.write_text(cfg.to_toml())
    except CometBFTError as e:
        raise HomeError(str(e)) from None
    except OSError as e:
        raise HomeError(f"cannot create {home}: {e.strerror or e}") from None


BRIDGE_KEY_FILE = "bridge_key.json"
STANDALONE_SELF_DELEGATION = 10 * 1_000_000  # 10 units of power at the default power reduction


def bridge_key_path(home: Path) -> Path:
    return NodeHome(home).config_dir / BRIDGE_KEY_FILE


def create_bridge_key(nh: NodeHome) -> None:
    """The validator's secp256k1 bridge key, next to its consensus key and like it readable by the
    operator only (mode 0600). Kept if it exists."""
    path = nh.config_dir / BRIDGE_KEY_FILE
    if path.exists():
        return
    import secrets

    from eth_keys import keys as eth

    key = secrets.token_bytes(32)
    while not 0 < int.from_bytes(key, "big") < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141:
        key = secrets.token_bytes(32)
    address = eth.PrivateKey(key).public_key.to_checksum_address()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"address": address, "private_key": "0x" + key.hex()}, f, indent=2)


def load_bridge_key(home: Path) -> bytes:
    path = bridge_key_path(home)
    try:
        data = json.loads(path.read_text())
        key = bytes.fromhex(str(data["private_key"]).removeprefix("0x"))
    except FileNotFoundError:
        raise HomeError(f"{home} has no bridge key ({path}); it is made by `sidechain init` or "
                        "`sidechain genesis init-validator`") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HomeError(f"{path} is not a bridge key file: {e}") from None
    if len(key) != 32:
        raise HomeError(f"{path}: the private key must be 32 bytes")
    return key


def standalone_operator(pub_key: bytes) -> bytes:
    """The operator of a one-validator home's own genesis when none is given: an address no key
    controls (so nobody can unbond the only validator of a dev chain by accident)."""
    import hashlib

    return hashlib.sha256(b"sidechain-standalone-operator:" + pub_key).digest()[:20]


def staking_entry(home: Path, chain_id: str, moniker: str, operator: bytes, self_delegation: int,
                  commission_bps: int = 1000, prefix: str = "side") -> dict[str, object]:
    """The genesis validator entry of this home: its consensus key, its bridge key's proof for
    `chain_id` and `operator`, and the self-delegation."""
    import base64

    from sidechain.types import bech32_address
    from validators.bridgekey import sign_bridge_proof

    vkey = load_validator_key(NodeHome(home).config_dir / "priv_validator_key.json")
    bridge_address, proof = sign_bridge_proof(load_bridge_key(home), chain_id, operator)
    return {"operator": bech32_address(operator, prefix), "consensus_pubkey": base64.b64encode(vkey.pub_key).decode(),
            "bridge_address": "0x" + bridge_address.hex(), "bridge_key_proof": "0x" + proof.hex(),
            "moniker": moniker, "details": "", "commission_bps": commission_bps,
            "max_commission_bps": max(2000, commission_bps), "max_change_bps": 100, "min_self_delegation": "1",
            "self_delegation": str(self_delegation)}


def standalone_app_state(home: Path, chain_id: str, moniker: str, operator: bytes | None = None,
                         balances: Sequence[dict[str, Any]] = ()) -> dict[str, object]:
    """A one-validator chain of this home: default module params, `balances`, and this home's
    validator bonding STANDALONE_SELF_DELEGATION from `operator` (funded here with exactly that)."""
    from sidechain.module import CHAIN
    from sidechain.types import bech32_address

    vkey = load_validator_key(NodeHome(home).config_dir / "priv_validator_key.json")
    op = operator if operator is not None else standalone_operator(vkey.pub_key)
    app_state = CHAIN.default_genesis_json()
    funded = [dict(b) for b in balances]
    op_bech = bech32_address(op, "side")
    own = {"denom": "stake", "amount": str(STANDALONE_SELF_DELEGATION)}
    for b in funded:
        if b.get("address") == op_bech:
            raw_coins = b.get("coins", [])
            coins = [c for c in raw_coins if isinstance(c, dict)] if isinstance(raw_coins, list) else []
            stake = [c for c in coins if c.get("denom") == "stake"]
            if stake:
                stake[0]["amount"] = str(int(str(stake[0]["amount"])) + STANDALONE_SELF_DELEGATION)
            else:
                coins.append(own)
            b["coins"] = sorted(coins, key=lambda c: str(c["denom"]))
            break
    else:
        funded.append({"address": op_bech, "coins": [own]})
    app_state["bank"] = {**app_state["bank"], "balances": funded}  # type: ignore[dict-item]
    app_state["staking"] = {"validators": [staking_entry(home, chain_id, moniker, op, STANDALONE_SELF_DELEGATION)]}
    return app_state


def _read_toml(path: Path) -> dict[str, object]:
    import tomllib

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HomeError(
            f"{path} does not exist; create the home with `sidechain genesis init-validator`"
        ) from None
    except (OSError, ValueError) as e:
        raise HomeError(f"{path}: {e}") from None


def home_chain_id(home: Path) -> str:
    nh = NodeHome(home)
    try:
        g = json.loads(nh.genesis.read_text())
    except FileNotFoundError:
        raise HomeError(f"{home} has no genesis; create it with `sidechain genesis init-validator`") from None
    except (OSError, ValueError) as e:
        raise HomeError(f"{nh.genesis}: {e}") from None
    return str(g.get("chain_id", ""))


def home_p2p_address(home: Path) -> str:
    cfg = _read_toml(NodeHome(home).cometbft_config)
    p2p = cfg.get("p2p", {})
    laddr = str(p2p.get("laddr", "")) if isinstance(p2p, dict) else ""
    return laddr.split("://", 1)[-1]


def make_join(
    home: Path, stake: int, operator: str, p2p_address: str | None = None, chain_id: str | None = None,
    commission_bps: int = 1000, address_prefix: str = "side",
) -> SignedJoin:
    """This home's join file, signed by its consensus key, with its bridge key's proof of possession."""
    nh = NodeHome(home)
    cfg = _read_toml(nh.cometbft_config)
    moniker = str(cfg.get("moniker", ""))
    home_chain = home_chain_id(home)
    if chain_id is not None and chain_id != home_chain:
        raise HomeError(f"{home} was initialised for chain {home_chain!r}, not {chain_id!r}")
    address = p2p_address or home_p2p_address(home)
    check_p2p_address(address, "p2p address")
    vkey = load_validator_key(nh.config_dir / "priv_validator_key.json")
    nkey = load_node_key(nh.config_dir / "node_key.json")
    from sidechain.errors import SidechainError
    from sidechain.types import bech32_decode
    from validators.bridgekey import sign_bridge_proof

    try:
        op = bech32_decode(operator, address_prefix)
    except SidechainError as e:
        raise HomeError(f"operator: {e}") from None
    bridge_address, proof = sign_bridge_proof(load_bridge_key(home), home_chain, op)
    body = JoinBody(
        chain_id=home_chain,
        moniker=moniker,
        pub_key=vkey.pub_key,
        stake=stake,
        operator=operator,
        node_id=nkey.node_id,
        p2p_address=address,
        bridge_address="0x" + bridge_address.hex(),
        bridge_key_proof="0x" + proof.hex(),
        commission_bps=commission_bps,
    )
    from genesis.join import join_from_json

    signed = sign_join(body, vkey)
    join_from_json(signed.to_json(), address_prefix)  # the checks collect will make, here where they can be fixed
    return signed


def _is_local(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return ip.is_private or ip.is_loopback


@dataclass(frozen=True)
class Installed:
    is_validator: bool
    peers: int


def install_genesis(home: Path, genesis: dict[str, object], peers: Sequence[str]) -> Installed:
    """Write `genesis` into a fresh home and point it at `peers` (ID@HOST:PORT; its own id is skipped)."""
    nh = NodeHome(home)
    if not nh.cometbft_config.exists():
        raise HomeError(f"{home} is not a node home; create it with `sidechain genesis init-validator`")
    if (home / "data" / "blockstore.db").exists() or nh.app_data.exists():
        raise HomeError(f"{home} already has chain data; a new genesis needs a fresh home")
    chain_id = genesis.get("chain_id")
    if chain_id != home_chain_id(home):
        raise HomeError(
            f"the genesis is for chain {chain_id!r} but {home} was initialised for {home_chain_id(home)!r}"
        )
    node_id = load_node_key(nh.config_dir / "node_key.json").node_id
    vkey = load_validator_key(nh.config_dir / "priv_validator_key.json")
    app_state = genesis.get("app_state")
    staking = app_state.get("staking") if isinstance(app_state, dict) else None
    vals = staking.get("validators", []) if isinstance(staking, dict) else []
    is_validator = any(isinstance(v, dict) and v.get("consensus_pubkey") == vkey.pub_key_b64 for v in vals)
    rows = staking.get("state", []) if isinstance(staking, dict) else []
    for row in rows if isinstance(rows, list) else []:  # an exported chain: the last set sent to CometBFT
        if isinstance(row, list) and len(row) == 2 and str(row[0]).startswith("25"):
            try:
                is_validator = is_validator or bytes.fromhex(str(row[1]))[8:40] == vkey.pub_key
            except ValueError:
                pass
    others = [p for p in peers if p.split("@", 1)[0] != node_id]
    hosts = [p.split("@", 1)[-1].rpartition(":")[0] for p in others]
    own_host = home_p2p_address(home).rpartition(":")[0]
    p2p: dict[str, str] = {"persistent_peers": toml_str(",".join(others))}
    # Peers on loopback or private addresses are refused by a strict address book, and several nodes
    # behind one IP by the duplicate-IP filter: relax each only when the peer list needs it.
    if any(_is_local(h) for h in hosts):
        p2p["addr_book_strict"] = "false"
    if len(set(hosts + [own_host])) < len(hosts) + 1:
        p2p["allow_duplicate_ip"] = "true"
    try:
        text = set_toml_values(nh.cometbft_config.read_text(), "p2p", p2p)
        nh.cometbft_config.write_text(text)
        nh.genesis.write_text(json.dumps(genesis, indent=2) + "\n")
    except (CometBFTError, OSError) as e:
        raise HomeError(f"cannot install the genesis in {home}: {e}") from None
    return Installed(is_validator, len(others))


def read_genesis_file(path: Path) -> dict[str, object]:
    try:
        g = json.loads(path.read_text())
    except FileNotFoundError:
        raise HomeError(f"genesis file {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise HomeError(f"genesis file {path} is not valid JSON: {e}") from None
    if not isinstance(g, dict) or not isinstance(g.get("app_state"), dict):
        raise HomeError(f"{path} is not a genesis file (no app_state)")
    from genesis.build import check_app_state

    chain_id = g.get("chain_id")
    if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
        raise HomeError(f"{path}: chain_id {chain_id!r} is not a valid chain id")
    try:
        check_app_state(g["app_state"], chain_id)  # as InitChain will: bridge key proofs for this chain
    except GenesisToolError as e:
        raise HomeError(f"{path}: {e}") from None
    return g
