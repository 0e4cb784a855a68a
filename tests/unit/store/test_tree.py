"""The in-memory Merkle trees: the native one agrees with the Python reference bit for bit, stages are
independent of each other and of the committed tree, inputs are checked, and the database holds no tree."""

from __future__ import annotations

import ctypes
import hashlib
import random
from array import array
from collections.abc import Iterator

import pytest

from sidechain.store import EMPTY_ROOT, CorruptStore, MemoryBackend, MerkleStore, StoreError, verify
from sidechain.store import tree as tree_mod
from sidechain.store.proof import encode_proof_data
from sidechain.store.smt import nibbles
from sidechain.store.tree import HISTORY, WORKING, NativeTree, PyTree

from .conftest import BackendFactory

needs_native = pytest.mark.skipif(
    not tree_mod.native_available(), reason="native tree not built (make install)"
)


@pytest.fixture(autouse=True)
def tree_impl() -> Iterator[str]:
    """These tests pick their implementations themselves (overrides the conftest parametrization)."""
    yield "both"


@needs_native
@pytest.mark.parametrize("mode", [0, 1])
def test_native_sha256_matches_hashlib(mode: int) -> None:
    previous = tree_mod.native_sha256_impl(-1)
    try:
        tree_mod.native_sha256_impl(mode)
        rng = random.Random(mode)
        for n in [*range(0, 200), 447, 448, 511, 512, 513, 1000, 4096, 65537]:
            data = rng.randbytes(n)
            assert tree_mod.native_sha256(data) == hashlib.sha256(data).digest(), n
    finally:
        tree_mod.native_sha256_impl(previous)


def _random_changes(rng: random.Random, universe: list[bytes], n: int) -> list[tuple[bytes, bytes | None]]:
    keys = rng.sample(universe, min(n, len(universe)))
    return [(k, None if rng.random() < 0.3 else rng.randbytes(rng.randint(0, 5))) for k in keys]


def _proof(t: tree_mod.Tree, slot: int | None, key: bytes) -> bytes:
    kh = hashlib.sha256(key).digest()
    levels, terminal = t.path(slot, kh)
    return encode_proof_data(levels, nibbles(kh), terminal)


@needs_native
@pytest.mark.parametrize("seed", range(6))
def test_native_and_python_trees_agree(seed: int) -> None:
    rng = random.Random(seed)
    # Small keys make shared prefixes, deep paths and collapses (deletes down to one leaf) frequent.
    universe = [bytes([i]) for i in range(256)] + [i.to_bytes(2, "big") for i in range(0, 4000, 7)]
    initial = {k: rng.randbytes(3) for k in rng.sample(universe, rng.choice([0, 1, 2, 50, 400]))}
    py, nat = PyTree(), NativeTree()
    assert py.load(list(initial.items())) == nat.load(list(initial.items()))
    for _ in range(40):
        size = rng.choice([1, 2, 3, 30, 300])
        work = _random_changes(rng, universe, size)
        hist = _random_changes(rng, universe, rng.choice([1, 5, 60]))
        assert py.stage(WORKING, work) == nat.stage(WORKING, work)
        assert py.stage(HISTORY, hist) == nat.stage(HISTORY, hist)
        for key in rng.sample(universe, 20):
            for slot in (None, WORKING, HISTORY):
                assert _proof(py, slot, key) == _proof(nat, slot, key)
        action = rng.random()
        if action < 0.6:
            py.commit(WORKING)
            nat.commit(WORKING)
        elif action < 0.8:
            py.commit(HISTORY)
            nat.commit(HISTORY)
        else:
            py.discard(WORKING)
            nat.discard(WORKING)
        assert py.root == nat.root
    # Once the stages are gone, the trees hold exactly the committed nodes (nothing leaked).
    for slot in (WORKING, HISTORY):
        py.discard(slot)
        nat.discard(slot)
    stats = nat.stats()
    assert stats.leaves == py.stats().leaves and stats.nodes == py.stats().nodes


