"""`bridge relay`: the relayer (bridge/relayer.py) as a command, registered in bridge/cli.py.

    bridge relay --node URL --l1-rpc URL --keystore FILE [--once] [--interval 1s] [--output json]

Keys as the other bridge commands take them: --keystore (passphrase from --passphrase-file, $BRIDGE_PASSPHRASE
or a prompt), else the raw key in $BRIDGE_PRIVATE_KEY. Reports go to stdout, one per line (a JSON object per
line with --output json). `--once` runs one round and exits 0, or 1 with one line on stderr when the node or
L1 cannot be read (after the retries); without it, rounds run every --interval until SIGINT/SIGTERM, a failed
round reported and the next one trying again.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from bridge.keys import load_account
from bridge.l1 import L1Client
from bridge.relayer import Event, FeePolicy, Relayer, json_line, parse_interval, run
from sidechain.commands.common import ClientContext, client_command


def _printer(output: str) -> Any:
    def report(event: Event) -> None:
        click.echo(json_line(event) if output == "json" else event.line())
        sys.stdout.flush()

    return report


@click.command("relay", short_help="Relay ready valsets and batches from the sidechain to the L1 contract.")
@click.option("--l1-rpc", required=True, envvar="BRIDGE_L1_RPC", metavar="URL", help="L1 JSON-RPC URL")
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False), envvar="BRIDGE_KEYSTORE",
              help="Ethereum keystore file of the relayer's key (else the raw key in $BRIDGE_PRIVATE_KEY)")
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False), envvar="BRIDGE_PASSPHRASE_FILE",
              help="file holding the keystore passphrase (else $BRIDGE_PASSPHRASE, else a prompt)")
@click.option("--once", is_flag=True, help="one round, then exit (1 when the node or L1 cannot be read)")
@click.option("--interval", default="1s", show_default=True, metavar="DURATION",
              help="time between rounds: 1s, 500ms, 2m")
@click.option("--no-profit-check", is_flag=True,
              help="relay every batch whatever its fees (a testnet); by default a batch whose fees are worth less "
              "than its gas cost at the current gas price is refused")
@click.option("--token-price", "token_prices", multiple=True, metavar="0xTOKEN=WEI",
              help="what one whole token (10^decimals base units) is worth in wei, to value ERC-20 fees "
              "(repeatable)")
@click.option("--relay-unpriced", is_flag=True,
              help="relay ERC-20 batches whose token has no --token-price without checking their fees")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True,
              help="retries of a node or L1 read that fails in transport (exponential backoff from 0.25 s)")
@client_command
def relay_cmd(
    l1_rpc: str,
    keystore: Path | None,
    passphrase_file: Path | None,
    once: bool,
    interval: str,
    no_profit_check: bool,
    token_prices: tuple[str, ...],
    relay_unpriced: bool,
    retries: int,
    cc: ClientContext,
) -> int:
    """Submit the valsets and batches the sidechain's validators signed to the L1 contract: the oldest ready
    valset first, then ready batches, oldest nonce first. Stateless: every round reads the node and L1 afresh
    and checks the signatures against the valset L1 holds; what L1 already did is skipped, and another relayer
    that is first is a skip or a decoded revert, not an error. A paused bridge or a daily limit holds batches
    (valset updates are still sent). Each transaction's cost (gas used x effective gas price) is reported."""
    seconds = parse_interval(interval)
    policy = FeePolicy(not no_profit_check, dict(FeePolicy.parse_price(t) for t in token_prices), relay_unpriced)
    sender = load_account(keystore, passphrase_file=passphrase_file)
    relayer = Relayer(cc.client, lambda: L1Client.connect(l1_rpc), sender, policy=policy,
                      report=_printer(cc.output), retries=retries, dedupe=not once,
                      report_failures=not once)
    if once:
        run(relayer, once=True, interval=seconds)
        return 0

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        run(relayer, once=False, interval=seconds)
    except KeyboardInterrupt:
        relayer.report(Event("stopped", "relayer stopped"))
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
