"""`sidechain export`: a stopped node's state at a committed height, as a genesis document.

Every module exports its own section (sidechain/module.py, `ModuleSet.export_genesis`); a section
a module does not keep in state (the genesis validator set, until proof of stake) is copied from
the node's genesis file. The result starts a new chain (`initial_height` = height + 1) whose
modules hold what this one held at that height.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sidechain.app import Application
from sidechain.block import last_block
from sidechain.config import NodeHome, load_config
from sidechain.errors import SidechainError
from sidechain.module import CHAIN, ModuleSet
from sidechain.store import DatabaseLocked, StoreError
from sidechain.store.api import KVReader


class ExportError(SidechainError):
    """The state cannot be exported as asked (no state, node running, height not kept)."""

    codespace = "node"
    code = 6


def export_app_state(reader: KVReader, genesis_app_state: dict[str, Any], modules: ModuleSet = CHAIN) -> dict[str, Any]:
    """Every module's section from `reader`, in module order; a section a module does not keep in
    state comes from the chain's genesis."""
    in_state = modules.export_genesis(reader)
    out: dict[str, Any] = {}
    for m in modules:
        if m.name in in_state:
            out[m.name] = in_state[m.name]
        elif m.name in genesis_app_state:
            out[m.name] = genesis_app_state[m.name]
    return out


def _rfc3339(time_ns: int) -> str:
    dt = datetime.fromtimestamp(time_ns // 10**9, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{time_ns % 10**9:09d}Z"


def export_genesis(home: NodeHome, height: int = 0) -> dict[str, Any]:
    if not (home.app_data / "state.db").exists():
        raise ExportError(f"no application state in {home.app_data}: has this node run?")
    try:
        old = json.loads(home.genesis.read_text())
    except FileNotFoundError:
        raise ExportError(f"no genesis file at {home.genesis}") from None
    except ValueError as e:
        raise ExportError(f"{home.genesis} is not valid JSON: {e}") from None
    tree = load_config(home.app_config).store_tree if home.app_config.exists() else None
    try:
        app = Application(home.app_data, tree=tree)
    except DatabaseLocked:
        raise ExportError(f"the state in {home.app_data} is in use: stop the node first") from None
    except StoreError as e:
        raise ExportError(f"cannot open the state: {e}") from None
    try:
        if not app.last_height:
            raise ExportError("no block committed yet: nothing to export")
        h = height or app.last_height
        if not app.store.oldest_version <= h <= app.last_height:
            raise ExportError(f"height {h} is not kept (kept: {app.store.oldest_version}-{app.last_height})")
        reader = app.store.committed() if h == app.last_height else app.store.reader_at(h)
        _, time_ns = last_block(reader)
        app_state = export_app_state(reader, old.get("app_state") or {}, app.modules)
        return {
            "genesis_time": _rfc3339(time_ns),
            "chain_id": app.chain_id,
            "initial_height": str(h + 1),
            "consensus_params": old.get("consensus_params"),
            "validators": [],
            "app_hash": "",
            "app_state": app_state,
        }
    finally:
        app.close()
