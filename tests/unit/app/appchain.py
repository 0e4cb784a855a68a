"""An in-process chain driver for the application: genesis, blocks, commits (no CometBFT)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.types import Coin
from tests.unit.tx.chain import CHAIN_ID, genesis_json

GENESIS_NS = 1_700_000_000 * 10**9
VALKEY = bytes(range(32))


def app_state(balances: Sequence[tuple[bytes, Sequence[Coin]]]) -> bytes:
    state = genesis_json(balances)
    state["validators"] = [{"name": "v0", "pub_key": base64.b64encode(VALKEY).decode(), "power": "10"}]
    return json.dumps(state).encode()


def new_app(balances: Sequence[tuple[bytes, Sequence[Coin]]], data_dir: Path | None = None) -> Application:
    app = Application(data_dir)
    app.init_chain(b.InitChainRequest(
        chain_id=CHAIN_ID, time_ns=GENESIS_NS, initial_height=1, app_state_bytes=app_state(balances),
        validators=(), consensus_params=b.ConsensusParams(),
    ))
    return app


def env(app: Application, height: int | None = None) -> b.BlockEnv:
    h = app.last_height + 1 if height is None else height
    return b.BlockEnv(chain_id=app.chain_id, height=h, time_ns=GENESIS_NS + h * 10**9,
                      proposer_address=b"\x01" * 20, hash=h.to_bytes(32, "big"))


def finalize(app: Application, txs: Sequence[bytes]) -> b.BlockOutput:
    return app.finalize_block(b.FinalizeBlockRequest(env=env(app), txs=tuple(txs),
                                                     decided_last_commit=b.CommitInfo(0, ())))


def run_block(app: Application, txs: Sequence[bytes]) -> b.BlockOutput:
    out = finalize(app, txs)
    app.commit()
    return out


def process(app: Application, txs: Sequence[bytes]) -> bool:
    return app.process_proposal(b.ProcessProposalRequest(env=env(app), txs=tuple(txs),
                                                         proposed_last_commit=b.CommitInfo(0, ())))


def prepare(app: Application, txs: Sequence[bytes], max_tx_bytes: int = 1 << 20) -> list[bytes]:
    return app.prepare_proposal(b.PrepareProposalRequest(
        env=env(app), max_tx_bytes=max_tx_bytes, txs=tuple(txs),
        local_last_commit=b.ExtendedCommitInfo(0, ())))
