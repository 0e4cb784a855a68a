"""State sync in process: snapshots of the committed state (format 1), their restore through the four
ABCI methods, and every way a restore can go wrong (each refused or restarted, never a wrong state)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidechain import blocks as b
from sidechain import snapshots as snapshots_mod
from sidechain.app import Application
from sidechain.snapshots import SnapshotManager, restore_area
from sidechain.store import LevelDBBackend, MerkleStore, verify
from sidechain.store import snapshot as fmt
from sidechain.store.errors import ChunkCorrupt, SnapshotRootMismatch
from sidechain.store.keys import STORE_PREFIX, TABLE_FLAT
from tests.unit.app.appchain import new_app, run_block
from tests.unit.tx.chain import addr, coin, key, send_tx

USERS = [key(i) for i in range(40)]
FLAT = STORE_PREFIX + TABLE_FLAT


def _chunks(manager: SnapshotManager, snap: b.Snapshot) -> list[bytes]:
    return [manager.load_chunk(snap.height, snap.format, i) for i in range(snap.chunks)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of ~4 KB, so that a small chain's snapshot has many chunks."""
    monkeypatch.setattr(fmt, "PAYLOAD_LIMIT", 4096)


class Source:
    """A chain on LevelDB with transfers every block and a snapshot every 5 heights."""

    def __init__(self, root: Path) -> None:
        self.app = new_app([(addr(k), [coin(10**9)]) for k in USERS], root / "source")
        self.manager = SnapshotManager(root / "source-snapshots", interval=5, keep_recent=3)
        self.app.enable_snapshots(self.manager)
        self.seq = [0] * len(USERS)

    def block(self) -> bytes:
        h = self.app.last_height + 1
        txs = []
        for j in range(len(USERS) // 2):
            i = (h + j) % len(USERS)
            txs.append(send_tx(USERS[i], addr(key(1000 + h * 100 + j)), 7 + j, self.seq[i]))
            self.seq[i] += 1
        run_block(self.app, txs)
        self.app.snapshot_after_commit()
        return self.app.last_app_hash

    def run(self, n: int) -> None:
        for _ in range(n):
            self.block()
        self.manager.wait()


@pytest.fixture
def source(tmp_path: Path, small_chunks: None) -> Iterator[Source]:
    s = Source(tmp_path)
    s.run(10)
    yield s
    s.manager.stop()
    s.app.close()


def _restore(app: Application, manager: SnapshotManager, snap: b.Snapshot, app_hash: bytes) -> list[int]:
    assert app.offer_snapshot(snap, app_hash) == b.OFFER_ACCEPT
    return [app.apply_snapshot_chunk(i, c, "peer1").result for i, c in enumerate(_chunks(manager, snap))]


def _balance(app: Application, who: bytes) -> b.QueryResponse:
    from sidechain.types import bech32_address

    return app.query(b.QueryRequest(path=f"/balance/{bech32_address(who, 'side')}/stake", data=b"", height=0,
                                    prove=True))


# --- the format, at size --------------------------------------------------------------------


def _store_round_trip(tmp: Path, n: int) -> tuple[float, float]:
    rng = random.Random(n)
    src = MerkleStore(LevelDBBackend(str(tmp / "src")))
    for i in range(n):
        src.set(hashlib.sha256(b"acct%d" % i).digest()[:20], rng.randbytes(40))
    src.commit(7)
    backend = src._backend
    assert isinstance(backend, LevelDBBackend)
    t0 = time.perf_counter()
    chunks: list[bytes] = []
    meta = fmt.write_chunks(backend.snapshot().iterate(FLAT, STORE_PREFIX + b"g"), 7, src.root,
                            lambda i, c: chunks.append(c), skip=len(FLAT))
    t1 = time.perf_counter()
    assert meta.keys == n and all(len(c) <= fmt.MAX_CHUNK_BYTES for c in chunks)
    target = LevelDBBackend(str(tmp / "dst"))
    r = fmt.Restorer(fmt.SnapshotMetadata.from_bytes(meta.to_bytes()), target)
    for i, c in enumerate(chunks):
        r.apply(i, c)
    assert r.finish(src.root) == src.root
    t2 = time.perf_counter()
    restored = MerkleStore(target)
    assert (restored.version, restored.root) == (7, src.root)
    for i in rng.sample(range(n), 50):
        k = hashlib.sha256(b"acct%d" % i).digest()[:20]
        assert restored.get(k) == src.get(k)
    backend.close()
    target.close()
    return t1 - t0, t2 - t1


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_round_trip_gives_the_same_root(tmp_path: Path, n: int) -> None:
    # 1M keys takes ~30 s here; its figure is in `make bench-statesync` (bench-results/bench-statesync.json).
    _store_round_trip(tmp_path, n)


def test_chunks_stay_under_the_limit_with_incompressible_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(fmt, "PAYLOAD_LIMIT", 64 << 10)
    rng = random.Random(1)
    pairs = sorted((rng.randbytes(32), rng.randbytes(3000)) for _ in range(200))
    chunks: list[bytes] = []
    meta = fmt.write_chunks(pairs, 3, b"\x00" * 32, lambda i, c: chunks.append(c))
    assert meta.chunks == len(chunks) > 5
    # cut before the record that would cross the limit; compression never adds more than the headroom
    assert all(len(c) <= (64 << 10) + (64 << 10) for c in chunks)
    with pytest.raises(fmt.SnapshotTooLarge):
        fmt.write_chunks([(b"k", b"v" * (70 << 10))], 3, b"\x00" * 32, lambda i, c: None)


# --- taking snapshots -----------------------------------------------------------------------


def test_snapshots_every_interval_keep_recent_and_are_of_the_committed_version(source: Source) -> None:
    assert [s.height for s in source.app.list_snapshots()] == [10, 5]
    source.run(10)
    assert [s.height for s in source.app.list_snapshots()] == [20, 15, 10]  # keep_recent 3
    assert sorted(p.name for p in source.manager.directory.iterdir()) == [f"{h:020d}" for h in (10, 15, 20)]
    snap = source.app.list_snapshots()[0]
    assert snap.format == 1 and snap.chunks > 3
    meta = fmt.SnapshotMetadata.from_bytes(snap.metadata)
    assert meta.hash == snap.hash and meta.height == 20


def test_a_snapshot_is_of_its_height_even_while_later_blocks_commit(tmp_path: Path, small_chunks: None) -> None:
    s = Source(tmp_path)
    hashes = {}
    for h in range(1, 10):
        hashes[h] = s.block()
    # The snapshot of height 5 is written while blocks 6-9 commit (no wait in between).
    s.manager.wait()
    snap = next(x for x in s.app.list_snapshots() if x.height == 5)
    joiner = Application(tmp_path / "joiner")
    assert set(_restore(joiner, s.manager, snap, hashes[5])) == {b.APPLY_ACCEPT}
    assert joiner.info().last_block_height == 5 and joiner.info().last_block_app_hash == hashes[5]
    joiner.close()
    s.manager.stop()
    s.app.close()


def test_a_snapshot_still_being_written_makes_the_next_one_skip(tmp_path: Path) -> None:
    m = SnapshotManager(tmp_path / "snaps", interval=1, keep_recent=2)

    class SlowView:
        closed = False

        def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
            time.sleep(0.3)
            return iter([(FLAT + b"k", b"v")])

        def close(self) -> None:
            self.closed = True

    first, second = SlowView(), SlowView()
    assert m.take(1, b"\x01" * 32, first) is True
    assert m.take(2, b"\x02" * 32, second) is False and second.closed
    m.wait()
    assert first.closed and [s.height for s in m.list()] == [1] and m.stats.skipped == 1


def test_a_crash_while_writing_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    d = tmp_path / "snaps"
    (d / ".tmp-40").mkdir(parents=True)
    (d / ".tmp-40" / "chunk-000000.zlib").write_bytes(b"half")
    m = SnapshotManager(d, interval=10, keep_recent=2)
    assert m.list() == [] and not (d / ".tmp-40").exists()
    assert m.load_chunk(40, 1, 0) == b""


# --- restoring ------------------------------------------------------------------------------


def test_restore_reports_the_snapshot_height_serves_proofs_and_goes_on(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    assert snap.height == 10
    want = source.app.last_app_hash  # the source is at height 10: the trusted hash is its own
    assert fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash == want
    joiner = Application(tmp_path / "joiner")
    assert set(_restore(joiner, source.manager, snap, want)) == {b.APPLY_ACCEPT}
    info = joiner.info()
    assert (info.last_block_height, info.last_block_app_hash) == (10, want)
    assert joiner.chain_id == source.app.chain_id
    assert not restore_area(tmp_path / "joiner" / "state.db").exists()
    # a proof at the restored height verifies against the app hash
    res = _balance(joiner, addr(USERS[3]))
    assert res.code == 0 and res.height == 10
    verify(res.proof_ops, want, res.key, bytes.fromhex(res.info))
    # a restart finds the restored state
    joiner.close()
    joiner = Application(tmp_path / "joiner")
    assert joiner.info().last_block_height == 10
    # both run the same next blocks and agree on every app hash
    seq = list(source.seq)
    for _ in range(3):
        h = source.app.last_height + 1
        txs = [send_tx(USERS[i], addr(key(5000 + h)), 1, seq[i]) for i in range(4)]
        for i in range(4):
            seq[i] += 1
        run_block(source.app, txs)
        run_block(joiner, txs)
        assert joiner.last_app_hash == source.app.last_app_hash and joiner.last_height == h
    joiner.close()


def test_a_corrupted_chunk_is_refetched_from_another_peer(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    chunks = _chunks(source.manager, snap)
    joiner = Application(tmp_path / "joiner")
    assert joiner.offer_snapshot(snap, want) == b.OFFER_ACCEPT
    assert joiner.apply_snapshot_chunk(0, chunks[0], "good").result == b.APPLY_ACCEPT
    bad = bytearray(chunks[1])
    bad[len(bad) // 2] ^= 0x40
    for broken in (bytes(bad), chunks[1][:-3], b"", b"not zlib at all"):
        res = joiner.apply_snapshot_chunk(1, broken, "liar")
        assert (res.result, res.refetch_chunks, res.reject_senders) == (b.APPLY_RETRY, (1,), ("liar",))
        joiner._restore.bad.clear()  # type: ignore[union-attr]  # each bad copy counts; start the count over
    for i in range(1, len(chunks)):
        assert joiner.apply_snapshot_chunk(i, chunks[i], "good").result == b.APPLY_ACCEPT
    assert joiner.info().last_block_height == 10 and joiner.last_app_hash == want
    joiner.close()


def test_a_chunk_of_another_snapshot_is_refused_and_repeated_ones_reject_the_snapshot(
        source: Source, tmp_path: Path) -> None:
    snap10, snap5 = source.app.list_snapshots()
    want = fmt.SnapshotMetadata.from_bytes(snap10.metadata).app_hash
    other = _chunks(source.manager, snap5)
    joiner = Application(tmp_path / "joiner")
    assert joiner.offer_snapshot(snap10, want) == b.OFFER_ACCEPT
    results = [joiner.apply_snapshot_chunk(0, other[0], f"peer{k}").result for k in range(snapshots_mod.MAX_BAD_CHUNKS)]
    assert results == [b.APPLY_RETRY] * (snapshots_mod.MAX_BAD_CHUNKS - 1) + [b.APPLY_REJECT_SNAPSHOT]
    assert joiner.info().last_block_height == 0 and joiner._restore is None
    assert not restore_area(tmp_path / "joiner" / "state.db").exists()
    # the other snapshot's chunk is also refused by the format itself
    meta10 = fmt.SnapshotMetadata.from_bytes(snap10.metadata)
    with pytest.raises(ChunkCorrupt):
        fmt.decode_chunk(meta10, 0, other[0])
    joiner.close()


def test_a_wrong_app_hash_is_refused_at_the_offer_and_after_the_last_chunk(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    meta = fmt.SnapshotMetadata.from_bytes(snap.metadata)
    joiner = Application(tmp_path / "joiner")
    # 1. the light client verified another app hash than the metadata claims
    assert joiner.offer_snapshot(snap, b"\x13" * 32) == b.OFFER_REJECT
    # 2. the metadata claims the verified hash, but the chunks are of another state
    forged_meta = fmt.SnapshotMetadata(meta.height, b"\x13" * 32, meta.chunk_hashes, meta.keys, meta.payload_bytes)
    forged = b.Snapshot(snap.height, 1, snap.chunks, forged_meta.hash, forged_meta.to_bytes())
    results = _restore(joiner, source.manager, forged, b"\x13" * 32)
    assert results == [b.APPLY_ACCEPT] * (snap.chunks - 1) + [b.APPLY_REJECT_SNAPSHOT]
    assert joiner.info().last_block_height == 0 and joiner.info().last_block_app_hash == b""
    assert not restore_area(tmp_path / "joiner" / "state.db").exists()
    # the root check is the store's too
    with pytest.raises(SnapshotRootMismatch):
        r = fmt.Restorer(meta, LevelDBBackend(str(tmp_path / "x")))
        for i, c in enumerate(_chunks(source.manager, snap)):
            r.apply(i, c)
        r.finish(b"\x13" * 32)
    # and the true one is still accepted afterwards
    assert set(_restore(joiner, source.manager, snap, meta.app_hash)) == {b.APPLY_ACCEPT}
    joiner.close()


def test_chunks_out_of_order_restart_the_snapshot(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    chunks = _chunks(source.manager, snap)
    joiner = Application(tmp_path / "joiner")
    assert joiner.offer_snapshot(snap, want) == b.OFFER_ACCEPT
    assert joiner.apply_snapshot_chunk(1, chunks[1], "p").result == b.APPLY_RETRY_SNAPSHOT
    assert joiner.apply_snapshot_chunk(0, chunks[0], "p").result == b.APPLY_RETRY_SNAPSHOT  # no restore now
    assert joiner.offer_snapshot(snap, want) == b.OFFER_ACCEPT
    assert joiner.apply_snapshot_chunk(0, chunks[0], "p").result == b.APPLY_ACCEPT
    assert joiner.apply_snapshot_chunk(0, chunks[0], "p").result == b.APPLY_RETRY_SNAPSHOT  # twice: out of order
    assert joiner.info().last_block_height == 0
    assert set(_restore(joiner, source.manager, snap, want)) == {b.APPLY_ACCEPT}
    assert joiner.info().last_block_height == 10
    joiner.close()


def test_keys_out_of_order_inside_valid_hashes_reject_the_snapshot(tmp_path: Path) -> None:
    pairs = [(b"b", b"1"), (b"a", b"2")]
    chunks: list[bytes] = []
    meta = fmt.write_chunks(pairs, 4, b"\x00" * 32, lambda i, c: chunks.append(c))
    joiner = Application(tmp_path / "joiner")
    snap = b.Snapshot(4, 1, meta.chunks, meta.hash, meta.to_bytes())
    assert joiner.offer_snapshot(snap, meta.app_hash) == b.OFFER_ACCEPT
    res = joiner.apply_snapshot_chunk(0, chunks[0], "p")
    assert (res.result, res.reject_senders) == (b.APPLY_REJECT_SNAPSHOT, ("p",))
    assert joiner.info().last_block_height == 0
    joiner.close()


def test_offers_of_other_formats_or_bad_metadata_are_refused(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    joiner = Application(tmp_path / "joiner")
    assert joiner.offer_snapshot(b.Snapshot(snap.height, 2, snap.chunks, snap.hash, snap.metadata), want) \
        == b.OFFER_REJECT_FORMAT
    for bad in (b"", b"{}", b"[1]", snap.metadata + b" ", snap.metadata.replace(b'"format":1', b'"format":2')):
        assert joiner.offer_snapshot(b.Snapshot(snap.height, 1, snap.chunks, snap.hash, bad), want) == b.OFFER_REJECT
    assert joiner.offer_snapshot(b.Snapshot(snap.height + 1, 1, snap.chunks, snap.hash, snap.metadata), want) \
        == b.OFFER_REJECT
    assert joiner.offer_snapshot(b.Snapshot(snap.height, 1, snap.chunks, b"\x00" * 32, snap.metadata), want) \
        == b.OFFER_REJECT
    assert joiner.info().last_block_height == 0
    joiner.close()


def test_a_crash_halfway_through_a_restore_starts_it_over(source: Source, tmp_path: Path) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    chunks = _chunks(source.manager, snap)
    data = tmp_path / "joiner"
    joiner = Application(data)
    assert joiner.offer_snapshot(snap, want) == b.OFFER_ACCEPT
    for i in range(len(chunks) // 2):
        assert joiner.apply_snapshot_chunk(i, chunks[i], "p").result == b.APPLY_ACCEPT
    # the process dies: its databases are closed (the OS releases LevelDB's locks), nothing cleaned up
    assert joiner._restore is not None
    joiner._restore.target.close()
    joiner.close()
    area = restore_area(data / "state.db")
    assert area.exists()
    joiner = Application(data)
    assert joiner.info().last_block_height == 0  # the half-restored state is not used
    assert joiner.apply_snapshot_chunk(len(chunks) // 2, chunks[len(chunks) // 2], "p").result \
        == b.APPLY_RETRY_SNAPSHOT
    assert set(_restore(joiner, source.manager, snap, want)) == {b.APPLY_ACCEPT}
    assert joiner.info().last_block_height == 10
    joiner.close()


def test_a_crash_while_installing_the_restored_state_starts_it_over(source: Source, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    data = tmp_path / "joiner"
    joiner = Application(data)
    real_rename = os.rename
    calls = []

    def rename_then_die(a: str, c: str) -> None:
        calls.append(a)
        if len(calls) == 2:  # the live database is moved away, the restored one not yet in place
            raise SystemExit("killed")
        real_rename(a, c)

    monkeypatch.setattr(snapshots_mod.os, "rename", rename_then_die)
    with pytest.raises(SystemExit):
        _restore(joiner, source.manager, snap, want)
    monkeypatch.setattr(snapshots_mod.os, "rename", real_rename)
    joiner = Application(data)  # the old one's database is closed; this opens an empty one
    assert joiner.info().last_block_height == 0
    assert set(_restore(joiner, source.manager, snap, want)) == {b.APPLY_ACCEPT}
    assert joiner.info().last_block_height == 10
    assert sorted(p.name for p in data.iterdir()) == ["state.db"]
    joiner.close()


def test_restore_into_memory_backend(source: Source) -> None:
    snap = source.app.list_snapshots()[0]
    want = fmt.SnapshotMetadata.from_bytes(snap.metadata).app_hash
    joiner = Application(None)
    assert set(_restore(joiner, source.manager, snap, want)) == {b.APPLY_ACCEPT}
    assert joiner.info().last_block_height == 10 and joiner.last_app_hash == want


def test_no_snapshots_without_a_manager(tmp_path: Path) -> None:
    app = new_app([(addr(USERS[0]), [coin(100)])], tmp_path / "a")
    run_block(app, [])
    assert app.snapshot_after_commit() is False and app.list_snapshots() == []
    assert app.load_snapshot_chunk(1, 1, 0) == b""
    app.close()
    shutil.rmtree(tmp_path / "a")
