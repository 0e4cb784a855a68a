"""The app's count of CometBFT's mempool: CheckTx refuses "mempool full, retry" before anything moves,
rechecks that pass count again after each Commit, and the limits are read from config.toml."""

from __future__ import annotations

from pathlib import Path

from sidechain.app import MempoolFull
from sidechain.cometbft import read_mempool_limits
from sidechain.config import NodeHome
from tests.unit.app.appchain import run_block
from tests.unit.app.test_app_txs import ALICE, BOB, funded
from tests.unit.tx.chain import addr, send_tx


def test_full_mempool_refuses_before_the_sequence_moves() -> None:
    app = funded()
    app.set_mempool_limits(2, 0)
    txs = [send_tx(ALICE, addr(BOB), 1, s) for s in range(4)]
    assert app.check_tx(txs[0], recheck=False).code == 0
    assert app.check_tx(txs[1], recheck=False).code == 0
    full = app.check_tx(txs[2], recheck=False)
    assert (full.codespace, full.code) == (MempoolFull.codespace, MempoolFull.code)
    assert "mempool full" in full.log and "retry" in full.log
    # Nothing moved: after a block with the first two, the refused tx itself (sequence 2) is next.
    run_block(app, txs[:2])
    assert app.mempool.txs == 0
    assert app.check_tx(txs[2], recheck=False).code == 0
    assert app.check_tx(txs[3], recheck=False).code == 0
    assert app.check_tx(send_tx(ALICE, addr(BOB), 1, 4), recheck=False).codespace == "mempool"


def test_rechecks_that_pass_count_and_failures_do_not() -> None:
    app = funded()
    app.set_mempool_limits(3, 0)
    pending = [send_tx(ALICE, addr(BOB), 1, s) for s in range(3)]
    for tx in pending:
        assert app.check_tx(tx, recheck=False).code == 0
    run_block(app, pending[:1])  # CometBFT removes the committed tx, then rechecks the other two
    stale = send_tx(ALICE, addr(BOB), 2, 0)  # a tx the block made invalid (its sequence was used)
    assert app.check_tx(stale, recheck=True).code != 0
    for tx in pending[1:]:
        assert app.check_tx(tx, recheck=True).code == 0
    assert (app.mempool.txs, app.mempool.bytes) == (2, sum(len(t) for t in pending[1:]))
    assert app.check_tx(send_tx(ALICE, addr(BOB), 1, 3), recheck=False).code == 0
    assert app.check_tx(send_tx(ALICE, addr(BOB), 1, 4), recheck=False).codespace == "mempool"
    assert app.check_tx(pending[1], recheck=True).code != 0  # a recheck is never refused as "full"


def test_byte_limit_counts_like_cometbft() -> None:
    app = funded()
    tx0, tx1 = send_tx(ALICE, addr(BOB), 1, 0), send_tx(ALICE, addr(BOB), 1, 1)
    app.set_mempool_limits(0, len(tx0) + len(tx1) - 1)
    assert app.check_tx(tx0, recheck=False).code == 0
    assert app.check_tx(tx1, recheck=False).codespace == "mempool"
    app.set_mempool_limits(0, 0)  # no limit of the app's own
    assert app.check_tx(tx1, recheck=False).code == 0


def _home(tmp_path: Path, mempool: str) -> NodeHome:
    home = NodeHome(tmp_path)
    home.cometbft_config.parent.mkdir(parents=True)
    home.cometbft_config.write_text(f'moniker = "x"\n\n[mempool]\n{mempool}\n')
    return home


def test_limits_read_from_config_toml(tmp_path: Path) -> None:
    assert read_mempool_limits(_home(tmp_path / "a", "size = 50\nmax_txs_bytes = 4096\nrecheck = true")) == (50, 4096)
    assert read_mempool_limits(_home(tmp_path / "b", 'type = "flood"')) == (5000, 1073741824)
    # recheck off: the app cannot count what stays in the mempool, so it leaves the limits to CometBFT.
    assert read_mempool_limits(_home(tmp_path / "c", "size = 50\nrecheck = false")) == (0, 0)
    assert read_mempool_limits(NodeHome(tmp_path / "none")) == (0, 0)
