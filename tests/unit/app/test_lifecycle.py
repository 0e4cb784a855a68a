"""Block lifecycle of the application, in process: handshake, staging, commit, restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidechain import blocks as b
from sidechain.app import Application, ConsensusFailure
from sidechain.module import CHAIN
from sidechain.store import CacheKV, MemoryBackend
from tests.support.pos import validator_keys
from tests.unit.app.appchain import app_state

GENESIS_NS = 1_700_000_000 * 10**9


VALKEY = validator_keys(0).consensus_pubkey  # val0 of tests/support/pos.py, 10 units of power


def chain_free_app_state() -> bytes:
    """One genesis for any chain id: the state a one-validator genesis leads to, as exported (the
    staking section as state has no bridge key proof tied to a chain id)."""
    store = CacheKV(MemoryBackend())
    CHAIN.init_genesis(store, CHAIN.parse_genesis(json.loads(app_state([], "test-1"))), "test-1")
    return json.dumps(CHAIN.export_genesis(store)).encode()


def init(app: Application, chain_id: str = "test-1", state: bytes | None = None) -> bytes:
    res = app.init_chain(b.InitChainRequest(
        chain_id=chain_id, time_ns=GENESIS_NS, initial_height=1,
        app_state_bytes=app_state([], chain_id) if state is None else state,
        validators=(), consensus_params=b.ConsensusParams(),
    ))
    assert res.validators == (b.ValidatorUpdate("ed25519", VALKEY, 10),)
    return res.app_hash


def block(app: Application, height: int, txs: tuple[bytes, ...] = ()) -> b.BlockOutput:
    env = b.BlockEnv(chain_id=app.chain_id, height=height, time_ns=GENESIS_NS + height * 10**9,
                     proposer_address=b"\x01" * 20, hash=height.to_bytes(32, "big"))
    return app.finalize_block(b.FinalizeBlockRequest(env=env, txs=txs, decided_last_commit=b.CommitInfo(0, ())))


def test_info_on_empty_app() -> None:
    info = Application(None).info()
    assert info.last_block_height == 0 and info.last_block_app_hash == b""


def test_commit_persists_height_and_hash(tmp_path: Path) -> None:
    app = Application(tmp_path)
    init(app)
    for h in range(1, 4):
        out = block(app, h)
        res = app.commit()
        assert res.height == h and res.app_hash == out.app_hash
    app.close()
    again = Application(tmp_path)
    info = again.info()
    assert info.last_block_height == 3 and info.last_block_app_hash == out.app_hash
    assert again.chain_id == "test-1"
    # The next block continues from there.
    assert block(again, 4).app_hash != out.app_hash
    again.commit()
    assert again.info().last_block_height == 4


def test_finalized_but_uncommitted_block_is_not_persisted(tmp_path: Path) -> None:
    app = Application(tmp_path)
    init(app)
    block(app, 1)
    app.commit()
    committed = app.info()
    block(app, 2)  # finalized, then the process "dies" before Commit
    app.close()
    again = Application(tmp_path)
    assert again.info() == committed
    # CometBFT replays height 2: the same block gives the same hash as a node that never crashed.
    replayed = block(again, 2).app_hash
    ref = Application(None)
    init(ref)
    block(ref, 1)
    ref.commit()
    assert block(ref, 2).app_hash == replayed


def test_two_instances_agree_at_every_height() -> None:
    a, c = Application(None), Application(None)
    assert init(a) == init(c)
    for h in range(1, 20):
        assert block(a, h).app_hash == block(c, h).app_hash
        assert a.commit().app_hash == c.commit().app_hash


def test_chain_id_is_part_of_state() -> None:
    a, c = Application(None), Application(None)
    state = chain_free_app_state()
    assert init(a, "chain-a", state) != init(c, "chain-b", state)
    assert init(Application(None), "chain-a", state) == init(Application(None), "chain-a", state)


def test_wrong_height_is_a_consensus_failure() -> None:
    app = Application(None)
    init(app)
    block(app, 1)
    app.commit()
    with pytest.raises(ConsensusFailure):
        block(app, 3)


def test_commit_without_finalize_is_a_consensus_failure() -> None:
    app = Application(None)
    with pytest.raises(ConsensusFailure):
        app.commit()


def test_init_chain_twice_is_refused(tmp_path: Path) -> None:
    app = Application(tmp_path)
    init(app)
    block(app, 1)
    app.commit()
    with pytest.raises(ConsensusFailure):
        init(app)


def test_genesis_without_validators_is_refused() -> None:
    with pytest.raises(ConsensusFailure, match="no validators"):
        Application(None).init_chain(b.InitChainRequest(
            chain_id="x", time_ns=0, initial_height=1, app_state_bytes=b"{}", validators=(),
            consensus_params=b.ConsensusParams()))


def test_finalize_twice_without_commit_is_a_consensus_failure() -> None:
    app = Application(None)
    init(app)
    block(app, 1)
    with pytest.raises(ConsensusFailure, match="before height 1 was committed"):
        block(app, 1)
