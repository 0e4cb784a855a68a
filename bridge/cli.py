"""The `bridge` command line: deposit and follow a deposit to its mint, the bridge's status on both sides,
deploy the contract, claim deferred payouts, replace the guardian.

Commands are thin: parse, call `bridge.operations`, `bridge.deposit` or `bridge.status`, print (`--output text`
for people, `json` for scripts). `deposit` and `status` talk to a sidechain node too, with the `sidechain` CLI's
--node, --home and --output (sidechain/commands/common.py).
Every failure is one line on stderr and a non-zero exit status; set BRIDGE_DEBUG=1 for a traceback.

Keys: `--keystore FILE` (an Ethereum keystore; passphrase from `--passphrase-file`, $BRIDGE_PASSPHRASE or a
prompt), else the raw key in $BRIDGE_PRIVATE_KEY.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from bridge import guardian_cli, withdraw_cli
from bridge.cli_common import (
    LiveProgress,
    _address,
    _bridge_file,
    _connect_l1,
    _emit,
    _resume_hint,
    contract_option,
    key_options,
    l1_endpoint_options,
    output_option,
    rpc_option,
)
from bridge.deposit import follow_deposit, parse_amount, read_asset, send_deposit
from bridge.errors import (
    ConfigError,
    InsufficientPowerError,
    UnexpectedAnswer,
    WaitTimeout,
)
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
from bridge.relay_cmd import relay_cmd
from bridge.status import (
    BridgeChain,
    StatusReport,
    SupplyReport,
    bridge_status,
    check_supply,
    deposit_progress,
    l1_deposit_of_tx,
)
from sidechain.commands.common import ClientContext, CommandError, OneLineGroup, client_command, usage_error_line
from sidechain.errors import SidechainError
from sidechain.types import Address


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """The sidechain bridge's tools: deposit to the sidechain and follow it, withdraw back to L1 and follow it to
    the payout, see where the bridge stands (both sides, the supply invariant; a withdrawal, batch or valset),
    deploy the contract, relay, claim deferred payouts, the guardian's pause and daily limits, replace the
    guardian.

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


@cli.group("guardian", short_help="The guardian's pause and daily limits; replacing the guardian (validators).")
def guardian_group() -> None:
    """The guardian's switches (pause, unpause, set-daily-limit: the guardian key), and replacing a lost or
    compromised guardian with the validators' signatures (sign, submit)."""


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



# -- deposits and status: both sides of the bridge -------------------------------------------------------
#
@cli.command("deposit", short_help="Deposit ETH or an ERC-20 from L1 to a sidechain account; follow it to the mint.")
@click.argument("amount", metavar="AMOUNT")
@click.option("--to", "to", required=True, metavar="SIDE_ADDRESS",
              help="sidechain recipient: a bech32 address of the node's chain (or a key name in --home's "
              "keyring), checked before anything is sent")
@click.option("--token", callback=_address, default=None, metavar="0x...", help="ERC-20 token address (default: ETH)")
@l1_endpoint_options
@click.option("--l1-key", "l1_key", default=None, metavar="NAME",
              help="use the key NAME of --bridge-config's l1_keys (its keystore and passphrase file)")
