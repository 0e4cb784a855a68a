from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.node import Node


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[object]:
    nodes: list[Node] = []

    def make(**kw: object) -> Node:
        n = Node(home=tmp_path / f"node{len(nodes)}", **kw)  # type: ignore[arg-type]
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.kill()
