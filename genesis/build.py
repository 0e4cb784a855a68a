"""Assemble one genesis.json from signed join files, funded accounts and params (`collect`).

The genesis validators go in `app_state.staking.validators`, one entry per join (consensus key,
operator, bridge address and its proof, commission, the stake as self-delegation); InitChain bonds
each stake from its operator's balance and returns the set (genesis.json's own `validators` stays
empty), with power = stake // power_reduction. Each validator's operator account is funded with
the operator coins unless the accounts list already funds it; either way it must hold the stake.
The result is checked by the modules' own genesis code and by InitChain on a scratch state before
it is written, so a genesis this tool writes is one the nodes accept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from genesis.errors import CollectError, SpecError
from genesis.join import SignedJoin
from genesis.spec import CHAIN_ID_RE, GenesisParams, _coins, _obj
from sidechain.errors import SidechainError
from sidechain.module import CHAIN
from sidechain.types import Coin, coin_json


@dataclass(frozen=True)
class Funding:
    address: str  # bech32
    coins: tuple[Coin, ...]


def parse_accounts(obj: object, source: str) -> list[Funding]:
    """An accounts file: [{"address": "side1...", "coins": "1000stake,5l1/eth"}, ...]."""
    if not isinstance(obj, list):
        raise SpecError(f'{source}: expected a list of {{"address", "coins"}}')
    out = []
    for i, item in enumerate(obj):
        p = f"{source}[{i}]"
        d = _obj(item, p, ("address", "coins"))
        if not isinstance(d.get("address"), str) or "coins" not in d:
            raise SpecError(f'{p}: needs "address" (bech32) and "coins"')
        out.append(Funding(str(d["address"]), _coins(d["coins"], f"{p}.coins")))
    return out


def read_accounts_file(path: Path) -> list[Funding]:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"accounts file {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise SpecError(f"accounts file {path} is not valid JSON: {e}") from None
    return parse_accounts(obj, str(path))


def read_params_file(path: Path) -> GenesisParams:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"params file {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise SpecError(f"params file {path} is not valid JSON: {e}") from None
    try:
        return GenesisParams.from_json(obj)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None


def _name(j: SignedJoin) -> str:
    return j.source or f"join of {j.body.moniker}"


def check_joins(chain_id: str, joins: Sequence[SignedJoin]) -> None:
    """Every join is for `chain_id`; no two claim one validator key, moniker, node, operator, p2p
    address or bridge address."""
    if not CHAIN_ID_RE.match(chain_id):
        raise CollectError(f"chain id {chain_id!r} must be 1-49 letters, digits, '.', '_' or '-'")
    if not joins:
        raise CollectError("no join files given: a genesis needs at least one validator")
    by_key: dict[bytes, SignedJoin] = {}
    unique: dict[str, dict[str, SignedJoin]] = {
        "moniker": {},
        "node id": {},
        "operator": {},
        "p2p address": {},
        "bridge address": {},
    }
    for j in joins:
        b = j.body
        if b.chain_id != chain_id:
            raise CollectError(f"{_name(j)}: made for chain {b.chain_id!r}, not {chain_id!r}")
        prev = by_key.get(b.pub_key)
        if prev is not None:
            if prev.body == b:
                raise CollectError(
                    f"{_name(j)}: duplicate of {_name(prev)} (same validator {b.moniker}, "
                    f"key {b.pub_key_b64}); give each join file once"
                )
            diff = [k for k, v in b.to_json().items() if prev.body.to_json()[k] != v]
            raise CollectError(
                f"{_name(j)}: conflicts with {_name(prev)}: same validator key {b.pub_key_b64} "
                f"but different {', '.join(diff)}; keep only the one you mean"
            )
        by_key[b.pub_key] = j
        for what, value in (
            ("moniker", b.moniker),
            ("node id", b.node_id),
            ("operator", b.operator),
            ("p2p address", b.p2p_address),
            ("bridge address", b.bridge_address),
        ):
            other = unique[what].get(value)
            if other is not None:
                raise CollectError(
                    f"{_name(j)}: conflicts with {_name(other)}: {what} {value} is used by both "
                    f"validators {other.body.moniker} and {b.moniker}"
                )
            unique[what][value] = j


def genesis_time_now() -> str:
    """RFC 3339 in UTC, as CometBFT writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def assemble_genesis(
    chain_id: str,
    joins: Sequence[SignedJoin],
    accounts: Sequence[Funding],
    params: GenesisParams,
    operator_coins: tuple[Coin, ...],
    genesis_time: str | None = None,
) -> dict[str, object]:
    """The genesis.json document, checked by every module's genesis rules."""
    check_joins(chain_id, joins)
    funded = {a.address for a in accounts}
    balances = [{"address": a.address, "coins": [coin_json(c) for c in a.coins]} for a in accounts]
    for j in joins:
        if j.body.operator not in funded and operator_coins:
            balances.append({"address": j.body.operator, "coins": [coin_json(c) for c in operator_coins]})
            funded.add(j.body.operator)
    _check_stakes(joins, accounts, params, operator_coins)
    present = CHAIN.default_genesis_json()  # a module absent by default (the bridge) is added by its tooling
    app_state: dict[str, object] = {
        m.name: {"params": params.module(m.name)} for m in CHAIN if m.params_type is not None and m.name in present
    }
    app_state["auth"] = {**app_state["auth"], "accounts": []}  # type: ignore[dict-item]
    app_state["bank"] = {**app_state["bank"], "balances": balances}  # type: ignore[dict-item]
    app_state["staking"] = {**app_state["staking"], "validators": [  # type: ignore[dict-item]
        {"operator": j.body.operator, "consensus_pubkey": j.body.pub_key_b64, "bridge_address": j.body.bridge_address,
         "bridge_key_proof": j.body.bridge_key_proof, "moniker": j.body.moniker, "details": "",
         "commission_bps": j.body.commission_bps, "max_commission_bps": max(2000, j.body.commission_bps),
         "max_change_bps": 100, "min_self_delegation": "1", "self_delegation": str(j.body.stake)}
        for j in joins]}
    check_app_state(app_state, chain_id)
    return {
        "genesis_time": genesis_time or genesis_time_now(),
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": params.consensus.to_genesis_json(),
        "validators": [],
        "app_hash": "",
        "app_state": app_state,
    }


