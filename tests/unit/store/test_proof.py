"""Proofs from `MerkleStore.prove` checked with `verify`: membership, absence, history, tampering, junk."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidechain.store import (
    EMPTY_ROOT,
    OP_TYPE,
    MemoryBackend,
    MerkleStore,
    ProofError,
    ProofInvalid,
    ProofMalformed,
    ProofOp,
    verify,
)

from .conftest import BackendFactory


def _store_with(backends: BackendFactory, n: int, keep: int = 5) -> tuple[MerkleStore, dict[bytes, bytes]]:
    store = MerkleStore(backends.open(), keep_versions=keep)
    rng = random.Random(n)
    model = {rng.randbytes(rng.randint(1, 24)): rng.randbytes(rng.randint(0, 60)) for _ in range(n)}
    for key, value in model.items():
        store.set(key, value)
    store.commit(1)
    return store, model


def test_membership_and_absence(backends: BackendFactory) -> None:
    store, model = _store_with(backends, 500)
    root = store.root_at(1)
    for key in sorted(model)[:60]:
        value, proof = store.prove(1, key)
        assert value == model[key]
        assert [op.type for op in proof] == [OP_TYPE] and proof[0].key == key
        verify(proof, root, key, value)
        with pytest.raises(ProofInvalid):
            verify(proof, root, key, None)
        with pytest.raises(ProofInvalid):
            verify(proof, root, key, value + b"x")
    for i in range(60):
        key = b"absent-" + bytes([i])
        value, proof = store.prove(1, key)
        assert value is None
        verify(proof, root, key, None)
        with pytest.raises(ProofInvalid):
            verify(proof, root, key, b"")


def test_proofs_at_older_versions(backends: BackendFactory) -> None:
    store, model = _store_with(backends, 300, keep=4)
    keys = sorted(model)
    history: list[tuple[int, dict[bytes, bytes]]] = [(1, dict(model))]
    for version in range(2, 5):
        for key in keys[version * 10 : version * 10 + 20]:
            model[key] = b"v" + bytes([version])
            store.set(key, model[key])
        store.delete(keys[version])
        model.pop(keys[version])
        new_key = b"new" + bytes([version])
        store.set(new_key, b"n")
        model[new_key] = b"n"
        store.commit(version)
        history.append((version, dict(model)))
    for version, state in history:
        root = store.root_at(version)
        for key in keys[:60] + [b"new2", b"new3", b"new4"]:
            value, proof = store.prove(version, key)
            assert value == state.get(key), (version, key)
            verify(proof, root, key, value)
            with pytest.raises(ProofInvalid):
                verify(proof, root, key, b"not-the-value")
            if version < 4 and key in (keys[2], keys[3], keys[4]):
                # These keys changed after `version`: the old proof does not hold under the latest root.
                with pytest.raises(ProofInvalid):
                    verify(proof, store.root, key, value)


def test_empty_and_single_key_trees() -> None:
    store = MerkleStore(MemoryBackend())
    store.commit(1)
    value, proof = store.prove(1, b"k")
    assert value is None
    verify(proof, EMPTY_ROOT, b"k", None)
    store.set(b"only", b"1")
    root = store.commit(2)
    verify(store.prove(2, b"only")[1], root, b"only", b"1")
    verify(store.prove(2, b"other")[1], root, b"other", None)
    with pytest.raises(ProofInvalid):
        verify(store.prove(2, b"other")[1], root, b"only", None)  # proof for another key


def test_tampered_proofs_rejected(backends: BackendFactory) -> None:
    store, model = _store_with(backends, 200)
    root = store.root
    key = sorted(model)[3]
    value, proof = store.prove(1, key)
    data = proof[0].data
    for i in range(len(data)):
        for flip in (1, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(ProofError):
                verify([ProofOp(OP_TYPE, key, bytes(bad))], root, key, value)
    bad_root = bytes([root[0] ^ 1]) + root[1:]
    with pytest.raises(ProofInvalid):
        verify(proof, bad_root, key, value)
    _, absent = store.prove(1, b"no such key")
    with pytest.raises(ProofInvalid):
        verify(absent, bad_root, b"no such key", None)


@pytest.mark.parametrize(
    "ops",
    [
        [],
        [("sidechain:smt16:v1", b"k", b"\x01\x00\x00")] * 2,
        [("other:type", b"k", b"\x01\x00\x00")],
        [("sidechain:smt16:v1", b"k")],
        [("sidechain:smt16:v1", b"k", "text")],
        [("sidechain:smt16:v1", b"k", b"")],
        [("sidechain:smt16:v1", b"k", b"\x02\x00\x00")],
        [("sidechain:smt16:v1", b"k", b"\x01\x41\x00")],
        [("sidechain:smt16:v1", b"k", b"\x01\x00\x00\x00")],
        [("sidechain:smt16:v1", b"k", b"\x01\x00\x07")],
        [("sidechain:smt16:v1", b"k", b"\x01\x01\x00\x01" + bytes(32) + b"\x00")],
        [("sidechain:smt16:v1", b"k", b"\x01\x00\x01" + bytes(10))],
        [("sidechain:smt16:v1", None, b"\x01\x00\x00")],
        None,
        [None],
    ],
)
def test_malformed_proofs_rejected(ops: object) -> None:
    with pytest.raises(ProofMalformed):
        verify(ops, EMPTY_ROOT, b"k", None)  # type: ignore[arg-type]


_STORE = MerkleStore(MemoryBackend())
for _i in range(64):
    _STORE.set(_i.to_bytes(2, "big"), b"v")
_ROOT = _STORE.commit(1)
_VALID = _STORE.prove(1, (5).to_bytes(2, "big"))[1][0].data


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=700),
        st.builds(lambda cut, junk: _VALID[:cut] + junk, st.integers(0, len(_VALID)), st.binary(max_size=40)),
    ),
    value=st.one_of(st.none(), st.just(b"v"), st.binary(max_size=4)),
)
def test_junk_never_crashes_and_never_verifies(data: bytes, value: bytes | None) -> None:
    key = (5).to_bytes(2, "big")
    if data == _VALID and value == b"v":
        return
    with pytest.raises(ProofError):
        verify([(OP_TYPE, key, data)], _ROOT, key, value)
