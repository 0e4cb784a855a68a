"""`sidechain start` with a crash injected between FinalizeBlock and Commit (crash-safety tests).

    python -m tests.support.crash_node --home HOME (--before-commit-height N | --before-commit-with-txs)

The node runs as `sidechain start` does, but the application is wrapped: at the first block that
matches (height >= N, or the first block carrying transactions) the process exits with code 137
right before writing it, as a crash or a power cut would. The state machine knows nothing of this.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.node import NodeExit, start

log = logging.getLogger("sidechain.faults")


class CrashBeforeCommit:
    """Every call goes to the application, but Commit of a matching block kills the process first."""

    def __init__(self, app: Application, height: int | None, with_txs: bool) -> None:
        self._app = app
        self._height = height
        self._with_txs = with_txs
        self._finalized: tuple[int, int] | None = None  # (height, number of txs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def finalize_block(self, req: b.FinalizeBlockRequest) -> b.BlockOutput:
        out = self._app.finalize_block(req)
        self._finalized = (req.env.height, len(req.txs))
        return out

    def commit(self) -> b.CommitResult:
        if self._finalized is not None:
            height, n_txs = self._finalized
            if (self._height is not None and height >= self._height) or (self._with_txs and n_txs):
                log.error("test hook: exiting before committing height %d", height)
                logging.shutdown()
                os._exit(137)
        return self._app.commit()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", type=Path, required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--before-commit-height", type=int)
    g.add_argument("--before-commit-with-txs", action="store_true")
    args = p.parse_args()
    try:
        start(args.home, wrap_app=lambda app: CrashBeforeCommit(  # type: ignore[return-value]
            app, args.before_commit_height, args.before_commit_with_txs))
    except NodeExit as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
