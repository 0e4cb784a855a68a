"""The bank module through the module seam (sidechain/module.py): balances, transfers, supply, fee pool.

It offers its `BankKeeper` to other modules (auth takes fees through it), collects each block's
fees into the fee pool, and explains a tx that fails for lack of funds per denom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sidechain.bank import state as bank_state
from sidechain.bank.errors import InsufficientFunds
from sidechain.bank.genesis import BankGenesis, export_genesis, init_genesis
from sidechain.bank.keys import balance_key
from sidechain.bank.msgs import SendHandler
from sidechain.bank.params import BankParams
from sidechain.bank.state import BankKeeper
from sidechain.blocks import ValidatorUpdate
from sidechain.env import ChainRules, GenesisContext, PrefixRange, QueryAnswer, QueryRoute
from sidechain.errors import InvalidInput
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import DecodedTx, MsgHandler, MsgRegistry
from sidechain.types import ZERO, Address, Amount, Coin, bech32_address, validate_denom


class BankModule:
    name: ClassVar[str] = "bank"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x10, 0x1F)
    msg_names: ClassVar[tuple[str, ...]] = ("send",)
    needs: ClassVar[Mapping[str, type]] = {}
    params_type: ClassVar[Any] = BankParams

    def __init__(self) -> None:
        self._keeper = BankKeeper()

    @property
    def keeper(self) -> BankKeeper:
        return self._keeper

    def get_params(self, state: KVReader) -> BankParams:
        return bank_state.get_params(state)

    # -- genesis ---------------------------------------------------------------------------------

    def default_genesis(self) -> BankGenesis:
        return BankGenesis.default()

    def parse_genesis(self, obj: object, ctx: GenesisContext) -> BankGenesis:
        return BankGenesis.from_json(obj, ctx.address_prefix)

    def init_genesis(self, state: KVStore, gen: BankGenesis, ctx: GenesisContext) -> Sequence[ValidatorUpdate]:
        init_genesis(state, gen, ctx.address_prefix)
        return ()

    def export_genesis(self, state: KVReader, ctx: GenesisContext) -> BankGenesis:
        return export_genesis(state)

    def genesis_to_json(self, gen: BankGenesis, ctx: GenesisContext) -> dict[str, object]:
        return gen.to_json(ctx.address_prefix)

    # -- txs -------------------------------------------------------------------------------------

    def msg_handlers(self, state: KVReader) -> Sequence[MsgHandler]:
        return (SendHandler(bank_state.get_params(state)),)

    def collect_fees(self, state: KVStore, coins: Sequence[Coin]) -> None:
        """The block's fees into the fee pool (kept for the distribution of rewards)."""
        bank_state.add_to_fee_pool(state, list(coins))

    def explain_failure(self, state: KVReader, tx: DecodedTx, err: InvalidInput,
                        registry: MsgRegistry) -> InvalidInput | None:
        """After a message failed for lack of funds: if the signer's balances before the tx cannot
        cover the fee plus everything its messages pay out, say so per denom ("have 5stake, need
        7stake (amount 6 + fee 1)"), which is clearer than the failing message's view after the fee."""
        if not isinstance(err, InsufficientFunds):
            return None
        fee = tx.fee
        need: dict[str, Amount] = {fee.denom: fee.amount} if fee.amount else {}
        for name, msg in tx.msgs:
            for c in registry.handler(name).spends(msg):
                need[c.denom] = need.get(c.denom, ZERO) + c.amount
        for denom in sorted(need):
            have = self._keeper.balance(state, tx.signer, denom)
            total = need[denom]
            if have < total:
                fee_part = fee.amount if denom == fee.denom else ZERO
                detail = ""
                if fee_part and total != fee_part:
                    detail = f" (amount {int(total - fee_part)} + fee {int(fee_part)})"
                return InsufficientFunds(
                    f"insufficient funds: have {int(have)}{denom}, need {int(total)}{denom}{detail}")
        return None

    # -- queries ---------------------------------------------------------------------------------

    def query_routes(self) -> Sequence[QueryRoute]:
        return (
            QueryRoute("balance", _query_balance, "/balance/<address>/<denom>: one balance (provable)",
                       min_args=2, max_args=None),
            QueryRoute("balances", _query_balances, "/balances/<address>: all balances of an address",
                       min_args=1, max_args=1),
            QueryRoute("supply", _query_supply, "/supply: the supply of every denom"),
        )


def _coins_json(coins: Sequence[Coin]) -> list[dict[str, str]]:
    return [{"denom": c.denom, "amount": str(int(c.amount))} for c in coins]


def _query_balance(reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
    prefix = rules.address_prefix
    addr = bytes(Address.from_bech32(args[0], prefix))
    denom = validate_denom("/".join(args[1:]))  # denoms may contain "/" (l1/eth)
    amount = bank_state.get_balance(reader, addr, denom)
    body: dict[str, Any] = {"address": bech32_address(addr, prefix), "denom": denom, "amount": str(int(amount))}
    return QueryAnswer(body, balance_key(addr, denom))


def _query_balances(reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
    prefix = rules.address_prefix
    addr = bytes(Address.from_bech32(args[0], prefix))
    return QueryAnswer({"address": bech32_address(addr, prefix),
                        "balances": _coins_json(bank_state.get_balances(reader, addr))})


def _query_supply(reader: KVReader, args: Sequence[str], rules: ChainRules) -> QueryAnswer:
    return QueryAnswer({"supply": _coins_json(bank_state.all_supply(reader))})
