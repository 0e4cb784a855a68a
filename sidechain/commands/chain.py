"""`sidechain tx` and `sidechain query`: talk to a running node through CometBFT's RPC.

`--node` is the RPC URL (default: from `--home`'s config.toml, else http://127.0.0.1:26657).
Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sidechain import keyring as kr
from sidechain.bank.msgs import MsgSend
from sidechain.client import ClientError, NodeClient, QueryResult
from sidechain.commands.keys import PASSPHRASE_ENV, KeysError, _one_line_errors, _passphrase
from sidechain.tx import build_signed_tx, tx_hash
from sidechain.types import Address, Coin, bech32_decode, coins_str, parse_coins

DEFAULT_NODE = "http://127.0.0.1:26657"


def node_url(home: Path | None, node: str | None) -> str:
    """--node, else the RPC address in HOME's config.toml, else the default."""
    if node:
        return node.rstrip("/")
    if home is not None and (home / "config" / "config.toml").is_file():
        from sidechain.cometbft import read_rpc_laddr
        from sidechain.config import NodeHome

        return read_rpc_laddr(NodeHome(home))
    return DEFAULT_NODE


def _client_options(fn: Any) -> Any:
    fn = click.option("--node", default=None, help=f"CometBFT RPC URL (default: from --home, else {DEFAULT_NODE}).")(fn)
    fn = click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
                      envvar="SIDECHAIN_HOME", help="Node home: its keyring and RPC address.")(fn)
    fn = click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)(fn)
    return _one_line_errors(_client_errors(fn))


def _client_errors(fn: Any) -> Any:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            raise KeysError(str(e), kwargs.get("output", "text")) from None

    return wrapper


def _emit(output: str, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if output == "json" else text)


def _prefix(client: NodeClient) -> str:
    return str(client.params()["auth"]["address_prefix"])


def _resolve_address(text: str, home: Path | None, prefix: str) -> bytes:
    """A bech32 address, or the name of a key in HOME's keyring."""
    if text.startswith(prefix + "1"):
        return bech32_decode(text, prefix)
    if home is not None:
        try:
            return bytes(kr.Keyring(home).show(text).address)
        except kr.KeyNotFound:
            pass
    return bech32_decode(text, prefix)  # raises naming the expected prefix


@click.group("tx")
def tx() -> None:
    """Sign and broadcast transactions."""


