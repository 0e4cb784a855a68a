"""The `bridge` command line (L1 side): deploy the contract, claim deferred payouts, replace the guardian.

Commands are thin: parse, call `bridge.operations`, print (`--output text` for people, `json` for scripts).
Every failure is one line on stderr and a non-zero exit status; set BRIDGE_DEBUG=1 for a traceback.

Keys: `--keystore FILE` (an Ethereum keystore; passphrase from `--passphrase-file`, $BRIDGE_PASSPHRASE or a
prompt), else the raw key in $BRIDGE_PRIVATE_KEY.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bridge.errors import ConfigError, InsufficientPowerError, InvalidL1Address
from bridge.keys import load_account
from bridge.l1 import BridgeContract, L1Client
from bridge.operations import (
    claim,
    collect_guardian_signatures,
    deploy,
    read_signature_files,
    sign_guardian_change,
    submit_guardian_change,
)
from bridge.protocol import POWER_THRESHOLD, Domain, Valset, checksum
from sidechain.commands.common import OneLineGroup, usage_error_line
from sidechain.errors import SidechainError

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
        "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="output format"
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


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """The sidechain bridge's L1 tools: deploy the contract, claim deferred payouts, replace the guardian.

    The protocol: docs/BRIDGE.md. Shell completion: `eval "$(sidechain completion bash --prog bridge)"`."""


@cli.command("deploy")
@rpc_option
@click.option("--valset", "valset_file", required=True, type=click.Path(path_type=Path), help="genesis valset JSON")
@click.option("--guardian", required=True, callback=_address, help="guardian address (pause, daily limits)")
@click.option("--chain-id", type=int, default=None, help="refuse to deploy unless the RPC serves this chain id")
@key_options
@output_option
def deploy_cmd(
    l1_rpc: str,
    valset_file: Path,
    guardian: str,
    chain_id: int | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    output: str,
) -> None:
    """Deploy SidechainBridge with a genesis valset and a guardian; print its address."""
    valset = Valset.load(valset_file)
    valset.validate()
    deployer = load_account(keystore, passphrase_file=passphrase_file)
    client = L1Client.connect(l1_rpc, chain_id)
    result = deploy(client, valset, guardian, deployer)
    _emit(output, result.to_json(), result.contract)


@cli.command("claim")
@rpc_option
@contract_option
@click.option("--token", required=True, callback=_address, help="token address (0x000...000 for ETH)")
@click.option("--to", "to", required=True, callback=_address, help="where to send the deferred payout")
@click.option("--chain-id", type=int, default=None, help="expected chain id")
@key_options
@output_option
def claim_cmd(
    l1_rpc: str,
    contract: str,
    token: str,
    to: str,
    chain_id: int | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    output: str,
) -> None:
    """Pull the payout deferred to your account (the key's address) and send it to --to."""
    account = load_account(keystore, passphrase_file=passphrase_file)
    client = L1Client.connect(l1_rpc, chain_id)
    result = claim(BridgeContract(client, contract), token, to, account)
    _emit(output, result, f"claimed {result['amount']} of {result['token']} to {result['to']} ({result['txHash']})")


@cli.group("guardian")
def guardian_group() -> None:
    """Replace a lost or compromised guardian with the validators' signatures."""


@guardian_group.command("sign")
@click.option("--l1-rpc", envvar="BRIDGE_L1_RPC", default=None, help="L1 JSON-RPC URL (or give --chain-id)")
@contract_option
@click.option("--new-guardian", required=True, callback=_address, help="the guardian to appoint")
@click.option("--nonce", type=int, default=None, help="guardianNonce() + 1 (read from the contract if omitted)")
@click.option("--chain-id", type=int, default=None, help="chain id (required without --l1-rpc)")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="write the signature file here")
@key_options
@output_option
def guardian_sign_cmd(
    l1_rpc: str | None,
    contract: str,
    new_guardian: str,
    nonce: int | None,
    chain_id: int | None,
    out: Path | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    output: str,
) -> None:
    """Sign GuardianChange(nonce, guardian) with your validator bridge key."""
    validator = load_account(keystore, passphrase_file=passphrase_file)
    if l1_rpc is not None:
        client = L1Client.connect(l1_rpc, chain_id)
        chain_id = client.chain_id
        if nonce is None:
            nonce = BridgeContract(client, contract).guardian_nonce() + 1
    if chain_id is None or nonce is None:
        raise ConfigError("without --l1-rpc, give --chain-id and --nonce")
    signed = sign_guardian_change(Domain(chain_id, checksum(contract)), nonce, new_guardian, validator)
    payload = signed.to_json()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    text = f"signed guardian change #{nonce} to {signed.guardian} as {signed.signer}"
    _emit(output, payload, text + (f" -> {out}" if out else "\n" + json.dumps(payload, indent=2)))


@guardian_group.command("submit", short_help="Collect signatures past the threshold, then call setGuardian.")
@rpc_option
@contract_option
@click.option("--valset", "valset_file", required=True, type=click.Path(path_type=Path), help="current valset JSON")
@click.option("--new-guardian", required=True, callback=_address, help="the guardian to appoint")
@click.option("--nonce", type=int, default=None, help="guardianNonce() + 1 (read from the contract if omitted)")
@click.option(
    "--signatures",
    "signature_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="signature file or directory of them (repeatable)",
)
@click.option("--wait", type=float, default=0.0, help="seconds to keep collecting until the threshold is met")
@click.option("--chain-id", type=int, default=None, help="expected chain id")
@key_options
@output_option
def guardian_submit_cmd(
    l1_rpc: str,
    contract: str,
    valset_file: Path,
    new_guardian: str,
    nonce: int | None,
    signature_paths: tuple[Path, ...],
    wait: float,
    chain_id: int | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    output: str,
) -> None:
    """Collect validators' signatures until they carry more than the threshold, then call setGuardian."""
    valset = Valset.load(valset_file)
    sender = load_account(keystore, passphrase_file=passphrase_file)
    client = L1Client.connect(l1_rpc, chain_id)
    bridge = BridgeContract(client, contract)
    if nonce is None:
        nonce = bridge.guardian_nonce() + 1
    deadline = time.monotonic() + wait
    while True:
        collected = collect_guardian_signatures(
            read_signature_files(signature_paths), bridge.domain, valset, nonce, new_guardian
        )
        if collected.enough or time.monotonic() >= deadline:
            break
        if output == "text":
            click.echo(f"collected power {collected.power} of more than {POWER_THRESHOLD}; waiting", err=True)
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    for reason in collected.ignored:
        click.echo(f"ignored signature from {reason}", err=True)
    if not collected.enough:
        raise InsufficientPowerError(collected.power, POWER_THRESHOLD + 1)
    result = submit_guardian_change(bridge, valset, nonce, new_guardian, collected, sender)
    text = f"guardian is now {result['guardian']} (nonce {nonce}, {len(result['signers'])} signers, {result['txHash']})"
    _emit(output, result, text)


def main(argv: list[str] | None = None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="bridge", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except click.UsageError as exc:
        click.echo(usage_error_line(exc), err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SidechainError as exc:  # every error raised on purpose: L1 tooling, protocol rules, keys
        click.echo(f"error: {exc}", err=True)
        return 1
    except Exception as exc:
        if os.environ.get("BRIDGE_DEBUG"):
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} (set BRIDGE_DEBUG=1 for a traceback)",
                   err=True)
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
