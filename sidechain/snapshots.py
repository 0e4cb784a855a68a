"""State-sync snapshots on disk: taking them in the background, serving them, and restoring one.

The format of a snapshot is sidechain/store/snapshot.py (written down in docs/STATESYNC.md). This
module owns where snapshots live and when they are made:

- `SnapshotManager`: after the Commit of every `interval`-th height the app hands it a LevelDB
  snapshot (a frozen view of the database as the commit left it) and it writes the chunks in a
  background thread, so the next block never waits and never sees its reads. The thread reads only
  that view and its own files, never the store's in-memory structures. A snapshot is written into
  `<dir>/.tmp-<height>` and renamed to `<dir>/<height>` when complete, so a crash leaves only a
  temp dir (removed at the next start); the newest `keep_recent` are kept. If a snapshot is still
  being written when the next is due, the new one is skipped (logged), never queued.
- `StateRestore`: one restore in progress. Chunks go into a fresh database (`restore_area`), never
  into the live one; only when the last chunk is in and the rebuilt root equals the trusted app hash
  does `install_restored` swap the directories. A crash before that leaves the live database as it
  was (a restore area left over is wiped by the next restore), so a restore starts over.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sidechain import blocks as b
from sidechain.store import Backend, LevelDBBackend, MemoryBackend
from sidechain.store.backends import BackendView
from sidechain.store.errors import ChunkCorrupt, ChunkOutOfOrder, SnapshotInvalid, SnapshotRootMismatch
from sidechain.store.keys import STORE_PREFIX, TABLE_FLAT
from sidechain.store.snapshot import FORMAT, Restorer, SnapshotMetadata, write_chunks

log = logging.getLogger("sidechain.snapshots")

METADATA_FILE = "metadata.json"
MAX_BAD_CHUNKS = 4  # bad copies of one chunk before the whole snapshot is given up
# The writer shares the GIL with the app's thread: it works at most this fraction of the time (it
# sleeps in between), so that blocks executed while a snapshot is written are slowed as little as
# possible; a snapshot takes ~1/WRITER_DUTY times longer (measured: make bench-statesync).
WRITER_DUTY = 0.25
_PACE_EVERY = 1024  # records between pauses


def _chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.zlib"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SnapshotStats:
    """What the last snapshot cost (for logs and the benchmark)."""

    height: int = 0
    keys: int = 0
    chunks: int = 0
    payload_bytes: int = 0
    compressed_bytes: int = 0
    seconds: float = 0.0
    taken: int = 0
    skipped: int = 0
    failed: int = 0
    last_error: str = ""


def _paced(pairs: Iterator[tuple[bytes, bytes]], duty: float) -> Iterator[tuple[bytes, bytes]]:
    """`pairs`, with pauses so that the consumer (the writer: encoding, compressing, writing) is busy
    at most `duty` of the wall time."""
    import time

    if duty >= 1:
        yield from pairs
        return
    n = 0
    start = time.perf_counter()
    for item in pairs:
        yield item
        n += 1
        if n == _PACE_EVERY:
            busy = time.perf_counter() - start
            time.sleep(busy * (1 - duty) / duty)
            n = 0
            start = time.perf_counter()


class SnapshotManager:
    """Takes, keeps and serves snapshots in `directory`. `take` is called on the app's thread;
    `list`/`load_chunk` too; the writing runs in one background thread at a time."""

    def __init__(self, directory: Path, interval: int, keep_recent: int) -> None:
        if interval < 0 or keep_recent < 1:
            raise ValueError("snapshot interval must be >= 0 and keep_recent >= 1")
        self.directory = directory
        self.interval = interval
        self.keep_recent = keep_recent
        self.stats = SnapshotStats()
        self.duty = WRITER_DUTY
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._snapshots: dict[int, b.Snapshot] = {}
        for d in sorted(directory.iterdir()):
            if d.name.isdigit() and (d / METADATA_FILE).is_file():
                snap = self._read(d)
                if snap is not None:
                    self._snapshots[snap.height] = snap

    @staticmethod
    def _read(d: Path) -> b.Snapshot | None:
        raw = (d / METADATA_FILE).read_bytes()
        try:
            meta = SnapshotMetadata.from_bytes(raw)
        except SnapshotInvalid as e:
            log.warning("ignoring snapshot %s: %s", d, e)
            return None
        return b.Snapshot(height=meta.height, format=FORMAT, chunks=meta.chunks, hash=meta.hash, metadata=raw)

    # -- taking ---------------------------------------------------------------------------------

    def due(self, height: int) -> bool:
        return self.interval > 0 and height > 0 and height % self.interval == 0

    def busy(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def take(self, height: int, app_hash: bytes, view: BackendView, store_prefix: bytes = STORE_PREFIX) -> bool:
        """Write the snapshot of `view` (taken right after committing `height`) in the background.
        Takes ownership of `view` (closes it). False if one is still being written (then skipped)."""
        if self.busy():
            view.close()
            self.stats.skipped += 1
            log.warning("snapshot at height %d skipped: the one at height %d is still being written",
                        height, self.stats.height)
            return False
        self.stats.height = height
        self._thread = threading.Thread(target=self._write, args=(height, app_hash, view, store_prefix),
                                        name=f"snapshot-{height}", daemon=True)
        self._thread.start()
        return True

    def _write(self, height: int, app_hash: bytes, view: BackendView, store_prefix: bytes) -> None:
        import time

        t0 = time.perf_counter()
        tmp = self.directory / f".tmp-{height}"
        final = self.directory / f"{height:020d}"
        compressed = 0
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()

            def emit(index: int, chunk: bytes) -> None:
                nonlocal compressed
                compressed += len(chunk)
                with (tmp / _chunk_name(index)).open("wb") as f:
                    f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())

            flat = store_prefix + TABLE_FLAT
            from sidechain.store.api import prefix_end

            pairs = _paced(view.iterate(flat, prefix_end(flat)), self.duty)
            meta = write_chunks(pairs, height, app_hash, emit, skip=len(flat))
            raw = meta.to_bytes()
            with (tmp / METADATA_FILE).open("wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
            _fsync_dir(self.directory)
            snap = b.Snapshot(height=height, format=FORMAT, chunks=meta.chunks, hash=meta.hash, metadata=raw)
            with self._lock:
                self._snapshots[height] = snap
                gone = sorted(self._snapshots)[: -self.keep_recent]
                for h in gone:
                    del self._snapshots[h]
            for h in gone:
                shutil.rmtree(self.directory / f"{h:020d}", ignore_errors=True)
            st = self.stats
            st.keys, st.chunks, st.payload_bytes = meta.keys, meta.chunks, meta.payload_bytes
            st.compressed_bytes = compressed
            st.seconds = time.perf_counter() - t0
            st.taken += 1
            log.info("snapshot at height %d: %d keys, %d chunks, %d bytes (%d uncompressed) in %.2fs",
                     height, meta.keys, meta.chunks, compressed, meta.payload_bytes, st.seconds)
        except Exception as e:  # noqa: BLE001 - a failed snapshot must not stop the node; it is logged
            shutil.rmtree(tmp, ignore_errors=True)
            self.stats.failed += 1
            self.stats.last_error = str(e)
            log.error("snapshot at height %d failed: %s", height, e)
        finally:
            view.close()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the snapshot being written (if any) is done."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def stop(self) -> None:
        """Wait for the writer (it must finish before the database it reads is closed)."""
        self.wait()

    # -- serving --------------------------------------------------------------------------------

    def list(self) -> list[b.Snapshot]:
        with self._lock:
            return [self._snapshots[h] for h in sorted(self._snapshots, reverse=True)]

    def load_chunk(self, height: int, format: int, index: int) -> bytes:
        """The chunk's bytes, or b"" if this node does not have it (any more)."""
        with self._lock:
            snap = self._snapshots.get(height)
        if snap is None or format != FORMAT or not 0 <= index < snap.chunks:
            return b""
        try:
            return (self.directory / f"{height:020d}" / _chunk_name(index)).read_bytes()
        except FileNotFoundError:  # pruned between the lookup and the read
            return b""


