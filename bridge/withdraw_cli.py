"""`bridge withdraw`, `bridge cancel` and `bridge status withdrawal|batch|valset`: the user's side of withdrawals
(bridge/withdraw.py does the work). Registered on the `bridge` group by bridge/cli.py importing this module.

`withdraw` signs with a key of --home's keyring (as `sidechain tx send` does), talks to the node with --node,
and, with an L1 (--l1-rpc, or --bridge-config like the testnet's .testnet/bridge.json), confirms the payout on
L1 from the receipt of the batch's BatchExecuted tx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bridge.cli_common import LiveProgress, _bridge_file, _connect_l1, l1_endpoint_options
from bridge.errors import ConfigError, WaitTimeout
from bridge.l1 import BridgeContract
from bridge.module.msgs import CancelWithdrawal, Withdraw
from bridge.status import BatchRecord, BridgeChain, BridgeState, ValsetRecord, percent_of
from bridge.withdraw import (
    EXIT_STATUS,
    QueuedWithdrawal,
    WithdrawalLook,
    check_funds,
    check_request,
    claim_hint,
    default_tx_fee,
    describe,
    find_l1_payout,
    follow_withdrawal,
    look,
    parse_duration,
    withdrawal_id_of,
)
from sidechain import keyring as kr
from sidechain.client import ClientError, TxOutcome
from sidechain.commands.common import ClientContext, client_command, read_secret
from sidechain.commands.keys import PASSPHRASE_ENV
from sidechain.tx import build_signed_tx, module_msg, tx_hash
from sidechain.types import Address, Coin


def _resume_hint(wid: int, cc: ClientContext) -> str:
    return f"`bridge status withdrawal {wid} --node {cc.client.url} --wait`"


def _tx_options(fn: Any) -> Any:
    fn = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                      default=None, help=f"keyring passphrase file (else ${PASSPHRASE_ENV}, else a prompt)")(fn)
    fn = click.option("--tx-fee", default=None, metavar="COIN",
                      help="the sidechain tx's fee, e.g. 1stake (default: the chain's minimum, in the staking denom "
                      "if the key holds it)")(fn)
    return click.option("--from", "from_key", required=True, metavar="KEY",
                        help="the signing key in --home's keyring")(fn)


class _Signer:
    """A key of the client home's keyring, and the tx plumbing `sidechain tx` uses: sign, broadcast, wait."""

    def __init__(self, cc: ClientContext, from_key: str) -> None:
        self.cc = cc
        self.home = cc.require_home("the key --from is read from HOME/keyring")
        self.name = from_key
        self.address = bytes(kr.Keyring(self.home).show(from_key).address)
        self.bech32 = Address(self.address).to_bech32(cc.prefix())

    def send(self, msg: Any, fee: Coin, passphrase_file: Path | None, timeout: float,
             on_sent: Any = None) -> tuple[str, TxOutcome]:
        cc = self.cc
        chain_id = cc.chain_id()
        sequence = int(cc.client.account(self.bech32)["sequence"])
        passphrase = read_secret(passphrase_file, PASSPHRASE_ENV, f"passphrase of {self.name!r}")
        key = kr.Keyring(self.home).signing_key(self.name, passphrase)
        raw = build_signed_tx(key, chain_id, [msg], sequence, fee)
        digest = tx_hash(raw).hex().upper()
        res = cc.client.broadcast_sync(raw)
        if int(res.get("code", 0)) != 0:
            raise cc.fail(f"rejected: {res.get('log') or 'code ' + str(res.get('code'))}", int(res["code"]),
                          res.get("codespace", ""))
        if on_sent is not None:
            on_sent(digest)
        out = cc.client.wait_tx(digest, timeout, raw=raw, note=cc.note)
        if out.code != 0:
            raise cc.fail(f"tx {digest} was included at height {out.height} but failed: {out.log}", out.code,
                          out.codespace)
        return digest, out


def _final_text(lk: WithdrawalLook) -> str:
    w = lk.withdrawal
    if lk.status == "paid":
        return (f"paid: withdrawal {w.id} of {w.amount}{w.denom} reached {w.recipient} (batch {w.batch_nonce}, "
                f"L1 tx {lk.l1_tx}, L1 block {lk.l1_block})")
    if lk.status == "deferred":
        return (f"deferred: withdrawal {w.id} of {w.amount}{w.denom} to {w.recipient} was executed on L1 (batch "
                f"{w.batch_nonce}, L1 tx {lk.l1_tx}) but the recipient could not receive it; "
                f"{claim_hint(w, lk.state.contract)}")
    if lk.status == "refunded":
        return (f"refunded: withdrawal {w.id}'s batch {w.batch_nonce} timed out on L1; {w.amount + w.fee}{w.denom} "
                f"(amount + fee) were minted back to {w.sender} at height {w.done_height}")
    if lk.status == "cancelled":
        return f"cancelled: withdrawal {w.id}; {w.amount + w.fee}{w.denom} are back with {w.sender}"
    return lk.where()


