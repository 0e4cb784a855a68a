"""The `sidechain` command: node setup and operation (init, start, status), keys, txs, queries.

Commands are thin: parse, call the library, print. Errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import click

from genesis.cli import genesis as genesis_group
from sidechain.cometbft import CometBFTError
from sidechain.commands.chain import query as query_group
from sidechain.commands.chain import tx as tx_group
from sidechain.commands.common import ClientContext, OneLineGroup, client_command
from sidechain.commands.config import completion as completion_command
from sidechain.commands.config import config as config_command
from sidechain.commands.keys import keys as keys_group
from sidechain.commands.staking import q_distribution, q_slashing, q_staking, tx_distribution, tx_staking
from sidechain.config import ConfigError, NodeHome
from sidechain.errors import SidechainError
from sidechain.module import CHAIN
from sidechain.types import coin_json, parse_coins


class CLIError(click.ClickException):
    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _fail(e: Exception) -> CLIError:
    return CLIError(str(e))


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option("0.1.0", prog_name="sidechain")
def cli() -> None:
    """A proof-of-stake sidechain node on CometBFT, with a bridge to Ethereum.

    Guide: docs/GUIDE.md. Shell completion: `eval "$(sidechain completion bash)"`."""


home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), required=True, help="The node's home directory."
)


@cli.command(short_help="Create a one-validator node home (config, genesis, keys).")
@home_option
@click.option("--chain-id", required=True, help="The chain's identifier, e.g. sidechain-1.")
@click.option("--moniker", default="node", show_default=True, help="A human-readable name for this node.")
@click.option("--abci-transport", type=click.Choice(["socket", "grpc"]), default="socket", show_default=True)
@click.option("--rpc-port", type=int, default=26657, show_default=True)
@click.option("--p2p-port", type=int, default=26656, show_default=True)
@click.option("--abci-port", type=int, default=26658, show_default=True)
@click.option("--metrics-port", type=int, default=26670, show_default=True)
@click.option("--cometbft-metrics-port", type=int, default=26660, show_default=True)
@click.option("--timeout-commit", default=None, help='CometBFT consensus.timeout_commit, e.g. "100ms".')
@click.option("--account", "accounts", multiple=True, metavar="ADDRESS=COINS",
              help="Fund an account in genesis, e.g. side1...=1000000stake (repeatable).")
@click.option("--operator", default=None, metavar="ADDRESS",
              help="The validator's operator account (default: an address no key controls).")
def init(home: Path, chain_id: str, moniker: str, abci_transport: str, rpc_port: int, p2p_port: int,
         abci_port: int, metrics_port: int, cometbft_metrics_port: int, timeout_commit: str | None,
         accounts: tuple[str, ...], operator: str | None) -> None:
    """Create CometBFT's config, genesis and keys, and the app's config, in HOME (a one-validator chain:
    its validator bonds 10000000stake, funded in genesis for its operator)."""
    from genesis.errors import GenesisToolError
    from genesis.home import NodePorts, init_validator_home, standalone_app_state
    from genesis.spec import NodeSettings
    from sidechain.cometbft import set_genesis_chain
    from sidechain.types import bech32_decode

    balances = []
    for spec in accounts:
        address, sep, coins = spec.partition("=")
        if not sep or not address or not coins:
            raise CLIError(f"--account {spec!r}: expected ADDRESS=COINS, e.g. side1...=1000stake")
        try:
            parsed = parse_coins(coins)
        except SidechainError as e:
            raise CLIError(f"--account {spec!r}: {e}") from None
        balances.append({"address": address, "coins": [coin_json(c) for c in parsed]})
    modules = CHAIN.default_genesis_json()
    modules["bank"] = {**modules["bank"], "balances": balances}  # type: ignore[dict-item]
    try:
        CHAIN.parse_genesis(modules)  # refuse bad accounts before anything is written
    except SidechainError as e:
        raise CLIError(str(e)) from None
    # CometBFT's own defaults, but for timeout_commit when given.
    settings = NodeSettings(timeout_commit=timeout_commit or "1s", timeout_propose="3s",
                            abci_transport=abci_transport, flush_throttle_timeout="100ms")
    ports = NodePorts(rpc=rpc_port, p2p=p2p_port, abci=abci_port, metrics=metrics_port,
                      cometbft_metrics=cometbft_metrics_port)
    try:
        op = bech32_decode(operator, "side") if operator else None
    except SidechainError as e:
        raise CLIError(f"--operator: {e}") from None
    try:
        init_validator_home(home, moniker, chain_id, ports, settings)
        app_state = standalone_app_state(home, chain_id, moniker, op, balances)
        CHAIN.parse_genesis(app_state)
        set_genesis_chain(NodeHome(home), chain_id, app_state)
    except (GenesisToolError, CometBFTError, OSError, SidechainError) as e:
        raise _fail(e) from None
    click.echo(f"initialised {home} for chain {chain_id} (moniker {moniker}, ABCI {abci_transport})")
    click.echo(f"start it with: sidechain start --home {home}")


@cli.command(short_help="Start the app and its CometBFT node.")
@home_option
@click.option("--abci-only", is_flag=True, help="Serve ABCI only; you run `cometbft node` yourself.")
def start(home: Path, abci_only: bool) -> None:
    """Start the application and, unless --abci-only, a supervised CometBFT node."""
    from sidechain.node import NodeExit
    from sidechain.node import start as start_node

    try:
        start_node(home, abci_only=abci_only)
    except (NodeExit, ConfigError, CometBFTError) as e:
        raise _fail(e) from None


@cli.command(short_help="Height, app hashes, catching-up and peers of a node.")
@client_command
def status(cc: ClientContext) -> None:
    """Height, app hashes, catching-up and peers of a node (--node, else the client config)."""
    client = cc.client
    st = client.status()
    net = client.rpc("net_info")
    app = client.rpc("abci_info")["response"]
    sync = st["sync_info"]
    height = int(sync["latest_block_height"])
    info = {
        "moniker": st["node_info"]["moniker"],
        "chain_id": st["node_info"]["network"],
        "height": height,
        "header_app_hash": sync["latest_app_hash"],  # in block `height`'s header: the state after height - 1
        "app_hash": base64.b64decode(app.get("last_block_app_hash") or "").hex().upper(),  # after the app's last block
        "app_height": int(app.get("last_block_height") or 0),
        "block_time": sync["latest_block_time"],
        "catching_up": bool(sync["catching_up"]),
        "peers": [p["node_info"]["moniker"] for p in net["peers"]],
    }
    if cc.output == "json":
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['moniker']} on {info['chain_id']}: height {height}, block time {info['block_time']}")
    click.echo(f"app hash after block {info['app_height']}: {info['app_hash'] or '-'} (as in the node's log)")
    click.echo(f"app hash in block {height}'s header: {info['header_app_hash'] or '-'} "
               f"(the state after block {height - 1})")
    click.echo(f"catching up: {'yes' if info['catching_up'] else 'no'}; "
               f"peers: {len(info['peers'])}{' (' + ', '.join(info['peers']) + ')' if info['peers'] else ''}")


@cli.command("export", short_help="Export a stopped node's state as a genesis.")
@home_option
@click.option("--height", type=int, default=0, help="Export the state at this height (0: the last committed).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the genesis here (default: standard output).")
def export(home: Path, height: int, out: Path | None) -> None:
    """Export a stopped node's state as a genesis: every module's section, at a committed height."""
    from sidechain.export import ExportError, export_genesis

    try:
        doc = export_genesis(NodeHome(home), height)
    except (ExportError, ConfigError) as e:
        raise _fail(e) from None
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"exported height {doc['initial_height']} - 1 of {doc['chain_id']} to {out}", err=True)


# --- command groups of other packages: one `cli.add_command(group)` line each ---------------------
cli.add_command(keys_group)
cli.add_command(tx_group)
cli.add_command(query_group)
tx_group.add_command(tx_staking)
tx_group.add_command(tx_distribution)
query_group.add_command(q_staking)
query_group.add_command(q_slashing)
query_group.add_command(q_distribution)
cli.add_command(genesis_group)
cli.add_command(config_command)
cli.add_command(completion_command)
# State sync: `sidechain statesync-config --home H --from URL --from URL` (docs/STATESYNC.md).
from sidechain.commands.statesync import statesync_config  # noqa: E402

cli.add_command(statesync_config)


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
