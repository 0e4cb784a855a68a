"""Backends for the shared store suite: every test taking `backends` runs on memory and on LevelDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sidechain.store import Backend, LevelDBBackend, MemoryBackend


class BackendFactory:
    """Opens the same database again and again, as a restarted node would."""

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path
        self._memory = MemoryBackend()
        self._open: list[Backend] = []

    def open(self) -> Backend:
        if self.kind == "memory":
            return self._memory  # the "disk" of the memory backend is the object itself
        for backend in self._open:
            backend.close()
        self._open = []
        backend = LevelDBBackend(self.path)
        self._open.append(backend)
        return backend

    def close(self) -> None:
        for backend in self._open:
            backend.close()


@pytest.fixture(params=["memory", "leveldb"])
def backends(request: pytest.FixtureRequest, tmp_path) -> Iterator[BackendFactory]:  # type: ignore[no-untyped-def]
    factory = BackendFactory(request.param, str(tmp_path / "db"))
    yield factory
    factory.close()


@pytest.fixture(autouse=True, params=["native", "python"])
def tree_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every store test runs on both Merkle tree implementations (they must agree bit for bit)."""
    from sidechain.store import tree

    if request.param == "native" and not tree.native_available():
        pytest.skip(f"native tree not built (make install): {tree.native_error()}")
    tree.set_default_impl(request.param)
    yield request.param
    tree.set_default_impl(None)