# --- restoring --------------------------------------------------------------------------------


def check_offer(snapshot: b.Snapshot, trusted_app_hash: bytes) -> tuple[int, SnapshotMetadata | None, str]:
    """(OFFER_* result, metadata if accepted, why not) for a snapshot CometBFT offers with the app
    hash its light client verified for that height."""
    if snapshot.format != FORMAT:
        return b.OFFER_REJECT_FORMAT, None, f"format {snapshot.format} (this node restores format {FORMAT})"
    try:
        meta = SnapshotMetadata.from_bytes(snapshot.metadata)
    except SnapshotInvalid as e:
        return b.OFFER_REJECT, None, str(e)
    if meta.height != snapshot.height or meta.chunks != snapshot.chunks or meta.hash != snapshot.hash:
        return b.OFFER_REJECT, None, "the metadata does not match the snapshot's height, chunks or hash"
    if meta.app_hash != trusted_app_hash:
        return b.OFFER_REJECT, None, (f"it claims app hash {meta.app_hash.hex()}, the light client verified "
                                      f"{trusted_app_hash.hex()}")
    return b.OFFER_ACCEPT, meta, ""


def restore_area(live: Path) -> Path:
    """Where a restore of the database directory `live` is written."""
    return live.with_name(live.name + ".restore")