@tx.command("send")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--fee", required=True, help="Fee, e.g. 1stake (must meet the chain's minimum for its denom).")
@click.option("--memo", default="", help="A note stored with the tx.")
@click.option("--sequence", type=int, default=None, help="Account sequence (default: read from the node).")
@click.option("--timeout-height", type=int, default=0, help="Invalid in blocks above this height (0: none).")
@click.option("--no-wait", is_flag=True, help="Return once the mempool accepts it; don't wait for a block.")
@click.option("--wait-timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for inclusion.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help=f"Keyring passphrase file (else ${PASSPHRASE_ENV}, else a prompt).")
@_client_options
def send(from_key: str, to: str, amount: str, fee: str, memo: str, sequence: int | None, timeout_height: int,
         no_wait: bool, wait_timeout: float, passphrase_file: Path | None, home: Path | None, node: str | None,
         output: str) -> None:
    """Send AMOUNT (e.g. 10stake or 5stake,3l1/eth) from key FROM to address TO."""
    if home is None:
        raise KeysError("--home is required: the key FROM is read from HOME/keyring", output)
    client = NodeClient(node_url(home, node))
    chain_id = client.chain_id()
    prefix = _prefix(client)
    info = kr.Keyring(home).show(from_key)
    sender = bytes(info.address)
    recipient = _resolve_address(to, home, prefix)
    coins = parse_coins(amount)
    fees = parse_coins(fee)
    if len(fees) != 1:
        raise KeysError(f"--fee takes one coin, e.g. 1stake, not {fee!r}", output)
    fee_coin = fees[0]
    if sequence is None:
        sequence = int(client.account(Address(sender).to_bech32(prefix))["sequence"])
    passphrase = _passphrase(passphrase_file, PASSPHRASE_ENV, f"passphrase of {from_key!r}", new=False)
    key = kr.Keyring(home).signing_key(from_key, passphrase)
    raw = build_signed_tx(key, chain_id, [MsgSend(sender, recipient, coins).to_proto()], sequence,
                          fee_coin, memo=memo, timeout_height=timeout_height)
    digest = tx_hash(raw).hex().upper()
    res = client.broadcast_sync(raw)
    if int(res.get("code", 0)) != 0:
        raise KeysError(f"rejected: {res.get('log') or 'code ' + str(res.get('code'))}", output,
                        int(res["code"]), res.get("codespace", ""))
    summary = {"txhash": digest, "from": Address(sender).to_bech32(prefix), "to": Address(recipient).to_bech32(prefix),
               "amount": coins_str(coins), "fee": str(fee_coin), "sequence": sequence}
    if no_wait:
        _emit(output, {**summary, "status": "in mempool"}, f"tx {digest} accepted into the mempool")
        return
    out = client.wait_tx(digest, wait_timeout)
    result = {**summary, "height": out.height, "code": out.code, "codespace": out.codespace, "log": out.log}
    if out.code != 0:
        if output == "json":
            _emit(output, result, "")
        raise KeysError(f"tx {digest} was included at height {out.height} but failed: {out.log}", output,
                        out.code, out.codespace)
    _emit(output, result, f"sent {coins_str(coins)} to {summary['to']} (fee {fee_coin}) in block {out.height}, "
                          f"tx {digest}")


@click.group("query")
def query() -> None:
    """Read chain state from a node."""


def _proof_note(client: NodeClient, r: QueryResult, prove: bool) -> tuple[dict[str, Any], str]:
    if not prove:
        return {}, ""
    app_hash = client.verify_proof(r)
    return ({"proof": {"verified": True, "height": r.height, "app_hash": app_hash.hex().upper()}},
            f"\nproof verified against the app hash of block {r.height + 1} ({app_hash.hex().upper()[:16]}...)")


@query.command("account")
@click.argument("address")
@click.option("--height", type=int, default=0, help="At this height (0: latest).")
@click.option("--prove", is_flag=True, help="Fetch a Merkle proof and verify it against the block header.")
@_client_options
def account(address: str, height: int, prove: bool, home: Path | None, node: str | None, output: str) -> None:
    """Sequence and public key of an account (ADDRESS or a key name)."""
    client = NodeClient(node_url(home, node))
    addr = Address(_resolve_address(address, home, _prefix(client)))
    r = client.query_ok(f"/account/{addr.to_bech32(_prefix(client))}", height=height, prove=prove)
    data = r.json()
    extra, note = _proof_note(client, r, prove)
    _emit(output, {**data, "height": r.height, **extra},
          f"{data['address']}: sequence {data['sequence']}, public key {data['public_key'] or '(none yet)'} "
          f"at height {r.height}{note}")


@query.command("balance")
@click.argument("address")
@click.option("--denom", default=None, help="One denom (with --prove); default: all balances.")
@click.option("--height", type=int, default=0, help="At this height (0: latest).")
@click.option("--prove", is_flag=True, help="Fetch a Merkle proof and verify it (needs --denom).")
@_client_options
def balance(address: str, denom: str | None, height: int, prove: bool, home: Path | None, node: str | None,
            output: str) -> None:
    """Balances of ADDRESS (or a key name)."""
    client = NodeClient(node_url(home, node))
    prefix = _prefix(client)
    addr = Address(_resolve_address(address, home, prefix)).to_bech32(prefix)
    if prove and denom is None:
        denom = "stake"
    if denom is not None:
        r = client.query_ok(f"/balance/{addr}/{denom}", height=height, prove=prove)
        data = r.json()
        extra, note = _proof_note(client, r, prove)
        _emit(output, {**data, "height": r.height, **extra},
              f"{addr}: {data['amount']}{denom} at height {r.height}{note}")
        return
    r = client.query_ok(f"/balances/{addr}", height=height)
    data = r.json()
    text = ", ".join(f"{b['amount']}{b['denom']}" for b in data["balances"]) or "nothing"
    _emit(output, {**data, "height": r.height}, f"{addr}: {text} at height {r.height}")


@query.command("params")
@_client_options
def params(home: Path | None, node: str | None, output: str) -> None:
    """Every module's params, by module name."""
    client = NodeClient(node_url(home, node))
    data = client.params()
    _emit(output, data, json.dumps(data, indent=2))


@query.command("routes")
@_client_options
def routes(home: Path | None, node: str | None, output: str) -> None:
    """The query routes of every module of the chain (for `sidechain query path`)."""
    client = NodeClient(node_url(home, node))
    data = client.query_ok("/app/routes").json()
    _emit(output, data, "\n".join(f"{r['module']:<12} {r['usage']}" for r in data["routes"]))


@query.command("path")
@click.argument("path")
@click.option("--height", type=int, default=0, help="At this height (0: latest).")
@click.option("--prove", is_flag=True, help="Fetch a Merkle proof and verify it (provable routes).")
@_client_options
def query_path(path: str, height: int, prove: bool, home: Path | None, node: str | None, output: str) -> None:
    """Any module route, e.g. /supply or /balance/side1.../stake (see `sidechain query routes`)."""
    client = NodeClient(node_url(home, node))
    r = client.query_ok("/" + path.lstrip("/"), height=height, prove=prove)
    if prove and not r.key:
        raise KeysError(f"{path}: this route has no proof (it reads more than one key)", output)
    try:
        data = r.json()
    except ValueError:
        data = {"raw": r.value.hex()}
    extra, note = _proof_note(client, r, prove)
    _emit(output, {"height": r.height, "value": data, **extra},
          f"{json.dumps(data, indent=2)}\nat height {r.height}{note}")


@query.command("tx")
@click.argument("txhash")
@_client_options
def query_tx(txhash: str, home: Path | None, node: str | None, output: str) -> None:
    """A transaction's result by its hash."""
    client = NodeClient(node_url(home, node))
    h = txhash.upper().removeprefix("0X")
    if len(h) != 64 or any(c not in "0123456789ABCDEF" for c in h):
        raise KeysError(f"tx hash {txhash!r} must be 64 hex digits", output)
    out = client.find_tx(h)
    if out is None:
        raise KeysError(f"tx {h} not found (not yet included, or the node does not index txs)", output)
    data = {"txhash": h, "height": out.height, "code": out.code, "codespace": out.codespace, "log": out.log,
            "events": out.events}
    status = "ok" if out.code == 0 else f"failed ({out.codespace} {out.code}: {out.log})"
    _emit(output, data, f"tx {h}: height {out.height}, {status}")


@query.command("block")
@click.argument("height", type=int, required=False)
@_client_options
def block(height: int | None, home: Path | None, node: str | None, output: str) -> None:
    """A block's header summary (latest if HEIGHT is omitted)."""
    client = NodeClient(node_url(home, node))
    res = client.rpc("block", **({"height": str(height)} if height else {}))
    hdr = res["block"]["header"]
    data = {"height": int(hdr["height"]), "hash": res["block_id"]["hash"], "time": hdr["time"],
            "proposer": hdr["proposer_address"], "app_hash": hdr["app_hash"],
            "txs": len(res["block"]["data"]["txs"] or [])}
    _emit(output, data, f"block {data['height']} {data['hash']}: {data['txs']} txs, time {data['time']}, "
                        f"app hash {data['app_hash']}, proposer {data['proposer']}")


__all__ = ["Coin", "query", "tx"]