@click.command("withdraw", short_help="Withdraw bridged coins to an L1 address; follow them until paid on L1.")
@click.argument("coin", metavar="COIN")
@click.option("--to", "to", required=True, metavar="0xL1ADDRESS", help="the L1 recipient (checked before signing)")
@click.option("--fee", required=True, metavar="FEE",
              help="the relayer's fee, paid on L1 in the withdrawn token: a coin of COIN's denom (e.g. 100l1/eth; "
              "0 for none); higher fees are batched first")
@_tx_options
@l1_endpoint_options
@click.option("--no-wait", is_flag=True, help="return once the tx is in a block (status \"queued\", with its id)")
@click.option("--timeout", "timeout_text", default="1h", show_default=True, metavar="D",
              help="how long to follow it once its tx is in a block (90s, 10m, 1h); then a line says how to "
              "resume")
@client_command
def withdraw_cmd(
    coin: str,
    to: str,
    fee: str,
    from_key: str,
    tx_fee: str | None,
    passphrase_file: Path | None,
    l1_rpc: str | None,
    contract: str | None,
    bridge_config: Path | None,
    no_wait: bool,
    timeout_text: str,
    cc: ClientContext,
) -> int:
    """Burn COIN (e.g. 5000l1/eth, or 25l1/0x<token>) plus --fee from the key --from and have it paid to --to on
    L1; then show each step until it is paid: queued (position), batched (nonce), signed x% of power, executed
    on L1 (tx, L1 block), paid. Or deferred (the recipient could not receive: the line says how to `bridge
    claim` it), or refunded (the batch timed out on L1: amount + fee come back).

    Refused before anything is signed: a denom that is not bridged or that this chain does not have, a fee in
    another denom, the zero address or the bridge contract as --to, a balance below amount + fee.

    With an L1 (--l1-rpc, $BRIDGE_L1_RPC or --bridge-config) the payout is confirmed on L1 from the receipt of
    the batch's BatchExecuted tx; without one, from the sidechain's record.

    --output json prints one JSON object at the end: status "paid" | "deferred" | "refunded" ("queued" with
    --no-wait), withdrawal_id, batch_nonce, l1_tx, l1_block, recipient, amount, fee, denom, height (the block
    the tx is in), txhash. Exit status 0 when paid, 3 when deferred, 4 when refunded or cancelled. Ctrl-C and
    --timeout stop watching, not the withdrawal: the line printed says how to resume."""
    timeout = parse_duration(timeout_text)
    chain = BridgeChain(cc.client)
    state = chain.state()
    request = check_request(coin, fee, to, state, cc.known_denoms())
    signer = _Signer(cc, from_key)
    cc.chain_id()  # refused when the client config names another chain
    bridge = _connect_l1(state, l1_rpc, contract, _bridge_file(bridge_config), None)

    def balance(denom: str) -> int:
        return chain.balance(signer.bech32, denom)

    if tx_fee is not None:
        tx_fee_coin = cc.fee_coin(tx_fee, "--tx-fee")
    else:
        tx_fee_coin = default_tx_fee(cc.params(), request.denom, request.total, balance)
    check_funds(request, tx_fee_coin, signer.bech32, balance)
    msg = module_msg("bridge.MsgWithdraw", Withdraw(signer.address, bytes.fromhex(request.recipient[2:]),
                                                    request.denom, request.amount, request.fee).to_pb())
    progress = LiveProgress(cc.output)
    sent: list[str] = []
    wid: int | None = None
    try:
        # the id is known once the tx is in a block: wait for that at least 30 s, whatever --timeout says
        digest, out = signer.send(msg, tx_fee_coin, passphrase_file, max(timeout, 30.0), on_sent=sent.append)
        wid = withdrawal_id_of(out.events)
        if wid is None:
            raise ConfigError(f"tx {digest} was included at height {out.height} but carries no "
                              "bridge_withdrawal_queued event")
        queued = QueuedWithdrawal(wid, digest, out.height, request, signer.bech32)
        progress.step("tx", f"tx {digest} in block {out.height}: withdrawal {wid} of {request.amount}{request.denom} "
                            f"(fee {request.fee}) to {request.recipient}")
        if no_wait:
            progress.close()
            cc.emit(queued.to_json(), f"withdrawal {wid} of {request.amount}{request.denom} to {request.recipient} "
                                      f"is queued (tx {digest}, height {out.height}); follow it with "
                                      f"{_resume_hint(wid, cc)}")
            return 0
        try:
            lk = follow_withdrawal(chain, wid, bridge=bridge, progress=progress, timeout=timeout)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}; keep following it with {_resume_hint(wid, cc)}") from None
    except KeyboardInterrupt:
        progress.close()
        if wid is not None:
            line = f"interrupted: withdrawal {wid} is on its way; follow it with {_resume_hint(wid, cc)}"
        elif sent:
            line = (f"interrupted: tx {sent[0]} was broadcast; `sidechain query tx {sent[0]}` shows its withdrawal "
                    "id once it is in a block, then `bridge status withdrawal ID --wait` follows it")
        else:
            line = "interrupted: no withdrawal was sent"
        click.echo(line, err=True)
        raise click.exceptions.Exit(130) from None
    except ClientError as exc:
        if sent and wid is None:  # broadcast, but not seen in a block
            raise ClientError(f"{exc}; once it is in a block, `bridge status withdrawal ID --wait` follows it "
                              "(the id is in the tx's bridge_withdrawal_queued event)") from None
        if wid is not None:
            raise ClientError(f"{exc}; withdrawal {wid} goes on: follow it with {_resume_hint(wid, cc)}") from None
        raise
    finally:
        progress.close()
    cc.emit({**lk.to_json(), "txhash": digest, "height": out.height}, _final_text(lk))
    return EXIT_STATUS[lk.status]


