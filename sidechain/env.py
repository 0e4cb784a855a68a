"""What a module's code is given: the environment of a tx and of a block, and the seam's small types.

Modules import this file (and `sidechain.tx`, `sidechain.types`, `sidechain.store`), never
`sidechain.module` (which imports every module) and never another module's package: what a module
needs from another it declares as a `typing.Protocol` in its own `expected.py`, and the module set
passes the implementation in (see `sidechain.module`).

* `BlockEnv` (sidechain.blocks): the block being proposed, checked or finalized, as consensus gave
  it: chain id, height, header time, proposer, the last commit's votes and the misbehaviour list.
* `ChainRules`: what the params in state say about txs, read once per block (after each Commit, or
  at the start of FinalizeBlock): chain id, address prefix, tx limits, the enabled message types
  and the ante step. Never changes within a block.
* `TxEnv`: where one tx runs: the block, the rules, and the fees the block has collected so far.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sidechain.blocks import BlockEnv, CommitInfo, Event, ValidatorUpdate
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import DecodedTx, MsgRegistry, TxLimits
from sidechain.types import ZERO, Amount, Coin


class AnteHandler(Protocol):
    """The checks and effects every tx goes through before its messages (the auth module's).

    `check` only reads and returns what `apply` needs; `apply` bumps the signer's sequence and takes
    the fee. In a block the ante effects stand even when the messages then fail.
    """

    @property
    def limits(self) -> TxLimits: ...

    @property
    def address_prefix(self) -> str: ...

    def check(self, state: KVReader, tx: DecodedTx, height: int) -> Any: ...

    def apply(self, state: KVStore, tx: DecodedTx, checked: Any) -> int:
        """Apply the checked ante effects; return the sequence the tx used."""
        ...


@dataclass(frozen=True, slots=True)
class ChainRules:
    """The tx rules in force for one block, from the params in state."""

    chain_id: str
    address_prefix: str
    limits: TxLimits
    registry: MsgRegistry
    ante: AnteHandler
    params: Mapping[str, Any]  # every module's params, by module name (for queries and handlers)
    # Modules' explain_failure(state, tx, err, registry): a clearer error for a tx that failed with err.
    explainers: tuple[Callable[[KVReader, DecodedTx, Any, MsgRegistry], Any], ...] = ()
    # Accounts that belong to modules (pools): no transfer may credit them (a membership test only).
    module_accounts: frozenset[bytes] = frozenset()

    def explain(self, state: KVReader, tx: DecodedTx, err: Any) -> Any:
        """The first module's clearer version of `err` (an InvalidInput), else `err` itself."""
        for explain in self.explainers:
            better = explain(state, tx, err, self.registry)
            if better is not None:
                return better
        return err

    @property
    def max_tx_bytes(self) -> int:
        return self.limits.max_tx_bytes


class CollectedFees:
    """Fees taken during one block, summed in memory; moved to the fee pool once, at the block's end.

    Fees are taken in the ante step of each tx, which stands even when the tx's messages fail, so
    summing here is exact: no branch of the block can be discarded after a fee is added.
    """

    __slots__ = ("_by_denom",)

    def __init__(self) -> None:
        self._by_denom: dict[str, Amount] = {}

    def add(self, coin: Coin) -> None:
        if coin.amount:
            self._by_denom[coin.denom] = self._by_denom.get(coin.denom, ZERO) + coin.amount

    def coins(self) -> list[Coin]:
        """Sorted by denom (never iterate the dict in insertion order for consensus)."""
        return [Coin(d, self._by_denom[d]) for d in sorted(self._by_denom)]

    def clear(self) -> None:
        self._by_denom.clear()

    def __bool__(self) -> bool:
        return bool(self._by_denom)


@dataclass(slots=True)
class TxEnv:
    """Where a tx runs. For CheckTx the block is the next one (last committed height + 1)."""

    block: BlockEnv
    rules: ChainRules
    fees: CollectedFees = field(default_factory=CollectedFees)

    @property
    def height(self) -> int:
        return self.block.height

    @property
    def time_ns(self) -> int:
        return self.block.time_ns

    @property
    def chain_id(self) -> str:
        return self.rules.chain_id

    @property
    def address_prefix(self) -> str:
        return self.rules.address_prefix


def next_block_env(chain_id: str, height: int, time_ns: int) -> BlockEnv:
    """The env CheckTx assumes: block `height` (the next one), at the last block's time (the best
    lower bound of the next block's time a node has)."""
    return BlockEnv(chain_id=chain_id, height=height, time_ns=time_ns, proposer_address=b"",
                    last_commit=CommitInfo(0, ()))


# --- the seam's small types --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrefixRange:
    """The first bytes of the store keys a module owns: `first`..`last`, inclusive."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.last <= 0xFF:
            raise ValueError(f"bad prefix range {self.first:#04x}-{self.last:#04x}")

    def owns(self, key: bytes) -> bool:
        return bool(key) and self.first <= key[0] <= self.last

    def overlaps(self, other: PrefixRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return f"{self.first:#04x}-{self.last:#04x}"


@dataclass(frozen=True, slots=True)
class GenesisContext:
    """What parsing one module's genesis section may use: the address prefix and the sections of
    the modules before it (already parsed and validated), by module name."""

    address_prefix: str
    earlier: Mapping[str, Any] = field(default_factory=dict)
    chain_id: str = ""  # known at InitChain (and to genesis tools that are given it)
    initial_height: int = 1
    genesis_time_ns: int = 0
    vote_extensions_enable_height: int = 0  # consensus_params.abci (known at InitChain)


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    """A module query's answer: a JSON body, and for a provable one the store key it reads
    (the app attaches that key's raw value and, when asked, its Merkle proof)."""

    body: Mapping[str, object]
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueryRoute:
    """`/<name>/<args...>`: `handler(reader, args, rules)` answers from one version of the state.
    Bad arguments raise an InvalidInput."""

    name: str
    handler: Callable[[KVReader, Sequence[str], ChainRules], QueryAnswer]
    usage: str
    min_args: int = 0
    max_args: int | None = 0  # None: no upper bound (e.g. a denom with "/" in it spans segments)

    def takes(self, n: int) -> bool:
        return n >= self.min_args and (self.max_args is None or n <= self.max_args)


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What a module's begin-block or end-block step gives back besides its writes."""

    events: tuple[Event, ...] = ()
    validator_updates: tuple[ValidatorUpdate, ...] = ()  # end-block steps only (CometBFT applies them at H+2)


NO_OUTPUT = StepOutput()
