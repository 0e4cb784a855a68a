"""The validators module through the module seam (sidechain/module.py): the genesis validator set.

Until proof of stake lands, the validator set is the list in `app_state.validators`
(genesis.py), returned to CometBFT by InitChain and never changed. It is not kept in the
authenticated state, so an export of the state leaves it out (`sidechain export` copies it from
the node's genesis file). The prefixes 0x20-0x3F are reserved for staking, distribution and
slashing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sidechain.blocks import ValidatorUpdate
from sidechain.env import GenesisContext, PrefixRange, QueryRoute
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import MsgHandler
from validators.genesis import GenesisValidator, parse_validators


class ValidatorsModule:
    name: ClassVar[str] = "validators"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x20, 0x3F)
    msg_names: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[Mapping[str, type]] = {}
    params_type: ClassVar[Any] = None

    @property
    def keeper(self) -> object:
        return None

    def get_params(self, state: KVReader) -> None:
        return None

    def default_genesis(self) -> tuple[GenesisValidator, ...]:
        return ()

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> tuple[GenesisValidator, ...]:
        """Absent: no validators here (InitChain then takes CometBFT's genesis validators)."""
        return () if obj is None else parse_validators(obj)

    def init_genesis(self, state: KVStore, gen: tuple[GenesisValidator, ...],
                     ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        return tuple(ValidatorUpdate("ed25519", v.pub_key, v.power) for v in gen)

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> None:
        return None  # not kept in state (see the module docstring)

    def genesis_to_json(self, gen: tuple[GenesisValidator, ...], ctx: GenesisContext) -> list[dict[str, str]] | None:
        return [v.to_json() for v in gen] if gen else None

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        return ()

    def query_routes(self) -> Sequence[QueryRoute]:
        return ()
