"""Withdrawals through the in-process chain (tests/unit/bridge/chain.py): users with keys, an L1 that
the test scripts (deposits, BatchExecuted events, its final height) and that every validator's
watcher sees alike, and signed bridge txs sent through CheckTx and into blocks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from nacl.signing import SigningKey

from bridge.module.events import ZERO_ADDRESS, BatchExecuted, Deposit, L1Event
from bridge.module.msgs import CancelWithdrawal, Withdraw
from sidechain import blocks as b
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.tx import build_signed_tx, module_msg
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address
from tests.unit.bridge.chain import CHAIN_ID, CONTRACT, DEPLOYED_AT, BridgeChain

TOKEN = bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")  # an ERC-20 on L1
TOKEN_DENOM = "l1/0x" + TOKEN.hex()
L1_ADDR = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")  # a withdrawal recipient on L1


def user_key(i: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"bridge-user-%d" % i).digest())


def addr(k: SigningKey) -> bytes:
    return address_of_pubkey(bytes(k.verify_key))


def withdraw_msg(sender: bytes, amount: int, fee: int = 0, denom: str = "l1/eth",
                 recipient: bytes = L1_ADDR) -> tx_pb2.Msg:
    return module_msg("bridge.MsgWithdraw", Withdraw(sender, recipient, denom, amount, fee).to_pb())


def cancel_msg(sender: bytes, wid: int) -> tx_pb2.Msg:
    return module_msg("bridge.MsgCancelWithdrawal", CancelWithdrawal(sender, wid).to_pb())


def raw_withdraw_msg(m: pb.MsgWithdraw) -> tx_pb2.Msg:
    return module_msg("bridge.MsgWithdraw", m)


@dataclass
class WChain:
    """A BridgeChain with `n_users` funded users and a scripted L1."""

    n_users: int = 3
    powers: Sequence[int] = (10, 10, 10, 10)
    params: dict[str, object] = field(default_factory=dict)
    bridge: bool = True
    chain: BridgeChain = field(init=False)
    users: list[SigningKey] = field(init=False)
    l1_events: list[L1Event] = field(default_factory=list)
    l1_head: int = DEPLOYED_AT
    next_event_nonce: int = 2  # event 1: the constructor's ValsetUpdated
    sent: dict[bytes, int] = field(default_factory=dict)  # txs in the block being built, per account
    chain_kw: dict[str, object] = field(default_factory=dict)  # more BridgeChain fields

    def __post_init__(self) -> None:
        self.users = [user_key(i) for i in range(self.n_users)]
        self.chain = BridgeChain(list(self.powers), bridge=self.bridge, accounts=[addr(k) for k in self.users],
                                 bridge_params=self.params or None, **self.chain_kw)  # type: ignore[arg-type]

    # -- L1 ---------------------------------------------------------------------------------------

    def _l1(self, kind: Deposit | BatchExecuted) -> L1Event:
        self.l1_head += 1
        e = L1Event(self.next_event_nonce, self.l1_head, self.next_event_nonce.to_bytes(32, "big"), kind)
        self.next_event_nonce += 1
        self.l1_events.append(e)
        self._show()
        return e

    def _show(self) -> None:
        for o in self.chain.observers:
            o.events = tuple(e for e in self.l1_events if e.nonce > self.state()["last_event_nonce"])  # type: ignore[operator]
            o.final_height = self.l1_head

    def l1_deposit(self, recipient: bytes, amount: int, token: bytes = ZERO_ADDRESS) -> L1Event:
        return self._l1(Deposit(token, b"\x0a" * 20, recipient, amount))

    def l1_execute(self, batch_nonce: int, withdrawals: int = 1) -> L1Event:
        return self._l1(BatchExecuted(batch_nonce, withdrawals))

    def l1_advance(self, blocks: int) -> None:
        """L1 mines `blocks` blocks without bridge events (the watchers' final height moves)."""
        self.l1_head += blocks
        self._show()

    def settle(self, blocks: int = 3) -> None:
        """Blocks until what L1 holds is applied and observed (events of an extension at h apply at h + 1)."""
        for _ in range(blocks):
            self.step()

    def deposit(self, user: int, amount: int, token: bytes = ZERO_ADDRESS) -> None:
        self.l1_deposit(addr(self.users[user]), amount, token)
        self.settle()

    # -- sidechain --------------------------------------------------------------------------------

    def step(self, txs: Sequence[bytes] = ()) -> b.BlockOutput:
        self.sent.clear()
        out = self.chain.step(txs)
        self._show()
        return out

    @property
    def height(self) -> int:
        return self.chain.app.last_height

    def sequence(self, who: bytes) -> int:
        acct = self.query(f"/account/{bech32_address(who, 'side')}")
        return int(acct["sequence"]) + self.sent.get(who, 0)  # type: ignore[call-overload]

    def tx(self, user: int, *msgs: tx_pb2.Msg) -> bytes:
        k = self.users[user]
        a = addr(k)
        raw = build_signed_tx(k, CHAIN_ID, list(msgs), self.sequence(a), Coin("stake", Amount(1)))
        self.sent[a] = self.sent.get(a, 0) + 1
        return raw

    def check(self, raw: bytes) -> b.TxResult:
        return self.chain.app.check_tx(raw, False)

    def send(self, user: int, *msgs: tx_pb2.Msg) -> b.TxResult:
        """One tx by `user`: refused at CheckTx, or included in the next block (its result)."""
        raw = self.tx(user, *msgs)
        r = self.check(raw)
        if r.code != 0:
            self.sent[addr(self.users[user])] -= 1
            return r
        out = self.step([raw])
        return out.tx_results[-1]

    def withdraw(self, user: int, amount: int, fee: int = 0, denom: str = "l1/eth",
                 recipient: bytes = L1_ADDR) -> b.TxResult:
        return self.send(user, withdraw_msg(addr(self.users[user]), amount, fee, denom, recipient))

    # -- queries ----------------------------------------------------------------------------------

    def query(self, path: str) -> dict[str, object]:
        return self.chain.query(path)

    def query_error(self, path: str) -> b.QueryResponse:
        res = self.chain.app.query(b.QueryRequest(path=path, data=b"", height=0, prove=False))
        assert res.code != 0, f"{path} answered"
        return res

    def state(self) -> dict[str, object]:
        return self.query("/bridge/state")

    def balance(self, user: int, denom: str = "l1/eth") -> int:
        who = bech32_address(addr(self.users[user]), "side")
        return int(self.query(f"/balance/{who}/{denom}")["amount"])  # type: ignore[call-overload]

    def bank_supply(self, denom: str) -> int:
        for c in self.query("/supply")["supply"]:  # type: ignore[attr-defined]
            if c["denom"] == denom:
                return int(c["amount"])
        return 0

    def withdrawal(self, wid: int) -> dict[str, object]:
        return self.query(f"/bridge/withdrawal/{wid}")

    def batch(self, nonce: int) -> dict[str, object]:
        return self.query(f"/bridge/batch/{nonce}")

    def pending(self) -> list[dict[str, object]]:
        return self.query("/bridge/batches/pending")["batches"]  # type: ignore[return-value]


def events_of(out: b.BlockOutput | b.TxResult, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in out.events if e.type == kind]


def dump(x: object) -> str:
    return json.dumps(x, indent=1, sort_keys=True)


__all__ = ["CONTRACT", "L1_ADDR", "TOKEN", "TOKEN_DENOM", "WChain", "addr", "cancel_msg", "events_of",
           "raw_withdraw_msg", "user_key", "withdraw_msg"]
