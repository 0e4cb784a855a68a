"""Bank genesis: params, balances, the fee pool and (optionally) the expected supply (`app_state.bank`).

    {"params": {"send_enabled": true},
     "balances": [{"address": "side1...", "coins": [{"denom": "stake", "amount": "1000"}]}],
     "fee_pool": [{"denom": "stake", "amount": "3"}],
     "supply": [{"denom": "stake", "amount": "1003"}]}

Amounts are decimal strings. Supply is computed from the balances and the fee pool (fees collected
and not yet distributed: an exported chain carries them over); when `supply` is given it must match
exactly (a cross-check for hand-written files). Each denom's total must fit in 256 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidechain.bank import state as bank_state
from sidechain.bank.params import BankParams
from sidechain.errors import AmountOverflow, InvalidGenesis, InvalidParams
from sidechain.store.api import KVReader, KVStore
from sidechain.types import (
    ZERO,
    Amount,
    Coin,
    bech32_address,
    coin_json,
    coins_str,
    json_address,
    json_coin,
    json_list,
    json_object,
)


@dataclass(frozen=True, slots=True)
class Balance:
    address: bytes
    coins: tuple[Coin, ...]  # sorted by denom, amounts > 0


@dataclass(frozen=True, slots=True)
class BankGenesis:
    params: BankParams
    balances: tuple[Balance, ...]  # sorted by address
    supply: tuple[Coin, ...]  # sorted by denom; equals the sum of balances and the fee pool
    fee_pool: tuple[Coin, ...] = ()  # sorted by denom, amounts > 0

    @classmethod
    def default(cls) -> BankGenesis:
        return cls(BankParams.default(), (), ())

    def validate(self, address_prefix: str = "side") -> None:
        try:
            self.params.validate()
        except InvalidParams as e:
            raise InvalidGenesis(f"app_state.bank.params: {e.message}") from None
        totals: dict[str, Amount] = {}
        seen: set[bytes] = set()
        for i, b in enumerate(self.balances):
            path = f"app_state.bank.balances[{i}]"
            if len(b.address) != 20:
                raise InvalidGenesis(f"{path}.address: must be 20 bytes")
            if b.address in seen:
                shown = bech32_address(b.address, address_prefix)
                raise InvalidGenesis(f"{path}: duplicate entry for {shown} (list each address once)")
            seen.add(b.address)
            _add_coins(b.coins, f"{path}.coins", totals)
        _add_coins(self.fee_pool, "app_state.bank.fee_pool", totals)
        computed = tuple(Coin(d, totals[d]) for d in sorted(totals))
        if self.supply and self.supply != computed:
            raise InvalidGenesis(
                f"app_state.bank.supply is {coins_str(self.supply) or 'empty'} but the balances"
                f"{' and the fee pool' if self.fee_pool else ''} add up to "
                f"{coins_str(computed) or 'nothing'}"
            )

    @classmethod
    def from_json(cls, obj: object, address_prefix: str) -> BankGenesis:
        path = "app_state.bank"
        d = json_object({} if obj is None else obj, path, ("balances", "fee_pool", "params", "supply"), InvalidGenesis)
        try:
            params = BankParams.from_json(d.get("params", {}), f"{path}.params")
        except InvalidParams as e:
            raise InvalidGenesis(e.message) from None
        balances = []
        for i, item in enumerate(json_list(d.get("balances", []), f"{path}.balances", InvalidGenesis)):
            p = f"{path}.balances[{i}]"
            entry = json_object(item, p, ("address", "coins"), InvalidGenesis)
            if "address" not in entry:
                raise InvalidGenesis(f"{p}: missing 'address'")
            address = json_address(entry["address"], f"{p}.address", address_prefix, InvalidGenesis)
            coins = [
                json_coin(c, f"{p}.coins[{j}]", InvalidGenesis)
                for j, c in enumerate(json_list(entry.get("coins", []), f"{p}.coins", InvalidGenesis))
            ]
            balances.append(Balance(address, tuple(sorted(coins, key=lambda c: c.denom))))
        supply_items = json_list(d.get("supply", []), f"{path}.supply", InvalidGenesis)
        supply = tuple(
            sorted((json_coin(c, f"{path}.supply[{i}]", InvalidGenesis) for i, c in enumerate(supply_items)),
                   key=lambda c: c.denom)
        )
        pool_items = json_list(d.get("fee_pool", []), f"{path}.fee_pool", InvalidGenesis)
        fee_pool = tuple(json_coin(c, f"{path}.fee_pool[{i}]", InvalidGenesis) for i, c in enumerate(pool_items))
        BankGenesis(params, tuple(balances), supply, fee_pool).validate(address_prefix)  # indices of the input
        ordered = tuple(sorted(balances, key=lambda b: b.address))
        pool = tuple(sorted(fee_pool, key=lambda c: c.denom))
        gen = cls(params, ordered, (), pool)
        return cls(params, ordered, gen.computed_supply(), pool)

    def computed_supply(self) -> tuple[Coin, ...]:
        totals: dict[str, Amount] = {}
        for b in self.balances:
            for c in b.coins:
                totals[c.denom] = totals.get(c.denom, ZERO) + c.amount
        for c in self.fee_pool:
            totals[c.denom] = totals.get(c.denom, ZERO) + c.amount
        return tuple(Coin(d, totals[d]) for d in sorted(totals))

    def to_json(self, address_prefix: str) -> dict[str, object]:
        return {
            "params": self.params.to_json(),
            "balances": [
                {
                    "address": bech32_address(b.address, address_prefix),
                    "coins": [coin_json(c) for c in b.coins],
                }
                for b in self.balances
            ],
            "fee_pool": [coin_json(c) for c in self.fee_pool],
            "supply": [coin_json(c) for c in self.supply],
        }


def _add_coins(coins: tuple[Coin, ...], path: str, totals: dict[str, Amount]) -> None:
    """Check a sorted list of coins (no zero amount, no repeated denom) and add it to `totals`."""
    prev = ""
    for j, c in enumerate(coins):
        if c.amount == 0:
            raise InvalidGenesis(f"{path}[{j}]: zero amount of {c.denom}")
        if c.denom == prev:
            raise InvalidGenesis(f"{path}[{j}]: duplicate denom {c.denom}")
        prev = c.denom
        try:
            totals[c.denom] = totals.get(c.denom, ZERO) + c.amount
        except AmountOverflow:
            raise InvalidGenesis(f"{path}[{j}]: total supply of {c.denom} exceeds 2^256 - 1") from None


def init_genesis(state: KVStore, gen: BankGenesis, address_prefix: str = "side") -> None:
    gen.validate(address_prefix)
    bank_state.set_params(state, gen.params)
    for b in sorted(gen.balances, key=lambda b: b.address):
        for c in b.coins:
            bank_state.set_balance(state, b.address, c.denom, c.amount)
    if gen.fee_pool:
        bank_state.add_to_fee_pool(state, list(gen.fee_pool))
    for c in gen.computed_supply():
        bank_state.set_supply(state, c.denom, c.amount)


def export_genesis(state: KVReader) -> BankGenesis:
    by_address: dict[bytes, list[Coin]] = {}
    for address, coin in bank_state.iterate_all_balances(state):
        by_address.setdefault(address, []).append(coin)
    balances = tuple(
        Balance(a, tuple(sorted(by_address[a], key=lambda c: c.denom))) for a in sorted(by_address)
    )
    return BankGenesis(bank_state.get_params(state), balances, tuple(bank_state.all_supply(state)),
                       tuple(bank_state.get_fee_pool(state)))
