"""`sidechain tx` and `sidechain query`: talk to a running node through CometBFT's RPC.

The node is `--node`, else the client config of `--home` (`sidechain config node URL`), else the RPC
address in `--home`'s config.toml, else http://127.0.0.1:26657 (sidechain/commands/common.py).
Denoms are checked against the chain before anything is signed. Every failure is one line on
stderr and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sidechain import keyring as kr
from sidechain.bank.msgs import MsgSend
from sidechain.client import ClientError, NodeClient, QueryResult
from sidechain.commands.common import (
    DEFAULT_NODE,
    ClientContext,
    client_command,
    read_secret,
    resolve_node,
)
from sidechain.commands.keys import PASSPHRASE_ENV
from sidechain.errors import InvalidInput
from sidechain.tx import build_signed_tx, tx_hash
from sidechain.types import NATIVE_DENOM, Address, Coin, coins_str, parse_coins


def node_url(home: Path | None, node: str | None) -> str:
    """The RPC URL a command uses (see sidechain/commands/common.resolve_node)."""
    return resolve_node(home, node)[0]


@click.group("tx", short_help="Sign and broadcast transactions.")
def tx() -> None:
    """Sign and broadcast transactions (the key is read from --home's keyring)."""


@tx.command("send", short_help="Send coins from a key to an address.")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--fee", required=True, help="Fee, e.g. 1stake (at least the chain's minimum for its denom).")
@click.option("--memo", default="", help="A note stored with the tx.")
@click.option("--sequence", type=click.IntRange(min=0), default=None,
              help="Account sequence (default: read from the node).")
@click.option("--timeout-height", type=click.IntRange(min=0), default=0,
              help="Invalid in blocks above this height (0: none).")
@click.option("--no-wait", is_flag=True, help="Return once the mempool accepts it; don't wait for a block.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for inclusion.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help=f"Keyring passphrase file (else ${PASSPHRASE_ENV}, else a prompt).")
@client_command
def send(from_key: str, to: str, amount: str, fee: str, memo: str, sequence: int | None, timeout_height: int,
         no_wait: bool, wait_timeout: float, passphrase_file: Path | None, cc: ClientContext) -> None:
    """Send AMOUNT (e.g. 10stake or 5stake,3l1/eth) from key FROM to TO (an address or a key name)."""
    home = cc.require_home("the key FROM is read from HOME/keyring")
    info = kr.Keyring(home).show(from_key)
    try:
        coins = parse_coins(amount)
    except InvalidInput as e:
        raise cc.fail(f"AMOUNT {amount[:24]}{'...' if len(amount) > 24 else ''}: {e.message}") from None
    chain_id = cc.chain_id()
    prefix = cc.prefix()
    sender = bytes(info.address)
    recipient = cc.resolve_address(to)
    cc.check_denoms(coins, f"AMOUNT {amount}")
    fee_coin = cc.fee_coin(fee)
    client = cc.client
    given_sequence = sequence
    passphrase = read_secret(passphrase_file, PASSPHRASE_ENV, f"passphrase of {from_key!r}")
    key = kr.Keyring(home).signing_key(from_key, passphrase)

    def signed() -> tuple[bytes, int]:  # again after a "not now" refusal: the node's sequence may have moved
        seq = given_sequence
        if seq is None:
            seq = int(client.account(Address(sender).to_bech32(prefix))["sequence"])
        return build_signed_tx(key, chain_id, [MsgSend(sender, recipient, coins).to_proto()], seq,
                               fee_coin, memo=memo, timeout_height=timeout_height), seq

    raw, sequence, res = client.broadcast_when_ready(signed, wait_timeout, cc.note)
    digest = tx_hash(raw).hex().upper()
    if int(res.get("code", 0)) != 0:
        raise cc.fail(f"rejected: {res.get('log') or 'code ' + str(res.get('code'))}", int(res["code"]),
                      res.get("codespace", ""))
    summary = {"txhash": digest, "from": Address(sender).to_bech32(prefix), "to": Address(recipient).to_bech32(prefix),
               "amount": coins_str(coins), "fee": str(fee_coin), "sequence": sequence}
    if no_wait:
        cc.emit({**summary, "status": "in mempool"}, f"tx {digest} accepted into the mempool")
        return
    out = client.wait_tx(digest, wait_timeout, raw=raw, note=cc.note)
    result = {**summary, "height": out.height, "code": out.code, "codespace": out.codespace, "log": out.log}
    if out.code != 0:
        if cc.output == "json":
            cc.emit(result, "")
        raise cc.fail(f"tx {digest} was included at height {out.height} but failed: {out.log}", out.code,
                      out.codespace)
    cc.emit(result, f"sent {coins_str(coins)} to {summary['to']} (fee {fee_coin}) in block {out.height}, "
                    f"tx {digest}")


@click.group("query", short_help="Read chain state from a node.")
def query() -> None:
    """Read chain state from a node (optionally with Merkle proofs checked against block headers)."""


def _proof_note(client: NodeClient, r: QueryResult, prove: bool) -> tuple[dict[str, Any], str]:
    if not prove:
        return {}, ""
    app_hash = client.verify_proof(r)
    return ({"proof": {"verified": True, "height": r.height, "app_hash": app_hash.hex().upper()}},
            f"\nproof verified against the app hash of block {r.height + 1} ({app_hash.hex().upper()[:16]}...)")


height_option = click.option("--height", type=click.IntRange(min=0), default=0, help="At this height (0: latest).")


@query.command("account")
@click.argument("address")
@height_option
@click.option("--prove", is_flag=True, help="Fetch a Merkle proof and verify it against the block header.")
@client_command
def account(address: str, height: int, prove: bool, cc: ClientContext) -> None:
    """Sequence and public key of an account (ADDRESS or a key name)."""
    addr = Address(cc.resolve_address(address))
    r = cc.client.query_ok(f"/account/{addr.to_bech32(cc.prefix())}", height=height, prove=prove)
    data = r.json()
    extra, note = _proof_note(cc.client, r, prove)
    cc.emit({**data, "height": r.height, **extra},
            f"{data['address']}: sequence {data['sequence']}, public key {data['public_key'] or '(none yet)'} "
            f"at height {r.height}{note}")


@query.command("balance")
@click.argument("address")
@click.option("--denom", default=None, help="One denom (default: every balance of ADDRESS).")
@height_option
@click.option("--prove", is_flag=True,
              help="Fetch Merkle proofs of the balances shown and verify them against the block header.")
@client_command
def balance(address: str, denom: str | None, height: int, prove: bool, cc: ClientContext) -> None:
    """Balances of ADDRESS (or a key name)."""
    client = cc.client
    prefix = cc.prefix()
    addr = Address(cc.resolve_address(address)).to_bech32(prefix)
    if denom is not None:
        cc.check_denom(denom, "--denom")
        denoms = [denom]
    elif prove:
        listed = client.query_ok(f"/balances/{addr}", height=height).json()["balances"]
        denoms = [b["denom"] for b in listed] or [NATIVE_DENOM]
    else:
        r = client.query_ok(f"/balances/{addr}", height=height)
        data = r.json()
        text = ", ".join(f"{b['amount']}{b['denom']}" for b in data["balances"]) or "nothing"
        cc.emit({**data, "height": r.height}, f"{addr}: {text} at height {r.height}")
        return
    rows, lines = [], []
    for d in denoms:
        r = client.query_ok(f"/balance/{addr}/{d}", height=height, prove=prove)
        data = r.json()
        extra, note = _proof_note(client, r, prove)
        rows.append({**data, "height": r.height, **extra})
        lines.append(f"{addr}: {data['amount']}{d} at height {r.height}{note}")
        height = height or r.height  # every proof at the same height
    cc.emit(rows[0] if len(rows) == 1 else {"address": addr, "balances": rows}, "\n".join(lines))


@query.command("params")
@client_command
def params(cc: ClientContext) -> None:
    """Every module's params, by module name."""
    data = cc.params()
    cc.emit(data, json.dumps(data, indent=2))


@query.command("denoms", short_help="The denoms this chain knows (fees, staking, supply).")
@client_command
def denoms(cc: ClientContext) -> None:
    """The denoms this chain knows: fee denoms, the staking denom, and every denom with a supply."""
    known = cc.known_denoms()
    cc.emit([{"denom": d, "why": w} for d, w in known.items()],
            "\n".join(f"{d:<48} {w}" for d, w in known.items()))


@query.command("routes")
@client_command
def routes(cc: ClientContext) -> None:
    """The query routes of every module (for `sidechain query path`)."""
    data = cc.client.query_ok("/app/routes").json()
    cc.emit(data, "\n".join(f"{r['module']:<12} {r['usage']}" for r in data["routes"]))


@query.command("path", short_help="Run any module query route, e.g. /supply.")
@click.argument("path")
@height_option
@click.option("--prove", is_flag=True, help="Fetch a Merkle proof and verify it (provable routes).")
@client_command
def query_path(path: str, height: int, prove: bool, cc: ClientContext) -> None:
    """Any module route, e.g. /supply or /balance/side1.../stake (see `sidechain query routes`)."""
    client = cc.client
    r = client.query_ok("/" + path.lstrip("/"), height=height, prove=prove)
    if prove and not r.key:
        raise cc.fail(f"{path}: this route has no proof (it reads more than one key)")
    try:
        data = r.json()
    except ValueError:
        data = {"raw": r.value.hex()}
    extra, note = _proof_note(client, r, prove)
    cc.emit({"height": r.height, "value": data, **extra}, f"{json.dumps(data, indent=2)}\nat height {r.height}{note}")


@query.command("tx")
@click.argument("txhash")
@client_command
def query_tx(txhash: str, cc: ClientContext) -> None:
    """A transaction's result by its hash."""
    h = txhash.upper().removeprefix("0X")
    if len(h) != 64 or any(c not in "0123456789ABCDEF" for c in h):
        raise cc.fail(f"tx hash {txhash!r} must be 64 hex digits")
    out = cc.client.find_tx(h)
    if out is None:
        raise cc.fail(f"tx {h} not found (not yet included, or the node does not index txs)")
    data = {"txhash": h, "height": out.height, "code": out.code, "codespace": out.codespace, "log": out.log,
            "events": out.events}
    status = "ok" if out.code == 0 else f"failed ({out.codespace} {out.code}: {out.log})"
    cc.emit(data, f"tx {h}: height {out.height}, {status}")


@query.command("block")
@click.argument("height", type=click.IntRange(min=1), required=False)
@client_command
def block(height: int | None, cc: ClientContext) -> None:
    """A block's header summary (latest if HEIGHT is omitted)."""
    client = cc.client
    try:
        res = client.rpc("block", **({"height": str(height)} if height else {}))
    except ClientError as e:
        if height is None:
            raise
        st = client.status()["sync_info"]
        latest = int(st["latest_block_height"])
        earliest = int(st.get("earliest_block_height") or 1)
        if height > latest:
            raise cc.fail(f"block {height} does not exist yet: the latest is {latest}") from None
        if height < earliest:
            raise cc.fail(f"block {height} is pruned on this node: it keeps blocks {earliest}-{latest}") from None
        raise cc.fail(str(e)) from None
    hdr = res["block"]["header"]
    data = {"height": int(hdr["height"]), "hash": res["block_id"]["hash"], "time": hdr["time"],
            "proposer": hdr["proposer_address"], "app_hash": hdr["app_hash"],
            "txs": len(res["block"]["data"]["txs"] or [])}
    cc.emit(data, f"block {data['height']} {data['hash']}: {data['txs']} txs, time {data['time']}, "
                  f"app hash in its header {data['app_hash']} (the state after block {data['height'] - 1}), "
                  f"proposer {data['proposer']}")


__all__ = ["DEFAULT_NODE", "Coin", "node_url", "query", "tx"]
