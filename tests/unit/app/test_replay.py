"""Replaying a recorded chain gives the recorded app hash and tx results at every height.

The recording (data/recorded_chain.json, made by record_chain.py) was taken with the code of an
earlier release: a refactoring must leave every app hash, tx code and event as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from sidechain import blocks as b
from sidechain.app import Application
from tests.unit.app.record_chain import events_digest

RECORDING = Path(__file__).parent / "data" / "recorded_chain.json"


def test_replay_recorded_chain_gives_the_same_app_hashes() -> None:
    rec = json.loads(RECORDING.read_text())
    app = Application()
    init = app.init_chain(b.InitChainRequest(
        chain_id=rec["chain_id"], time_ns=rec["genesis_time_ns"], initial_height=1,
        app_state_bytes=json.dumps(rec["app_state"]).encode(), validators=(), consensus_params=b.ConsensusParams()))
    assert init.app_hash.hex() == rec["init_app_hash"]
    failed = 0
    for blk in rec["blocks"]:
        env = b.BlockEnv(chain_id=rec["chain_id"], height=blk["height"], time_ns=blk["time_ns"],
                         proposer_address=bytes.fromhex(blk["proposer"]), hash=bytes.fromhex(blk["hash"]))
        out = app.finalize_block(b.FinalizeBlockRequest(
            env=env, txs=tuple(bytes.fromhex(t) for t in blk["txs"]), decided_last_commit=b.CommitInfo(0, ())))
        got = [[r.code, r.codespace, events_digest(r.events)] for r in out.tx_results]
        assert got == blk["results"], f"tx results differ at height {blk['height']}"
        assert events_digest(out.events) == blk["events"], f"block events differ at height {blk['height']}"
        assert out.app_hash.hex() == blk["app_hash"], f"app hash differs at height {blk['height']}"
        assert app.commit().app_hash == out.app_hash
        failed += sum(1 for r in out.tx_results if r.code)
    assert len(rec["blocks"]) == 40 and failed > 20  # the recording exercises failures, not only transfers
