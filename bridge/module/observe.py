"""The seam between consensus and the L1 watcher (BRIDGE.md sections 5 and 6).

The watcher (bridge/watcher.py, a thread in each validator's app process) implements `L1Observer`.
The app tells it where the chain stands after every Commit (`progress`) and asks it, in ExtendVote,
what it has seen (`observed`). Neither call may block on the network or take a lock held across
network I/O: a slow or dead L1 only means empty extensions. Non-validators run no watcher: the app
then has `NO_OBSERVER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge.module.events import L1Event


@dataclass(frozen=True, slots=True)
class ChainProgress:
    """What the chain has applied, as of its last committed block, and the bridge's fixed facts."""

    height: int               # sidechain height committed
    l1_chain_id: int
    contract: bytes           # 20 bytes
    deployed_at: int          # L1 block of the contract's deployment (its event 1)
    last_event_nonce: int     # every event <= this is applied
    observed_l1_height: int   # every event in L1 blocks <= this is applied
    l1_confirmations: int     # depth the watcher waits where L1 has no finality


@dataclass(frozen=True, slots=True)
class Observed:
    """What the watcher has read at final depth.

    `events`: every event with nonce > the last `ChainProgress.last_event_nonce` it was told, in nonce
    order and contiguous from that nonce + 1 (it drops the rest until it has the gap filled).
    `final_height`: the L1 block it considers final and has read completely: every contract event in
    blocks <= final_height with nonce > last_event_nonce is in `events`. 0 when it knows nothing yet.
    """

    events: tuple[L1Event, ...]
    final_height: int


NOTHING_OBSERVED = Observed((), 0)


class L1Observer(Protocol):
    def progress(self, p: ChainProgress) -> None: ...

    def observed(self) -> Observed: ...


class _NoObserver:
    def progress(self, p: ChainProgress) -> None:
        return None

    def observed(self) -> Observed:
        return NOTHING_OBSERVED


NO_OBSERVER: L1Observer = _NoObserver()


class BridgeSigner(Protocol):
    """A validator's secp256k1 bridge key, held by its app process (loaded at start; never logged)."""

    @property
    def address(self) -> bytes:
        """The 20-byte Ethereum address of the key."""
        ...

    def sign(self, digest: bytes) -> bytes:
        """65 bytes r || s || v (v 27/28, low s) over a 32-byte digest."""
        ...


@dataclass(frozen=True, slots=True)
class ValidatorLocal:
    """What a validator's process adds to consensus from outside the state: its L1 watcher (what it
    has seen on L1) and its bridge key (None: it signs nothing). ExtendVote and after-Commit get it."""

    observer: L1Observer
    signer: BridgeSigner | None = None
