"""A real L1: one `geth --dev` per test module (tests.support.bridge_l1.l1), killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bridge_l1.l1 import GethDevNode, GethNotFound, geth_binary


@pytest.fixture(scope="module")
def geth() -> Iterator[GethDevNode]:
    try:
        geth_binary()
    except GethNotFound as exc:
        pytest.fail(f"{exc} (integration tests need the pinned geth)")
    with GethDevNode.start(period=1) as node:
        yield node