@click.command("cancel", short_help="Take back a withdrawal that is still queued (not yet batched).")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@_tx_options
@click.option("--timeout", "timeout_text", default="60s", show_default=True, metavar="D",
              help="how long to wait for the tx's block")
@client_command
def cancel_cmd(wid: int, from_key: str, tx_fee: str | None, passphrase_file: Path | None, timeout_text: str,
               cc: ClientContext) -> None:
    """Cancel withdrawal ID while it is queued: its amount + fee are minted back to the key --from (its sender).
    Refused before signing when it is not yours or is already batched or done."""
    timeout = parse_duration(timeout_text)
    chain = BridgeChain(cc.client)
    w = chain.withdrawal(wid)
    if w is None:
        raise ConfigError(f"no withdrawal {wid} on this chain")
    signer = _Signer(cc, from_key)
    if w.sender != signer.bech32:
        raise ConfigError(f"withdrawal {wid} is not yours: its sender is {w.sender}, --from {from_key} is "
                          f"{signer.bech32}")
    if w.status != "queued":
        where = f" (batch {w.batch_nonce})" if w.batch_nonce else ""
        raise ConfigError(f"withdrawal {wid} is {w.status}{where}: only a queued withdrawal can be cancelled")
    if tx_fee is not None:
        fee = cc.fee_coin(tx_fee, "--tx-fee")
    else:
        fee = default_tx_fee(cc.params(), w.denom, 0, lambda d: chain.balance(signer.bech32, d))
    msg = module_msg("bridge.MsgCancelWithdrawal", CancelWithdrawal(signer.address, wid).to_pb())
    digest, out = signer.send(msg, fee, passphrase_file, timeout)
    cc.emit({"status": "cancelled", "withdrawal_id": wid, "txhash": digest, "height": out.height,
             "denom": w.denom, "amount": str(w.amount), "fee": str(w.fee), "sender": w.sender},
            f"cancelled withdrawal {wid} in block {out.height} (tx {digest}): {w.amount + w.fee}{w.denom} "
            f"(amount + fee) are back with {w.sender}")


# -- bridge status withdrawal | batch | valset -------------------------------------------------------------


def _inherit(ctx: click.Context, cc: ClientContext, l1: tuple[str | None, str | None, Path | None]
             ) -> tuple[str | None, str | None, Path | None]:
    """`bridge status --node URL withdrawal 3` as well as `bridge status withdrawal 3 --node URL`."""
    parent = ctx.parent.params if ctx.parent is not None else {}
    cc.node_flag = cc.node_flag or parent.get("node")
    cc.home = cc.home or parent.get("home")
    if ctx.params.get("output") is None and parent.get("output"):
        cc.output = parent["output"]
    l1_rpc, contract, bridge_config = l1
    return (l1_rpc or parent.get("l1_rpc"), contract or parent.get("contract"),
            bridge_config or parent.get("bridge_config"))