@key_options
@click.option("--no-wait", is_flag=True, help="return once the L1 tx is mined (status \"sent\", with its event nonce)")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="seconds to wait for the mint after the L1 tx is mined")
@click.option("--prove", is_flag=True, help="verify the Merkle proof of the minted deposit against the block header")
@client_command
def deposit_cmd(
    amount: str,
    to: str,
    token: str | None,
    l1_rpc: str | None,
    contract: str | None,
    bridge_config: Path | None,
    l1_key: str | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    no_wait: bool,
    wait_timeout: float,
    prove: bool,
    cc: ClientContext,
) -> None:
    """Deposit AMOUNT of ETH (or of the ERC-20 --token) on L1 for the sidechain account --to, then show each
    step until it is minted: L1 tx sent, mined, confirmations n/N (N: the chain's l1_confirmations; or
    finalized), attested, minted at height H, the new balance.

    AMOUNT: digits only are base units (wei, or the token's smallest unit). A decimal point or a unit means
    whole units: for ETH `0.5eth`, `0.5`, `20gwei`; for an ERC-20 `1.25` or `1.25SYMBOL`, with the decimals
    read from the token. An ERC-20 deposit first approves exactly AMOUNT to the bridge (never more).

    The amount minted is what the contract credited (less than AMOUNT for a token with a fee on transfer).
    --output json prints one JSON object at the end: status "minted" (or "sent" with --no-wait), event_nonce,
    l1_tx, denom, amount, recipient, height. Ctrl-C stops watching, not the deposit: the line it prints says
    how to resume (`bridge status deposit NONCE`)."""
    bridge_file = _bridge_file(bridge_config)
    if l1_key is not None:
        if bridge_file is None:
            raise ConfigError("--l1-key names a key of --bridge-config's l1_keys: give --bridge-config FILE")
        named = bridge_file.key(l1_key)
        keystore = keystore or named.keystore
        passphrase_file = passphrase_file or named.passphrase_file
    chain = BridgeChain(cc.client)
    state = chain.state()  # the node is reachable and has a bridge
    try:
        recipient = bytes(cc.resolve_address(to))
    except CommandError:
        raise
    except SidechainError as exc:
        raise ConfigError(f"--to: {exc}") from None
    prefix = cc.prefix()
    recipient_text = Address(recipient).to_bech32(prefix)
    cc.chain_id()  # refused when the client config names another chain
    account = load_account(keystore, passphrase_file=passphrase_file)
    bridge = _connect_l1(state, l1_rpc, contract, bridge_file, "bridge deposit")
    assert bridge is not None
    asset = read_asset(bridge.client, token)
    value = parse_amount(amount, asset)

    progress = LiveProgress(cc.output)
    sent_tx: list[str] = []
    nonce: int | None = None
    try:
        sent = send_deposit(bridge, asset, value, recipient, recipient_text, account, progress,
                            on_sent=sent_tx.append)
        nonce = sent.event_nonce
        if no_wait:
            progress.close()
            cc.emit(sent.to_json(), f"deposit {nonce} of {asset.format(sent.l1.amount)} to {recipient_text} is in L1 "
                                    f"block {sent.l1.l1_block} (tx {sent.l1.l1_tx}); follow it with "
                                    f"{_resume_hint(nonce, cc)}")
            return
        try:
            minted = follow_deposit(chain, nonce, bridge=bridge, l1=sent.l1, asset=asset, progress=progress,
                                    timeout=wait_timeout, prove=prove)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}; keep following it with {_resume_hint(nonce, cc)}") from None
    except KeyboardInterrupt:
        progress.close()
        if nonce is not None:
            line = f"interrupted: deposit {nonce} is on L1; follow it with {_resume_hint(nonce, cc)}"
        elif sent_tx:
            line = (f"interrupted: L1 tx {sent_tx[0]} was sent; once mined, follow it with "
                    f"{_resume_hint(sent_tx[0], cc, l1=True)}")
        else:
            line = "interrupted: no deposit was sent"
        click.echo(line, err=True)
        raise click.exceptions.Exit(130) from None
    finally:
        progress.close()
    record = minted.record
    if (record.amount, record.recipient, record.denom) != (sent.l1.amount, recipient_text, asset.denom):
        raise UnexpectedAnswer(f"the sidechain's record of deposit {nonce} ({record.amount}{record.denom} to "
                               f"{record.recipient}) is not the L1 deposit ({sent.l1.amount}{asset.denom} to "
                               f"{recipient_text})")
    note = f"; {record.proof.note()}" if record.proof is not None else ""
    balance = "" if minted.balance is None else f"; balance {asset.format(minted.balance)}"
    cc.emit(minted.to_json(), f"minted {asset.format(record.amount)} ({record.amount}{record.denom}) to "
                              f"{record.recipient} at height {record.height} (deposit {nonce}, L1 tx "
                              f"{record.l1_tx}){balance}{note}")


def _supply_lines(report: SupplyReport) -> list[str]:
    lines = [f"supply invariant at L1 block {report.l1_block} (sidechain height {report.sidechain_height}): "
             + ("holds" if report.ok else "SHORTFALL")]
    for row in report.rows:
        verdict = f"surplus {row.surplus}" if row.ok else f"SHORTFALL {-row.surplus}"
        lines.append(f"  {row.denom}: L1 balance {row.l1_balance} - deferred {row.total_deferred} >= supply "
                     f"{row.supply} + queue {row.queued} + batches {row.batched}: {verdict}")
        if row.proof is not None:
            lines.append(f"    supply {row.proof.note()}")
    lines.append(f"  ({report.note})")
    return lines


