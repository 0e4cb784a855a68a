"""`sidechain tx staking|distribution ...` and `sidechain query staking|slashing|distribution ...`.

Thin: parse, build the message (validators/msgs.py), sign with a key of HOME's keyring, broadcast,
wait for the block, print (text, or JSON with --output json). A VALIDATOR argument is an
operator's address or a moniker. Errors are one line (sidechain/commands/common.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import click

from sidechain import keyring as kr
from sidechain.commands.common import ClientContext, client_command, read_secret
from sidechain.commands.keys import PASSPHRASE_ENV
from sidechain.errors import InvalidInput
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from sidechain.tx import build_signed_tx, module_msg, tx_hash
from sidechain.types import Address, Coin, parse_coins

# --- shared ----------------------------------------------------------------------------------------


def _tx_options(fn: Any) -> Any:
    fn = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                      default=None, help=f"Keyring passphrase file (else ${PASSPHRASE_ENV}, else a prompt).")(fn)
    fn = click.option("--wait-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
                      help="Seconds to wait for inclusion.")(fn)
    fn = click.option("--no-wait", is_flag=True, help="Return once the mempool accepts it.")(fn)
    fn = click.option("--fee", required=True, help="Fee, e.g. 1stake.")(fn)
    fn = click.option("--from", "from_key", required=True, metavar="KEY", help="The signing key in HOME's keyring.")(fn)
    return client_command(fn)


def _signer(cc: ClientContext, from_key: str) -> bytes:
    home = cc.require_home("the key --from is read from HOME/keyring")
    return bytes(kr.Keyring(home).show(from_key).address)


def _fee(cc: ClientContext, fee: str) -> Coin:
    return cc.fee_coin(fee)  # one coin of an accepted fee denom, at least its minimum


def bond_denom(cc: ClientContext) -> str:
    return str(cc.params()["staking"]["staking"]["bond_denom"])


def _amount(cc: ClientContext, text: str, what: str) -> int:
    """An amount of the bond denom: "100stake" or a bare integer."""
    denom = bond_denom(cc)
    raw = text if not text.isdigit() else f"{text}{denom}"
    try:
        coins = parse_coins(raw)
    except InvalidInput as e:
        raise cc.fail(f"{what} {text!r}: {e.message}") from None
    if len(coins) != 1 or coins[0].denom != denom:
        raise cc.fail(f"{what} {text!r}: staking takes one amount of {denom}, e.g. 1000000{denom}")
    return int(coins[0].amount)


def validator_address(cc: ClientContext, text: str) -> bytes:
    """An operator's address or a moniker, as the chain knows it."""
    r = cc.client.query(f"/staking/validator/{text}")
    if r.code != 0:
        raise cc.fail(f"no validator {text!r} on this chain (give its operator address or moniker; "
                      "`sidechain query staking validators` lists them)")
    return Address.from_bech32(r.json()["operator"], cc.prefix()).__bytes__()


def broadcast(cc: ClientContext, from_key: str, name: str, payload: Any, fee: str, passphrase_file: Path | None,
              no_wait: bool, wait_timeout: float, what: str) -> dict[str, Any]:
    home = cc.require_home("the key --from is read from HOME/keyring")
    fee_coin = _fee(cc, fee)
    chain_id = cc.chain_id()
    signer = _signer(cc, from_key)
    passphrase = read_secret(passphrase_file, PASSPHRASE_ENV, f"passphrase of {from_key!r}")
    key = kr.Keyring(home).signing_key(from_key, passphrase)

    def signed() -> tuple[bytes, int]:  # again after a "not now" refusal: the node's sequence may have moved
        seq = int(cc.client.account(Address(signer).to_bech32(cc.prefix()))["sequence"])
        return build_signed_tx(key, chain_id, [module_msg(name, payload)], seq, fee_coin), seq

    raw, sequence, res = cc.client.broadcast_when_ready(signed, wait_timeout, cc.note)
    digest = tx_hash(raw).hex().upper()
    if int(res.get("code", 0)) != 0:
        raise cc.fail(f"rejected: {res.get('log') or 'code ' + str(res.get('code'))}", int(res["code"]),
                      res.get("codespace", ""))
    summary: dict[str, Any] = {"txhash": digest, "fee": str(fee_coin), "sequence": sequence}
    if no_wait:
        cc.emit({**summary, "status": "in mempool"}, f"tx {digest} accepted into the mempool")
        return summary
    out = cc.client.wait_tx(digest, wait_timeout, raw=raw, note=cc.note)
    result = {**summary, "height": out.height, "code": out.code, "codespace": out.codespace, "log": out.log,
              "events": out.events}
    if out.code != 0:
        if cc.output == "json":
            cc.emit(result, "")
        raise cc.fail(f"tx {digest} was included at height {out.height} but failed: {out.log}", out.code,
                      out.codespace)
    cc.emit(result, f"{what} in block {out.height}, tx {digest}")
    return result


