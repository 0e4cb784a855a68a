"""ProcessProposal of the block this node's PrepareProposal just answered (same committed height, same env
but the hash, same txs) accepts it without checking every tx again; any other block is checked in full."""

from __future__ import annotations

import dataclasses

import pytest

from sidechain import blocks as b
from sidechain import txflow
from tests.unit.app.appchain import env, prepare, process, run_block
from tests.unit.app.test_app_txs import ALICE, BOB, CAROL, funded
from tests.unit.tx.chain import addr, send_tx


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes of the txs check_stateful runs on."""
    seen: list[bytes] = []
    real = txflow.check_stateful

    def counting(state, tx, e):  # type: ignore[no-untyped-def]
        seen.append(tx.hash)
        return real(state, tx, e)

    monkeypatch.setattr(txflow, "check_stateful", counting)
    return seen


def test_own_proposal_is_not_checked_again(checks: list[bytes]) -> None:
    app = funded()
    txs = [send_tx(ALICE, addr(BOB), 5, s) for s in range(3)] + [send_tx(BOB, addr(CAROL), 1, 0)]
    block = prepare(app, txs)
    assert block == txs and len(checks) == 4
    checks.clear()
    assert process(app, block) is True
    assert checks == []


def test_any_other_block_is_checked_in_full(checks: list[bytes]) -> None:
    app = funded()
    txs = [send_tx(ALICE, addr(BOB), 5, s) for s in range(3)]
    block = prepare(app, txs)
    checks.clear()
    assert process(app, block[:2]) is True  # another proposer's block: fewer txs
    assert len(checks) == 2
    checks.clear()
    later = dataclasses.replace(env(app), time_ns=env(app).time_ns + 1)  # the same txs in another round's header
    assert app.process_proposal(b.ProcessProposalRequest(env=later, txs=tuple(block),
                                                         proposed_last_commit=b.CommitInfo(0, ()))) is True
    assert len(checks) == 3
    bad = [block[0], send_tx(ALICE, addr(BOB), 5, 2)]  # sequence 1 skipped: must be refused
    assert process(app, bad) is False


def test_after_a_commit_the_old_answer_does_not_count(checks: list[bytes]) -> None:
    app = funded()
    txs = [send_tx(ALICE, addr(BOB), 5, 0)]
    block = prepare(app, txs)
    run_block(app, block)
    checks.clear()
    assert process(app, block) is False  # its sequence is used now
    assert len(checks) == 1
