"""`bridge guardian pause | unpause | set-daily-limit TOKEN LIMIT`: the guardian's switches (BRIDGE.md section 3,
rule 8), registered on the `bridge guardian` group by bridge/cli.py importing this module.

Each command loads the key (--l1-key NAME of --bridge-config, e.g. `--l1-key guardian` on the testnet, or
--keystore FILE / $BRIDGE_PRIVATE_KEY like the other bridge commands), reads `guardian()` and refuses in one
line before sending anything when the key is not the guardian, then sends the call and prints its L1 tx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.types import TxReceipt

from bridge.cli_common import _bridge_file, _emit, key_options, l1_endpoint_options, output_option
from bridge.deposit import Asset, parse_amount, read_asset
from bridge.errors import ConfigError, InvalidL1Address
from bridge.keys import load_account
from bridge.l1 import BridgeContract, L1Client
from bridge.module.events import token_of
from bridge.protocol import ETH_TOKEN, checksum

UNLIMITED = ("0", "none", "unlimited")


def _guardian_options(fn: Any) -> Any:
    fn = output_option(fn)
    fn = key_options(fn)
    fn = click.option("--l1-key", "l1_key", default=None, metavar="NAME",
                      help="use the key NAME of --bridge-config (its l1_keys, or its guardian: `--l1-key "
                      "guardian` on the testnet)")(fn)
    return l1_endpoint_options(fn)


def _connect(l1_rpc: str | None, contract: str | None, bridge_config: Path | None, l1_key: str | None,
             keystore: Path | None, passphrase_file: Path | None, action: str
             ) -> tuple[BridgeContract, LocalAccount]:
    """The contract (--l1-rpc/--contract, else --bridge-config's) and the key, checked to be its guardian."""
    bridge_file = _bridge_file(bridge_config)
    if l1_key is not None:
        if bridge_file is None:
            raise ConfigError("--l1-key names a key of --bridge-config: give --bridge-config FILE")
        named = bridge_file.key(l1_key)
        keystore = keystore or named.keystore
        passphrase_file = passphrase_file or named.passphrase_file
    rpc = l1_rpc or (bridge_file.l1_rpc if bridge_file else None)
    address = contract or (bridge_file.contract if bridge_file else None)
    if rpc is None or address is None:
        raise ConfigError(f"bridge guardian {action} needs the L1 and the contract: give --l1-rpc URL and "
                          "--contract 0x... (or --bridge-config FILE)")
    account = load_account(keystore, passphrase_file=passphrase_file)
    client = L1Client.connect(rpc, bridge_file.l1_chain_id if bridge_file and not l1_rpc else None)
    bridge = BridgeContract(client, address)
    if not client.code(bridge.address):
        raise ConfigError(f"there is no contract at {bridge.address} on L1 chain {client.chain_id}")
    guardian = bridge.guardian()
    if checksum(account.address) != guardian:
        raise ConfigError(f"{checksum(account.address)} is not the guardian of {bridge.address} (the guardian is "
                          f"{guardian}): {action} needs the guardian's key")
    return bridge, account


def _tx(receipt: TxReceipt) -> dict[str, Any]:
    return {"l1_tx": HexBytes(receipt["transactionHash"]).to_0x_hex(), "l1_block": int(receipt["blockNumber"])}


def _switch(action: str, pause: bool, l1_rpc: str | None, contract: str | None, bridge_config: Path | None,
            l1_key: str | None, keystore: Path | None, passphrase_file: Path | None, output: str) -> None:
    bridge, account = _connect(l1_rpc, contract, bridge_config, l1_key, keystore, passphrase_file, action)
    was = bridge.paused()
    receipt = bridge.pause(account) if pause else bridge.unpause(account)
    now = bridge.paused()
    tx = _tx(receipt)
    payload = {"action": action, "contract": bridge.address, "guardian": checksum(account.address), "paused": now,
               "was_paused": was, **tx}
    state = "paused" if now else "unpaused"
    note = " (it already was)" if was == now else ""
    _emit(output, payload, f"{state} the bridge {bridge.address}{note}: L1 tx {tx['l1_tx']} in block {tx['l1_block']}")


@click.command("pause", short_help="Pause the bridge on L1 (guardian key): no deposits, batches or claims.")
@_guardian_options
def pause_cmd(l1_rpc: str | None, contract: str | None, bridge_config: Path | None, l1_key: str | None,
              keystore: Path | None, passphrase_file: Path | None, output: str) -> None:
    """Pause the contract (guardian only): deposits, batches and deferred claims revert until `unpause`;
    valset updates and the guardian's replacement still go through. Withdrawals keep queueing and being
    signed on the sidechain; a batch that times out while paused is refunded there."""
    _switch("pause", True, l1_rpc, contract, bridge_config, l1_key, keystore, passphrase_file, output)


@click.command("unpause", short_help="Unpause the bridge on L1 (guardian key).")
@_guardian_options
def unpause_cmd(l1_rpc: str | None, contract: str | None, bridge_config: Path | None, l1_key: str | None,
                keystore: Path | None, passphrase_file: Path | None, output: str) -> None:
    """Unpause the contract (guardian only)."""
    _switch("unpause", False, l1_rpc, contract, bridge_config, l1_key, keystore, passphrase_file, output)


def _token(text: str) -> str:
    """ETH (`eth`, `l1/eth`, the zero address), an ERC-20 address or its denom l1/0x<token>."""
    raw = text.strip()
    if raw.lower() in ("eth", "l1/eth"):
        return ETH_TOKEN
    if raw.lower().startswith("l1/"):
        token = token_of(raw.lower())
        if token is None:
            raise ConfigError(f"TOKEN {text!r}: not a bridged denom (l1/eth or l1/0x<token>)")
        return checksum(token)
    try:
        return checksum(raw)
    except InvalidL1Address:
        raise ConfigError(f"TOKEN {text!r}: give eth, an ERC-20 address (0x + 40 hex) or its denom "
                          "l1/0x<token>") from None


def _limit(text: str, asset: Asset) -> int:
    if text.strip().lower() in UNLIMITED:
        return 0
    return parse_amount(text, asset)


def _describe_limit(limit: int, asset: Asset) -> str:
    return "unlimited" if limit == 0 else f"{asset.format(limit)} ({limit} base units)"


@click.command("set-daily-limit", short_help="Cap what batches may release per UTC day, per token.")
@click.argument("token", metavar="TOKEN")
@click.argument("limit", metavar="LIMIT")
@_guardian_options
def set_daily_limit_cmd(token: str, limit: str, l1_rpc: str | None, contract: str | None,
                        bridge_config: Path | None, l1_key: str | None, keystore: Path | None,
                        passphrase_file: Path | None, output: str) -> None:
    """Set the daily limit of TOKEN (guardian only): batches executed in one UTC day may release at most LIMIT
    (amount + fee) of it; a batch that would exceed it reverts (the relayer holds it until the next day).

    TOKEN: eth, an ERC-20 address, or its denom l1/0x<token>. LIMIT: like `bridge deposit`'s AMOUNT (base units
    when digits only; `100eth`, `2.5` or `2.5SYMBOL` in whole units), or 0 / none / unlimited for no limit."""
    address = _token(token)
    if limit.strip().lower() not in UNLIMITED and not limit.strip()[:1].isdigit() and limit.strip()[:1] != ".":
        raise ConfigError(f"LIMIT {limit!r}: an amount (base units, or whole units like 100eth or 2.5), or 0 / none "
                          "/ unlimited")
    bridge, account = _connect(l1_rpc, contract, bridge_config, l1_key, keystore, passphrase_file,
                               "set-daily-limit")
    asset = read_asset(bridge.client, address)
    value = _limit(limit, asset)
    previous = bridge.daily_limit(address)
    receipt = bridge.set_daily_limit(address, value, account)
    tx = _tx(receipt)
    payload = {"action": "set-daily-limit", "contract": bridge.address, "token": asset.token, "denom": asset.denom,
               "limit": str(value), "previous_limit": str(previous), **tx}
    _emit(output, payload, f"daily limit of {asset.symbol} ({asset.token}) set to {_describe_limit(value, asset)}, "
                           f"was {_describe_limit(previous, asset)}: L1 tx {tx['l1_tx']} in block {tx['l1_block']}")
