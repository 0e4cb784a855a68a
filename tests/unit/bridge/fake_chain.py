"""A sidechain node's RPC in process, for the bridge CLI's unit tests: the seam is `NodeClient.rpc`.

`FakeBridgeNode` answers `status`, `header` and `abci_query` for the routes `bridge deposit` and `bridge status`
read (/params, /bridge/state, /bridge/deposit/N, /bridge/supply/DENOM, /balance/ADDR/DENOM) the way the app
does (sidechain/app.py: provable answers carry the store key, the raw value in `info` and a proof; an absent
key is code 5 of codespace "query"). The state lives in a real MerkleStore, so `--prove` checks real proofs.

`tick()` plays one block of the bridge module against an in-process L1: it applies, in nonce order, the
contract's events in L1 blocks up to head - l1_confirmations, minting each deposit to its recipient, and moves
`observed_l1_height` there. The node ticks on every /bridge/state query (`auto_tick`), after mining one L1
block, so a command that polls sees the chain move as it would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from bridge.l1 import BridgeContract
from bridge.module.events import denom_of
from bridge.protocol import checksum
from sidechain.client import ClientError, NodeClient
from sidechain.store import MemoryBackend, MerkleStore
from sidechain.types import bech32_address
from tests.support.bridge_l1.evm import InProcessL1

URL = "http://127.0.0.1:26657"


class FakeBridgeNode(NodeClient):
    def __init__(
        self,
        l1: InProcessL1 | None,
        bridge: BridgeContract | None,
        *,
        prefix: str = "side",
        chain_id: str = "bridge-test",
        confirmations: int = 2,
        l1_chain_id: int | None = None,
        contract: str | None = None,
        deployed_at: int = 1,
        enabled: bool = True,
        not_found: tuple[str, int] = ("query", 5),
    ) -> None:
        super().__init__(URL, source="--node")
        self.l1, self.bridge = l1, bridge
        self.prefix, self.network = prefix, chain_id
        self.confirmations = confirmations
        self.l1_chain_id = l1_chain_id if l1_chain_id is not None else (l1.client.chain_id if l1 else 1337)
        self.contract = checksum(contract or (bridge.address if bridge else "0x" + "ab" * 20))
        self.deployed_at = deployed_at
        self.enabled = enabled
        self.not_found = not_found
        self.store = MerkleStore(MemoryBackend())
        self.height = 0
        self.last_event_nonce = 1
        self.last_event_block = deployed_at
        self.observed = deployed_at
        self.deposits: dict[int, dict[str, Any]] = {}
        self.supply: dict[str, int] = {}
        self.balances: dict[tuple[str, str], int] = {}
        self.auto_tick = True
        self.mine_per_tick = 1
        self.apply_events = True  # False: the chain never applies anything (a stalled bridge)
        self.tamper_headers = False
        self.on_query: Callable[[str], None] | None = None
        self.queries: list[str] = []
        self.commit()

    # -- the simulated module -----------------------------------------------------------------------------

    def commit(self) -> None:
        for nonce, record in self.deposits.items():
            self.store.set(b"bridge/deposit/" + nonce.to_bytes(8, "big"), json.dumps(record, sort_keys=True).encode())
        for denom, amount in self.supply.items():
            self.store.set(b"bridge/supply/" + denom.encode(), str(amount).encode())
        for (address, denom), amount in self.balances.items():
            self.store.set(f"balance/{address}/{denom}".encode(), str(amount).encode())
        self.height += 1
        self.store.commit(self.height)

    def tick(self) -> None:
        if self.l1 is not None and self.mine_per_tick:
            self.l1.mine(self.mine_per_tick)
        if self.apply_events and self.l1 is not None and self.bridge is not None:
            final = max(self.l1.block_number - self.confirmations, 0)
            if final > self.observed:
                events = self.bridge.contract.events.Deposit().get_logs(from_block=self.observed + 1, to_block=final)
                for log in sorted(events, key=lambda e: int(e["args"]["eventNonce"])):
                    self.mint(log)
                self.observed = final
        self.commit()

    def mint(self, log: Any) -> None:
        args = log["args"]
        nonce = int(args["eventNonce"])
        assert nonce == self.last_event_nonce + 1, f"event {nonce} after {self.last_event_nonce}"
        denom = denom_of(bytes.fromhex(checksum(args["token"])[2:]))
        recipient = bech32_address(bytes(args["recipient"]), self.prefix)
        amount = int(args["amount"])
        self.deposits[nonce] = {
            "event_nonce": nonce, "denom": denom, "token": checksum(args["token"]).lower(),
            "sender": checksum(args["sender"]), "recipient": recipient, "amount": str(amount),
            "l1_tx": log["transactionHash"].to_0x_hex(), "l1_block": int(log["blockNumber"]),
            "height": self.height + 1,
        }
        self.supply[denom] = self.supply.get(denom, 0) + amount
        self.balances[(recipient, denom)] = self.balances.get((recipient, denom), 0) + amount
        self.last_event_nonce = nonce
        self.last_event_block = int(log["blockNumber"])

    def state_json(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        return {
            "enabled": True, "l1_chain_id": self.l1_chain_id, "contract": self.contract,
            "deployed_at": self.deployed_at, "last_event_nonce": self.last_event_nonce,
            "observed_l1_height": self.observed, "last_event_l1_block": self.last_event_block,
            "audit_l1_height": max(self.observed, self.last_event_block),
            "valset": {"nonce": 0, "validators": [], "powers": []},
            "supply": {d: str(a) for d, a in sorted(self.supply.items())},
            "params": {"l1_confirmations": self.confirmations, "max_events_per_extension": 32,
                       "max_extension_bytes": 4096},
        }

    # -- the RPC ----------------------------------------------------------------------------------------------

    def rpc(self, method: str, **params: Any) -> Any:
        if method == "status":
            return {"node_info": {"network": self.network}, "sync_info": {"latest_block_height": str(self.height)}}
        if method == "header":
            version = int(params["height"]) - 1  # header H carries the app hash of the state after H - 1
            if not 1 <= version <= self.height:
                raise ClientError(f"header: height {params['height']} is not available")
            root = self.store.root_at(version)
            if self.tamper_headers:
                root = bytes(32 - len(root)) + bytes(b ^ 0xFF for b in root)
            return {"header": {"app_hash": root.hex().upper()}}
        if method == "abci_query":
            return {"response": self._query(params["path"], int(params["height"] or 0), bool(params["prove"]))}
        raise AssertionError(f"unexpected RPC {method}")

    def _query(self, path: str, height: int, prove: bool) -> dict[str, Any]:
        self.queries.append(path)
        if self.on_query is not None:
            self.on_query(path)
        if path == "/bridge/state" and self.auto_tick and height == 0:
            self.tick()
        height = height or self.height
        parts = [p for p in path.split("/") if p]
        if parts == ["params"]:
            return self._json({"auth": {"address_prefix": self.prefix, "min_fees": []}}, height)
        if parts == ["bridge", "state"]:
            return self._json(self.state_json(), height)
        if len(parts) == 3 and parts[:2] == ["bridge", "deposit"]:
            key = b"bridge/deposit/" + int(parts[2]).to_bytes(8, "big")
            return self._provable(key, height, prove, lambda raw: json.loads(raw))
        if len(parts) >= 3 and parts[:2] == ["bridge", "supply"]:
            denom = "/".join(parts[2:])
            return self._provable(b"bridge/supply/" + denom.encode(), height, prove,
                                  lambda raw: {"denom": denom, "amount": raw.decode()})
        if len(parts) >= 3 and parts[0] == "balance":
            raw = self.store.get_at(height, f"balance/{parts[1]}/{'/'.join(parts[2:])}".encode())
            return self._json({"amount": raw.decode() if raw else "0"}, height)
        return {"code": 2, "codespace": "query", "log": f"unknown query path {path!r}", "height": str(height)}

    @staticmethod
    def _json(body: Any, height: int) -> dict[str, Any]:
        return {"code": 0, "value": base64.b64encode(json.dumps(body).encode()).decode(), "height": str(height)}

    def _provable(self, key: bytes, height: int, prove: bool, body: Callable[[bytes], Any]) -> dict[str, Any]:
        raw, ops = self.store.prove(height, key) if prove else (self.store.get_at(height, key), [])
        out: dict[str, Any] = {"key": base64.b64encode(key).decode(), "height": str(height)}
        if ops:
            out["proofOps"] = {"ops": [{"type": o.type, "key": base64.b64encode(o.key).decode(),
                                        "data": base64.b64encode(o.data).decode()} for o in ops]}
        if raw is None:
            codespace, code = self.not_found
            return {**out, "code": code, "codespace": codespace, "log": "no value at this key"}
        return {**out, "code": 0, "value": base64.b64encode(json.dumps(body(raw)).encode()).decode(),
                "info": raw.hex()}
