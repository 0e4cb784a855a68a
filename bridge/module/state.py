"""Reading and writing the bridge module's records (layout in bridge/module/keys.py)."""

from __future__ import annotations

import hashlib
import json

from bridge.module import keys as k
from bridge.module.events import Deposit, L1Event, encode_event, uint256_bytes
from bridge.module.genesis import BridgeConfig, L1Valset
from bridge.module.params import BridgeParams
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.store.api import KVReader, KVStore, prefix_end


def _u64(raw: bytes | None) -> int:
    return int.from_bytes(raw, "big") if raw else 0


# --- fixed facts and params ------------------------------------------------------------------------


def get_config(state: KVReader) -> tuple[BridgeConfig, int] | None:
    """(config, vote_extensions_enable_height), or None on a chain without a bridge."""
    raw = state.get(k.CONFIG)
    if raw is None:
        return None
    d = json.loads(raw)
    return BridgeConfig(int(d["l1_chain_id"]), bytes.fromhex(d["contract"]), int(d["deployed_at"])), int(d["ve_height"])


def set_config(state: KVStore, config: BridgeConfig, ve_height: int) -> None:
    d = {"l1_chain_id": config.l1_chain_id, "contract": config.contract.hex(), "deployed_at": config.deployed_at,
         "ve_height": ve_height}
    state.set(k.CONFIG, json.dumps(d, sort_keys=True, separators=(",", ":")).encode())


def get_params(state: KVReader) -> BridgeParams:
    raw = state.get(k.PARAMS)
    return BridgeParams.default() if raw is None else BridgeParams.decode(raw)


def set_params(state: KVStore, params: BridgeParams) -> None:
    state.set(k.PARAMS, params.encode())


# --- progress --------------------------------------------------------------------------------------


def last_event_nonce(state: KVReader) -> int:
    return _u64(state.get(k.LAST_EVENT_NONCE))


def set_last_event_nonce(state: KVStore, nonce: int) -> None:
    state.set(k.LAST_EVENT_NONCE, k.u64(nonce))


def last_event_l1_block(state: KVReader) -> int:
    return _u64(state.get(k.LAST_EVENT_L1_BLOCK))


def audit_l1_height(state: KVReader) -> int:
    """The L1 block to read the contract at for the supply invariant: every event in blocks before it
    is applied, and of its own events exactly those up to `last_event_nonce` (an extension cut at its
    event cap can split a block: then events above `observed_l1_height` are applied)."""
    return max(observed_l1_height(state), last_event_l1_block(state))


def observed_l1_height(state: KVReader) -> int:
    return _u64(state.get(k.OBSERVED_L1_HEIGHT))


def set_observed_l1_height(state: KVStore, height: int) -> None:
    state.set(k.OBSERVED_L1_HEIGHT, k.u64(height))


# --- the L1 valset ---------------------------------------------------------------------------------


def get_l1_valset(state: KVReader) -> L1Valset | None:
    raw = state.get(k.L1_VALSET)
    if raw is None:
        return None
    m = pb.L1Valset.FromString(raw)
    return L1Valset(int.from_bytes(m.nonce, "big"), tuple(bytes(a) for a in m.validators), tuple(m.powers))


def set_l1_valset(state: KVStore, v: L1Valset) -> None:
    m = pb.L1Valset(nonce=uint256_bytes(v.nonce), validators=list(v.validators), powers=list(v.powers))
    state.set(k.L1_VALSET, m.SerializeToString(deterministic=True))


# --- supply ----------------------------------------------------------------------------------------


def supply(state: KVReader, denom: str) -> int:
    return int.from_bytes(state.get(k.supply_key(denom)) or b"", "big")


def add_supply(state: KVStore, denom: str, amount: int) -> int:
    new = supply(state, denom) + amount
    if new < 0:
        raise ValueError(f"bridged supply of {denom} would go negative")
    if new:
        state.set(k.supply_key(denom), uint256_bytes(new))
    else:
        state.delete(k.supply_key(denom))
    return new


def all_supply(state: KVReader) -> list[tuple[str, int]]:
    """(denom, amount) in denom order."""
    return [(key[len(k.SUPPLY):].decode(), int.from_bytes(raw, "big"))
            for key, raw in state.iterate(k.SUPPLY, prefix_end(k.SUPPLY))]


# --- applied events --------------------------------------------------------------------------------


def event_digest(e: L1Event) -> bytes:
    return hashlib.sha256(encode_event(e)).digest()


def applied_digest(state: KVReader, nonce: int) -> bytes | None:
    return state.get(k.APPLIED + k.u64(nonce))


def set_applied(state: KVStore, e: L1Event) -> None:
    state.set(k.APPLIED + k.u64(e.nonce), event_digest(e))
    state.set(k.LAST_EVENT_L1_BLOCK, k.u64(e.l1_block))


def put_deposit(state: KVStore, e: L1Event, d: Deposit, height: int, credited: bool) -> None:
    rec = pb.DepositRecord(event_nonce=e.nonce, l1_tx=e.l1_tx, l1_block=e.l1_block, height=height, denom=d.denom,
                           credited=credited)
    rec.deposit.CopyFrom(pb.Deposit(token=d.token, sender=d.sender, recipient=d.recipient,
                                    amount=uint256_bytes(d.amount)))
    state.set(k.deposit_key(e.nonce), rec.SerializeToString(deterministic=True))


def get_deposit(state: KVReader, nonce: int) -> pb.DepositRecord | None:
    raw = state.get(k.deposit_key(nonce))
    return None if raw is None else pb.DepositRecord.FromString(raw)


def put_disagreement(state: KVStore, nonce: int, validator: bytes, height: int, reported: L1Event) -> bool:
    """Record it once per (event, validator); True when it is new."""
    key = k.disagreement_key(nonce, validator)
    if state.get(key) is not None:
        return False
    m = pb.Disagreement(event_nonce=nonce, validator_address=validator, height=height, reported=encode_event(reported))
    state.set(key, m.SerializeToString(deterministic=True))
    return True


def disagreements(state: KVReader, nonce: int | None = None) -> list[pb.Disagreement]:
    start = k.DISAGREEMENT if nonce is None else k.DISAGREEMENT + k.u64(nonce)
    return [pb.Disagreement.FromString(raw) for _, raw in state.iterate(start, prefix_end(start))]
