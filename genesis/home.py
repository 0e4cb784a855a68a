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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
        nh.cometbft_config.write_text(text)
        # Until a network's genesis is installed, the home holds a one-validator genesis of its own.
        set_genesis_chain(nh, chain_id, {}, moniker)
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
    home: Path, stake: int, operator: str, p2p_address: str | None = None, chain_id: str | None = None
) -> SignedJoin:
    """This home's join file, signed by its consensus key."""
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
    body = JoinBody(
        chain_id=home_chain,
        moniker=moniker,
        pub_key=vkey.pub_key,
        stake=stake,
        operator=operator,
        node_id=nkey.node_id,
        p2p_address=address,
    )
    from genesis.join import join_from_json

    signed = sign_join(body, vkey)
    join_from_json(signed.to_json())  # the same checks collect will make, here where they can be fixed
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
    vals = app_state.get("validators", []) if isinstance(app_state, dict) else []
    is_validator = any(isinstance(v, dict) and v.get("pub_key") == vkey.pub_key_b64 for v in vals)
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

    try:
        check_app_state(g["app_state"])
    except GenesisToolError as e:
        raise HomeError(f"{path}: {e}") from None
    return g
