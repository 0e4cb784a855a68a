"""The versioned Merkle store on every backend: working state, commits, reloads, history, atomicity."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest

from sidechain.store import (
    EMPTY_ROOT,
    Backend,
    InvalidVersion,
    MemoryBackend,
    MerkleStore,
    ReservedKey,
    StoreError,
    VersionNotFound,
    WriteOp,
    verify,
)

from .conftest import BackendFactory


def _fill(store: MerkleStore, items: dict[bytes, bytes]) -> None:
    for key, value in items.items():
        store.set(key, value)


def test_empty_store(backends: BackendFactory) -> None:
    store = MerkleStore(backends.open())
    assert store.version == 0 and store.root == EMPTY_ROOT == bytes(32)
    assert store.working_root() == EMPTY_ROOT
    assert store.get(b"k") is None
    assert list(store.iterate(b"")) == []
    assert list(store.reader_at(0).iterate(b"")) == []


def test_working_state_semantics(backends: BackendFactory) -> None:
    store = MerkleStore(backends.open())
    store.set(b"b", b"2")
    store.set(b"a", b"1")
    store.set(b"c", b"")
    assert store.get(b"c") == b""  # empty values are values, not deletes
    store.commit(1)
    store.set(b"d", b"4")
    store.delete(b"b")
    store.delete(b"never")
    assert store.get(b"b") is None and store.get(b"d") == b"4"
    assert list(store.iterate(b"")) == [(b"a", b"1"), (b"c", b""), (b"d", b"4")]
    assert list(store.iterate(b"b", b"d")) == [(b"c", b"")]
    assert list(store.committed().iterate(b"")) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"")]
    store.reset_working()
    assert store.get(b"b") == b"2" and not store.has_changes()


def test_working_root_writes_nothing_and_matches_commit(backends: BackendFactory) -> None:
    backend = backends.open()
    store = MerkleStore(backend)
    _fill(store, {bytes([i]): bytes([i]) * 3 for i in range(50)})
    before = list(backend.iterate(b""))
    root = store.working_root()
    assert list(backend.iterate(b"")) == before
    assert store.version == 0 and store.root == EMPTY_ROOT
    assert store.commit(1) == root == store.root


def test_root_changes_with_any_value_and_returns_when_reverted(backends: BackendFactory) -> None:
    store = MerkleStore(backends.open())
    items = {f"key{i}".encode(): f"value{i}".encode() for i in range(200)}
    _fill(store, items)
    base = store.commit(1)
    seen = {base}
    for key in list(items)[:40]:
        store.set(key, items[key] + b"!")
        changed = store.working_root()
        assert changed not in seen
        seen.add(changed)
        store.set(key, items[key])
        assert store.working_root() == base
    store.delete(b"key7")
    assert store.working_root() not in seen


def test_commit_and_reload(backends: BackendFactory) -> None:
    store = MerkleStore(backends.open(), keep_versions=4)
    rng = random.Random(7)
    model: dict[bytes, bytes] = {}
    for version in range(1, 6):
        for _ in range(300):
            key = rng.randbytes(rng.randint(1, 6))
            if model and rng.random() < 0.2:
                victim = rng.choice(sorted(model))
                store.delete(victim)
                model.pop(victim)
            else:
                model[key] = rng.randbytes(rng.randint(0, 40))
                store.set(key, model[key])
        store.commit(version)
    root = store.root
    reopened = MerkleStore(backends.open(), keep_versions=4)
    assert (reopened.version, reopened.root, reopened.oldest_version) == (5, root, 2)
    assert dict(reopened.iterate(b"")) == model
    # The reopened (cold, lazily loaded) tree must keep producing the roots a fresh build gives.
    reopened.set(b"new-key", b"v")
    model[b"new-key"] = b"v"
    victim = sorted(model)[0]
    reopened.delete(victim)
    model.pop(victim)
    root6 = reopened.commit(6)
    reference = MerkleStore(MemoryBackend())
    _fill(reference, model)
    assert reference.working_root() == root6
    again = MerkleStore(backends.open(), keep_versions=4)
    assert (again.version, again.root) == (6, root6)


def test_extra_writes_share_the_batch(backends: BackendFactory) -> None:
    backend = backends.open()
    store = MerkleStore(backend)
    store.set(b"k", b"v")
    store.commit(1, extra_writes=[(b"app/height", b"\x01"), (b"app/gone", None)])
    assert backend.get(b"app/height") == b"\x01"
    with pytest.raises(ReservedKey) as exc:
        store.commit(2, extra_writes=[(b"S/f" + b"k", b"forged")])
    assert exc.value.code == ReservedKey.code and isinstance(exc.value, StoreError)
    assert store.version == 1


def test_versions_must_follow(backends: BackendFactory) -> None:
    store = MerkleStore(backends.open())
    with pytest.raises(InvalidVersion):
        store.commit(0)
    store.commit(5)  # the first commit may start anywhere (InitChain's initial height)
    with pytest.raises(InvalidVersion):
        store.commit(5)
    with pytest.raises(InvalidVersion):
        store.commit(7)
    store.commit(6)
    assert store.version == 6


def test_history_kept_and_pruned(backends: BackendFactory) -> None:
    keep = 3
    backend = backends.open()
    store = MerkleStore(backend, keep_versions=keep)
    states: dict[int, dict[bytes, bytes]] = {}
    roots: dict[int, bytes] = {}
    model: dict[bytes, bytes] = {}
    for version in range(1, 9):
        model[b"counter"] = str(version).encode()
        model[f"k{version}".encode()] = b"x" * version
        for key in (b"counter", f"k{version}".encode()):
            store.set(key, model[key])
        if version % 3 == 0:
            store.delete(b"k1")
            model.pop(b"k1", None)
        roots[version] = store.commit(version)
        states[version] = dict(model)
        for past in range(max(1, version - keep + 1), version + 1):
            reader = store.reader_at(past)
            assert dict(reader.iterate(b"")) == states[past]
            assert reader.get(b"counter") == str(past).encode()
            assert reader.get(b"k1") == states[past].get(b"k1")
            assert list(reader.iterate(b"k", b"k3")) == sorted(
                (k, v) for k, v in states[past].items() if b"k" <= k < b"k3"
            )
            assert store.root_at(past) == roots[past]
        for gone in (0, version - keep, version + 1):
            if gone >= 1 or version > 0:
                with pytest.raises(VersionNotFound):
                    store.reader_at(gone)
    # Pruning leaves exactly the undo logs and roots of the kept window.
    kept_roots = [k for k, _ in backend.iterate(b"S/r", b"S/s")]
    assert [int.from_bytes(k[3:], "big") for k in kept_roots] == [6, 7, 8]
    undo = [int.from_bytes(k[3:], "big") for k, _ in backend.iterate(b"S/u", b"S/v")]
    assert undo == [7, 8]
    reader = store.reader_at(6)
    store.set(b"counter", b"9")
    store.commit(9)
    with pytest.raises(VersionNotFound):
        reader.get(b"counter")  # the reader's version fell out of the window


class _FailingBackend:
    """Delegates to a real backend but dies halfway through handing it the commit batch."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.fail = False

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iterate(start, end)

    def write(self, ops: Sequence[WriteOp], sync: bool = True) -> None:
        if not self.fail:
            self.inner.write(ops, sync)
            return
        ops = list(ops)

        def exploding() -> Iterator[WriteOp]:
            yield from ops[: len(ops) // 2]
            raise OSError("disk on fire")

        self.inner.write(exploding(), sync)  # type: ignore[arg-type]

    def close(self) -> None:
        self.inner.close()


def test_failed_commit_writes_nothing(backends: BackendFactory) -> None:
    failing = _FailingBackend(backends.open())
    store = MerkleStore(failing)
    _fill(store, {f"a{i}".encode(): b"1" for i in range(100)})
    root1 = store.commit(1, extra_writes=[(b"app/height", b"1")])
    before = list(failing.inner.iterate(b""))
    failing.fail = True
    _fill(store, {f"a{i}".encode(): b"2" for i in range(50)})
    pending = store.working_root()
    with pytest.raises(OSError):
        store.commit(2, extra_writes=[(b"app/height", b"2")])
    assert list(failing.inner.iterate(b"")) == before
    assert (store.version, store.root) == (1, root1)
    reopened = MerkleStore(backends.open())
    assert (reopened.version, reopened.root) == (1, root1)
    assert reopened.get(b"a1") == b"1"
    # Nothing was lost either: replaying the block after the restart commits the same root.
    _fill(reopened, {f"a{i}".encode(): b"2" for i in range(50)})
    assert reopened.commit(2) == pending


@pytest.mark.parametrize("size", [2_000, 30_000])
def test_update_cost_is_k_log_n(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryBackend()
    store = MerkleStore(backend)
    for i in range(size):
        store.set(i.to_bytes(4, "big"), b"v")
    store.commit(1)
    k = 20
    before = store._tree.stats().hashes
    writes: list[int] = []
    real_write = backend.write

    def recording(ops: Sequence[WriteOp], sync: bool = True) -> None:
        writes.append(len(ops))
        real_write(ops, sync)

    monkeypatch.setattr(backend, "write", recording)
    for i in range(0, size, size // k):
        store.set(i.to_bytes(4, "big"), b"w")
    store.commit(2)
    depth = 2 + (size.bit_length() + 3) // 4  # log16(n) + slack for path compression
    # Per key: key hash, value hash, leaf hash, and one node hash per level.
    assert store._tree.stats().hashes - before <= k * (3 + depth)
    # Per key one flat-table put, whatever the depth; per commit an undo log, root and metadata.
    assert writes[0] <= k + 5


def test_cold_reload_rebuilds_the_tree(backends: BackendFactory) -> None:
    """The tree is not stored: a reopened store rebuilds it from the flat table, proofs included."""
    store = MerkleStore(backends.open(), keep_versions=3)
    model = {i.to_bytes(3, "big"): b"v" * (i % 7) for i in range(6000)}
    _fill(store, model)
    store.commit(1)
    for i in range(0, 6000, 7):
        store.set(i.to_bytes(3, "big"), b"changed")
        model[i.to_bytes(3, "big")] = b"changed"
    store.commit(2)
    reopened = MerkleStore(backends.open(), keep_versions=3)
    for key in [i.to_bytes(3, "big") for i in range(0, 6000, 97)]:
        value, proof = reopened.prove(2, key)
        assert value == model[key]
        verify(proof, reopened.root, key, value)
    for i in range(1, 6000, 5):
        reopened.delete(i.to_bytes(3, "big"))
        model.pop(i.to_bytes(3, "big"))
    reference = MerkleStore(MemoryBackend())
    _fill(reference, model)
    assert reopened.commit(3) == reference.working_root()
