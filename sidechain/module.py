"""The seam every module of the chain goes through, and the chain's modules in their fixed order.

A module is one package that owns a range of store-key prefixes and everything kept under them:

    name          "bank": its genesis section (`app_state.bank`), its params and query routes
    prefixes      the first key bytes it owns (PrefixRange); nobody else writes there
    params_type   params with default() / validate() / from_json() / to_json(), or None
    genesis       default_genesis / parse_genesis (validates) / init_genesis / export_genesis /
                  genesis_to_json
    messages      msg_names (core `Msg` oneof fields, or "<name>.<MsgName>" for messages in its own
                  schema, carried in a `ModuleMsg`) and msg_handlers(state)
    queries       query_routes(): `/<route>/<args...>` answered from one version of the state
    needs         {constructor argument: Protocol}: what it needs from other modules, given by the
                  module set from whichever module's `keeper` implements that Protocol
    keeper        what it offers other modules (matched against their needs)
    steps         optional begin_block(state, env) / end_block(state, env) -> StepOutput
    roles         optional: ante(state) (the auth module: the checks before a tx's messages),
                  collect_fees(state, coins) (the bank module: fees into the fee pool),
                  explain_failure(state, tx, err, registry) (a clearer error for a failed tx),
                  extend_vote / verify_vote_extension / extended_commit_required
                  (at most one module: the bridge; see VoteExtender), consensus_members(state, h)
                  (staking: the validator set of a height, to check the extended commit against),
                  bind_module_accounts(accounts) (told the chain's module accounts once, at build)

`CHAIN_MODULES` is the chain: adding a module is one new package plus one line there. The order
is consensus: it is the order of genesis sections, of begin-block and end-block steps and of
params in `/params`. `ModuleSet` checks at import that names, prefixes, message types and query
routes are unique and that every need is met by exactly one module, the way duplicate error codes
are refused (sidechain/errors.py).

Store-key prefixes (the first byte of every key in the authenticated state):

    0x01-0x0F  auth        accounts, params                (sidechain/auth/keys.py)
    0x10-0x1F  bank        balances, supply, fee pool      (sidechain/bank/keys.py)
    0x20-0x3F  staking     validators, delegations, rewards, slashing (validators/keys.py)
    0x40-0x4F  bridge      L1 events applied, deposits, supply, L1 valset (bridge/module/keys.py)
    0xF0-0xFF  app         last block, chain id            (sidechain/block.py, sidechain/app.py)

Who may import whom (tests/unit/test_imports.py checks it):

    sidechain.cli, sidechain.commands, sidechain.node   the processes and CLIs: anything
    abci_app                                            sidechain.app, sidechain.blocks, core
    genesis                                             sidechain.module, modules, core (never abci_app)
    sidechain.app -> sidechain.block -> sidechain.txflow -> sidechain.module -> the modules
    the modules (sidechain.auth, sidechain.bank, validators, bridge.module)   core only; never each other
    core: sidechain.env, tx, types, errors, blocks   -> sidechain.store (which imports no module)
    bridge (L1 tooling: client, CLI)                    never imported by consensus code
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

from bridge.module.module import BridgeModule
from sidechain.auth.module import AuthModule
from sidechain.bank.module import BankModule
from sidechain.blocks import BlockEnv, ValidatorUpdate
from sidechain.env import AnteHandler, ChainRules, GenesisContext, PrefixRange, QueryRoute, StepOutput
from sidechain.errors import InvalidGenesis, InvalidInput, InvalidParams
from sidechain.extcommit import Member
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import DecodedTx, MsgHandler, MsgRegistry, core_msg_names, is_module_msg_name, validate_chain_id
from sidechain.types import Coin, json_object
from validators.module import StakingModule

APP_PREFIXES = PrefixRange(0xF0, 0xFF)
# Query routes the app answers itself (sidechain/app.py).
APP_QUERY_ROUTES = ("app", "params", "store")


class Params(Protocol):
    def validate(self) -> None: ...

    def to_json(self) -> dict[str, object]: ...


class ParamsType(Protocol):
    """A module's params class."""

    def default(self) -> Params: ...

    def from_json(self, obj: object, path: str) -> Params: ...