def _status_text(report: StatusReport, url: str) -> str:
    s = report.state
    lines = [f"sidechain at {url}, height {s.height}: bridge contract {s.contract} on L1 chain {s.l1_chain_id} "
             f"(deployed at block {s.deployed_at})"]
    behind = ""
    if report.l1_event_nonce is not None:
        pending = report.l1_event_nonce - s.last_event_nonce
        behind = f" (L1 eventNonce() {report.l1_event_nonce}: {pending} not applied yet)"
    lines.append(f"  last event nonce {s.last_event_nonce}{behind}, valset nonce {s.valset_nonce}")
    lines.append(f"  observed L1 height {s.observed_l1_height} (audit height {s.audit_l1_height}), "
                 f"l1_confirmations {s.l1_confirmations}")
    supply = ", ".join(f"{a}{d}" for d, a in s.supply.items()) or "nothing bridged yet"
    lines.append(f"  supply: {supply}")
    if report.heads is None:
        lines.append("L1: not read (give --l1-rpc or --bridge-config)")
    else:
        h = report.heads
        finalized = "none" if h.finalized is None else str(h.finalized)
        lines.append(f"L1: head {h.head}, finalized {finalized}, confirmed (head - {s.l1_confirmations}) "
                     f"{h.confirmed(s.l1_confirmations)}; lag {report.lag} blocks behind the head")
    queues = [f"{d}: queue {s.queued.get(d, 0)}, batches {s.in_batches.get(d, 0)}"
               for d in sorted({*s.queued, *s.in_batches})]
    lines.append("  withdrawals (amount + fee): " + ("; ".join(queues) or "none pending"))
    if report.paused is not None:
        limits = ", ".join(f"{d} {'unlimited' if v == 0 else v}" for d, v in report.daily_limits.items())
        lines.append(f"  contract {'PAUSED' if report.paused else 'not paused'}; daily limits: {limits or 'none'}")
    if report.supply is not None:
        lines.extend(_supply_lines(report.supply))
    return "\n".join(lines)


@cli.group("status", invoke_without_command=True,
           short_help="Where the bridge stands on both sides; a deposit by nonce; the supply invariant.")
@click.option("--supply", "supply_only", is_flag=True,
              help="only the supply invariant per asset, read at the L1 audit height")
@click.option("--prove", is_flag=True, help="verify the Merkle proofs of the supplies read against block headers")
@l1_endpoint_options
@client_command
@click.pass_context
def status_group(
    ctx: click.Context,
    supply_only: bool,
    prove: bool,
    l1_rpc: str | None,
    contract: str | None,
    bridge_config: Path | None,
    cc: ClientContext,
) -> int | None:
    """The bridge on both sides: the sidechain's last event nonce, observed L1 height and bridged supply;
    with an L1 (--l1-rpc or --bridge-config) the L1 head, finalized and confirmed heights, the lag, the
    contract's eventNonce() and the supply invariant per asset (BRIDGE.md section 5):

      L1 balance - totalDeferred >= sidechain supply + withdrawal queue + pending batches

    read at the audit height (max(observed_l1_height, the L1 block of the last applied event): BRIDGE.md), the
    surplus shown. Exit status 1 on a shortfall.
    --supply shows only the invariant (it needs the L1)."""
    if ctx.invoked_subcommand is not None:
        return None
    chain = BridgeChain(cc.client)
    state = chain.state()
    bridge = _connect_l1(state, l1_rpc, contract, _bridge_file(bridge_config),
                         "bridge status --supply" if supply_only else None)
    if supply_only:
        assert bridge is not None
        report = check_supply(chain, bridge, state, prove=prove)
        cc.emit(report.to_json(), "\n".join(_supply_lines(report)))
        return 0 if report.ok else 1
    status = bridge_status(chain, bridge, prove=prove) if bridge is not None else StatusReport(state)
    cc.emit(status.to_json(), _status_text(status, cc.client.url))
    return 0 if status.supply is None or status.supply.ok else 1


def _nonce_or_tx(value: str) -> int | str:
    text = value.strip()
    if text.isdigit():
        return int(text)
    if text.lower().startswith("0x") and len(text) == 66:
        try:
            bytes.fromhex(text[2:])
        except ValueError:
            pass
        else:
            return text
    raise ConfigError(f"NONCE {value!r}: give a deposit's event nonce (an integer) or its L1 tx hash (0x + 64 hex)")