# --- tx staking --------------------------------------------------------------------------------------


@click.group("staking", short_help="Validators and delegations.")
def tx_staking() -> None:
    """Create and edit validators, delegate, unbond, redelegate, unjail."""


def _bridge_private_key(node_home: Path | None, keystore: Path | None, passphrase_file: Path | None) -> bytes:
    """The bridge key: an Ethereum keystore (e.g. from `sidechain keys bridge-key`) when given, else
    the node home's config/bridge_key.json (made by `sidechain init`)."""
    if keystore is not None:
        from bridge.keys import load_account

        return bytes(load_account(keystore, passphrase_file=passphrase_file).key)
    if node_home is None:
        raise click.UsageError("give --node-home (its config/bridge_key.json) or --bridge-keystore")
    from genesis.home import load_bridge_key

    return load_bridge_key(node_home)


def _node_keys(node_home: Path, chain_id: str, operator: bytes, keystore: Path | None,
               keystore_passphrase: Path | None) -> tuple[bytes, bytes, bytes]:
    """(consensus pubkey, bridge address, bridge proof): the consensus key from the validator node's
    home, the proof signed here with the bridge key."""
    from genesis.keys import load_validator_key
    from validators.bridgekey import sign_bridge_proof

    vkey = load_validator_key(node_home / "config" / "priv_validator_key.json")
    bridge_address, proof = sign_bridge_proof(_bridge_private_key(node_home, keystore, keystore_passphrase),
                                              chain_id, operator)
    return vkey.pub_key, bridge_address, proof