class Module(Protocol):
    """One module of the chain (see the module docstring for each member)."""

    name: ClassVar[str]
    prefixes: ClassVar[PrefixRange]
    msg_names: ClassVar[tuple[str, ...]]
    needs: ClassVar[Mapping[str, type]]
    params_type: ClassVar[Any]  # its params class (default(), from_json(), ...) or None

    @property
    def keeper(self) -> object: ...

    def get_params(self, state: KVReader) -> Params | None: ...

    def default_genesis(self) -> Any: ...

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> Any:
        """The section `app_state.<name>` (None when absent), parsed and validated; InvalidGenesis
        naming the offending path otherwise."""
        ...

    def init_genesis(self, state: KVStore, gen: Any, ctx: GenesisContext) -> Sequence[ValidatorUpdate]: ...

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> Any: ...

    def genesis_to_json(self, gen: Any, ctx: GenesisContext) -> object | None:
        """The JSON section for `gen`; None leaves the section out of app_state."""
        ...

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]: ...

    def query_routes(self) -> Sequence[QueryRoute]: ...


class ModuleType(Protocol):
    """A module's class: built by the module set, with its needs as keyword arguments."""

    name: str
    prefixes: PrefixRange
    msg_names: tuple[str, ...]
    needs: Mapping[str, type]


class FeeCollector(Protocol):
    def collect_fees(self, state: KVStore, coins: Sequence[Coin]) -> None: ...


class AnteProvider(Protocol):
    """The module whose checks run before every tx's messages (auth); it also owns the address
    prefix, in its params and in its genesis section."""

    name: str

    def ante(self, state: KVReader) -> AnteHandler: ...

    def genesis_address_prefix(self, section: object) -> str: ...


class FailureExplainer(Protocol):
    def explain_failure(self, state: KVReader, tx: DecodedTx, err: InvalidInput,
                        registry: MsgRegistry) -> InvalidInput | None: ...


class VoteExtender(Protocol):
    """The module that owns vote extensions (at most one: the bridge). `state` is the committed
    state the call is made on (ExtendVote and VerifyVoteExtension for height H see H - 1's)."""

    def extended_commit_required(self, state: KVReader, height: int) -> bool:
        """Whether the block at `height` must start with the extended commit of `height - 1`."""
        ...

    def extend_vote(self, state: KVReader, height: int, local: object, block_txs: Sequence[bytes]) -> bytes:
        """This validator's extension for the block of `height` it votes for (`block_txs`: that block's
        txs); `local` is the app's per-process source (the L1 watcher)."""
        ...

    def verify_vote_extension(self, state: KVReader, height: int, validator: bytes, extension: bytes) -> bool: ...

    def after_commit(self, state: KVReader, height: int, local: object) -> None:
        """Tell the per-process source what the chain committed (it must not block)."""
        ...


class ValidatorSource(Protocol):
    def consensus_members(self, state: KVReader, height: int) -> Mapping[bytes, Member] | None:
        """The validator set in force at `height` by consensus address; None if not known."""
        ...


class BlockStep(Protocol):
    def __call__(self, state: KVStore, env: BlockEnv) -> StepOutput: ...


@dataclass(frozen=True, slots=True)
class Genesis:
    """Every module's parsed genesis section, in module order."""

    address_prefix: str
    sections: tuple[tuple[str, Any], ...]

    def section(self, name: str) -> Any:
        for n, gen in self.sections:
            if n == name:
                return gen
        raise KeyError(name)


