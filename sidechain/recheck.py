"""Rechecks that cost close to nothing for the txs a block did not touch (CheckTx only, never consensus).

After every Commit the check-state starts again from the committed state, and CometBFT rechecks every tx
left in its mempool, in mempool order, so that the check-state holds their effects again. Under load
that is several rechecks per committed tx (each node's whole mempool, every block): in a 4-validator
network with 5,000-tx mempools, 15 per committed tx, all nodes together (`make bench-net`, the app's
calls per tx).

A check is a deterministic function of the tx, the tx rules and the values it reads. `RecheckMemo`
records, for every tx that passed CheckTx (new or recheck), each key its check read with the value it
read, and the writes it made (through `_Recorder`). A recheck reuses that record, writing the recorded
values without running the check, when:

* every message type of the tx declares `reuse_on_recheck` (its check and writes depend only on the
  state it reads and on the params, never on the block's height, time or proposer), and the check did
  not iterate (a range read is not a set of values to compare);
* the tx rules (params, limits, module accounts, message types) are those of the recorded check;
* every key it read holds, in the check-state now, the value it read then. The check would then read
  the same values in the same order, pass, and write the same values.

The last condition is checked by reading those keys again (a few reads, against a full check's decode
of the state, ante step and message); it does not depend on which txs were committed, evicted or
rechecked before. For the next tx of an account whose last tx the block committed, the block wrote
the values that tx's check wrote, so it is reused too. The ante step's read-only check still runs on
reuse (for the timeout height, which depends on the block). Anything else runs the check in full, as
before. This is an optimisation of the mempool's view only: PrepareProposal, ProcessProposal and
FinalizeBlock check every tx in full, whatever CheckTx said.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sidechain import txflow
from sidechain.env import ChainRules, TxEnv
from sidechain.store.api import KVStore
from sidechain.tx import DecodedTx


class _Recorder:
    """A KVStore over the check-state that records what a check read and wrote."""

    __slots__ = ("_state", "reads", "writes", "ranged")

    def __init__(self, state: KVStore) -> None:
        self._state = state
        self.reads: dict[bytes, bytes | None] = {}  # key -> the value first read
        self.writes: dict[bytes, bytes | None] = {}
        self.ranged = False

    def get(self, key: bytes) -> bytes | None:
        value = self._state.get(key)
        self.reads.setdefault(key, value)
        return value

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        self.ranged = True
        return self._state.iterate(start, end)

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value
        self._state.set(key, value)

    def delete(self, key: bytes) -> None:
        self.writes[key] = None
        self._state.delete(key)


@dataclass(frozen=True, slots=True)
class _Checked:
    # key -> value read (in the order read); None: never reused (a message type that did not opt in, or a
    # range read)
    reads: tuple[tuple[bytes, bytes | None], ...] | None
    writes: dict[bytes, bytes | None]  # in the order made; None deletes


def same_tx_rules(a: ChainRules | None, b: ChainRules | None) -> bool:
    """Whether two blocks' tx rules are the same for a check (params compared by value)."""
    if a is None or b is None:
        return False
    return (a.chain_id == b.chain_id and a.limits == b.limits and a.module_accounts == b.module_accounts
            and [h.name for h in a.registry.handlers] == [h.name for h in b.registry.handlers]
            and dict(a.params) == dict(b.params))


class RecheckMemo:
    """See the module docstring. One per Application; `new_pass` at every Commit."""

    def __init__(self) -> None:
        self._current: dict[bytes, _Checked] = {}  # the txs that passed a check since the last Commit
        self._previous: dict[bytes, _Checked] = {}  # those of the pass before
        self.reused = 0
        self.checked = 0

    def new_pass(self, same_rules: bool) -> None:
        """A Commit: the check-state starts again; with other tx rules, nothing recorded is reused."""
        self._previous = self._current if same_rules else {}
        self._current = {}

    def check(self, state: KVStore, tx: DecodedTx, env: TxEnv, *, recheck: bool) -> None:
        """txflow.check_stateful(state, tx, env), or its recorded writes when they stand (see above).
        Raises an InvalidInput (and writes nothing) like check_stateful."""
        prev = self._previous.pop(tx.hash, None) if recheck else None
        if prev is not None and prev.reads is not None and all(state.get(k) == v for k, v in prev.reads):
            env.rules.ante.check(state, tx, env.height)  # the timeout height is the block's
            for key, value in prev.writes.items():
                if value is None:
                    state.delete(key)
                else:
                    state.set(key, value)
            self._current[tx.hash] = prev
            self.reused += 1
            return
        rec = _Recorder(state)
        txflow.check_stateful(rec, tx, env)
        registry = env.rules.registry
        reusable = not rec.ranged and all(getattr(registry.handler(name), "reuse_on_recheck", False)
                                          for name, _msg in tx.msgs)
        self._current[tx.hash] = _Checked(tuple(rec.reads.items()) if reusable else None, rec.writes)
        self.checked += 1
