"""`sidechain statesync-config`: make a fresh home join by state sync (docs/STATESYNC.md).

It asks a running node for a trusted height and the hash of its block (the light client's root of
trust), checks that every other RPC server agrees on that hash, and writes CometBFT's [statesync]
section of the home's config.toml: enable, rpc_servers, trust_height, trust_hash, trust_period.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import click

from sidechain.client import HOW_TO_PICK_NODE, ClientError, NodeClient, normalize_node_url
from sidechain.cometbft import CometBFTError, set_toml_values, toml_str
from sidechain.commands.common import CommandError
from sidechain.config import NodeHome
from sidechain.errors import SidechainError


class StateSyncConfigError(SidechainError):
    """The trusted height cannot be read or the RPC servers disagree; the message says what to do."""

    codespace = "node"
    code = 20


@dataclass(frozen=True)
class TrustPoint:
    height: int
    hash: str  # hex, upper case as CometBFT prints it
    rpc_servers: tuple[str, ...]
    trust_period: str
    discovery_time: str = "15s"


def _block_hash(client: NodeClient, height: int) -> str:
    res = client.rpc("commit", height=str(height))
    return str(res["signed_header"]["commit"]["block_id"]["hash"]).upper()


def trust_point(sources: list[str], offset: int, trust_period: str) -> TrustPoint:
    """A height `offset` blocks below the lowest latest height of the sources (a witness may be a block
    behind the primary), its block hash, and every source (at least two: CometBFT's light client needs
    a primary and a witness) agreeing on that hash."""
    try:
        urls = [normalize_node_url(s) for s in sources]
    except ClientError as e:
        raise StateSyncConfigError(f"--from: {e.message}") from None
    if len(set(urls)) < 2:
        raise StateSyncConfigError("state sync needs two different RPC servers (a primary and a witness): "
                                   "give --from twice, e.g. --from http://a:26657 --from http://b:26657")
    if offset < 0:
        raise StateSyncConfigError(f"--trust-offset must be >= 0, not {offset}")
    clients = [NodeClient(u, source="--from") for u in urls]
    try:
        latest = min(c.latest_height() for c in clients)
        if latest < 1:
            raise StateSyncConfigError("a source has no block yet; wait until the chain has produced some")
        height = max(1, latest - offset)
        block_hash = _block_hash(clients[0], height)
        for c in clients[1:]:
            other = _block_hash(c, height)
            if other != block_hash:
                raise StateSyncConfigError(f"{c.url} has block hash {other} at height {height}, {clients[0].url} has "
                                           f"{block_hash}: they are not on the same chain; do not trust either blindly")
    except ClientError as e:
        raise StateSyncConfigError(e.message.replace(HOW_TO_PICK_NODE, "check the --from URLs")) from None
    except (KeyError, TypeError, ValueError):
        raise StateSyncConfigError(f"{clients[0].url} answered `commit` without a block hash: "
                                   "is it a CometBFT RPC address?") from None
    return TrustPoint(height, block_hash, tuple(c.url for c in clients), trust_period)


def write_statesync(home: Path, tp: TrustPoint) -> Path:
    path = NodeHome(home).cometbft_config
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StateSyncConfigError(f"no CometBFT config at {path}; run `sidechain init --home {home}` first, "
                                   "and install the chain's genesis") from None
    try:
        text = set_toml_values(text, "statesync", {
            "enable": "true",
            "rpc_servers": toml_str(",".join(tp.rpc_servers)),
            "trust_height": str(tp.height),
            "trust_hash": toml_str(tp.hash),
            "trust_period": toml_str(tp.trust_period),
            "discovery_time": toml_str(tp.discovery_time),
        })
    except CometBFTError as e:
        raise StateSyncConfigError(f"{path}: {e}") from None
    path.write_text(text)
    return path


@click.command("statesync-config", short_help="Write CometBFT's [statesync] section to join from a snapshot.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The joining node's home (made by `sidechain init`, with the chain's genesis).")
@click.option("--from", "sources", multiple=True, required=True, metavar="URL",
              help="RPC URL of a node of the chain (give two or more; all must hold the trusted block).")
@click.option("--trust-offset", type=int, default=0, show_default=True,
              help="Trust the block this many heights below the latest.")
@click.option("--trust-period", default="168h0m0s", show_default=True,
              help="How long the trusted header stays usable (well under the unbonding period).")
@click.option("--discovery-time", default="15s", show_default=True,
              help="How long CometBFT gathers snapshot offers before choosing one (0s, or at least 5s).")
def statesync_config(home: Path, sources: tuple[str, ...], trust_offset: int, trust_period: str,
                     discovery_time: str) -> None:
    """Fill in CometBFT's [statesync] section so that HOME joins from a snapshot instead of replaying."""
    try:
        tp = dataclasses.replace(trust_point(list(sources), trust_offset, trust_period),
                                 discovery_time=discovery_time)
        path = write_statesync(home, tp)
    except StateSyncConfigError as e:
        raise CommandError(str(e)) from None
    click.echo(f"state sync enabled in {path}: trust height {tp.height}, hash {tp.hash}, "
               f"rpc servers {', '.join(tp.rpc_servers)}")
    click.echo(f"start it with: sidechain start --home {home}")
