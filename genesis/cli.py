"""`sidechain genesis`: make a network's genesis across machines, gentx-style.

On each validator's machine:
    sidechain genesis init-validator --home H --moniker M --chain-id C     keys, config (CometBFT + app)
    sidechain keys add M --home H                                         the operator account key
    sidechain genesis join --home H --stake 100 --out M.join.json         a join file signed by H's key
On the coordinator's machine, with every join file:
    sidechain genesis collect --chain-id C --join a.join.json --join b.join.json ... \\
        [--accounts accounts.json] [--params params.json] --out genesis.json
Back on each machine:
    sidechain genesis install --home H --genesis genesis.json --join a.join.json --join ...
    sidechain start --home H

Every failure is one line on stderr (`error: ...`) and exit status 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from genesis.build import (
    assemble_genesis,
    persistent_peers,
    read_accounts_file,
    read_params_file,
    write_genesis,
)
from genesis.errors import GenesisToolError, HomeError
from genesis.home import NodePorts, init_validator_home, install_genesis, make_join, read_genesis_file
from genesis.join import check_p2p_address, read_join_file, write_join_file
from genesis.spec import GenesisParams, NodeSettings, parse_duration_ns
from sidechain.errors import SidechainError
from sidechain.module import CHAIN
from sidechain.types import Coin, bech32_decode, coins_str, parse_coins

F = TypeVar("F", bound=Callable[..., Any])


class GenesisCLIError(click.ClickException):
    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (GenesisToolError, SidechainError) as e:
            raise GenesisCLIError(str(e)) from None
        except OSError as e:
            raise GenesisCLIError(f"{e.strerror or e}: {e.filename}" if e.filename else str(e)) from None

    return wrapper  # type: ignore[return-value]


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The validator's home directory.",
)
join_option = click.option(
    "--join",
    "joins",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A join file (repeat for each validator).",
)


@click.group("genesis")
def genesis() -> None:
    """Build a network's genesis from validators' signed join files (gentx-style)."""


@genesis.command("init-validator")
@home_option
@click.option("--moniker", required=True, help="The validator's name (1-32 letters, digits, '.', '_', '-').")
@click.option("--chain-id", required=True, help="The network's chain id.")
@click.option(
    "--p2p-host",
    default="127.0.0.1",
    show_default=True,
    help="Where P2P listens (0.0.0.0 for peers on other machines); RPC, ABCI, metrics stay on 127.0.0.1.",
)
@click.option("--rpc-port", type=int, default=26657, show_default=True)
@click.option("--p2p-port", type=int, default=26656, show_default=True)
@click.option("--abci-port", type=int, default=26658, show_default=True)
@click.option("--metrics-port", type=int, default=26670, show_default=True)
@click.option("--cometbft-metrics-port", type=int, default=26660, show_default=True)
@click.option("--timeout-commit", default="1s", show_default=True, help="CometBFT consensus.timeout_commit.")
@_one_line_errors
def init_validator(
    home: Path,
    moniker: str,
    chain_id: str,
    p2p_host: str,
    rpc_port: int,
    p2p_port: int,
    abci_port: int,
    metrics_port: int,
    cometbft_metrics_port: int,
    timeout_commit: str,
) -> None:
    """Create a validator's home: consensus key, node key, CometBFT and app config."""
    parse_duration_ns(timeout_commit, "--timeout-commit")
    ports = NodePorts(rpc_port, p2p_port, abci_port, metrics_port, cometbft_metrics_port)
    init_validator_home(home, moniker, chain_id, ports, NodeSettings(timeout_commit=timeout_commit), p2p_host)
    from genesis.keys import load_node_key, load_validator_key

    vkey = load_validator_key(home / "config" / "priv_validator_key.json")
    nkey = load_node_key(home / "config" / "node_key.json")
    click.echo(f"initialised validator {moniker} for chain {chain_id} in {home}")
    click.echo(f"consensus key: {vkey.pub_key_b64}   node id: {nkey.node_id}")
    click.echo(f"next: sidechain keys add {moniker} --home {home}   (the operator account), then")
    click.echo(f"      sidechain genesis join --home {home} --stake <amount> --out {moniker}.join.json")


def _operator_address(home: Path, operator: str | None, moniker: str, prefix: str) -> str:
    """--operator as an address, else as a key name in HOME's keyring, else the key named MONIKER."""
    from sidechain.keyring import Keyring

    if operator:
        try:
            bech32_decode(operator, prefix)
            return operator
        except SidechainError:
            pass
    name = operator or moniker
    try:
        return Keyring(home).show(name).bech32(prefix)
    except SidechainError:
        if operator:
            raise HomeError(
                f"--operator {operator!r} is neither a {prefix}1... address nor a key in {home}/keyring"
            ) from None
        raise HomeError(
            "no operator: give --operator ADDRESS, or create the key with "
            f"`sidechain keys add {moniker} --home {home}`"
        ) from None