class ModuleSet:
    """The chain's modules, checked and wired together (the needs of each given from the others)."""

    def __init__(self, module_types: Sequence[ModuleType]) -> None:
        _check_declarations(module_types)
        self.modules: tuple[Module, ...] = _build(module_types)
        self._by_name = {m.name: m for m in self.modules}
        routes: dict[str, tuple[Module, QueryRoute]] = {}
        for m in self.modules:
            for r in m.query_routes():
                if r.name in APP_QUERY_ROUTES or r.name in routes:
                    owner = "the app" if r.name in APP_QUERY_ROUTES else routes[r.name][0].name
                    raise TypeError(f"module {m.name}: query route /{r.name} is already {owner}'s")
                routes[r.name] = (m, r)
        self._routes = routes
        self.begin_block_steps: tuple[tuple[str, BlockStep], ...] = tuple(
            (m.name, m.begin_block) for m in self.modules if hasattr(m, "begin_block"))  # type: ignore[attr-defined]
        self.end_block_steps: tuple[tuple[str, BlockStep], ...] = tuple(
            (m.name, m.end_block) for m in self.modules if hasattr(m, "end_block"))  # type: ignore[attr-defined]
        self.fee_collector: FeeCollector = _one_role(self.modules, "collect_fees")
        self.ante_provider: AnteProvider = _one_role(self.modules, "ante")
        self.explainers: tuple[FailureExplainer, ...] = tuple(
            m for m in self.modules if hasattr(m, "explain_failure"))  # type: ignore[misc]
        self.module_accounts: frozenset[bytes] = frozenset(
            a for m in self.modules for a in getattr(m, "module_accounts", ()))
        for m in self.modules:
            if hasattr(m, "bind_module_accounts"):
                m.bind_module_accounts(self.module_accounts)
        self.vote_extender: VoteExtender | None = _optional_role(self.modules, "extend_vote")
        self.validator_source: ValidatorSource | None = _optional_role(self.modules, "consensus_members")
        if self.vote_extender is not None and self.validator_source is None:
            raise TypeError("a module owns vote extensions but none offers consensus_members() to check them")

    def __iter__(self) -> Any:
        return iter(self.modules)

    def module(self, name: str) -> Module:
        return self._by_name[name]

    def owner_of(self, key: bytes) -> str:
        """The name of the module that owns `key` ("app" for the app's own keys)."""
        if APP_PREFIXES.owns(key):
            return "app"
        for m in self.modules:
            if m.prefixes.owns(key):
                return m.name
        raise KeyError(f"no module owns key {key.hex()}")

    # -- per block -------------------------------------------------------------------------------

    def rules(self, state: KVReader, chain_id: str) -> ChainRules:
        """The tx rules in force on top of `state` (read once per block, never per tx)."""
        handlers: list[MsgHandler] = []
        for m in self.modules:
            handlers.extend(m.msg_handlers(state))
        params = {m.name: p for m in self.modules if (p := m.get_params(state)) is not None}
        ante = self.ante_provider.ante(state)
        return ChainRules(
            chain_id=validate_chain_id(chain_id),
            address_prefix=ante.address_prefix,
            limits=ante.limits,
            registry=MsgRegistry(handlers),
            ante=ante,
            params=params,
            explainers=tuple(m.explain_failure for m in self.explainers),
            module_accounts=self.module_accounts,
        )

    def query_route(self, name: str) -> QueryRoute | None:
        found = self._routes.get(name)
        return None if found is None else found[1]

    def query_routes(self) -> list[tuple[str, QueryRoute]]:
        return [(m.name, r) for m, r in self._routes.values()]

    def params_json(self, state: KVReader) -> dict[str, object]:
        return {m.name: p.to_json() for m in self.modules if (p := m.get_params(state)) is not None}

    # -- genesis ---------------------------------------------------------------------------------

    def parse_genesis(self, app_state: object) -> Genesis:
        """Every module's section of a genesis `app_state`, parsed and validated in module order.
        Raises InvalidGenesis naming the offending path. Sections no module owns are refused."""
        if not isinstance(app_state, dict):
            raise InvalidGenesis(f"app_state: expected a JSON object, got {type(app_state).__name__}")
        json_object(app_state, "app_state", tuple(self._by_name), InvalidGenesis)
        prefix = self.ante_provider.genesis_address_prefix(app_state.get(self.ante_provider.name))
        earlier: dict[str, Any] = {}
        sections = []
        for m in self.modules:
            gen = m.parse_genesis(app_state.get(m.name), GenesisContext(prefix, dict(earlier)))
            earlier[m.name] = gen
            sections.append((m.name, gen))
        return Genesis(prefix, tuple(sections))

    def init_genesis(self, state: KVStore, genesis: Genesis, chain_id: str = "", initial_height: int = 1,
                     time_ns: int = 0, vote_extensions_enable_height: int = 0) -> tuple[ValidatorUpdate, ...]:
        """Write every module's genesis into `state`; the validator updates the modules return."""
        updates: list[ValidatorUpdate] = []
        earlier: dict[str, Any] = {}
        for m, (name, gen) in zip(self.modules, genesis.sections, strict=True):
            if m.name != name:
                raise ValueError("genesis sections are not in module order")
            ctx = GenesisContext(genesis.address_prefix, dict(earlier), chain_id, initial_height, time_ns,
                                 vote_extensions_enable_height)
            updates.extend(m.init_genesis(state, gen, ctx))
            earlier[name] = gen
        return tuple(updates)

    def export_genesis(self, state: KVReader) -> dict[str, object]:
        """The app_state that would start a chain in this state (sections a module does not keep in
        state are left out)."""
        prefix = self.address_prefix(state)
        out: dict[str, object] = {}
        earlier: dict[str, Any] = {}
        for m in self.modules:
            ctx = GenesisContext(prefix, dict(earlier))
            gen = m.export_genesis(state, ctx)
            earlier[m.name] = gen
            section = None if gen is None else m.genesis_to_json(gen, ctx)
            if section is not None:
                out[m.name] = section
        return out

    def default_genesis_json(self) -> dict[str, object]:
        """The app_state sections of a chain with default params and nothing in it."""
        prefix = self.ante_provider.genesis_address_prefix(None)
        out: dict[str, object] = {}
        for m in self.modules:
            section = m.genesis_to_json(m.default_genesis(), GenesisContext(prefix))
            if section is not None:
                out[m.name] = section
        return out

    def check_params(self, params: Mapping[str, object], path: str = "params") -> dict[str, Params]:
        """Module params as a genesis tool gets them (`{"bank": {...}, ...}`), by each module's rules."""
        out: dict[str, Params] = {}
        for name, obj in params.items():
            m = self._by_name.get(name)
            if m is None or m.params_type is None:
                known = ", ".join(x.name for x in self.modules if x.params_type is not None)
                raise InvalidParams(f"{path}: no module {name!r} with params (modules with params: {known})")
            out[name] = m.params_type.from_json(obj, f"{path}.{name}")
        return out

    def address_prefix(self, state: KVReader) -> str:
        return self.ante_provider.ante(state).address_prefix