_keystore_options = (
    click.option("--bridge-keystore", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                 help="The bridge key as an Ethereum keystore (`sidechain keys bridge-key`); default: the node "
                      "home's config/bridge_key.json."),
    click.option("--bridge-passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 default=None, help="Passphrase of --bridge-keystore (else $BRIDGE_PASSPHRASE, else a prompt)."),
)


def _with_keystore(fn: Any) -> Any:
    for opt in reversed(_keystore_options):
        fn = opt(fn)
    return fn


@tx_staking.command("create-validator")
@click.option("--node-home", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="The validator node's home: its consensus key and its bridge key (config/bridge_key.json).")
@click.option("--amount", required=True, help="The self-delegation, e.g. 100000000stake.")
@click.option("--moniker", required=True)
@click.option("--details", default="")
@click.option("--commission-bps", type=click.IntRange(0, 10_000), default=1000, show_default=True)
@click.option("--max-commission-bps", type=click.IntRange(0, 10_000), default=2000, show_default=True)
@click.option("--max-change-bps", type=click.IntRange(0, 10_000), default=100, show_default=True,
              help="The most the commission may change in 24 h.")
@click.option("--min-self-delegation", default="1", show_default=True)
@_with_keystore
@_tx_options
def create_validator(node_home: Path, amount: str, moniker: str, details: str, commission_bps: int,
                     max_commission_bps: int, max_change_bps: int, min_self_delegation: str,
                     bridge_keystore: Path | None, bridge_passphrase_file: Path | None, from_key: str,
                     fee: str, no_wait: bool, wait_timeout: float, passphrase_file: Path | None,
                     cc: ClientContext) -> None:
    """Make the node at --node-home a validator operated by --from, bonding --amount."""
    operator = _signer(cc, from_key)
    pub, bridge, proof = _node_keys(node_home, cc.chain_id(), operator, bridge_keystore, bridge_passphrase_file)
    min_self = _amount(cc, min_self_delegation, "--min-self-delegation")
    msg = pb.MsgCreateValidator(
        operator=operator, consensus_pubkey=pub, bridge_address=bridge, bridge_key_proof=proof, moniker=moniker,
        details=details, commission_bps=commission_bps, max_commission_bps=max_commission_bps,
        max_change_bps=max_change_bps, min_self_delegation=str(min_self),
        self_delegation=str(_amount(cc, amount, "--amount")))
    broadcast(cc, from_key, "staking.MsgCreateValidator", msg, fee, passphrase_file, no_wait, wait_timeout,
              f"created validator {moniker} (consensus key {base64.b64encode(pub).decode()}, bridge 0x{bridge.hex()})")


@tx_staking.command("edit-validator")
@click.option("--moniker", default=None)
@click.option("--details", default=None)
@click.option("--commission-bps", type=click.IntRange(0, 10_000), default=None)
@click.option("--min-self-delegation", default=None)
@click.option("--new-bridge-key-home", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Register the bridge key in this home's config/bridge_key.json instead.")
@_with_keystore
@_tx_options
def edit_validator(moniker: str | None, details: str | None, commission_bps: int | None,
                   min_self_delegation: str | None, new_bridge_key_home: Path | None, bridge_keystore: Path | None,
                   bridge_passphrase_file: Path | None, from_key: str, fee: str,
                   no_wait: bool, wait_timeout: float, passphrase_file: Path | None, cc: ClientContext) -> None:
    """Change the --from operator's validator."""
    operator = _signer(cc, from_key)
    msg = pb.MsgEditValidator(operator=operator)
    if moniker is not None:
        msg.moniker = moniker
    if details is not None:
        msg.details = details
    if commission_bps is not None:
        msg.commission_bps = commission_bps
    if min_self_delegation is not None:
        msg.min_self_delegation = str(_amount(cc, min_self_delegation, "--min-self-delegation"))
    if new_bridge_key_home is not None or bridge_keystore is not None:
        from validators.bridgekey import sign_bridge_proof

        key = _bridge_private_key(new_bridge_key_home, bridge_keystore, bridge_passphrase_file)
        msg.bridge_address, msg.bridge_key_proof = sign_bridge_proof(key, cc.chain_id(), operator)
    broadcast(cc, from_key, "staking.MsgEditValidator", msg, fee, passphrase_file, no_wait, wait_timeout,
              "edited the validator")


@tx_staking.command("delegate")
@click.argument("validator")
@click.argument("amount")
@_tx_options
def delegate(validator: str, amount: str, from_key: str, fee: str, no_wait: bool, wait_timeout: float,
             passphrase_file: Path | None, cc: ClientContext) -> None:
    """Delegate AMOUNT to VALIDATOR (an operator address or a moniker)."""
    op = validator_address(cc, validator)
    n = _amount(cc, amount, "AMOUNT")
    msg = pb.MsgDelegate(delegator=_signer(cc, from_key), validator=op, amount=str(n))
    broadcast(cc, from_key, "staking.MsgDelegate", msg, fee, passphrase_file, no_wait, wait_timeout,
              f"delegated {n}{bond_denom(cc)} to {validator}")


@tx_staking.command("unbond", short_help="Undelegate AMOUNT from VALIDATOR (back after the unbonding time).")
@click.argument("validator")
@click.argument("amount")
@_tx_options
def unbond(validator: str, amount: str, from_key: str, fee: str, no_wait: bool, wait_timeout: float,
           passphrase_file: Path | None, cc: ClientContext) -> None:
    """Undelegate AMOUNT from VALIDATOR: it leaves at once and comes back after the unbonding time."""
    op = validator_address(cc, validator)
    n = _amount(cc, amount, "AMOUNT")
    msg = pb.MsgUndelegate(delegator=_signer(cc, from_key), validator=op, amount=str(n))
    broadcast(cc, from_key, "staking.MsgUndelegate", msg, fee, passphrase_file, no_wait, wait_timeout,
              f"unbonding {n}{bond_denom(cc)} from {validator}")


@tx_staking.command("redelegate")
@click.argument("src")
@click.argument("dst")
@click.argument("amount")
@_tx_options
def redelegate(src: str, dst: str, amount: str, from_key: str, fee: str, no_wait: bool, wait_timeout: float,
               passphrase_file: Path | None, cc: ClientContext) -> None:
    """Move AMOUNT of stake from validator SRC to DST without unbonding."""
    msg = pb.MsgRedelegate(delegator=_signer(cc, from_key), src_validator=validator_address(cc, src),
                           dst_validator=validator_address(cc, dst), amount=str(_amount(cc, amount, "AMOUNT")))
    broadcast(cc, from_key, "staking.MsgRedelegate", msg, fee, passphrase_file, no_wait, wait_timeout,
              f"redelegated {amount} from {src} to {dst}")


@tx_staking.command("unjail")
@_tx_options
def unjail(from_key: str, fee: str, no_wait: bool, wait_timeout: float, passphrase_file: Path | None,
           cc: ClientContext) -> None:
    """Bring the --from operator's jailed validator back (after its jail time)."""
    msg = pb.MsgUnjail(operator=_signer(cc, from_key))
    broadcast(cc, from_key, "staking.MsgUnjail", msg, fee, passphrase_file, no_wait, wait_timeout, "unjailed")


# --- tx distribution ----------------------------------------------------------------------------


@click.group("distribution", short_help="Rewards and commission.")
def tx_distribution() -> None:
    """Withdraw delegation rewards and validator commission."""


@tx_distribution.command("withdraw-rewards", short_help="Withdraw --from's rewards (one validator, or every one).")
@click.argument("validator", required=False)
@_tx_options
def withdraw_rewards(validator: str | None, from_key: str, fee: str, no_wait: bool, wait_timeout: float,
                     passphrase_file: Path | None, cc: ClientContext) -> None:
    """Withdraw --from's rewards from VALIDATOR (default: from every validator it delegates to)."""
    op = validator_address(cc, validator) if validator else b""
    msg = pb.MsgWithdrawRewards(delegator=_signer(cc, from_key), validator=op)
    broadcast(cc, from_key, "staking.MsgWithdrawRewards", msg, fee, passphrase_file, no_wait, wait_timeout,
              "withdrew rewards")


@tx_distribution.command("withdraw-commission")
@_tx_options
def withdraw_commission(from_key: str, fee: str, no_wait: bool, wait_timeout: float, passphrase_file: Path | None,
                        cc: ClientContext) -> None:
    """Withdraw the --from operator's accumulated commission."""
    msg = pb.MsgWithdrawCommission(operator=_signer(cc, from_key))
    broadcast(cc, from_key, "staking.MsgWithdrawCommission", msg, fee, passphrase_file, no_wait, wait_timeout,
              "withdrew commission")


# --- queries ------------------------------------------------------------------------------------------


def _query(cc: ClientContext, path: str) -> Any:
    return cc.client.query_ok(path).json()


@click.group("staking", short_help="Validators, delegations, pools, params.")
def q_staking() -> None:
    """Proof-of-stake state."""


@q_staking.command("validators")
@client_command
def q_validators(cc: ClientContext) -> None:
    """Every validator, by tokens (JSON list with -o json)."""
    vals = _query(cc, "/staking/validators")["validators"]
    lines = [f"{v['moniker']:<16} {v['operator']}  {v['status']:<9} power {v['power']:<8} tokens {v['tokens']}"
             f"{'  jailed' if v['jailed'] else ''}{'  tombstoned' if v['tombstoned'] else ''}" for v in vals]
    cc.emit(vals, "\n".join(lines) or "no validators")


@q_staking.command("validator")
@click.argument("validator")
@client_command
def q_validator(validator: str, cc: ClientContext) -> None:
    """One validator (an operator address or a moniker)."""
    v = _query(cc, f"/staking/validator/{validator}")
    cc.emit(v, json.dumps(v, indent=2))


@q_staking.command("delegation")
@click.argument("delegator")
@click.argument("validator")
@client_command
def q_delegation(delegator: str, validator: str, cc: ClientContext) -> None:
    d = Address(cc.resolve_address(delegator)).to_bech32(cc.prefix())
    body = _query(cc, f"/staking/delegation/{d}/{validator}")
    cc.emit(body, f"{d} -> {body['validator']}: {body['tokens']} tokens ({body['shares']} shares)")


for _name, _route, _doc in (("delegations", "delegations", "Every delegation of DELEGATOR."),
                            ("unbonding", "unbonding", "DELEGATOR's unbonding entries."),
                            ("redelegations", "redelegations", "DELEGATOR's unmatured redelegations.")):
    def _make(route: str, doc: str) -> Any:
        @click.argument("delegator")
        @client_command
        def cmd(delegator: str, cc: ClientContext) -> None:
            d = Address(cc.resolve_address(delegator)).to_bech32(cc.prefix())
            body = _query(cc, f"/staking/{route}/{d}")
            cc.emit(body, json.dumps(body, indent=2))
        cmd.__doc__ = doc
        return cmd
    q_staking.command(_name)(_make(_route, _doc))


@q_staking.command("pool")
@client_command
def q_pool(cc: ClientContext) -> None:
    """Bonded and not-bonded tokens."""
    body = _query(cc, "/staking/pool")
    cc.emit(body, f"bonded {body['bonded']}{body['denom']}, not bonded {body['not_bonded']}{body['denom']}")


@q_staking.command("params")
@client_command
def q_params(cc: ClientContext) -> None:
    body = _query(cc, "/staking/params")
    cc.emit(body, json.dumps(body, indent=2))


@click.group("slashing", short_help="Signing windows.")
def q_slashing() -> None:
    """Slashing state."""


@q_slashing.command("signing-info")
@click.argument("validator")
@client_command
def q_signing_info(validator: str, cc: ClientContext) -> None:
    body = _query(cc, f"/slashing/signing-info/{validator}")
    cc.emit(body, json.dumps(body, indent=2))


@click.group("distribution", short_help="Rewards, commission, community pool.")
def q_distribution() -> None:
    """Rewards state (amounts in whole tokens, rounded down; `dec` is exact, in 10^-18 units)."""


@q_distribution.command("rewards")
@click.argument("delegator")
@click.argument("validator", required=False)
@client_command
def q_rewards(delegator: str, validator: str | None, cc: ClientContext) -> None:
    d = Address(cc.resolve_address(delegator)).to_bech32(cc.prefix())
    body = _query(cc, f"/distribution/rewards/{d}" + (f"/{validator}" if validator else ""))
    lines = [f"{r['validator']}: " + (", ".join(f"{c['amount']}{c['denom']}" for c in r["rewards"]) or "0")
             for r in body["rewards"]]
    cc.emit(body, "\n".join(lines) or "no delegations")


@q_distribution.command("commission")
@click.argument("validator")
@client_command
def q_commission(validator: str, cc: ClientContext) -> None:
    body = _query(cc, f"/distribution/commission/{validator}")
    cc.emit(body, ", ".join(f"{c['amount']}{c['denom']}" for c in body["commission"]) or "0")


@q_distribution.command("community-pool")
@client_command
def q_community_pool(cc: ClientContext) -> None:
    body = _query(cc, "/distribution/community-pool")
    cc.emit(body, ", ".join(f"{c['amount']}{c['denom']}" for c in body["pool"]) or "0")
