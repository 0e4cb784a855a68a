"""The root is a function of the key/value set alone: any op history gives the root of a fresh build."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from sidechain.store import CacheKV, LevelDBBackend, MemoryBackend, MerkleStore

keys = st.one_of(st.binary(min_size=0, max_size=3), st.sampled_from([b"a", b"b", b"ab", b"\x00", b""]))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), keys, st.binary(max_size=6)),
        st.tuples(st.just("delete"), keys, st.just(b"")),
        st.tuples(st.just("commit"), st.just(b""), st.just(b"")),
    ),
    max_size=120,
)


def _fresh_root(model: dict[bytes, bytes], order: list[bytes]) -> bytes:
    store = MerkleStore(MemoryBackend())
    for key in order:
        store.set(key, model[key])
    return store.working_root()


def _run(store: MerkleStore, history: list[tuple[str, bytes, bytes]]) -> dict[bytes, bytes]:
    model: dict[bytes, bytes] = {}
    branch = CacheKV(store)
    for op, key, value in history:
        if op == "set":
            branch.set(key, value)
            model[key] = value
        elif op == "delete":
            branch.delete(key)
            model.pop(key, None)
        else:
            branch.write()
            store.commit(store.version + 1)
            assert dict(store.iterate(b"")) == model
    branch.write()
    return model


@settings(max_examples=150, deadline=None)
@given(history=ops, seed=st.randoms(use_true_random=False))
def test_root_independent_of_history_memory(history: list[tuple[str, bytes, bytes]], seed) -> None:  # type: ignore[no-untyped-def]
    store = MerkleStore(MemoryBackend(), keep_versions=3)
    model = _run(store, history)
    order = sorted(model)
    seed.shuffle(order)
    assert store.working_root() == _fresh_root(model, order)
    store.commit(store.version + 1)
    assert store.root == _fresh_root(model, sorted(model))


@settings(max_examples=25, deadline=None)
@given(history=ops)
def test_root_independent_of_history_leveldb(history: list[tuple[str, bytes, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = LevelDBBackend(tmp)
        store = MerkleStore(backend, keep_versions=3)
        model = _run(store, history)
        store.commit(store.version + 1)
        root = store.root
        backend.close()
        backend = LevelDBBackend(tmp)
        reopened = MerkleStore(backend, keep_versions=3)
        assert reopened.root == root == _fresh_root(model, sorted(model))
        assert dict(reopened.iterate(b"")) == model
        backend.close()
