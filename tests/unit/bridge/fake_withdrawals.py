"""A sidechain node with the withdrawal side of the bridge, faked at its RPC seam (`NodeClient.rpc`), over the
in-process L1 and the deployed contract of tests/unit/bridge/conftest.py's World.

`FakeWithdrawalNode` extends `FakeBridgeNode` (deposits) with what `bridge withdraw`, `bridge cancel` and
`bridge status` read and send, answering the schemas of the bridge module's queries (docs/BRIDGE.md section 5):
`/params`, `/account/A`, `/supply`, `/bridge/withdrawal/ID`, `/bridge/batch/N`, `/bridge/batches/pending`,
`/bridge/valset/N|latest`, `/bridge/state` with `queued`, `in_batches`, the valset and `latest_valset_nonce`;
`broadcast_tx_sync` (the tx decoded, its ed25519 signature and sequence checked, the message decoded by the
bridge module's own handlers) and `tx`.

Each `tick()` is one block, in the module's order: L1 events up to head - l1_confirmations in nonce order
(deposits mint; `BatchExecuted` completes its batch, the payouts its receipt's `WithdrawalDeferred` logs name
are `deferred`), observed_l1_height, timeouts (refund amount + fee), the mempool's txs (withdraw burns and
queues, cancel mints back), then batches (highest fee first, `batch_interval` blocks after queueing, timeout =
observed + `batch_timeout`, the contract's digest). Between blocks the validators sign pending batches, a few
per block (`signers_per_tick`, real secp256k1 signatures from the World's validator keys), and, when `relay`
is on, a relayer submits each ready batch to the in-process contract, which pays it. Every height's answers are
kept, so a query at height H answers as the chain did at H.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from hexbytes import HexBytes

from bridge.module.events import denom_of, token_of
from bridge.module.msgs import CancelWithdrawalHandler, WithdrawHandler
from bridge.module.params import BridgeParams
from bridge.protocol import POWER_THRESHOLD, Batch, Signature, Valset, Withdrawal, checksum
from sidechain.client import ClientError
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.tx import sign_bytes
from sidechain.types import address_of_pubkey, bech32_address, bech32_decode
from tests.support.bridge_l1.validators import sign_by
from tests.unit.bridge.conftest import World
from tests.unit.bridge.fake_chain import FakeBridgeNode


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def signature_hex(sig: Signature) -> str:
    return "0x" + sig.r.to_bytes(32, "big").hex() + sig.s.to_bytes(32, "big").hex() + bytes([sig.v]).hex()


class FakeWithdrawalNode(FakeBridgeNode):
    def __init__(self, world: World, **kw: Any) -> None:
        self.world = world
        self.valset: Valset = world.valset
        self.min_fees = [{"denom": "stake", "amount": "1"}]
        self.sequences: dict[str, int] = {}
        self.mempool: list[tuple[str, bytes]] = []
        self.txs: dict[str, dict[str, Any]] = {}
        self.withdrawals: dict[int, dict[str, Any]] = {}
        self.batches: dict[int, dict[str, Any]] = {}
        self.sigs: dict[int, dict[str, Signature]] = {}  # batch nonce -> validator -> signature
        self.valsets: dict[int, dict[str, Any]] = {}
        self.next_wid = 1
        self.next_batch = 1
        self.batch_interval = 1
        self.batch_timeout = 30
        self.max_batch_size = 100
        self.signers_per_tick = 1
        self.relay = True
        self.relayer = world.relayer
        self.reject_next: tuple[int, str, str] | None = None  # (code, codespace, log) for the next broadcast
        self.history: dict[int, dict[str, Any]] = {}
        self.valsets[world.valset.nonce] = {"valset": world.valset, "created_height": 0, "signatures": {}}
        super().__init__(world.l1, world.bridge, deployed_at=world.l1.block_number, **kw)

    # -- the simulated chain ------------------------------------------------------------------------------

    @property
    def domain(self) -> Any:
        return self.world.bridge.domain

    def fund(self, address: str, denom: str, amount: int) -> None:
        """Coins the chain holds for `address` (a bridged denom raises the bridged supply too)."""
        self.balances[(address, denom)] = self.balances.get((address, denom), 0) + amount
        if token_of(denom) is not None:
            self.supply[denom] = self.supply.get(denom, 0) + amount
        self.commit()

    def commit(self) -> None:
        super().commit()
        self.history[self.height] = {"state": self.state_json(), "withdrawals": copy.deepcopy(self.withdrawals),
                                     "batches": copy.deepcopy(self.batches)}

    def state_json(self) -> dict[str, Any]:
        out = super().state_json()
        if not self.enabled:
            return out
        queued: dict[str, int] = {}
        in_batches: dict[str, int] = {}
        for w in self.withdrawals.values():
            total = int(w["amount"]) + int(w["fee"])
            if w["status"] == "queued":
                queued[w["denom"]] = queued.get(w["denom"], 0) + total
            elif w["status"] == "batched":
                in_batches[w["denom"]] = in_batches.get(w["denom"], 0) + total
        out.update(valset=self.valset.to_json(), latest_valset_nonce=max(self.valsets),
                   queued={d: str(a) for d, a in sorted(queued.items())},
                   in_batches={d: str(a) for d, a in sorted(in_batches.items())},
                   next_withdrawal_id=self.next_wid, next_batch_nonce=self.next_batch)
        out["params"].update(batch_timeout_l1_blocks=self.batch_timeout, max_batch_size=self.max_batch_size,
                             batch_interval_blocks=self.batch_interval)
        return out

    def tick(self) -> None:
        if self.l1 is not None and self.mine_per_tick:
            self.l1.mine(self.mine_per_tick)
        height = self.height + 1
        if self.apply_events:
            self._apply_l1(height)
        self._timeouts(height)
        for _, raw in self.mempool:
            self._execute(raw, height)
        self.mempool = []
        self._form_batches(height)
        self.commit()
        self._sign()
        if self.relay:
            self._relay()

    def _apply_l1(self, height: int) -> None:
        assert self.l1 is not None and self.bridge is not None
        final = max(self.l1.block_number - self.confirmations, 0)
        if final <= self.observed:
            return
        events = self.bridge.contract.events
        logs = [*events.Deposit().get_logs(from_block=self.observed + 1, to_block=final),
                *events.BatchExecuted().get_logs(from_block=self.observed + 1, to_block=final)]
        for log in sorted(logs, key=lambda e: int(e["args"]["eventNonce"])):
            if log["event"] == "Deposit":
                self.mint(log)
            else:
                self._executed(log, height)
        self.observed = final

    def _executed(self, log: Any, height: int) -> None:
        assert self.bridge is not None
        nonce = int(log["args"]["eventNonce"])
        assert nonce == self.last_event_nonce + 1, f"event {nonce} after {self.last_event_nonce}"
        self.last_event_nonce, self.last_event_block = nonce, int(log["blockNumber"])
        b = self.batches[int(log["args"]["batchNonce"])]
        assert b["status"] == "pending", b
        receipt = self.bridge.client.w3.eth.get_transaction_receipt(log["transactionHash"])
        deferred_logs = [(checksum(e.args["recipient"]).lower(), int(e.args["amount"]))
                         for e in self.bridge.events(receipt)
                         if e.name == "WithdrawalDeferred" and int(e.args["batchNonce"]) == b["nonce"]]
        b.update(status="executed", l1_tx=HexBytes(log["transactionHash"]).to_0x_hex(),
                 l1_block=int(log["blockNumber"]), event_nonce=nonce, done_height=height)
        deferred = []
        for entry in b["withdrawals"]:
            w = self.withdrawals[entry["id"]]
            key = (entry["recipient"], int(entry["amount"]))
            if key in deferred_logs:
                deferred_logs.remove(key)
                deferred.append({"id": entry["id"], "recipient": entry["recipient"], "amount": entry["amount"]})
                w.update(status="deferred", done_height=height)
            else:
                w.update(status="executed", done_height=height)
        if deferred:
            b["deferred"] = deferred

    def _timeouts(self, height: int) -> None:
        for b in self.batches.values():
            if b["status"] == "pending" and self.observed >= b["timeout_l1_block"]:
                b.update(status="refunded", done_height=height)
                for entry in b["withdrawals"]:
                    w = self.withdrawals[entry["id"]]
                    w.update(status="refunded", done_height=height)
                    self._credit(w["sender"], w["denom"], int(w["amount"]) + int(w["fee"]))

    def _credit(self, sender: str, denom: str, amount: int) -> None:
        self.balances[(sender, denom)] = self.balances.get((sender, denom), 0) + amount
        self.supply[denom] = self.supply.get(denom, 0) + amount

    def _execute(self, raw: bytes, height: int) -> None:
        txr = tx_pb2.TxRaw.FromString(raw)
        body = tx_pb2.TxBody.FromString(txr.body_bytes)
        auth = tx_pb2.AuthInfo.FromString(txr.auth_info_bytes)
        signer = address_of_pubkey(auth.public_key)
        sender = bech32_address(signer, self.prefix)
        self.balances[(sender, auth.fee.denom)] = self.balances.get((sender, auth.fee.denom), 0) - int(auth.fee.amount)
        m = body.messages[0].module
        events: list[dict[str, Any]] = []
        code, log = 0, ""
        if m.type == "bridge.MsgWithdraw":
            msg = WithdrawHandler(BridgeParams.default(), None, None).decode(m, signer)  # type: ignore[arg-type]
            have = self.balances.get((sender, msg.denom), 0)
            if have < msg.total:
                code, log = 13, f"insufficient funds: have {have}{msg.denom}, need {msg.total}{msg.denom}"
            else:
                self.balances[(sender, msg.denom)] = have - msg.total
                self.supply[msg.denom] -= msg.total
                wid = self.next_wid
                self.next_wid += 1
                self.withdrawals[wid] = {
                    "id": wid, "sender": sender, "denom": msg.denom, "token": _hex(msg.token),
                    "recipient": _hex(msg.recipient), "amount": str(msg.amount), "fee": str(msg.fee),
                    "status": "queued", "queued_height": height}
                events.append({"type": "bridge_withdrawal_queued", "attributes": [
                    {"key": "id", "value": str(wid), "index": True},
                    {"key": "sender", "value": sender, "index": True}]})
        elif m.type == "bridge.MsgCancelWithdrawal":
            cancel = CancelWithdrawalHandler(BridgeParams.default(), None, None).decode(m, signer)  # type: ignore[arg-type]
            w = self.withdrawals.get(cancel.id)
            if w is None or w["sender"] != sender or w["status"] != "queued":
                code, log = 16, f"withdrawal {cancel.id} cannot be cancelled"
            else:
                w.update(status="cancelled", done_height=height)
                self._credit(sender, w["denom"], int(w["amount"]) + int(w["fee"]))
                events.append({"type": "bridge_withdrawal_cancelled",
                               "attributes": [{"key": "id", "value": str(cancel.id), "index": True}]})
        else:
            code, log = 8, f"unknown message {m.type}"
        digest = HexBytes(hashlib.sha256(raw).digest()).hex().upper()
        self.txs[digest] = {"height": str(height), "tx_result": {"code": code, "log": log,
                                                                "codespace": "bridge" if code else "",
                                                                "events": events}}

    def _form_batches(self, height: int) -> None:
        by_denom: dict[str, list[dict[str, Any]]] = {}
        for w in self.withdrawals.values():
            if w["status"] == "queued" and height - w["queued_height"] >= self.batch_interval:
                by_denom.setdefault(w["denom"], []).append(w)
        for denom in sorted(by_denom):
            picked = sorted(by_denom[denom], key=lambda w: (-int(w["fee"]), w["id"]))[: self.max_batch_size]
            nonce = self.next_batch
            self.next_batch += 1
            token = checksum(token_of(denom) or b"")
            timeout = self.observed + self.batch_timeout
            digest = self.domain.batch_digest(Batch(nonce, timeout), self._withdrawals_of(token, picked))
            entries = [{"id": w["id"], "recipient": w["recipient"], "amount": w["amount"], "fee": w["fee"]}
                       for w in picked]
            for w in picked:
                w.update(status="batched", batch_nonce=nonce)
            self.batches[nonce] = {
                "nonce": nonce, "denom": denom, "token": token.lower(), "timeout_l1_block": timeout,
                "digest": _hex(digest), "status": "pending", "created_height": height,
                "amount": str(sum(int(w["amount"]) for w in picked)), "fee": str(sum(int(w["fee"]) for w in picked)),
                "withdrawals": entries, "signatures": [], "signed_power": "0", "ready": False}
            self.sigs[nonce] = {}

    @staticmethod
    def _withdrawals_of(token: str, entries: list[dict[str, Any]]) -> list[Withdrawal]:
        return [Withdrawal.of(token, w["recipient"], int(w["amount"]), int(w["fee"])) for w in entries]

    def _sign(self) -> None:
        """The validators sign pending batches, `signers_per_tick` more per block, in valset order."""
        changed = False
        for nonce, b in self.batches.items():
            if b["status"] != "pending":
                continue
            have = self.sigs[nonce]
            todo = [i for i, a in enumerate(self.valset.validators) if a not in have][: self.signers_per_tick]
            if not todo:
                continue
            digest = bytes.fromhex(b["digest"][2:])
            for i in todo:
                address = self.valset.validators[i]
                have[address] = sign_by(self.valset, self.world.validators, digest, [i])[i]
            power = sum(p for a, p in zip(self.valset.validators, self.valset.powers, strict=True) if a in have)
            b["signatures"] = [{"validator": a.lower(), "signature": signature_hex(have[a])}
                               for a in sorted(have, key=lambda a: a.lower())]
            b["signed_power"] = str(power)
            if power > POWER_THRESHOLD and not b["ready"]:
                b.update(ready=True, ready_height=self.height)
            changed = True
        if changed:
            self.history[self.height] = {"state": self.state_json(), "withdrawals": copy.deepcopy(self.withdrawals),
                                         "batches": copy.deepcopy(self.batches)}

    def _relay(self) -> None:
        assert self.l1 is not None and self.bridge is not None
        for nonce, b in sorted(self.batches.items()):
            if b["status"] != "pending" or not b["ready"] or self.bridge.batch_executed(nonce):
                continue
            if self.l1.block_number + 1 >= b["timeout_l1_block"]:
                continue
            have = self.sigs[nonce]
            sigs = [have.get(a, Signature(0, 0, 0)) for a in self.valset.validators]
            token = checksum(b["token"])
            self.bridge.submit_batch(self.valset, sigs, Batch(nonce, b["timeout_l1_block"]),
                                     self._withdrawals_of(token, b["withdrawals"]), self.relayer)

    def add_valset(self, valset: Valset, signers: list[int]) -> None:
        """A valset the chain created (pending on L1), signed by the current valset's `signers`."""
        digest = self.domain.valset_digest(valset)
        current = self.valset
        sigs = {current.validators[i]: sign_by(current, self.world.validators, digest, [i])[i] for i in signers}
        self.valsets[valset.nonce] = {"valset": valset, "created_height": self.height, "signatures": sigs}
        self.commit()

    # -- the RPC ------------------------------------------------------------------------------------------

    def rpc(self, method: str, **params: Any) -> Any:
        if method == "broadcast_tx_sync":
            return self._broadcast(base64.b64decode(params["tx"]))
        if method == "tx":
            digest = base64.b64decode(params["hash"]).hex().upper()
            if self.auto_tick and any(h == digest for h, _ in self.mempool):
                self.tick()
            if digest not in self.txs:
                raise ClientError(f"tx: tx ({digest}) not found")
            return self.txs[digest]
        return super().rpc(method, **params)

    def _broadcast(self, raw: bytes) -> dict[str, Any]:
        from nacl.signing import VerifyKey

        digest = HexBytes(hashlib.sha256(raw).digest()).hex().upper()
        if self.reject_next is not None:
            code, codespace, log = self.reject_next
            self.reject_next = None
            return {"code": code, "codespace": codespace, "log": log, "hash": digest}
        txr = tx_pb2.TxRaw.FromString(raw)
        auth = tx_pb2.AuthInfo.FromString(txr.auth_info_bytes)
        VerifyKey(auth.public_key).verify(sign_bytes(txr.body_bytes, txr.auth_info_bytes, self.network),
                                          txr.signature)
        sender = bech32_address(address_of_pubkey(auth.public_key), self.prefix)
        expected = self.sequences.get(sender, 0)
        if auth.sequence != expected:
            return {"code": 32, "codespace": "auth", "log": f"sequence {auth.sequence}, expected {expected}",
                    "hash": digest}
        self.sequences[sender] = expected + 1
        self.mempool.append((digest, raw))
        return {"code": 0, "codespace": "", "log": "", "hash": digest}

    def _query(self, path: str, height: int, prove: bool) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] in ("params", "account", "supply") or parts[:1] == ["bridge"] and len(parts) > 1 and \
                parts[1] in ("state", "withdrawal", "batch", "batches", "valset"):
            self.queries.append(path)
            if self.on_query is not None:
                self.on_query(path)
            if path == "/bridge/state" and self.auto_tick and height == 0:
                self.tick()
            height = height or self.height
            return self._answer(parts, path, height)
        return super()._query(path, height, prove)

    def _answer(self, parts: list[str], path: str, height: int) -> dict[str, Any]:
        snap = self.history[height]
        if parts == ["params"]:
            return self._json({"auth": {"address_prefix": self.prefix, "min_fees": self.min_fees},
                               "staking": {"staking": {"bond_denom": "stake"}}}, height)
        if parts[0] == "account" and len(parts) == 2:
            bech32_decode(parts[1], self.prefix)
            return self._json({"address": parts[1], "sequence": str(self.sequences.get(parts[1], 0))}, height)
        if parts == ["supply"]:
            denoms: dict[str, int] = {}
            for (_, denom), amount in self.balances.items():
                denoms[denom] = denoms.get(denom, 0) + amount
            return self._json({"supply": [{"denom": d, "amount": str(a)} for d, a in sorted(denoms.items()) if a]},
                              height)
        if parts == ["bridge", "state"]:
            return self._json(snap["state"], height)
        if parts[1] == "withdrawal" and len(parts) == 3:
            w = snap["withdrawals"].get(int(parts[2]))
            if w is None:
                return self._missing(height, f"no withdrawal {parts[2]}")
            w = dict(w)
            if w["status"] == "queued":
                queue = sorted((x for x in snap["withdrawals"].values()
                                if x["status"] == "queued" and x["denom"] == w["denom"]),
                               key=lambda x: (-int(x["fee"]), x["id"]))
                w["position"] = [x["id"] for x in queue].index(w["id"]) + 1
            return self._json(w, height, key=b"withdrawal")
        if parts[1] == "batch" and len(parts) == 3:
            b = snap["batches"].get(int(parts[2]))
            return self._missing(height, f"no batch {parts[2]}") if b is None else self._json(b, height, key=b"b")
        if parts[1:] == ["batches", "pending"]:
            pending = sorted((b for b in snap["batches"].values() if b["status"] == "pending"),
                             key=lambda b: (b["timeout_l1_block"], b["nonce"]))
            return self._json({"batches": pending}, height)
        if parts[1] == "valset" and len(parts) == 3:
            nonce = max(self.valsets) if parts[2] == "latest" else int(parts[2])
            v = self.valsets.get(nonce)
            if v is None:
                return self._missing(height, f"no valset {nonce}")
            return self._json(self._valset_json(nonce, v), height)
        return {"code": 3, "codespace": "query", "log": "usage: /bridge/state | ...", "height": str(height)}

    def _valset_json(self, nonce: int, v: dict[str, Any]) -> dict[str, Any]:
        valset: Valset = v["valset"]
        sigs: dict[str, Signature] = v["signatures"]
        power = sum(p for a, p in zip(self.valset.validators, self.valset.powers, strict=True) if a in sigs)
        status = "current" if nonce == self.valset.nonce else ("pending" if nonce > self.valset.nonce else
                                                              "superseded")
        return {**valset.to_json(), "digest": _hex(self.domain.valset_digest(valset)),
                "created_height": v["created_height"], "status": status, "signed_power": str(power),
                "ready": power > POWER_THRESHOLD,
                "signatures": [{"validator": a.lower(), "signature": signature_hex(s)}
                               for a, s in sorted(sigs.items(), key=lambda kv: kv[0].lower())]}

    def _missing(self, height: int, log: str) -> dict[str, Any]:
        codespace, code = self.not_found
        return {"code": code, "codespace": codespace, "log": log, "height": str(height)}

    @staticmethod
    def _json(body: Any, height: int, key: bytes = b"") -> dict[str, Any]:
        out = {"code": 0, "value": base64.b64encode(json.dumps(body).encode()).decode(), "height": str(height)}
        if key:
            out["key"] = base64.b64encode(key).decode()
        return out


def denom_of_token(token: str) -> str:
    return denom_of(bytes.fromhex(checksum(token)[2:]))
