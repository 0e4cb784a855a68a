"""One block: the state transition FinalizeBlock applies, as named steps in a written-out order.

    finalize_block(state, env, txs, modules, cache) -> BlockOutput

    0. extended_commit  when the chain's vote extensions require it, the block's first tx is the
                      extended commit of the height before (sidechain/extcommit.py, checked by
                      ProcessProposal); it is decoded into `env.extended_commit` for the steps
    1. begin_block    each module's begin-block step, in module order (staking: rewards, evidence,
                      downtime; bridge: L1 events attested in the extended commit)
    2. transactions   each tx in block order: check_stateless (through the signature cache), the ante
                      step, then its messages (sidechain/txflow.py); a failing tx is a result, never
                      an exception
    3. end_block      each module's end-block step, in module order (staking: unbonding, the
                      validator set)
    4. collect_fees   the fees the block's txs paid go to the fee pool, one write per denom
    5. record_block   the block's height and header time, in the app's own keys

`env` carries what consensus decided about the block: chain id, height, header time, proposer, the
last commit's votes and the misbehaviour it reports. `state` is a staging branch of the working
state: the caller writes it to the store, whose root is then the app hash. Nothing here reads a
clock, the network or the environment (ARCHITECTURE.md, Determinism).

App-level store keys (prefixes 0xF0-0xFF, see sidechain/module.py for the modules'):
    0xF0 | "last_block"  ->  height (8 bytes BE) || header time in ns (8 bytes BE)
    0xF1                 ->  chain id (UTF-8), written at genesis
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import replace

from sidechain import txflow
from sidechain.blocks import BlockEnv, BlockOutput, Event, TxResult, ValidatorUpdate
from sidechain.env import ChainRules, CollectedFees, TxEnv
from sidechain.extcommit import CommitTxError, decode_commit_tx, is_commit_tx
from sidechain.module import ModuleSet
from sidechain.store.api import KVReader, KVStore
from sidechain.tx import failed_result

KEY_LAST_BLOCK = b"\xf0last_block"
KEY_CHAIN_ID = b"\xf1"


def finalize_block(state: KVStore, env: BlockEnv, txs: Sequence[bytes], modules: ModuleSet,
                   rules: ChainRules, cache: txflow.SignatureCache | None = None) -> BlockOutput:
    """Apply one block to `state` (see the module docstring for the steps)."""
    events: list[Event] = []
    updates: list[ValidatorUpdate] = []
    env, commit_results, txs = process_extended_commit(state, env, txs, modules)
    process_begin_block(state, env, modules, events)
    tx_env = TxEnv(env, rules, CollectedFees())
    results = commit_results + process_transactions(state, txs, tx_env, cache)
    process_end_block(state, env, modules, events, updates)
    process_collect_fees(state, tx_env.fees, modules)
    process_record_block(state, env)
    return BlockOutput(tx_results=results, events=tuple(events), validator_updates=tuple(updates))


def process_extended_commit(state: KVReader, env: BlockEnv, txs: Sequence[bytes], modules: ModuleSet
                            ) -> tuple[BlockEnv, tuple[TxResult, ...], Sequence[bytes]]:
    """(env with the extended commit, the commit tx's result, the user txs that follow)."""
    ve = modules.vote_extender
    if ve is None or not txs or not is_commit_tx(txs[0]) or not ve.extended_commit_required(state, env.height):
        return env, (), txs  # a commit tx anywhere else is a user tx, and fails as one
    try:
        commit = decode_commit_tx(txs[0])
    except CommitTxError as e:
        return env, (failed_result(e),), txs[1:]
    return replace(env, extended_commit=commit), (TxResult(),), txs[1:]


def process_begin_block(state: KVStore, env: BlockEnv, modules: ModuleSet, events: list[Event]) -> None:
    for name, step in modules.begin_block_steps:
        out = step(state, env)
        if out.validator_updates:
            raise TypeError(f"module {name}: validator updates come from end-block steps only")
        events.extend(out.events)


def process_transactions(state: KVStore, txs: Sequence[bytes], env: TxEnv,
                         cache: txflow.SignatureCache | None) -> tuple[TxResult, ...]:
    deliver_raw = txflow.deliver_raw
    return tuple(deliver_raw(state, raw, env, cache) for raw in txs)


def process_end_block(state: KVStore, env: BlockEnv, modules: ModuleSet, events: list[Event],
                      updates: list[ValidatorUpdate]) -> None:
    for _name, step in modules.end_block_steps:
        out = step(state, env)
        events.extend(out.events)
        updates.extend(out.validator_updates)


def process_collect_fees(state: KVStore, fees: CollectedFees, modules: ModuleSet) -> None:
    if fees:
        modules.fee_collector.collect_fees(state, fees.coins())
        fees.clear()


def process_record_block(state: KVStore, env: BlockEnv) -> None:
    state.set(KEY_LAST_BLOCK, struct.pack(">QQ", env.height, env.time_ns))


def last_block(state: KVReader) -> tuple[int, int]:
    """(height, header time in ns) of the last block applied to `state`; (0, 0) at genesis."""
    raw = state.get(KEY_LAST_BLOCK)
    if raw is None:
        return 0, 0
    height, time_ns = struct.unpack(">QQ", raw)
    return int(height), int(time_ns)