@genesis.command("join")
@home_option
@click.option(
    "--stake", type=int, required=True,
    help="The self-delegation (bond denom), bonded at genesis from the operator's balance.",
)
@click.option("--operator", default=None, help="The operator's address, or a key name in HOME's keyring.")
@click.option(
    "--p2p-address", default=None, help="HOST:PORT where peers reach this node (default: p2p.laddr)."
)
@click.option("--address-prefix", default="side", show_default=True, help="Bech32 prefix of the network.")
@click.option("--commission-bps", type=click.IntRange(0, 10_000), default=1000, show_default=True,
              help="The validator's commission rate (its max rate is the larger of this and 2000).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write it."
)
@_one_line_errors
def join(
    home: Path, stake: int, operator: str | None, p2p_address: str | None, address_prefix: str,
    commission_bps: int, out: Path,
) -> None:
    """Write this validator's join file, signed with its consensus key."""
    import tomllib

    if stake <= 0:
        raise HomeError("--stake must be positive")
    try:
        moniker = str(tomllib.loads((home / "config" / "config.toml").read_text()).get("moniker", ""))
    except FileNotFoundError:
        raise HomeError(
            f"{home} is not a node home; create it with `sidechain genesis init-validator`"
        ) from None
    address = _operator_address(home, operator, moniker, address_prefix)
    signed = make_join(home, stake, address, p2p_address, commission_bps=commission_bps, address_prefix=address_prefix)
    if out.exists():
        raise HomeError(f"{out} exists; choose another --out or remove it")
    write_join_file(out, signed)
    b = signed.body
    click.echo(
        f"wrote {out}: {b.moniker} on {b.chain_id}, stake {b.stake}, operator {b.operator}, peer {b.peer}"
    )
    click.echo("send it to the coordinator; it is signed, so it cannot be altered on the way")


@genesis.command("collect")
@click.option("--chain-id", required=True)
@join_option
@click.option(
    "--accounts",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Funded accounts: [{"address": "side1...", "coins": "1000stake"}, ...].',
)
@click.option(
    "--params",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Consensus, auth and bank params (the `params` of a network spec).",
)
@click.option(
    "--operator-coins",
    default="1000000000stake",
    show_default=True,
    help="Balance of each operator account that --accounts does not fund ('' for none).",
)
@click.option("--genesis-time", default=None, help="RFC 3339 UTC time of genesis (default: now).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--peers-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the persistent peers (ID@HOST:PORT,...) to this file.",
)
@_one_line_errors
def collect(
    chain_id: str,
    joins: tuple[Path, ...],
    accounts: Path | None,
    params: Path | None,
    operator_coins: str,
    genesis_time: str | None,
    out: Path,
    peers_out: Path | None,
) -> None:
    """Check every join file and write one genesis.json with all of them as validators."""
    gp = read_params_file(params) if params else GenesisParams()
    signed = [read_join_file(p, gp.address_prefix) for p in joins]
    fundings = read_accounts_file(accounts) if accounts else []
    op_coins: tuple[Coin, ...] = parse_coins(operator_coins) if operator_coins.strip() else ()
    g = assemble_genesis(chain_id, signed, fundings, gp, op_coins, genesis_time)
    write_genesis(out, g)
    peers = persistent_peers(signed)
    if peers_out is not None:
        peers_out.write_text(peers + "\n")
    total = sum(j.body.stake // gp.staking.power_reduction for j in signed)
    click.echo(
        f"wrote {out}: chain {chain_id}, {len(signed)} validators (total power {total}), "
        f"{len(fundings)} funded accounts" + (f", operators get {coins_str(op_coins)}" if op_coins else "")
    )
    click.echo(f"persistent peers: {peers}")


@genesis.command("install")
@home_option
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@join_option
@click.option(
    "--peers", default="", help="Persistent peers ID@HOST:PORT,... (instead of, or besides, --join)."
)
@_one_line_errors
def install(home: Path, genesis_file: Path, joins: tuple[Path, ...], peers: str) -> None:
    """Put the collected genesis and the persistent peers into this node's home."""
    g = read_genesis_file(genesis_file)
    app_state = g.get("app_state")
    ante = CHAIN.ante_provider
    prefix = ante.genesis_address_prefix(app_state.get(ante.name) if isinstance(app_state, dict) else None)
    peer_list = [p.strip() for p in peers.split(",") if p.strip()]
    for path in joins:
        peer_list.append(read_join_file(path, prefix).body.peer)
    for peer in peer_list:
        node_id, at, addr = peer.partition("@")
        if not at or len(node_id) != 40:
            raise HomeError(f"peer {peer!r} must be NODE_ID@HOST:PORT")
        check_p2p_address(addr, f"peer {peer!r}:")
    result = install_genesis(home, g, peer_list)
    role = "a validator" if result.is_validator else "NOT a validator (its key is not in the genesis)"
    click.echo(f"installed {genesis_file} in {home}: this node is {role}; {result.peers} persistent peers")
    click.echo(f"start it with: sidechain start --home {home}")


@genesis.command("peers")
@join_option
def peers(joins: tuple[Path, ...]) -> None:
    """Print the persistent peers (ID@HOST:PORT,...) of these join files."""
    try:
        click.echo(persistent_peers([read_join_file(p) for p in joins]))
    except GenesisToolError as e:
        raise GenesisCLIError(str(e)) from None
