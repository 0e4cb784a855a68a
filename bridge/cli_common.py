"""Options and helpers shared by the `bridge` commands (bridge/cli.py and the command modules it
registers: bridge/withdraw_cli.py, bridge/guardian_cli.py, bridge/relay_cmd.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bridge.errors import ConfigError, InvalidL1Address
from bridge.l1 import BridgeContract, L1Client
from bridge.protocol import checksum
from bridge.status import BridgeFile, BridgeState, check_same_bridge
from sidechain.commands.common import ClientContext

F = TypeVar("F", bound=Callable[..., Any])


def _emit(output: str, payload: dict[str, Any], text: str) -> None:
    if output == "json":
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        click.echo(text)


def _address(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return checksum(value)
    except InvalidL1Address as exc:
        raise click.BadParameter(str(exc)) from None


def output_option(fn: F) -> F:
    return click.option(
        "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="output format"
    )(fn)


def key_options(fn: F) -> F:
    fn = click.option(
        "--passphrase-file",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="BRIDGE_PASSPHRASE_FILE",
        help="file holding the keystore passphrase (else $BRIDGE_PASSPHRASE, else a prompt)",
    )(fn)
    return click.option(
        "--keystore",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="BRIDGE_KEYSTORE",
        help="Ethereum keystore file of the signing key (else the raw key in $BRIDGE_PRIVATE_KEY)",
    )(fn)


def rpc_option(fn: F) -> F:
    return click.option("--l1-rpc", required=True, envvar="BRIDGE_L1_RPC", help="L1 JSON-RPC URL")(fn)


def contract_option(fn: F) -> F:
    return click.option(
        "--contract", required=True, callback=_address, envvar="BRIDGE_CONTRACT", help="SidechainBridge address"
    )(fn)


# These commands talk to a sidechain node too (--node, --home, --output as in `sidechain`: client_command),
# and read their L1 endpoint from --l1-rpc / $BRIDGE_L1_RPC, else from a --bridge-config file. The contract
# is the one the sidechain's bridge watches (/bridge/state); --contract, when given, must be that one.


def l1_endpoint_options(fn: F) -> F:
    fn = click.option(
        "--bridge-config",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="BRIDGE_CONFIG",
        default=None,
        help="JSON file with defaults for --l1-rpc and --contract (and --l1-key's keys), like the testnet's "
        ".testnet/bridge.json; options and env vars take precedence",
    )(fn)
    fn = click.option(
        "--contract",
        callback=_address,
        envvar="BRIDGE_CONTRACT",
        default=None,
        metavar="0x...",
        help="SidechainBridge address (default: the one the sidechain's bridge watches; refused if another)",
    )(fn)
    return click.option("--l1-rpc", envvar="BRIDGE_L1_RPC", default=None, metavar="URL", help="L1 JSON-RPC URL")(fn)


def _bridge_file(path: Path | None) -> BridgeFile | None:
    return BridgeFile.load(path) if path is not None else None


def _connect_l1(
    state: BridgeState, l1_rpc: str | None, contract: str | None, bridge_file: BridgeFile | None, need: str | None
) -> BridgeContract | None:
    """The bridge contract on L1, checked to be the one the sidechain watches; None without an L1 RPC
    unless `need` says what requires it."""
    rpc = l1_rpc or (bridge_file.l1_rpc if bridge_file else None)
    if rpc is None:
        if need is None:
            return None
        raise ConfigError(f"{need} needs the L1: give --l1-rpc URL (or $BRIDGE_L1_RPC, or --bridge-config FILE)")
    client = L1Client.connect(rpc)
    address = check_same_bridge(client, contract or (bridge_file.contract if bridge_file else None), state, rpc)
    return BridgeContract(client, address)


class LiveProgress:
    """Steps on stderr as they happen: a rich display on a terminal, plain lines otherwise (none at all with
    --output json when stderr is not a terminal, so scripts read one JSON object and nothing else)."""

    def __init__(self, output: str) -> None:
        tty = sys.stderr.isatty()
        self.enabled = tty or output == "text"
        self.console: Any = None
        self._status: Any = None
        if tty:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def step(self, key: str, text: str, done: bool = True) -> None:
        if not self.enabled:
            return
        if self.console is None:
            click.echo(text if done else f"{text} ...", err=True)
            return
        from rich.markup import escape

        if done:
            self._stop()
            self.console.print(f"[green]✓[/green] {escape(text)}")
        elif self._status is None:
            self._status = self.console.status(escape(text))
            self._status.start()
        else:
            self._status.update(escape(text))

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def close(self) -> None:
        self._stop()


def _resume_hint(nonce: int | str, cc: ClientContext, l1: bool = False) -> str:
    extra = " --l1-rpc URL" if l1 else ""
    return f"`bridge status deposit {nonce} --node {cc.client.url}{extra} --wait`"