@needs_native
def test_native_stage_leaves_committed_tree_alone() -> None:
    rng = random.Random(1)
    pairs = [(rng.randbytes(8), rng.randbytes(20)) for _ in range(3000)]
    nat = NativeTree()
    root = nat.load(pairs)
    live = nat.stats()
    changes = [(k, None) for k, _ in pairs[:1500]] + [(rng.randbytes(8), b"new") for _ in range(500)]
    for _ in range(5):
        staged = nat.stage(WORKING, changes)
        nat.stage(HISTORY, changes[:10])
        assert nat.root == root
        nat.discard(HISTORY)
    nat.discard(WORKING)
    assert nat.stats()[1:3] == live[1:3]  # discarding frees every node a stage made
    assert nat.stage(WORKING, changes) == staged
    nat.commit(WORKING)
    assert nat.root == staged
    model = dict(pairs)
    for k, v in changes:
        if v is None:
            model.pop(k, None)
        else:
            model[k] = v
    fresh = NativeTree()
    assert fresh.load(model.items()) == staged
    assert nat.stats()[1:3] == fresh.stats()[1:3]  # commit freed every superseded node


@needs_native
def test_native_rejects_bad_input() -> None:
    nat = NativeTree()
    lib = tree_mod._load_lib()
    assert lib is not None
    out = ctypes.create_string_buffer(32)
    klens = array("I", [3, 3])
    vlens = array("q", [2, -1])
    ptr = klens.buffer_info()[0]
    vptr = vlens.buffer_info()[0]
    t = nat._t
    assert lib.smt_stage(t, WORKING, b"abcdef", 6, ptr, b"xy", 2, vptr, 2, out) == 0
    assert lib.smt_stage(t, WORKING, b"abcde", 5, ptr, b"xy", 2, vptr, 2, out) == -2  # keys too short
    assert lib.smt_stage(t, WORKING, b"abcdefg", 7, ptr, b"xy", 2, vptr, 2, out) == -2  # trailing bytes
    assert lib.smt_stage(t, WORKING, b"abcdef", 6, ptr, b"x", 1, vptr, 2, out) == -2  # values too short
    bad = array("q", [2, -2])
    assert lib.smt_stage(t, WORKING, b"abcdef", 6, ptr, b"xy", 2, bad.buffer_info()[0], 2, out) == -2
    assert lib.smt_stage(t, 2, b"", 0, None, b"", 0, None, 0, out) == -2  # no such slot
    assert lib.smt_commit(t, HISTORY) == -4  # nothing staged there
    with pytest.raises(StoreError):
        nat.stage(WORKING, [(b"same", b"1"), (b"same", b"2")])
    nat.stage(WORKING, [(b"k", b"v")])
    with pytest.raises(StoreError):
        nat.load([(b"k", b"v")])  # load needs an empty tree (this one has staged state)
    nat.commit(WORKING)
    with pytest.raises(StoreError):
        nat.load([(b"k", b"v")])


@pytest.mark.parametrize("impl", ["python", "native"])
def test_database_holds_no_tree_and_tampering_is_caught(impl: str, backends: BackendFactory) -> None:
    if impl == "native" and not tree_mod.native_available():
        pytest.skip("native tree not built")
    tree_mod.set_default_impl(impl)
    try:
        backend = backends.open()
        store = MerkleStore(backend)
        model = {i.to_bytes(3, "big"): b"v%d" % i for i in range(2000)}
        for k, v in model.items():
            store.set(k, v)
        store.commit(1)
        store.set(b"\x00\x00\x01", b"changed")
        root = store.commit(2)
        tables = {k[2:3] for k, _ in backend.iterate(b"S/", b"S0")}
        assert tables == {b"f", b"m", b"r", b"u"}
        reopened = MerkleStore(backends.open())
        assert reopened.root == root
        value, proof = reopened.prove(2, b"\x00\x00\x07")
        verify(proof, root, b"\x00\x00\x07", value)
        backend = backends.open()
        backend.write([(b"S/f" + b"\x00\x00\x05", b"forged")])
        with pytest.raises(CorruptStore):
            MerkleStore(backends.open())
    finally:
        tree_mod.set_default_impl(None)


def test_empty_loads() -> None:
    assert PyTree().load([]) == EMPTY_ROOT
    if tree_mod.native_available():
        assert NativeTree().load([]) == EMPTY_ROOT
    store = MerkleStore(MemoryBackend())
    store.commit(1)
    assert MerkleStore(store._backend).root == EMPTY_ROOT
