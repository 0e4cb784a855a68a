"""Record a chain of blocks run through the application, for the replay test (test_replay.py).

    python -m tests.unit.app.record_chain --out tests/unit/app/data/recorded_chain.json

The recording holds the genesis app_state, every block's header fields and raw txs, and what the
application answered: each tx's (code, codespace), a digest of its events, and the app hash. It is
made once by the code of a release and replayed by later code: a change that alters any app hash is
a consensus change (a new recording then needs a reason in the commit message).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

from nacl.signing import SigningKey

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.gen.sidechain.tx.v1 import tx_pb2
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address
from tests.support.pos import DEFAULT_SELF_DELEGATION, create_entry, validator_keys

CHAIN_ID = "recorded-chain-1"
GENESIS_NS = 1_750_000_000 * 10**9
N_ACCOUNTS = 12
N_BLOCKS = 40


def events_digest(events: tuple[b.Event, ...]) -> str:
    h = hashlib.sha256()
    for e in events:
        h.update(e.type.encode() + b"\x00")
        for a in e.attributes:
            h.update(a.key.encode() + b"\x01" + a.value.encode() + b"\x02" + (b"1" if a.index else b"0"))
    return h.hexdigest()


def keys() -> list[SigningKey]:
    return [SigningKey(hashlib.sha256(b"recorded-account-%d" % i).digest()) for i in range(N_ACCOUNTS)]


def record(seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    ks = keys()
    addrs = [address_of_pubkey(bytes(k.verify_key)) for k in ks]
    val = validator_keys(0)  # the one genesis validator, bonding its operator's whole balance
    app_state = {
        "auth": {"params": {"address_prefix": "side", "max_memo_bytes": 64,
                            "min_fees": [{"denom": "l1/eth", "amount": "1000"}, {"denom": "stake", "amount": "1"}]}},
        "bank": {"balances": [
            {"address": bech32_address(a, "side"),
             "coins": ([{"denom": "l1/eth", "amount": str(10**18)}] if i % 3 == 0 else [])
             + [{"denom": "stake", "amount": str(1_000_000 + i)}]}
            for i, a in enumerate(addrs) if i != N_ACCOUNTS - 1  # the last account starts empty
        ] + [{"address": bech32_address(val.operator, "side"),
              "coins": [{"denom": "stake", "amount": str(DEFAULT_SELF_DELEGATION)}]}]},
        "staking": {"validators": [create_entry(val, CHAIN_ID)]},
    }
    app = Application()
    init = app.init_chain(b.InitChainRequest(
        chain_id=CHAIN_ID, time_ns=GENESIS_NS, initial_height=1, app_state_bytes=json.dumps(app_state).encode(),
        validators=(), consensus_params=b.ConsensusParams()))
    seq = [0] * N_ACCOUNTS
    blocks = []
    for height in range(1, N_BLOCKS + 1):
        txs: list[bytes] = []
        for _ in range(rng.randrange(0, 9)):
            i = rng.randrange(N_ACCOUNTS)
            j = rng.randrange(N_ACCOUNTS)
            kind = rng.random()
            sequence = seq[i]
            fee = Coin("stake", Amount(rng.randrange(1, 4)))
            coins = [Coin("stake", Amount(rng.randrange(1, 5000)))]
            memo, timeout = "", 0
            if kind < 0.08:
                sequence = max(0, seq[i] - 1) if seq[i] else seq[i] + 3  # replay / gap
            elif kind < 0.14:
                coins = [Coin("stake", Amount(10**12))]  # more than anyone holds: messages fail, fee stands
            elif kind < 0.22:
                coins = [Coin("l1/eth", Amount(rng.randrange(1, 10**15))), Coin("stake", Amount(7))]
            elif kind < 0.28:
                fee = Coin("l1/eth", Amount(1000 + rng.randrange(100)))
            elif kind < 0.32:
                fee = Coin("stake", Amount(0))  # below the minimum
            elif kind < 0.36:
                timeout = height - 1 if height > 1 else 0  # timed out
            elif kind < 0.40:
                memo = "m" * rng.randrange(0, 80)  # sometimes over the 64-byte limit
            msgs = [tx_pb2.Msg(send=tx_pb2.MsgSend(
                from_address=addrs[i], to_address=addrs[j],
                amount=[tx_pb2.Coin(denom=c.denom, amount=str(int(c.amount))) for c in coins]))]
            if kind > 0.93:  # two messages in one tx
                msgs.append(tx_pb2.Msg(send=tx_pb2.MsgSend(
                    from_address=addrs[i], to_address=addrs[(j + 1) % N_ACCOUNTS],
                    amount=[tx_pb2.Coin(denom="stake", amount="3")])))
            txs.append(build_signed_tx(ks[i], CHAIN_ID, msgs, sequence, fee, memo, timeout))
            if kind >= 0.08:
                seq[i] += 1  # optimistic: a tx failing its ante leaves the sequence, resynced below
        if height % 11 == 0:
            txs.append(b"\x0a\x03abc")  # not a tx at all
        env = b.BlockEnv(chain_id=CHAIN_ID, height=height, time_ns=GENESIS_NS + height * 1_000_000_007,
                         proposer_address=val.consensus_address, hash=hashlib.sha256(
                             b"block-%d" % height).digest())
        out = app.finalize_block(b.FinalizeBlockRequest(env=env, txs=tuple(txs),
                                                        decided_last_commit=b.CommitInfo(0, ())))
        app.commit()
        for i, a in enumerate(addrs):  # the chain's view of each sequence
            r = app.query(b.QueryRequest(path=f"/account/{bech32_address(a, 'side')}", data=b"", height=0,
                                         prove=False))
            seq[i] = json.loads(r.value)["sequence"]
        blocks.append({
            "height": height, "time_ns": env.time_ns, "proposer": env.proposer_address.hex(), "hash": env.hash.hex(),
            "txs": [t.hex() for t in txs],
            "results": [[r.code, r.codespace, events_digest(r.events)] for r in out.tx_results],
            "events": events_digest(out.events),
            "app_hash": out.app_hash.hex(),
        })
    return {"chain_id": CHAIN_ID, "genesis_time_ns": GENESIS_NS, "app_state": app_state,
            "init_app_hash": init.app_hash.hex(), "blocks": blocks}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    data = record()
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    ok = sum(1 for blk in data["blocks"] for r in blk["results"] if r[0] == 0)  # type: ignore[index, union-attr]
    total = sum(len(blk["results"]) for blk in data["blocks"])  # type: ignore[index, union-attr, arg-type]
    print(f"recorded {len(data['blocks'])} blocks, {total} txs ({ok} ok) -> {args.out}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
