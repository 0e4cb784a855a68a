"""MsgSend: move coins from the signer to another account.

Phases (STYLE.md habit 3):
* decode (stateless): both addresses are 20 bytes, the sender is the signer, coins are canonical
  (non-empty, strictly increasing denoms, every amount > 0 and < 2**256);
* check_stateful: sends are enabled and the sender holds every coin;
* execute: debit the sender, credit the recipient, emit a `transfer` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sidechain.bank.errors import InsufficientFunds, ModuleAccountRecipient, SendDisabled
from sidechain.bank.params import BankParams
from sidechain.bank.state import add_balance, get_balance, sub_balance
from sidechain.blocks import Event, EventAttribute
from sidechain.env import TxEnv
from sidechain.errors import InvalidCoins
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import InvalidMsg, SignerMismatch, address_bytes, decode_coin
from sidechain.types import Coin, bech32_address, check_coins, coins_str


@dataclass(frozen=True, slots=True)
class MsgSend:
    from_address: bytes
    to_address: bytes
    amount: tuple[Coin, ...]

    def to_proto(self) -> tx_pb2.Msg:
        return tx_pb2.Msg(
            send=tx_pb2.MsgSend(
                from_address=self.from_address,
                to_address=self.to_address,
                amount=[tx_pb2.Coin(denom=c.denom, amount=str(int(c.amount))) for c in self.amount],
            )
        )


class SendHandler:
    name = "send"
    module = "bank"
    msg_type = MsgSend
    # Its check and writes depend only on the balances it reads and the params: a recheck may reuse
    # them while the block wrote none of those balances (sidechain/recheck.py).
    reuse_on_recheck = True

    def __init__(self, params: BankParams) -> None:
        self.params = params

    def decode(self, pb: tx_pb2.MsgSend, signer: bytes) -> MsgSend:
        sender = address_bytes(pb.from_address, "send.from_address")
        if sender != signer:
            raise SignerMismatch("send.from_address is not the address of the key that signed the tx")
        recipient = address_bytes(pb.to_address, "send.to_address")
        coins = tuple(decode_coin(c, f"send.amount[{i}]") for i, c in enumerate(pb.amount))
        try:
            check_coins(coins)
        except InvalidCoins as e:
            raise InvalidMsg(f"send.amount: {e.message}") from None
        return MsgSend(sender, recipient, coins)

    def to_proto(self, msg: MsgSend) -> tx_pb2.Msg:
        return msg.to_proto()

    def spends(self, msg: MsgSend) -> Sequence[Coin]:
        return () if msg.to_address == msg.from_address else msg.amount

    def check_stateful(self, state: KVReader, msg: MsgSend, env: TxEnv) -> None:
        if not self.params.send_enabled:
            raise SendDisabled("transfers are disabled (bank.send_enabled is false)")
        if msg.to_address in env.rules.module_accounts:
            raise ModuleAccountRecipient("the recipient is a module's account (a staking pool or the rewards "
                                         "account): coins reach it only through that module's messages")
        for c in msg.amount:
            have = get_balance(state, msg.from_address, c.denom)
            if have < c.amount:
                raise InsufficientFunds(f"insufficient funds: have {int(have)}{c.denom}, need {c}")

    def apply_state(self, state: KVStore, msg: MsgSend, env: TxEnv) -> None:
        """execute's writes without its events (CheckTx and proposals throw events away)."""
        for c in msg.amount:
            sub_balance(state, msg.from_address, c.denom, c.amount)
            add_balance(state, msg.to_address, c.denom, c.amount)

    def execute(self, state: KVStore, msg: MsgSend, env: TxEnv) -> list[Event]:
        self.apply_state(state, msg, env)
        prefix = env.address_prefix
        return [
            Event(
                "transfer",
                (
                    EventAttribute("sender", bech32_address(msg.from_address, prefix)),
                    EventAttribute("recipient", bech32_address(msg.to_address, prefix)),
                    EventAttribute("amount", coins_str(msg.amount)),
                ),
            )
        ]
