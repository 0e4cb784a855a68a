"""An in-process chain driver for the application: genesis, blocks, commits (no CometBFT)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.types import Amount, Coin
from tests.support.pos import DEFAULT_SELF_DELEGATION, staking_section, validator_keys
from tests.unit.tx.chain import CHAIN_ID, genesis_json

GENESIS_NS = 1_700_000_000 * 10**9
VALKEY = bytes(range(32))


def app_state(balances: Sequence[tuple[bytes, Sequence[Coin]]], chain_id: str = CHAIN_ID) -> bytes:
    """Genesis with `balances` and one validator (val0, its operator funded with exactly its
    self-delegation, which genesis bonds)."""
    op = validator_keys(0)
    state = genesis_json([*balances, (op.operator, [Coin("stake", Amount(DEFAULT_SELF_DELEGATION))])])
    state["staking"] = staking_section(chain_id)
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
