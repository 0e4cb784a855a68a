"""Auth genesis: params and pre-existing accounts (`app_state.auth`).

    {"params": {...see params.py...},
     "accounts": [{"address": "side1...", "public_key": "<64 hex, optional>", "sequence": 0}]}

Both fields are optional (defaults: default params, no accounts). Accounts need not be listed to
hold balances: an account entry appears with its first tx. Listing one fixes its public key or a
starting sequence (e.g. when migrating state).
"""

from __future__ import annotations

from dataclasses import dataclass

from sidechain.auth import state as auth_state
from sidechain.auth.params import AuthParams
from sidechain.auth.state import MAX_SEQUENCE, Account
from sidechain.errors import InvalidGenesis, InvalidParams
from sidechain.store.api import KVReader, KVStore
from sidechain.types import address_of_pubkey, bech32_address, json_address, json_int, json_list, json_object


@dataclass(frozen=True, slots=True)
class AuthGenesis:
    params: AuthParams
    accounts: tuple[Account, ...]  # sorted by address

    @classmethod
    def default(cls) -> AuthGenesis:
        return cls(AuthParams.default(), ())

    def validate(self) -> None:
        try:
            self.params.validate()
        except InvalidParams as e:
            raise InvalidGenesis(f"app_state.auth.params: {e.message}") from None
        seen: set[bytes] = set()
        for i, a in enumerate(self.accounts):
            path = f"app_state.auth.accounts[{i}]"
            if len(a.address) != 20:
                raise InvalidGenesis(f"{path}.address: must be 20 bytes")
            if a.address in seen:
                shown = bech32_address(a.address, self.params.address_prefix)
                raise InvalidGenesis(f"{path}: duplicate account {shown}")
            seen.add(a.address)
            if a.public_key and address_of_pubkey(a.public_key) != a.address:
                raise InvalidGenesis(f"{path}.public_key: does not belong to the account's address")
            if not 0 <= a.sequence <= MAX_SEQUENCE:
                raise InvalidGenesis(f"{path}.sequence: out of range")

    @classmethod
    def from_json(cls, obj: object) -> AuthGenesis:
        path = "app_state.auth"
        d = json_object({} if obj is None else obj, path, ("accounts", "params"), InvalidGenesis)
        try:
            params = AuthParams.from_json(d.get("params", {}), f"{path}.params")
        except InvalidParams as e:
            raise InvalidGenesis(e.message) from None
        accounts = []
        for i, item in enumerate(json_list(d.get("accounts", []), f"{path}.accounts", InvalidGenesis)):
            p = f"{path}.accounts[{i}]"
            a = json_object(item, p, ("address", "public_key", "sequence"), InvalidGenesis)
            if "address" not in a:
                raise InvalidGenesis(f"{p}: missing 'address'")
            address = json_address(a["address"], f"{p}.address", params.address_prefix, InvalidGenesis)
            pk_hex = a.get("public_key", "")
            if not isinstance(pk_hex, str):
                raise InvalidGenesis(f"{p}.public_key: expected 64 hex digits")
            try:
                pk = bytes.fromhex(pk_hex)
            except ValueError:
                raise InvalidGenesis(f"{p}.public_key: expected 64 hex digits") from None
            if pk and len(pk) != 32:
                raise InvalidGenesis(f"{p}.public_key: expected 64 hex digits, got {len(pk)} bytes")
            seq = json_int(a.get("sequence", 0), f"{p}.sequence", 0, MAX_SEQUENCE, InvalidGenesis)
            accounts.append(Account(address, seq, pk))
        gen = cls(params, tuple(accounts))
        gen.validate()  # duplicates and key/address mismatches, with the input order's indices
        return cls(params, tuple(sorted(accounts, key=lambda a: a.address)))

    def to_json(self) -> dict[str, object]:
        prefix = self.params.address_prefix
        return {
            "params": self.params.to_json(),
            "accounts": [
                {
                    "address": bech32_address(a.address, prefix),
                    "public_key": a.public_key.hex(),
                    "sequence": a.sequence,
                }
                for a in self.accounts
            ],
        }


def init_genesis(state: KVStore, gen: AuthGenesis) -> None:
    gen.validate()
    auth_state.set_params(state, gen.params)
    for a in sorted(gen.accounts, key=lambda a: a.address):
        auth_state.set_account(state, a.address, a.sequence, a.public_key)


def export_genesis(state: KVReader) -> AuthGenesis:
    return AuthGenesis(auth_state.get_params(state), tuple(auth_state.iterate_accounts(state)))
