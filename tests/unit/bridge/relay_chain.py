"""A sidechain node faked at its query seam for the relayer's tests: the withdrawal-side routes of issue 11's
interfaces (`/bridge/valset/<n>`, `/bridge/valsets/pending`, `/bridge/batches/pending`, `/bridge/batch/<n>`)
on top of FakeBridgeNode's `/bridge/state`, answering exactly those JSON schemas.

Everything is real: valsets and batches carry the digests bridge/protocol.py computes for the deployed
contract, and signatures made by the test validators' keys over them (r || s || v hex, ascending address).
What a test wants the chain to claim (`ready`, a forged signature, a wrong digest) it sets by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from bridge.l1 import BridgeContract
from bridge.module.events import denom_of
from bridge.protocol import ETH_TOKEN, POWER_THRESHOLD, Batch, Signature, Valset, Withdrawal, checksum
from bridge.signing import sign_digest
from tests.support.bridge_l1.evm import InProcessL1
from tests.unit.bridge.fake_chain import FakeBridgeNode


def signature_hex(sig: Signature) -> str:
    return f"0x{sig.r:064x}{sig.s:064x}{sig.v:02x}"


def signature_list(digest: bytes, signers: Sequence[LocalAccount]) -> list[dict[str, str]]:
    signed = sorted(signers, key=lambda a: int(a.address, 16))
    return [{"validator": a.address.lower(), "signature": signature_hex(sign_digest(a, digest))} for a in signed]


def _power_in(valset: Valset, signers: Sequence[LocalAccount]) -> int:
    addresses = {a.address for a in signers}
    return sum(p for v, p in zip(valset.validators, valset.powers, strict=True) if v in addresses)


class FakeRelayNode(FakeBridgeNode):
    """FakeBridgeNode plus the valset and batch routes. `valsets[n]` and `batches[n]` are the JSON answers."""

    def __init__(self, l1: InProcessL1, bridge: BridgeContract, genesis_valset: Valset, **kw: Any) -> None:
        super().__init__(l1, bridge, **kw)
        self.auto_tick = False
        self.valsets: dict[int, dict[str, Any]] = {}
        self.batches: dict[int, dict[str, Any]] = {}
        self.state_valset = genesis_valset
        self.fail_next = 0  # the next this many queries fail in transport (ClientError)
        self.add_valset(genesis_valset, [], status="current")

    # -- building what the chain would hold ----------------------------------------------------------

    def add_valset(self, valset: Valset, signers: Sequence[LocalAccount], *, status: str = "pending",
                   signed_in: Valset | None = None) -> dict[str, Any]:
        """A valset signed by `signers` over its digest; `signed_in` is the valset the chain counts power in."""
        assert self.bridge is not None
        digest = self.bridge.domain.valset_digest(valset)
        power = _power_in(signed_in or self.state_valset, signers)
        body = {
            "nonce": valset.nonce, "validators": [a.lower() for a in valset.validators], "powers": list(valset.powers),
            "digest": "0x" + digest.hex(), "created_height": 0 if valset.nonce == 0 else self.height,
            "signatures": signature_list(digest, signers), "signed_power": str(power),
            "ready": power > POWER_THRESHOLD, "status": status,
        }
        self.valsets[valset.nonce] = body
        return body

    def add_batch(self, nonce: int, withdrawals: Sequence[Withdrawal], timeout_l1_block: int,
                  signers: Sequence[LocalAccount], *, ids: Sequence[int] | None = None,
                  signed_in: Valset | None = None) -> dict[str, Any]:
        assert self.bridge is not None
        token = withdrawals[0].token
        digest = self.bridge.domain.batch_digest(Batch(nonce, timeout_l1_block), withdrawals)
        power = _power_in(signed_in or self.state_valset, signers)
        first = ids[0] if ids else 100 * nonce
        body = {
            "nonce": nonce, "denom": denom_of(bytes.fromhex(token[2:])), "token": token.lower(),
            "timeout_l1_block": timeout_l1_block, "digest": "0x" + digest.hex(), "status": "pending",
            "created_height": self.height, "amount": str(sum(w.amount for w in withdrawals)),
            "fee": str(sum(w.fee for w in withdrawals)),
            "withdrawals": [{"id": (ids[i] if ids else first + i), "recipient": w.recipient.lower(),
                             "amount": str(w.amount), "fee": str(w.fee)} for i, w in enumerate(withdrawals)],
            "signatures": signature_list(digest, signers), "signed_power": str(power),
            "ready": power > POWER_THRESHOLD,
        }
        self.batches[nonce] = body
        return body

    # -- the routes ------------------------------------------------------------------------------------

    def state_json(self) -> dict[str, Any]:
        out = super().state_json()
        held = self.state_valset
        out["valset"] = {"nonce": held.nonce, "validators": [a.lower() for a in held.validators],
                         "powers": list(held.powers)}
        out["latest_valset_nonce"] = max(self.valsets)
        return out

    def rpc(self, method: str, **params: Any) -> Any:
        if self.fail_next > 0:
            self.fail_next -= 1
            from sidechain.client import ClientError

            raise ClientError(f"cannot reach the node's RPC at {self.url} (connection refused)")
        return super().rpc(method, **params)

    def _query(self, path: str, height: int, prove: bool) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        h = height or self.height
        if parts == ["bridge", "valsets", "pending"]:
            current = self.state_valset.nonce
            return self._json({"valsets": [v for n, v in sorted(self.valsets.items()) if n > current]}, h)
        if parts == ["bridge", "batches", "pending"]:
            pending = [b for b in self.batches.values() if b.get("status") == "pending"]
            return self._json({"batches": sorted(pending, key=_pending_order)}, h)
        if len(parts) == 3 and parts[:2] == ["bridge", "valset"]:
            found = self.valsets.get(max(self.valsets)) if parts[2] == "latest" else self.valsets.get(int(parts[2]))
            return self._record(found, path, h)
        if len(parts) == 3 and parts[:2] == ["bridge", "batch"]:
            return self._record(self.batches.get(int(parts[2])), path, h)
        return super()._query(path, height, prove)

    def _record(self, body: dict[str, Any] | None, path: str, height: int) -> dict[str, Any]:
        if body is None:
            return {"code": 6, "codespace": "bridge", "log": f"no record for {path}", "height": str(height)}
        return self._json(body, height)


def _pending_order(b: dict[str, Any]) -> tuple[int, int]:
    """Ascending timeout then nonce, as the chain lists them (a test's malformed entry sorts first)."""
    t = b.get("timeout_l1_block")
    return (t if isinstance(t, int) else 0, int(b.get("nonce", 0)))


def eth_withdrawals(recipients: Sequence[str], amount: int, fee: int) -> list[Withdrawal]:
    return [Withdrawal(ETH_TOKEN, checksum(r), amount, fee) for r in recipients]
