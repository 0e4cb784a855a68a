"""CacheKV branches: buffering, nesting, discarding, flushing and ordered merge with the parent."""

from __future__ import annotations

import pytest

from sidechain.store import CacheKV, MerkleStore

from .conftest import BackendFactory


def _store(backends: BackendFactory) -> MerkleStore:
    store = MerkleStore(backends.open(), keep_versions=3)
    for key, value in [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"e", b"5")]:
        store.set(key, value)
    store.commit(1)
    return store


def test_branch_reads_through_and_buffers_writes(backends: BackendFactory) -> None:
    store = _store(backends)
    branch = CacheKV(store)
    branch.set(b"b", b"20")
    branch.delete(b"c")
    branch.set(b"d", b"4")
    assert branch.get(b"a") == b"1"
    assert branch.get(b"b") == b"20"
    assert branch.get(b"c") is None
    assert store.get(b"b") == b"2" and store.get(b"c") == b"3" and store.get(b"d") is None
    assert list(branch.iterate(b"")) == [(b"a", b"1"), (b"b", b"20"), (b"d", b"4"), (b"e", b"5")]
    assert list(branch.iterate(b"b", b"e")) == [(b"b", b"20"), (b"d", b"4")]
    assert list(branch.iterate(b"c", b"d")) == []


def test_nested_branches_write_and_discard(backends: BackendFactory) -> None:
    store = _store(backends)
    block = CacheKV(store)
    block.set(b"fee", b"1")
    ok_tx = CacheKV(block)
    ok_tx.set(b"a", b"10")
    ok_tx.delete(b"e")
    failed_tx = CacheKV(block)
    failed_tx.set(b"a", b"999")
    failed_tx.set(b"z", b"26")
    ok_tx.write()
    del failed_tx  # a failed tx's branch is simply dropped
    assert block.get(b"a") == b"10" and block.get(b"z") is None and block.get(b"e") is None
    assert len(ok_tx) == 0
    assert store.get(b"a") == b"1"
    block.write()
    assert store.get(b"a") == b"10" and store.get(b"fee") == b"1" and store.get(b"e") is None
    root = store.commit(2)
    assert store.committed().get(b"a") == b"10"
    assert root == store.root


def test_write_then_reuse_and_discard(backends: BackendFactory) -> None:
    store = _store(backends)
    branch = CacheKV(store)
    branch.set(b"x", b"1")
    branch.discard()
    assert branch.get(b"x") is None
    branch.set(b"y", b"2")
    branch.write()
    branch.set(b"y", b"3")
    assert store.get(b"y") == b"2" and branch.get(b"y") == b"3"


def test_iterate_merge_over_nested_branches(backends: BackendFactory) -> None:
    store = _store(backends)
    mid = CacheKV(store)
    mid.delete(b"a")
    mid.set(b"bb", b"22")
    top = CacheKV(mid)
    top.set(b"a", b"back")
    top.delete(b"bb")
    top.set(b"f", b"6")
    assert list(top.iterate(b"")) == [(b"a", b"back"), (b"b", b"2"), (b"c", b"3"), (b"e", b"5"), (b"f", b"6")]
    assert list(mid.iterate(b"")) == [(b"b", b"2"), (b"bb", b"22"), (b"c", b"3"), (b"e", b"5")]


def test_branch_of_committed_reader_ignores_working_state(backends: BackendFactory) -> None:
    store = _store(backends)
    store.set(b"a", b"uncommitted")
    check = CacheKV(store.committed())
    assert check.get(b"a") == b"1"
    assert list(check.iterate(b"a", b"b")) == [(b"a", b"1")]
    with pytest.raises(TypeError):
        check.write()  # a branch of a read-only view has nowhere to flush


def test_set_requires_bytes(backends: BackendFactory) -> None:
    branch = CacheKV(_store(backends))
    with pytest.raises(TypeError):
        branch.set(b"k", "v")  # type: ignore[arg-type]