def _l1_for(ctx: click.Context, cc: ClientContext, chain: BridgeChain, l1: tuple[str | None, str | None, Path | None]
            ) -> tuple[BridgeState, BridgeContract | None]:
    l1_rpc, contract, bridge_config = _inherit(ctx, cc, l1)
    state = chain.state()
    return state, _connect_l1(state, l1_rpc, contract, _bridge_file(bridge_config), None)


def _withdrawal_text(lk: WithdrawalLook) -> str:
    w = lk.withdrawal
    lines = [f"withdrawal {w.id}: {w.amount}{w.denom} (fee {w.fee}) from {w.sender} to {w.recipient} on L1",
             f"  chain status {w.status}, queued at height {w.queued_height}"
             + (f", done at height {w.done_height}" if w.done_height is not None else "")]
    lines.extend(f"  {'✓' if done else '…'} {text}" for _, text, done in describe(lk))
    lines.append(f"  now: {lk.status}" + ("" if lk.final else f" ({lk.where()})"))
    return "\n".join(lines)


@click.command("withdrawal", short_help="A withdrawal by id: where it stands, or follow it (--wait).")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--wait", is_flag=True, help="follow it until it is paid, deferred or refunded")
@click.option("--timeout", "timeout_text", default="1h", show_default=True, metavar="D", help="how long --wait waits")
@l1_endpoint_options
@client_command
@click.pass_context
def status_withdrawal_cmd(ctx: click.Context, wid: int, wait: bool, timeout_text: str, l1_rpc: str | None,
                          contract: str | None, bridge_config: Path | None, cc: ClientContext) -> int:
    """Withdrawal ID: its record (status queued | batched | executed | deferred | refunded | cancelled, position,
    batch), its batch's signatures and, with an L1, whether L1 executed the batch and paid it. --wait follows it
    to the end, as `bridge withdraw` does. Exit status 0 when paid, 3 when deferred, 4 when refunded or
    cancelled, 1 while it is on its way."""
    timeout = parse_duration(timeout_text)
    chain = BridgeChain(cc.client)
    _, bridge = _l1_for(ctx, cc, chain, (l1_rpc, contract, bridge_config))
    if wait:
        progress = LiveProgress(cc.output)
        try:
            lk = follow_withdrawal(chain, wid, bridge=bridge, progress=progress, timeout=timeout)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}; keep following it with {_resume_hint(wid, cc)}") from None
        except KeyboardInterrupt:
            progress.close()
            click.echo(f"interrupted: resume with {_resume_hint(wid, cc)}", err=True)
            raise click.exceptions.Exit(130) from None
        finally:
            progress.close()
        cc.emit(lk.to_json(), _final_text(lk))
        return EXIT_STATUS[lk.status]
    lk = look(chain, wid, bridge)
    payload = {**lk.to_json(), "withdrawal": lk.withdrawal.to_json()}
    if lk.batch is not None:
        payload["batch"] = lk.batch.to_json()
    cc.emit(payload, _withdrawal_text(lk))
    return EXIT_STATUS[lk.status] if lk.final else 1


def _batch_text(b: BatchRecord, state: BridgeState, l1: dict[str, Any] | None) -> str:
    lines = [f"batch {b.nonce} of {b.denom}: {len(b.withdrawals)} withdrawal(s), {b.amount} + fee {b.fee}, status "
             f"{b.status}; created at height {b.created_height}, timeout at L1 block {b.timeout_l1_block}",
             f"  digest {b.digest}"]
    if b.signed_power is not None:
        ready = f", ready since height {b.ready_height}" if b.ready else ", not ready"
        lines.append(f"  signed {percent_of(b.signed_power, state.total_power)} of power by {len(b.signatures)} "
                     f"validator(s){ready}")
    if b.l1_tx is not None:
        lines.append(f"  executed on L1: tx {b.l1_tx} in L1 block {b.l1_block} (event {b.event_nonce}), applied at "
                     f"height {b.done_height}")
    if l1 is not None:
        if l1.get("l1_tx"):
            lines.append(f"  L1: executed in tx {l1['l1_tx']} (L1 block {l1['l1_block']})")
        else:
            lines.append(f"  L1: not executed (head {l1['head']}"
                         + (", past the timeout: the sidechain refunds it" if l1["timed_out"] else "") + ")")
    for d in b.deferred:
        lines.append(f"  deferred on L1: withdrawal {d.id}, {d.amount} to {d.recipient}")
    for w in b.withdrawals:
        lines.append(f"  withdrawal {w.id}: {w.amount} (fee {w.fee}) to {w.recipient}")
    return "\n".join(lines)


