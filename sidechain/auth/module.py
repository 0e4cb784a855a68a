"""The auth module through the module seam (sidechain/module.py): accounts, sequences, fees, tx limits.

It owns the ante step (timeout, fee, sequence: ante.py) and the chain's address prefix (in its
params). It takes fees through a `FeeBank` (expected.py), which the bank module offers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sidechain.auth import ante as ante_step
from sidechain.auth import state as auth_state
from sidechain.auth.expected import FeeBank
from sidechain.auth.genesis import AuthGenesis, export_genesis, init_genesis
from sidechain.auth.keys import account_key
from sidechain.auth.params import DEFAULT_ADDRESS_PREFIX, AuthParams
from sidechain.blocks import ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import DecodedTx, MsgHandler
from sidechain.types import Address, Amount, bech32_address


class Ante:
    """The auth module's ante step, with the params in force for one block."""

    __slots__ = ("params", "_bank")

    def __init__(self, params: AuthParams, bank: FeeBank) -> None:
        self.params = params
        self._bank = bank

    @property
    def limits(self) -> AuthParams:
        return self.params

    @property
    def address_prefix(self) -> str:
        return self.params.address_prefix

    def check(self, state: KVReader, tx: DecodedTx, height: int) -> tuple[int, Amount]:
        return ante_step.check_ante(state, tx, self.params, height, self._bank)

    def apply(self, state: KVStore, tx: DecodedTx, checked: tuple[int, Amount]) -> int:
        sequence, fee_balance = checked
        ante_step.apply_ante(state, tx, sequence, fee_balance, self._bank)
        return sequence


class AuthModule:
    name: ClassVar[str] = "auth"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x01, 0x0F)
    msg_names: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[Mapping[str, type]] = {"bank": FeeBank}
    params_type: ClassVar[Any] = AuthParams

    def __init__(self, bank: FeeBank) -> None:
        self._bank = bank

    @property
    def keeper(self) -> object:
        return None  # other modules need nothing from auth yet

    def get_params(self, state: KVReader) -> AuthParams:
        return auth_state.get_params(state)

    def ante(self, state: KVReader) -> Ante:
        return Ante(auth_state.get_params(state), self._bank)

    # -- genesis ---------------------------------------------------------------------------------

    def genesis_address_prefix(self, section: object) -> str:
        params = section.get("params") if isinstance(section, dict) else None
        prefix = params.get("address_prefix") if isinstance(params, dict) else None
        return prefix if isinstance(prefix, str) else DEFAULT_ADDRESS_PREFIX

    def default_genesis(self) -> AuthGenesis:
        return AuthGenesis.default()

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> AuthGenesis:
        return AuthGenesis.from_json(obj)

    def init_genesis(self, state: KVStore, gen: AuthGenesis, ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        init_genesis(state, gen)
        return ()

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> AuthGenesis:
        return export_genesis(state)

    def genesis_to_json(self, gen: AuthGenesis, ctx: GenesisContext) -> dict[str, object]:
        return gen.to_json()

    # -- txs and queries -------------------------------------------------------------------------

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        return ()

    def query_routes(self) -> Sequence[QueryRoute]:
        return (QueryRoute("account", _query_account, "/account/<address>: sequence and public key (provable)",
                           min_args=1, max_args=1),)


def _query_account(reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
    prefix = rules.address_prefix
    addr = bytes(Address.from_bech32(args[0], prefix))
    acct = auth_state.get_account(reader, addr)
    body: dict[str, Any] = {"address": bech32_address(addr, prefix), "sequence": acct.sequence,
                            "public_key": acct.public_key.hex()}
    return QueryAnswer(body, account_key(addr))