@status_group.command("deposit", short_help="A deposit by event nonce: its record, or where it stands.")
@click.argument("nonce", metavar="NONCE")
@click.option("--wait", is_flag=True, help="follow it until it is minted")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="seconds to wait with --wait")
@click.option("--prove", is_flag=True, help="verify the Merkle proof of the deposit record against the block header")
@l1_endpoint_options
@client_command
@click.pass_context
def status_deposit_cmd(
    ctx: click.Context,
    nonce: str,
    wait: bool,
    wait_timeout: float,
    prove: bool,
    l1_rpc: str | None,
    contract: str | None,
    bridge_config: Path | None,
    cc: ClientContext,
) -> int:
    """Deposit NONCE (its event nonce, or the hash of its L1 tx, which needs the L1): the sidechain's record
    of it (denom, amount, sender, recipient, L1 tx and block, the height it was minted at), or "not yet
    applied" with where it stands (with the L1: its block and confirmations). --wait follows it to the mint.
    Exit status 1 when it is not minted."""
    parent = ctx.parent.params if ctx.parent is not None else {}  # `bridge status --node URL deposit N` too
    cc.node_flag = cc.node_flag or parent.get("node")
    cc.home = cc.home or parent.get("home")
    if ctx.params.get("output") is None and parent.get("output"):
        cc.output = parent["output"]
    l1_rpc = l1_rpc or parent.get("l1_rpc")
    contract = contract or parent.get("contract")
    bridge_config = bridge_config or parent.get("bridge_config")
    prove = prove or bool(parent.get("prove"))
    chain = BridgeChain(cc.client)
    wanted = _nonce_or_tx(nonce)
    state = chain.state()
    bridge = _connect_l1(state, l1_rpc, contract, _bridge_file(bridge_config),
                         None if isinstance(wanted, int) else "NONCE as an L1 tx hash")
    l1 = None
    if isinstance(wanted, str):
        assert bridge is not None
        l1 = l1_deposit_of_tx(bridge, wanted)
        wanted = l1.event_nonce
    if wait:
        progress = LiveProgress(cc.output)
        try:
            minted = follow_deposit(chain, wanted, bridge=bridge, l1=l1, progress=progress, timeout=wait_timeout,
                                    prove=prove)
        except KeyboardInterrupt:
            progress.close()
            click.echo(f"interrupted: resume with {_resume_hint(wanted, cc, l1=bridge is not None)}", err=True)
            raise click.exceptions.Exit(130) from None
        finally:
            progress.close()
        r = minted.record
        note = f"; {r.proof.note()}" if r.proof is not None else ""
        cc.emit(minted.to_json(), f"deposit {r.event_nonce}: minted {r.amount}{r.denom} to {r.recipient} at height "
                                  f"{r.height} (L1 tx {r.l1_tx}, block {r.l1_block}); balance "
                                  f"{minted.balance}{r.denom}{note}")
        return 0
    p = deposit_progress(chain, wanted, bridge=bridge, l1=l1, prove=prove)
    if p.record is None:
        cc.emit(p.to_json(), p.where())
        return 1
    r = p.record
    note = f"\n{r.proof.note()}" if r.proof is not None else ""
    cc.emit({**r.to_json(), "status": "minted"},
            f"deposit {r.event_nonce}: minted {r.amount}{r.denom} to {r.recipient} at height {r.height}\n"
            f"  from {r.sender} on L1, token {r.token}, L1 tx {r.l1_tx} in block {r.l1_block}{note}")
    return 0

cli.add_command(relay_cmd)

# `withdraw`, `cancel`, `status withdrawal|batch|valset` and `guardian pause|unpause|set-daily-limit`
for command in (withdraw_cli.withdraw_cmd, withdraw_cli.cancel_cmd):
    cli.add_command(command)
for command in (withdraw_cli.status_withdrawal_cmd, withdraw_cli.status_batch_cmd, withdraw_cli.status_valset_cmd):
    status_group.add_command(command)
for command in (guardian_cli.pause_cmd, guardian_cli.unpause_cmd, guardian_cli.set_daily_limit_cmd):
    guardian_group.add_command(command)


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