def install_restored(area: Path, live: Path) -> None:
    """Replace the (closed) database directory `live` by the (closed) restored one in `area`.
    A crash in between leaves `live` missing: the node then starts empty and the restore starts over."""
    old = live.with_name(live.name + ".replaced")
    shutil.rmtree(old, ignore_errors=True)
    if live.exists():
        os.rename(live, old)
    os.rename(area, live)
    _fsync_dir(live.parent)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class ChunkOutcome:
    result: b.ApplyChunkResult
    complete: bool = False  # every chunk applied: the caller finishes and installs


@dataclass
class StateRestore:
    """One snapshot being restored into a fresh database: `area` (a LevelDB directory, wiped first)
    or, with `area` None, a new MemoryBackend."""

    meta: SnapshotMetadata
    trusted_app_hash: bytes
    area: Path | None
    target: Backend = field(init=False)
    restorer: Restorer = field(init=False)
    bad: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.area is None:
            self.target = MemoryBackend()
        else:
            shutil.rmtree(self.area, ignore_errors=True)
            self.target = LevelDBBackend(str(self.area))
        self.restorer = Restorer(self.meta, self.target)

    def apply(self, index: int, chunk: bytes, sender: str) -> ChunkOutcome:
        try:
            self.restorer.apply(index, chunk)
        except ChunkOutOfOrder as e:
            log.warning("state sync: %s; restarting the snapshot", e)
            return ChunkOutcome(b.ApplyChunkResult(result=b.APPLY_RETRY_SNAPSHOT))
        except ChunkCorrupt as e:
            self.bad[index] = self.bad.get(index, 0) + 1
            senders = (sender,) if sender else ()
            if self.bad[index] >= MAX_BAD_CHUNKS:
                log.warning("state sync: %s (%d times); rejecting the snapshot", e, self.bad[index])
                return ChunkOutcome(b.ApplyChunkResult(result=b.APPLY_REJECT_SNAPSHOT, reject_senders=senders))
            log.warning("state sync: %s; refetching it from another peer than %s", e, sender or "?")
            return ChunkOutcome(b.ApplyChunkResult(result=b.APPLY_RETRY, refetch_chunks=(index,),
                                                   reject_senders=senders))
        except SnapshotInvalid as e:
            log.warning("state sync: %s; rejecting the snapshot", e)
            return ChunkOutcome(b.ApplyChunkResult(result=b.APPLY_REJECT_SNAPSHOT,
                                                   reject_senders=(sender,) if sender else ()))
        return ChunkOutcome(b.ApplyChunkResult(result=b.APPLY_ACCEPT), complete=self.restorer.complete)

    def read(self, key: bytes) -> bytes | None:
        """A value of the restored state (before it is installed)."""
        return self.target.get(STORE_PREFIX + TABLE_FLAT + key)

    def finish(self, extra_writes: list[tuple[bytes, bytes | None]], tree: str | None) -> bytes:
        """Check the root (SnapshotRootMismatch / SnapshotInvalid) and write the store's records and
        `extra_writes`; the target is then complete but not yet live."""
        return self.restorer.finish(self.trusted_app_hash, extra_writes, tree=tree)

    def discard(self) -> None:
        self.target.close()
        if self.area is not None:
            shutil.rmtree(self.area, ignore_errors=True)


__all__ = [
    "ChunkOutcome",
    "SnapshotManager",
    "SnapshotRootMismatch",
    "SnapshotStats",
    "StateRestore",
    "check_offer",
    "install_restored",
    "restore_area",
]