@click.command("batch", short_help="A batch by nonce: its withdrawals, signatures, L1 execution.")
@click.argument("nonce", metavar="NONCE", type=click.IntRange(min=1))
@l1_endpoint_options
@client_command
@click.pass_context
def status_batch_cmd(ctx: click.Context, nonce: int, l1_rpc: str | None, contract: str | None,
                     bridge_config: Path | None, cc: ClientContext) -> None:
    """Batch NONCE: token, withdrawals in contract order, timeout, digest, status (pending | executed |
    refunded), the signatures the chain stored and their share of power, and, with an L1, whether L1 executed
    it (batchExecuted and its tx)."""
    chain = BridgeChain(cc.client)
    state, bridge = _l1_for(ctx, cc, chain, (l1_rpc, contract, bridge_config))
    b = chain.batch(nonce, height=state.height)
    if b is None:
        raise ConfigError(f"no batch {nonce} on this chain (at height {state.height})")
    payload = b.to_json()
    l1: dict[str, Any] | None = None
    if bridge is not None:
        head = bridge.client.block_number()
        executed = bridge.batch_executed(nonce)
        l1 = {"executed": executed, "head": head, "timed_out": not executed and head >= b.timeout_l1_block,
              "l1_tx": None, "l1_block": None}
        if executed and b.withdrawals:
            from bridge.status import WithdrawalRecord

            first = b.withdrawals[0]
            probe = WithdrawalRecord(first.id, "", b.denom, b.token, first.recipient, first.amount, first.fee,
                                     "batched", b.created_height, batch_nonce=nonce)
            payout = find_l1_payout(bridge, state, probe, b)
            if payout is not None:
                l1["l1_tx"], l1["l1_block"] = payout.l1_tx, payout.l1_block
        payload["l1"] = l1
    cc.emit(payload, _batch_text(b, state, l1))


def _valset_text(v: ValsetRecord, l1: dict[str, Any] | None) -> str:
    lines = [f"valset {v.nonce}: {len(v.valset.validators)} validator(s), total power {v.valset.total_power}, "
             f"status {v.status}, created at height {v.created_height}", f"  digest {v.digest}"]
    if v.signed_power is not None:
        ready = f", ready since height {v.ready_height}" if v.ready else ", not ready"
        lines.append(f"  signed {v.signed_power} of the contract valset's power by {len(v.signatures)} "
                     f"validator(s){ready}")
    if l1 is not None:
        match = "this valset" if l1["is_current"] else "another"
        lines.append(f"  L1: valsetNonce() {l1['valset_nonce']}, checkpoint {l1['checkpoint']} ({match})")
    signed = {s.validator for s in v.signatures}
    for address, power in zip(v.valset.validators, v.valset.powers, strict=True):
        lines.append(f"  {address} power {power}" + (" signed" if address in signed else ""))
    return "\n".join(lines)


@click.command("valset", short_help="A valset by nonce (or latest): members, signatures, L1 status.")
@click.argument("nonce", metavar="NONCE|latest")
@l1_endpoint_options
@client_command
@click.pass_context
def status_valset_cmd(ctx: click.Context, nonce: str, l1_rpc: str | None, contract: str | None,
                      bridge_config: Path | None, cc: ClientContext) -> None:
    """Valset NONCE (or `latest`, the newest the chain created): validators and powers, digest, status
    (pending | current | superseded), the signatures the chain stored; with an L1, the contract's
    valsetNonce() and whether its checkpoint is this valset's digest."""
    key: int | str = nonce.strip().lower()
    if key != "latest":
        if not str(key).isdigit():
            raise ConfigError(f"NONCE {nonce!r}: give a valset nonce (an integer) or `latest`")
        key = int(key)
    chain = BridgeChain(cc.client)
    state, bridge = _l1_for(ctx, cc, chain, (l1_rpc, contract, bridge_config))
    v = chain.valset(key, height=state.height)
    if v is None:
        raise ConfigError(f"no valset {nonce} on this chain (at height {state.height})")
    payload = v.to_json()
    l1 = None
    if bridge is not None:
        checkpoint = "0x" + bridge.valset_checkpoint().hex()
        l1 = {"valset_nonce": bridge.valset_nonce(), "checkpoint": checkpoint,
              "is_current": checkpoint.lower() == v.digest.lower()}
        payload["l1"] = l1
    cc.emit(payload, _valset_text(v, l1))
