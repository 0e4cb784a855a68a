"""A whole network's files on one machine, from a spec: N validator homes, one genesis, peers.

It runs the operators' steps (genesis.home) for every validator in turn, then the coordinator's
(genesis.build), so a local testnet is made exactly as a network of separate machines is:

    root/
      network.json          the manifest: chain id, nodes (moniker, home, ports, node id), test keys
      genesis.json          the genesis every node has
      joins/<moniker>.json  each validator's signed join file
      client/               a client home: keyring/ with the funded test keys (genesis.testkeys)
                            and config/genesis.json, for `sidechain tx|query|keys --home`
      node<i>/              validator i's home (config/, data/, logs/)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis.build import Funding, assemble_genesis, persistent_peers, write_genesis
from genesis.errors import GenesisToolError, HomeError, TestnetError
from genesis.home import NodePorts, init_validator_home, install_genesis, make_join
from genesis.join import write_join_file
from genesis.keys import load_node_key, load_validator_key
from genesis.spec import NetworkSpec
from genesis.testkeys import KeyMaker

MANIFEST = "network.json"
MARKER = ".sidechain-network"  # a directory this module made (and may delete)


@dataclass(frozen=True)
class NodeInfo:
    index: int
    moniker: str
    home: Path
    ports: NodePorts
    node_id: str
    validator_address: str
    power: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rpc}"

    @property
    def p2p_address(self) -> str:
        return f"127.0.0.1:{self.ports.p2p}"


@dataclass(frozen=True)
class TestKey:
    name: str
    address: str


@dataclass(frozen=True)
class Network:
    root: Path
    chain_id: str
    nodes: tuple[NodeInfo, ...]
    keys: tuple[TestKey, ...]
    keyring: Path
    timeout_commit: str

    def to_json(self) -> dict[str, object]:
        return {
            "chain_id": self.chain_id,
            "timeout_commit": self.timeout_commit,
            "keyring": str(self.keyring),
            "keys": [{"name": k.name, "address": k.address} for k in self.keys],
            "nodes": [
                {
                    "index": n.index,
                    "moniker": n.moniker,
                    "home": str(n.home),
                    "ports": n.ports.named(),
                    "node_id": n.node_id,
                    "validator_address": n.validator_address,
                    "power": n.power,
                }
                for n in self.nodes
            ],
        }

    @classmethod
    def load(cls, root: Path) -> Network:
        path = root / MANIFEST
        try:
            d = json.loads(path.read_text())
            return cls(
                root=root,
                chain_id=d["chain_id"],
                timeout_commit=d["timeout_commit"],
                keyring=Path(d["keyring"]),
                keys=tuple(TestKey(k["name"], k["address"]) for k in d["keys"]),
                nodes=tuple(
                    NodeInfo(
                        n["index"],
                        n["moniker"],
                        Path(n["home"]),
                        NodePorts(**n["ports"]),
                        n["node_id"],
                        n["validator_address"],
                        int(n["power"]),
                    )
                    for n in d["nodes"]
                ),
            )
        except FileNotFoundError:
            raise TestnetError(f"no network in {root} (no {MANIFEST})") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TestnetError(
                f"{path} is damaged ({type(e).__name__}: {e}); remove {root} and build again"
            ) from None


def build_network(spec: NetworkSpec, root: Path, ports: Sequence[NodePorts], keys: KeyMaker) -> Network:
    """Make every file of the network under `root` (which must not exist, or be empty)."""
    if len(ports) != len(spec.validators):
        raise TestnetError(f"{len(spec.validators)} validators but {len(ports)} port sets")
    all_ports = [p for np in ports for p in np.named().values()]
    if len(set(all_ports)) != len(all_ports):
        raise TestnetError("two nodes would share a port")
    if root.exists() and any(root.iterdir()):
        raise TestnetError(f"{root} is not empty; remove it first")
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by genesis.network; safe to delete\n")
    joins = []
    fundings: list[Funding] = []
    nodes = []
    test_keys = []
    try:
        for i, (v, np) in enumerate(zip(spec.validators, ports, strict=True)):
            home = root / f"node{i}"
            init_validator_home(home, v.moniker, spec.chain_id, np, spec.node)
            operator = keys.create(v.moniker)
            test_keys.append(TestKey(v.moniker, operator))
            fundings.append(Funding(operator, v.operator_coins))
            join = make_join(home, v.stake, operator, f"127.0.0.1:{np.p2p}")
            write_join_file(root / "joins" / f"{v.moniker}.json", join)
            joins.append(join)
            nodes.append(
                NodeInfo(
                    index=i,
                    moniker=v.moniker,
                    home=home,
                    ports=np,
                    node_id=load_node_key(home / "config" / "node_key.json").node_id,
                    validator_address=load_validator_key(home / "config" / "priv_validator_key.json").address,
                    power=v.stake // spec.params.staking.power_reduction,
                )
            )
        for a in spec.accounts:
            address = a.address
            if a.name:
                address = keys.create(a.name)
                test_keys.append(TestKey(a.name, address))
            fundings.append(Funding(address, a.coins))
        genesis = assemble_genesis(spec.chain_id, joins, fundings, spec.params, operator_coins=())
        write_genesis(root / "genesis.json", genesis)
        # The keys' home is a client home too (`sidechain tx ... --home`): chain id and address prefix.
        write_genesis(keys.location / "config" / "genesis.json", genesis)
        peers = persistent_peers(joins).split(",")
        for n in nodes:
            install_genesis(n.home, genesis, peers)
    except GenesisToolError:
        raise
    except OSError as e:
        raise HomeError(f"cannot write the network in {root}: {e}") from None
    net = Network(
        root=root,
        chain_id=spec.chain_id,
        nodes=tuple(nodes),
        keys=tuple(test_keys),
        keyring=keys.location,
        timeout_commit=spec.node.timeout_commit,
    )
    (root / MANIFEST).write_text(json.dumps(net.to_json(), indent=2) + "\n")
    return net