def _check_declarations(module_types: Sequence[ModuleType]) -> None:
    names: set[str] = set()
    ranges: list[tuple[str, PrefixRange]] = [("app", APP_PREFIXES)]
    msgs: dict[str, str] = {}
    core = core_msg_names()
    for t in module_types:
        if t.name in names or t.name == "app":
            raise TypeError(f"module name {t.name!r} is used twice")
        names.add(t.name)
        for other, r in ranges:
            if t.prefixes.overlaps(r):
                raise TypeError(f"module {t.name}: store prefixes {t.prefixes} overlap {other}'s {r}")
        ranges.append((t.name, t.prefixes))
        for n in t.msg_names:
            if n in msgs:
                raise TypeError(f"module {t.name}: message type {n!r} is already {msgs[n]}'s")
            if n not in core and not (is_module_msg_name(n) and n.partition(".")[0] == t.name):
                raise TypeError(f"module {t.name}: message type {n!r} is neither a field of sidechain.tx.v1.Msg "
                                f"nor named {t.name}.<MsgName>")
            msgs[n] = t.name


def _build(module_types: Sequence[ModuleType]) -> tuple[Module, ...]:
    """Build each module once every module it needs is built; give it the keeper that implements
    each of its needs (exactly one must)."""
    built: dict[str, Module] = {}
    pending = list(module_types)
    while pending:
        progress = False
        for t in list(pending):
            args: dict[str, Any] = {}
            for arg, proto in t.needs.items():
                providers = [m for m in built.values() if isinstance(m.keeper, proto)]
                if len(providers) > 1:
                    raise TypeError(f"module {t.name}: {proto.__name__} is offered by "
                                    f"{', '.join(sorted(m.name for m in providers))}: ambiguous")
                if providers:
                    args[arg] = providers[0].keeper
            if len(args) < len(t.needs):
                continue
            module: Module = cast(Callable[..., Module], t)(**args)
            if module.name != t.name:
                raise TypeError(f"module class {t!r} builds a module named {module.name!r}")
            built[t.name] = module
            pending.remove(t)
            progress = True
        if not progress:
            unmet = {t.name: sorted(p.__name__ for p in t.needs.values()) for t in pending}
            raise TypeError(f"modules whose needs no module offers (or a cycle): {unmet}")
    return tuple(built[t.name] for t in module_types)


def _optional_role(modules: Sequence[Module], method: str) -> Any:
    found = [m for m in modules if hasattr(m, method)]
    if len(found) > 1:
        raise TypeError(f"at most one module may offer {method}(), found {[m.name for m in found]}")
    return found[0] if found else None


def _one_role(modules: Sequence[Module], method: str) -> Any:
    found = [m for m in modules if hasattr(m, method)]
    if len(found) != 1:
        raise TypeError(f"exactly one module must offer {method}(), found {[m.name for m in found]}")
    return found[0]


# --- the chain -------------------------------------------------------------------------------------

CHAIN_MODULES: tuple[ModuleType, ...] = (
    AuthModule,
    BankModule,
    StakingModule,
    BridgeModule,
)

CHAIN = ModuleSet(CHAIN_MODULES)
