"""The toy module (see the package docstring). Store keys (prefix range 0x50-0x5F):

    0x50  counter (8 bytes BE)
    0x51  params: canonical JSON
    0x52  height of the last end-block step (8 bytes BE)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from google.protobuf import wrappers_pb2

from sidechain.blocks import BlockEnv, Event, EventAttribute, ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute, StepOutput, TxEnv
from sidechain.errors import InvalidGenesis, InvalidInput, InvalidParams
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import InvalidMsg, MsgHandler, decode_module_value, module_msg
from sidechain.types import Amount, json_int, json_object

COUNTER_KEY = b"\x50"
PARAMS_KEY = b"\x51"
LAST_END_BLOCK_KEY = b"\x52"


class ToyError(InvalidInput):
    codespace = "toy"


class StepTooLarge(ToyError):
    code = 2


class NotAHolder(ToyError):
    code = 3


@runtime_checkable
class Balances(Protocol):
    def balance(self, state: KVReader, address: bytes, denom: str) -> Amount: ...


@dataclass(frozen=True, slots=True)
class ToyParams:
    max_step: int

    @classmethod
    def default(cls) -> ToyParams:
        return cls(max_step=10)

    def validate(self) -> None:
        if not 1 <= self.max_step <= 1000:
            raise InvalidParams(f"max_step {self.max_step} is out of range [1, 1000]")

    def to_json(self) -> dict[str, object]:
        return {"max_step": self.max_step}

    @classmethod
    def from_json(cls, obj: object, path: str = "toy.params") -> ToyParams:
        d = json_object(obj, path, ("max_step",), InvalidParams)
        p = cls(json_int(d.get("max_step", 10), f"{path}.max_step", 0, 1 << 30, InvalidParams))
        try:
            p.validate()
        except InvalidParams as e:
            raise InvalidParams(f"{path}: {e.message}") from None
        return p


@dataclass(frozen=True, slots=True)
class ToyGenesis:
    params: ToyParams
    counter: int


def _counter(state: KVReader) -> int:
    raw = state.get(COUNTER_KEY)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _params(state: KVReader) -> ToyParams:
    raw = state.get(PARAMS_KEY)
    if raw is None:
        raise LookupError("toy params are not in state")
    return ToyParams.from_json(json.loads(raw))


@dataclass(frozen=True, slots=True)
class Increment:
    sender: bytes
    by: int


class IncrementHandler:
    name = "toy.Increment"
    module = "toy"
    msg_type = Increment

    def __init__(self, params: ToyParams, bank: Balances) -> None:
        self.params = params
        self.bank = bank

    def decode(self, pb: tx_pb2.ModuleMsg, signer: bytes) -> Increment:
        value = decode_module_value(pb.value, wrappers_pb2.UInt64Value, "toy.Increment")
        if value.value == 0:
            raise InvalidMsg("toy.Increment: increment by at least 1")
        return Increment(signer, value.value)

    def to_proto(self, msg: Increment) -> tx_pb2.Msg:
        return module_msg(self.name, wrappers_pb2.UInt64Value(value=msg.by))

    def spends(self, msg: Increment) -> Sequence[Any]:
        return ()

    def check_stateful(self, state: KVReader, msg: Increment, env: TxEnv) -> None:
        if msg.by > self.params.max_step:
            raise StepTooLarge(f"increment {msg.by} exceeds max_step {self.params.max_step}")
        if not self.bank.balance(state, msg.sender, "stake"):
            raise NotAHolder("only holders of stake may increment the counter")

    def execute(self, state: KVStore, msg: Increment, env: TxEnv) -> list[Event]:
        value = _counter(state) + msg.by
        state.set(COUNTER_KEY, value.to_bytes(8, "big"))
        return [Event("toy_increment", (EventAttribute("by", str(msg.by)), EventAttribute("counter", str(value))))]


class ToyModule:
    name: ClassVar[str] = "toy"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x50, 0x5F)
    msg_names: ClassVar[tuple[str, ...]] = ("toy.Increment",)
    needs: ClassVar[Mapping[str, type]] = {"bank": Balances}
    params_type: ClassVar[Any] = ToyParams

    def __init__(self, bank: Balances) -> None:
        self._bank = bank

    @property
    def keeper(self) -> object:
        return None

    def get_params(self, state: KVReader) -> ToyParams:
        return _params(state)

    def default_genesis(self) -> ToyGenesis:
        return ToyGenesis(ToyParams.default(), 0)

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> ToyGenesis:
        path = "app_state.toy"
        d = json_object({} if obj is None else obj, path, ("counter", "params"), InvalidGenesis)
        try:
            params = ToyParams.from_json(d.get("params", {}), f"{path}.params")
        except InvalidParams as e:
            raise InvalidGenesis(e.message) from None
        return ToyGenesis(params, json_int(d.get("counter", "0"), f"{path}.counter", 0, 1 << 62, InvalidGenesis))

    def init_genesis(self, state: KVStore, gen: ToyGenesis, ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        state.set(PARAMS_KEY, json.dumps(gen.params.to_json(), sort_keys=True).encode())
        state.set(COUNTER_KEY, gen.counter.to_bytes(8, "big"))
        return ()

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> ToyGenesis:
        return ToyGenesis(_params(state), _counter(state))

    def genesis_to_json(self, gen: ToyGenesis, ctx: GenesisContext) -> dict[str, object]:
        return {"params": gen.params.to_json(), "counter": str(gen.counter)}

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        return (IncrementHandler(_params(state), self._bank),)

    def query_routes(self) -> Sequence[QueryRoute]:
        return (QueryRoute("toy", _query_counter, "/toy/counter: the counter (provable)", min_args=1, max_args=1),)

    def end_block(self, state: KVStore, env: BlockEnv) -> StepOutput:
        state.set(LAST_END_BLOCK_KEY, env.height.to_bytes(8, "big"))
        counter = _counter(state)
        if counter and counter % 5 == 0:
            return StepOutput(events=(Event("toy_milestone", (EventAttribute("counter", str(counter)),)),))
        return StepOutput()


def _query_counter(reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
    if args[0] != "counter":
        raise BadToyQuery("usage: /toy/counter")
    return QueryAnswer({"counter": str(_counter(reader))}, COUNTER_KEY)


class BadToyQuery(ToyError):
    code = 4
