"""Cost of the proof-of-stake steps per block (no CometBFT): at 4 and 100 validators with 10,000
delegators, every validator signing the last commit (so rewards go to all of them), each step of
the staking module timed on its own on a branch of the committed state, and FinalizeBlock of an
empty block as a whole.

    python -m tests.bench.bench_pos --out bench-results/bench-pos.json [--delegators 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sidechain import blocks as b
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from sidechain.store import CacheKV
from tests.support.pos import validator_keys
from tests.unit.validators.chain import POWER, TEST_PARAMS, PosChain, addr_of, delegator_key
from validators import slashing as sl
from validators import staking as sk
from validators.module import process_rewards

STEPS = ("rewards", "evidence", "downtime", "unbonding", "redelegations", "validator_queue", "validator_set")


def build(n_validators: int, n_delegators: int) -> PosChain:
    params = json.loads(json.dumps(TEST_PARAMS))
    params["staking"]["max_validators"] = 100
    params["slashing"]["signed_blocks_window"] = 100
    c = PosChain(n_validators, n_delegators, params)
    c.block()
    txs = []
    for i in range(n_delegators):
        d = delegator_key(i)
        txs.append(c.tx(d, "staking.MsgDelegate", pb.MsgDelegate(
            delegator=addr_of(d), validator=validator_keys(i % n_validators).operator, amount=str(POWER))))
        if len(txs) == 1000:
            c.block(txs)
            txs = []
    if txs:
        c.block(txs)
    c.run(3)
    return c


def time_steps(c: PosChain, rounds: int) -> dict[str, float]:
    h = c.app.last_height + 1
    members = sorted(c.set_at(h - 1).members, key=lambda m: validator_keys(0).consensus_address)
    from validators.state import consensus_address

    votes = tuple(b.VoteInfo(b.Validator(consensus_address(m.consensus_pubkey), m.power), b.BLOCK_ID_FLAG_COMMIT)
                  for m in members)
    env = b.BlockEnv(chain_id="pos-test-1", height=h, time_ns=c.time_ns + 5 * 10**9,
                     proposer_address=validator_keys(0).consensus_address, last_commit=b.CommitInfo(0, votes))
    module = c.app.modules.module("staking")
    samples: dict[str, list[float]] = {s: [] for s in STEPS}
    for _ in range(rounds):
        branch = CacheKV(c.app.store.committed())
        ctx = module.ctx(branch, env)  # type: ignore[attr-defined]
        steps: tuple[tuple[str, Callable[[sk.Ctx], object]], ...] = (
            ("rewards", lambda x: process_rewards(x, env)),
            ("evidence", lambda x: sl.process_evidence(x, env)),
            ("downtime", lambda x: sl.process_downtime(x, env)),
            ("unbonding", sk.process_unbonding_queue),
            ("redelegations", sk.process_redelegation_queue),
            ("validator_queue", sk.process_validator_queue),
            ("validator_set", lambda x: sk.process_validator_set(x, h + 2)))
        for name, fn in steps:
            t0 = time.perf_counter()
            fn(ctx)
            samples[name].append((time.perf_counter() - t0) * 1e3)
    out = {s: round(statistics.median(v), 3) for s, v in samples.items()}
    out["total_ms"] = round(sum(out[s] for s in STEPS), 3)
    fin = []
    for _ in range(rounds):
        h = c.app.last_height + 1
        c.time_ns += 5 * 10**9
        block_env = b.BlockEnv(chain_id="pos-test-1", height=h, time_ns=c.time_ns,
                               proposer_address=validator_keys(0).consensus_address)
        t0 = time.perf_counter()
        c.app.finalize_block(b.FinalizeBlockRequest(env=block_env, txs=(), decided_last_commit=b.CommitInfo(0, votes)))
        c.app.commit()
        fin.append((time.perf_counter() - t0) * 1e3)
    out["empty_block_finalize_and_commit_ms"] = round(statistics.median(fin), 3)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--delegators", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args(argv)
    results = {}
    for n in (4, 100):
        t = time.perf_counter()
        c = build(n, args.delegators)
        print(f"{n} validators, {args.delegators} delegators: built in {time.perf_counter() - t:.1f}s", flush=True)
        r = time_steps(c, args.rounds)
        results[str(n)] = r
        print("  " + ", ".join(f"{k} {v} ms" for k, v in r.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"delegators": args.delegators, "validators": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
