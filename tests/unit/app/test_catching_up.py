"""A node that is catching up refuses new txs with a stable, retryable code (mempool 3) before anything is
checked: it has not taken part in deciding its last block and that block's header time is old. A node in
consensus (PrepareProposal / ProcessProposal for its last height or the next) or with a recent last block
accepts; rechecks are never refused."""

from __future__ import annotations

from pathlib import Path

from sidechain.app import BEHIND_AFTER_NS, Application, NodeBehind
from tests.unit.app.appchain import GENESIS_NS, prepare, process, run_block
from tests.unit.app.test_app_txs import ALICE, BOB, funded
from tests.unit.tx.chain import addr, send_tx

SECOND = 10**9


def header_ns(height: int) -> int:
    return GENESIS_NS + height * SECOND  # appchain.env's header times


def at(app: Application, now_ns: int) -> Application:
    app.behind_after_ns = BEHIND_AFTER_NS
    app.clock = lambda: now_ns  # type: ignore[method-assign]
    return app


def is_behind(r) -> bool:  # type: ignore[no-untyped-def]
    return (r.codespace, r.code) == (NodeBehind.codespace, NodeBehind.code)


def test_blocks_applied_without_consensus_and_old_refuse_then_recent_accept() -> None:
    app = funded()  # block 1 finalized and committed with no proposal call: block sync, a replay
    tx = send_tx(ALICE, addr(BOB), 5, 0)
    at(app, header_ns(1) + BEHIND_AFTER_NS + SECOND)
    r = app.check_tx(tx, recheck=False)
    assert is_behind(r), r
    assert "catching up" in r.log and "retry" in r.log
    # Nothing moved: the same tx is accepted once the node is current.
    at(app, header_ns(1) + BEHIND_AFTER_NS)
    assert app.check_tx(tx, recheck=False).code == 0


def test_a_node_in_consensus_accepts_whatever_its_last_block_time() -> None:
    app = at(funded(), header_ns(1) + 3600 * SECOND)  # an hour after block 1 (an idle chain, no empty blocks)
    tx0 = send_tx(ALICE, addr(BOB), 5, 0)
    assert is_behind(app.check_tx(tx0, recheck=False))
    assert process(app, []) is True  # ProcessProposal for height 2: this node is in consensus
    assert app.check_tx(tx0, recheck=False).code == 0
    run_block(app, [tx0])  # height 2 committed: the height it saw in consensus, still live
    tx1 = send_tx(ALICE, addr(BOB), 5, 1)
    assert app.check_tx(tx1, recheck=False).code == 0
    # Height 3 is applied without a proposal call (e.g. consensus catch-up): no longer live, and old.
    run_block(app, [tx1])
    tx2 = send_tx(ALICE, addr(BOB), 5, 2)
    assert is_behind(app.check_tx(tx2, recheck=False))
    prepare(app, [])  # proposing height 4 itself
    assert app.check_tx(tx2, recheck=False).code == 0


def test_rechecks_are_not_refused_and_the_check_is_off_by_default(tmp_path: Path) -> None:
    app = funded(tmp_path / "a")
    tx = send_tx(ALICE, addr(BOB), 5, 0)
    assert app.behind_after_ns == 0
    app.clock = lambda: header_ns(1) + 10**6 * SECOND  # type: ignore[method-assign]
    assert app.check_tx(tx, recheck=False).code == 0  # off: in process, tests and benches
    at(app, header_ns(1) + 10**6 * SECOND)
    assert app.check_tx(send_tx(ALICE, addr(BOB), 5, 1), recheck=True).code == 0


def test_a_restarted_node_is_behind_until_consensus_reaches_it(tmp_path: Path) -> None:
    app = funded(tmp_path / "node")
    process(app, [])
    run_block(app, [])  # height 2, decided with this node
    app.close()
    restarted = at(Application(tmp_path / "node"), header_ns(2) + 30 * SECOND)
    tx = send_tx(ALICE, addr(BOB), 5, 0)
    assert is_behind(restarted.check_tx(tx, recheck=False))  # a new process: nothing seen in consensus yet
    process(restarted, [])
    assert restarted.check_tx(tx, recheck=False).code == 0
    restarted.close()