def _check_stakes(
    joins: Sequence[SignedJoin], accounts: Sequence[Funding], params: GenesisParams, operator_coins: tuple[Coin, ...]
) -> None:
    """Each join's stake is at least one unit of power and its operator holds it in the genesis:
    the checks InitChain makes, here where they can name the join file."""
    denom, reduction = params.staking.bond_denom, params.staking.power_reduction
    for j in joins:
        b = j.body
        if b.stake < reduction:
            raise CollectError(
                f"{_name(j)}: stake {b.stake} is less than one unit of power ({reduction}{denom}); "
                "make the join again with a larger --stake"
            )
        own = [a for a in accounts if a.address == b.operator]
        coins = [c for a in own for c in a.coins] if own else list(operator_coins)
        held = sum(int(c.amount) for c in coins if c.denom == denom)
        if held < b.stake:
            where = "the accounts file" if own else "--operator-coins"
            raise CollectError(
                f"{_name(j)}: operator {b.operator} holds {held}{denom} ({where}), less than the stake "
                f"{b.stake} it bonds; fund it with at least {b.stake}{denom}"
            )


def check_app_state(app_state: dict[str, object], chain_id: str = "", vote_extensions_enable_height: int = 1) -> None:
    """The app_state as InitChain will read it: every module's section by the module's own rules,
    then InitChain itself on a scratch state (funds for every self-delegation, the bridge key proofs
    when `chain_id` is given), and a validator set (InitChain refuses a genesis without one)."""
    from sidechain.store import CacheKV, MemoryBackend

    try:
        genesis = CHAIN.parse_genesis(app_state)
        updates = CHAIN.init_genesis(CacheKV(MemoryBackend()), genesis, chain_id,
                                     vote_extensions_enable_height=vote_extensions_enable_height)
    except SidechainError as e:
        raise CollectError(f"the genesis would be invalid: {e}") from None
    if not updates:
        raise CollectError("the genesis would be invalid: app_state.staking.validators: no validators")


def write_genesis(path: Path, genesis: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(genesis, indent=2) + "\n")


def persistent_peers(joins: Sequence[SignedJoin], exclude_node_id: str = "") -> str:
    return ",".join(j.body.peer for j in joins if j.body.node_id != exclude_node_id)
