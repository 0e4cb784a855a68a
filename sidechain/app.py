"""The state machine's lifecycle: consensus calls in, the block function and the store underneath.

Block lifecycle (ARCHITECTURE.md):
* `init_chain` once: every module's genesis is written into the store's working state (nothing on
  disk yet); the validator set the modules' genesis gives goes back to CometBFT.
* `prepare_proposal` / `process_proposal`: each tx is checked (stateless, then stateful) on a
  throwaway branch of the *committed* state, in block order.
* `finalize_block`: the block function (sidechain/block.py) runs the block's steps on a staging
  branch of the working state, which is then written into the store's working state, whose root
  is the app hash.
* `commit`: the store writes the working state, the height and the app hash in one synced batch.
* `check_tx` runs on its own check-state, a branch of the committed state reset after each commit
  (CometBFT then rechecks the mempool against it, without verifying signatures again).
Nothing reaches the disk before `commit`, so a crash in between loses nothing: CometBFT replays the
block after `info` reports the last committed height.

This class keeps the lifecycle guards and the persistence; what a block does is in
sidechain/block.py, what a tx does in sidechain/txflow.py, and the modules come from
sidechain/module.py (`CHAIN`, or another `ModuleSet` given to the constructor).

Metadata outside the authenticated state (same LevelDB, same write batch as the store's):
    "app/height", "app/app_hash", "app/chain_id"
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from bridge.module.observe import NO_OBSERVER, BridgeSigner, L1Observer, ValidatorLocal
from sidechain import blocks as b
from sidechain import txflow
from sidechain.block import KEY_CHAIN_ID, finalize_block, last_block
from sidechain.env import ChainRules, TxEnv, next_block_env
from sidechain.errors import ConsensusFailure, InvalidGenesis, InvalidInput
from sidechain.extcommit import (
    CommitTxError,
    CommitTxFromUser,
    check_commit,
    decode_commit_tx,
    encode_commit_tx,
    is_commit_tx,
)
from sidechain.module import CHAIN, ModuleSet
from sidechain.recheck import RecheckMemo, same_tx_rules
from sidechain.snapshots import SnapshotManager, StateRestore, check_offer, install_restored, restore_area
from sidechain.store import CacheKV, LevelDBBackend, MemoryBackend, MerkleStore, StoreError
from sidechain.store.api import KVReader, prefix_end
from sidechain.store.errors import SnapshotInvalid, SnapshotRootMismatch
from sidechain.tx import DecodedTx, failed_result

log = logging.getLogger("sidechain.app")

APP_VERSION = 1
SOFTWARE_VERSION = "0.1.0"
DEFAULT_KEEP_VERSIONS = 100

META_HEIGHT = b"app/height"
META_APP_HASH = b"app/app_hash"
META_CHAIN_ID = b"app/chain_id"


class ApplicationAPI(Protocol):
    """What the ABCI adapter calls. Every method is synchronous and called one at a time."""

    @property
    def chain_id(self) -> str: ...

    def info(self) -> b.AppInfo: ...
    def init_chain(self, req: b.InitChainRequest) -> b.InitChainResponse: ...
    def check_tx(self, tx: bytes, recheck: bool) -> b.TxResult: ...
    def query(self, req: b.QueryRequest) -> b.QueryResponse: ...
    def prepare_proposal(self, req: b.PrepareProposalRequest) -> list[bytes]: ...
    def process_proposal(self, req: b.ProcessProposalRequest) -> bool: ...
    def extend_vote(self, req: b.ExtendVoteRequest) -> bytes: ...
    def verify_vote_extension(self, req: b.VerifyVoteExtensionRequest) -> bool: ...
    def finalize_block(self, req: b.FinalizeBlockRequest) -> b.BlockOutput: ...
    def commit(self) -> b.CommitResult: ...
    def list_snapshots(self) -> list[b.Snapshot]: ...
    def offer_snapshot(self, snapshot: b.Snapshot, app_hash: bytes) -> int: ...
    def load_snapshot_chunk(self, height: int, format: int, chunk: int) -> bytes: ...
    def apply_snapshot_chunk(self, index: int, chunk: bytes, sender: str) -> b.ApplyChunkResult: ...


class ChainNotReady(InvalidInput):
    """CheckTx before the first block is committed (there is no committed state to check against)."""

    codespace = "app"
    code = 2


class MempoolFull(InvalidInput):
    """CheckTx while CometBFT's mempool is full (as this app counts it): nothing was checked or
    recorded, the same tx bytes may be sent again once blocks have made room."""

    codespace = "mempool"
    code = 2


class NodeBehind(InvalidInput):
    """CheckTx while this node is catching up (see `Application.behind`): its check-state is an old
    block's, so neither an acceptance nor a "sequence mismatch" would mean anything. Nothing was checked
    or recorded; send the same tx again shortly, or through another node."""

    codespace = "mempool"
    code = 3


# A node that has not taken part in deciding its last block (no PrepareProposal / ProcessProposal for
# that height: block sync, a restart, consensus catch-up) and whose last block's header time is more
# than this far behind its own clock refuses new txs with NodeBehind (`sidechain start` turns it on).
BEHIND_AFTER_NS = 3 * 10**9


class MempoolGauge:
    """The app's own count of what CometBFT's mempool holds: new txs accepted by CheckTx plus the
    rechecks that passed since the last Commit (CometBFT rechecks every tx left after a block, and
    sends no new CheckTx until those are answered, so the count restarts at each Commit).

    Why: CometBFT v0.38 checks the mempool's limits again *after* CheckTx answered code 0 and then
    drops the tx silently (mempool/clist_mempool.go, resCbFirstTime), while the check-state has
    already moved the account's sequence on. Refusing here, before anything is checked, keeps the
    mempool under its limits with no such drop. The count can only be high (a tx CometBFT removed on
    its own), never low, while `recheck` is on; with it off the gauge is disabled (limit 0).
    """

    __slots__ = ("max_txs", "max_bytes", "txs", "bytes")

    def __init__(self, max_txs: int = 0, max_bytes: int = 0) -> None:
        self.max_txs = max_txs  # 0: no limit of ours (CometBFT's own limits still apply)
        self.max_bytes = max_bytes
        self.txs = 0
        self.bytes = 0

    def full(self, size: int) -> MempoolFull | None:
        """The refusal for one more tx of `size` bytes (CometBFT's isFull rule), or None."""
        if self.max_txs and self.txs >= self.max_txs:
            return MempoolFull(f"mempool full ({self.txs} txs, limit {self.max_txs}); retry the same tx shortly")
        if self.max_bytes and self.bytes + size > self.max_bytes:
            return MempoolFull(f"mempool full ({self.bytes} bytes, limit {self.max_bytes}); retry the same tx "
                               "shortly")
        return None

    def add(self, size: int) -> None:
        self.txs += 1
        self.bytes += size

    def reset(self) -> None:
        self.txs = 0
        self.bytes = 0


# Query codes (codespace "query").
QUERY_CODESPACE = "query"
QUERY_UNKNOWN_PATH = 2
QUERY_BAD_REQUEST = 3
QUERY_HEIGHT_UNAVAILABLE = 4
QUERY_NOT_FOUND = 5


OK_RESULT = b.TxResult()


def tx_proto_size(n: int) -> int:
    """Bytes a tx of n bytes takes in CometBFT's size accounting (field tag + uvarint length + data)."""
    size = 1 + n
    while True:
        size += 1
        n >>= 7
        if not n:
            return size


class Application:
    """The sidechain state machine.

    `modules` is the chain's module set (default: `sidechain.module.CHAIN`); `tree` picks the
    store's Merkle tree implementation (`native`, `python` or `auto`, from app.toml `store.tree`).
    """

    def __init__(self, data_dir: Path | None = None, keep_versions: int = DEFAULT_KEEP_VERSIONS, *,
                 modules: ModuleSet = CHAIN, tree: str | None = None,
                 observer: L1Observer = NO_OBSERVER, signer: BridgeSigner | None = None) -> None:
        self.modules = modules
        # What this validator's L1 watcher has seen (bridge/watcher.py), and its bridge key (app.toml
        # [bridge] key_file): used in ExtendVote only, never in what the state machine decides.
        self.observer = observer
        self.signer = signer
        if data_dir is None:
            self._backend: MemoryBackend | LevelDBBackend = MemoryBackend()
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._backend = LevelDBBackend(str(data_dir / "state.db"))
        self.store = MerkleStore(self._backend, keep_versions=keep_versions, tree=tree)
        raw_h = self._backend.get(META_HEIGHT)
        self._last_height = int.from_bytes(raw_h, "big") if raw_h else 0
        self._last_app_hash = self._backend.get(META_APP_HASH) or b""
        self._chain_id = (self._backend.get(META_CHAIN_ID) or b"").decode()
        if self._last_height and (self.store.version != self._last_height or self.store.root != self._last_app_hash):
            raise ConsensusFailure(
                f"store is at version {self.store.version} with root {self.store.root.hex()} but the app "
                f"recorded height {self._last_height} with hash {self._last_app_hash.hex()}: database corrupt"
            )
        self.sig_cache = txflow.SignatureCache(self._chain_id or "-")
        self._rules: ChainRules | None = None  # the tx rules of the committed state (or of genesis)
        self._check_state: CacheKV | None = None
        self._check_env: TxEnv | None = None
        self._staged: b.CommitResult | None = None
        self._genesis_staged = False
        self.mempool = MempoolGauge()
        self.recheck_memo = RecheckMemo()
        self.verifier = txflow.ParallelVerifier()
        if self._last_height:
            self._after_commit()

    # -- handshake ------------------------------------------------------------------------------

    @property
    def chain_id(self) -> str:
        return self._chain_id

    @property
    def last_height(self) -> int:
        return self._last_height

    @property
    def last_app_hash(self) -> bytes:
        return self._last_app_hash

    def info(self) -> b.AppInfo:
        return b.AppInfo(
            version=SOFTWARE_VERSION,
            app_version=APP_VERSION,
            last_block_height=self._last_height,
            last_block_app_hash=self._last_app_hash,
        )

    def init_chain(self, req: b.InitChainRequest) -> b.InitChainResponse:
        if self._last_height != 0:
            raise ConsensusFailure(f"InitChain on a chain already at height {self._last_height}")
        if self.store.has_changes():
            raise ConsensusFailure("InitChain with uncommitted state already staged")
        try:
            app_state = json.loads(req.app_state_bytes or b"{}")
        except ValueError as e:
            raise ConsensusFailure(f"genesis app_state is not valid JSON: {e}") from None
        if not isinstance(app_state, dict):
            raise ConsensusFailure("genesis app_state must be a JSON object")
        try:
            genesis = self.modules.parse_genesis(app_state)
        except InvalidGenesis as e:
            raise ConsensusFailure(f"invalid genesis: {e}") from None
        staging = CacheKV(self.store)
        try:
            updates = self.modules.init_genesis(
                staging, genesis, req.chain_id, req.initial_height, req.time_ns,
                req.consensus_params.vote_extensions_enable_height)
        except InvalidGenesis as e:
            raise ConsensusFailure(f"invalid genesis: {e}") from None
        if not updates:
            if not req.validators:
                raise ConsensusFailure("genesis has no validators: list them in app_state.staking.validators")
            updates = req.validators
        staging.set(KEY_CHAIN_ID, req.chain_id.encode())
        self._chain_id = req.chain_id
        self.sig_cache = txflow.SignatureCache(req.chain_id)
        staging.write()
        self._genesis_staged = True
        self._rules = self.modules.rules(self.store, req.chain_id)
        root = self.store.working_root()
        log.info("InitChain chain_id=%s initial_height=%d validators=%d", req.chain_id, req.initial_height,
                 len(updates))
        return b.InitChainResponse(app_hash=root, validators=updates)

    def _chain_rules(self) -> ChainRules:
        if self._rules is None:
            raise ConsensusFailure("no chain: InitChain has not run")
        return self._rules

    def _after_commit(self) -> None:
        """A new committed state: the rules, a fresh check-state (CometBFT rechecks its mempool next)."""
        committed = self.store.committed()
        previous_rules = self._rules
        self._rules = self.modules.rules(committed, self._chain_id)
        self.recheck_memo.new_pass(same_tx_rules(previous_rules, self._rules))
        if self.sig_cache.chain_id != self._chain_id:
            self.sig_cache = txflow.SignatureCache(self._chain_id)
        self._check_state = CacheKV(committed)
        _height, time_ns = last_block(committed)
        self._last_block_time_ns = time_ns
        self._check_env = TxEnv(next_block_env(self._chain_id, self._last_height + 1, time_ns), self._rules)
        self.mempool.reset()  # CometBFT now rechecks what is left; each recheck that passes counts again
        if self.modules.vote_extender is not None:
            self.modules.vote_extender.after_commit(committed, self._last_height,
                                                   ValidatorLocal(self.observer, self.signer))

    # -- mempool --------------------------------------------------------------------------------

    def set_mempool_limits(self, max_txs: int, max_bytes: int) -> None:
        """CometBFT's [mempool] size and max_txs_bytes (0: no limit of the app's own; see MempoolGauge)."""
        self.mempool.max_txs = max_txs
        self.mempool.max_bytes = max_bytes

    # Catching-up detection (CheckTx only, never consensus): see `behind`.
    behind_after_ns = 0  # 0: never refuse (the default in process); `sidechain start` sets BEHIND_AFTER_NS
    clock = staticmethod(time.time_ns)  # the local wall clock (tests replace it)
    _proposal_height = 0  # the last height this process saw in PrepareProposal / ProcessProposal
    _last_block_time_ns = 0  # header time of the last committed block

    def behind(self) -> NodeBehind | None:
        """The refusal for new txs while this node is catching up, or None.

        Live: consensus asked this process about the last committed height or the next one (it took
        part in deciding its last block, so its check-state is as fresh as any validator's). A node
        that is not live (block sync after a restart or an outage, state sync, consensus catch-up, a
        full node that went straight to commit) is still taken as current while its last block's
        header time (BFT time) is within `behind_after_ns` of the local clock."""
        if not self.behind_after_ns or self._proposal_height >= self._last_height:
            return None
        lag = self.clock() - self._last_block_time_ns
        if lag <= self.behind_after_ns:
            return None
        return NodeBehind(f"this node is catching up (its last block, {self._last_height}, is {lag / 1e9:.1f}s "
                          "old): retry the same tx shortly or through another node")

    def check_tx(self, tx: bytes, recheck: bool) -> b.TxResult:
        if self._check_state is None or self._check_env is None:
            return failed_result(ChainNotReady("the chain has not committed its first block yet; retry shortly"))
        if recheck:
            return self._recheck(tx)
        behind = self.behind()
        if behind is not None:
            return failed_result(behind)
        full = self.mempool.full(len(tx))
        if full is not None:
            return failed_result(full)
        return self._check_new(tx)

    def _check_new(self, tx: bytes) -> b.TxResult:
        env = self._check_env
        assert env is not None and self._check_state is not None
        if is_commit_tx(tx):
            return failed_result(CommitTxFromUser("an extended-commit tx is put in a block by its proposer only; "
                                                  "it cannot be sent"))
        state = self._check_state
        try:
            decoded = txflow.check_stateless(
                tx, env.rules, self.sig_cache,
                # the ante step's read-only checks first: see check_stateless
                precheck=lambda t: env.rules.ante.check(state, t, env.height))
            self.recheck_memo.check(state, decoded, env, recheck=False)
        except InvalidInput as e:
            return failed_result(e)
        self.mempool.add(len(tx))
        return OK_RESULT

    def preverify_check_txs(self, txs: Sequence[bytes]) -> None:
        """New txs about to be CheckTx'd one by one (one turn of the mempool connection): verify, in
        parallel, the signatures of those that may pass, so that their CheckTx finds them verified.

        Speed only (see txflow.ParallelVerifier). Nothing while this node refuses new txs (no chain
        yet, catching up, mempool full), no more than the mempool has room for, and only txs whose
        sequence is their account's next one in the check-state, or follows the previous tx of that
        account in `txs` (a tx that cannot pass is refused without a verification, see
        txflow.check_stateless's precheck)."""
        env, state = self._check_env, self._check_state
        if env is None or state is None or self.behind() is not None or self.mempool.full(0) is not None:
            return
        rules, cache = env.rules, self.sig_cache
        if cache.chain_id != rules.chain_id:
            return

        room = self.mempool.max_txs - self.mempool.txs if self.mempool.max_txs else len(txs)

        def candidates() -> Iterator[DecodedTx]:
            following: dict[bytes, int] = {}  # signer -> the sequence after its last tx in this batch
            taken = 0
            for tx in self.verifier.uncached(txs, rules, cache):
                if taken >= room:
                    return  # the rest would be refused as "mempool full" (by count) anyway
                expected = following.get(tx.signer)
                if expected is None:
                    try:
                        rules.ante.check(state, tx, env.height)
                    except InvalidInput:
                        continue
                elif tx.sequence != expected:
                    continue
                following[tx.signer] = tx.sequence + 1
                taken += 1
                yield tx

        self.verifier.verify(candidates(), rules, cache)

    def _recheck(self, tx: bytes) -> b.TxResult:
        """A tx left in the mempool after a block, against the fresh check-state (never verified again)."""
        env = self._check_env
        assert env is not None and self._check_state is not None
        try:
            decoded = txflow.check_stateless(tx, env.rules, self.sig_cache, recheck=True)
            self.recheck_memo.check(self._check_state, decoded, env, recheck=True)
        except InvalidInput as e:
            return failed_result(e)
        self.mempool.add(len(tx))
        return OK_RESULT

    # -- proposals ------------------------------------------------------------------------------

    # (committed height, env without the hash, txs) of the last PrepareProposal's answer
    _prepared: tuple[int, b.BlockEnv, tuple[bytes, ...]] | None = None

    def _proposal_env(self, env: b.BlockEnv) -> tuple[CacheKV, TxEnv]:
        if env.height != self._last_height + 1:
            raise ConsensusFailure(f"proposal for height {env.height} while at height {self._last_height}")
        self._proposal_height = env.height  # in consensus at this height: see `behind`
        base: KVReader = self.store if self._genesis_staged else self.store.committed()
        return CacheKV(base), TxEnv(env, self._chain_rules())

    def _commit_required(self, state: KVReader, height: int) -> bool:
        ve = self.modules.vote_extender
        return ve is not None and ve.extended_commit_required(state, height)

    def prepare_proposal(self, req: b.PrepareProposalRequest) -> list[bytes]:
        branch, env = self._proposal_env(req.env)
        out: list[bytes] = []
        used = 0
        if self._commit_required(branch, req.env.height):
            commit_tx = encode_commit_tx(req.env.height - 1, req.local_last_commit)
            out.append(commit_tx)
            used += tx_proto_size(len(commit_tx))
        for raw in req.txs:
            if is_commit_tx(raw):
                continue
            size = tx_proto_size(len(raw))
            if used + size > req.max_tx_bytes:
                continue  # a smaller tx further on may still fit
            try:
                decoded = txflow.check_stateless(raw, env.rules, self.sig_cache)
                txflow.check_stateful(branch, decoded, env)
            except InvalidInput:
                continue
            out.append(raw)
            used += size
        self._prepared = (self._last_height, dataclasses.replace(req.env, hash=b""), tuple(out))
        return out

    def process_proposal(self, req: b.ProcessProposalRequest) -> bool:
        branch, env = self._proposal_env(req.env)
        txs = req.txs
        if self._commit_required(branch, req.env.height):
            try:
                self._check_commit_tx(branch, req.env.height, txs)
            except CommitTxError as e:
                log.warning("rejecting proposal at height %d: %s", req.env.height, e)
                return False
            txs = txs[1:]
        if self._prepared == (self._last_height, dataclasses.replace(req.env, hash=b""), tuple(req.txs)):
            # This node's own proposal: PrepareProposal checked exactly these txs, in this order, on this
            # committed state with this env and these rules, so every one passes again (it is the same
            # deterministic computation); only the extended commit above is checked here.
            return True
        self.verifier.verify_raw(txs, env.rules, self.sig_cache)  # those not seen in CheckTx, in parallel
        for i, raw in enumerate(txs):
            if is_commit_tx(raw):
                log.warning("rejecting proposal at height %d: an extended commit out of place (tx %d)",
                            req.env.height, i)
                return False
            try:
                decoded = txflow.check_stateless(raw, env.rules, self.sig_cache)
                txflow.check_stateful(branch, decoded, env)
            except InvalidInput as e:
                log.warning("rejecting proposal at height %d: tx %d: %s", req.env.height, i, e)
                return False
        return True

    def _check_commit_tx(self, state: KVReader, height: int, txs: Sequence[bytes]) -> None:
        """CommitTxError unless txs[0] is the extended commit of height - 1 by its validator set."""
        if not txs or not is_commit_tx(txs[0]):
            raise CommitTxError(f"the block does not start with the extended commit of height {height - 1}")
        source = self.modules.validator_source
        members = None if source is None else source.consensus_members(state, height - 1)
        if members is None:
            raise CommitTxError(f"the validator set of height {height - 1} is not known")
        check_commit(decode_commit_tx(txs[0]), height - 1, self._chain_id, members)

    def _vote_state(self, height: int) -> KVReader | None:
        """The committed state votes of `height` are made on (that of height - 1), if the app is there."""
        if self._last_height != height - 1 or self._staged is not None:
            return None
        return self.store if self._genesis_staged else self.store.committed()

    def extend_vote(self, req: b.ExtendVoteRequest) -> bytes:
        ve = self.modules.vote_extender
        state = self._vote_state(req.env.height)
        if ve is None or state is None:
            return b""
        return ve.extend_vote(state, req.env.height, ValidatorLocal(self.observer, self.signer), req.txs)

    def verify_vote_extension(self, req: b.VerifyVoteExtensionRequest) -> bool:
        ve = self.modules.vote_extender
        state = self._vote_state(req.height)
        if ve is None:
            return req.vote_extension == b""
        if state is None:
            # Not at that height (CometBFT verifies current-height votes only): nothing to judge by.
            log.warning("vote extension for height %d while at height %d: refused", req.height, self._last_height)
            return False
        ok = ve.verify_vote_extension(state, req.height, req.validator_address, req.vote_extension)
        if not ok:
            log.warning("refusing the vote extension of %s at height %d", req.validator_address.hex().upper(),
                        req.height)
        return ok

    # -- execution ------------------------------------------------------------------------------

    def finalize_block(self, req: b.FinalizeBlockRequest) -> b.BlockOutput:
        env = dataclasses.replace(req.env, last_commit=req.decided_last_commit, misbehavior=req.misbehavior)
        if self._last_height and env.height != self._last_height + 1:
            raise ConsensusFailure(f"FinalizeBlock for height {env.height}, expected {self._last_height + 1}")
        if not self._last_height and not self._genesis_staged:
            raise ConsensusFailure("FinalizeBlock before InitChain")
        if self._staged is not None:
            # CometBFT commits every block it finalizes; a replay after a crash runs in a new process.
            raise ConsensusFailure(f"FinalizeBlock for height {env.height} before height "
                                   f"{self._staged.height} was committed")
        staging = CacheKV(self.store)
        rules = self._chain_rules()
        self.verifier.verify_raw(req.txs, rules, self.sig_cache)  # any not verified yet, in parallel
        out = finalize_block(staging, env, req.txs, self.modules, rules, self.sig_cache)
        staging.write()
        app_hash = self.store.working_root()
        self._staged = b.CommitResult(
            height=env.height, app_hash=app_hash, num_txs=len(req.txs), time_ns=env.time_ns,
            failed_txs=sum(1 for r in out.tx_results if r.code != 0),
        )
        return dataclasses.replace(out, app_hash=app_hash)

    def commit(self) -> b.CommitResult:
        staged = self._staged
        if staged is None:
            raise ConsensusFailure("Commit without a finalized block")
        root = self.store.commit(staged.height, extra_writes=[
            (META_HEIGHT, staged.height.to_bytes(8, "big")),
            (META_APP_HASH, staged.app_hash),
            (META_CHAIN_ID, self._chain_id.encode()),
        ])
        if root != staged.app_hash:
            raise ConsensusFailure(f"committed root {root.hex()} differs from the finalized {staged.app_hash.hex()}")
        self._last_height = staged.height
        self._last_app_hash = staged.app_hash
        self._staged = None
        self._genesis_staged = False
        self._after_commit()
        return staged

    def staged_height(self) -> int | None:
        """The height finalized and not yet committed, if any."""
        return None if self._staged is None else self._staged.height

    # -- queries --------------------------------------------------------------------------------

    def query(self, req: b.QueryRequest) -> b.QueryResponse:
        """Paths (data is unused unless stated):
        /app/info                      chain id, height and app hash (JSON)
        /app/routes                    every module's query routes, with their usage (JSON)
        /params                        every module's params, by module name (JSON)
        /store/key                     raw value at key `data`; provable
        /<route>/<args...>             a module's route (`sidechain query routes` lists them), e.g.
                                       /account/<address>, /balance/<address>/<denom> (provable),
                                       /balances/<address>, /supply
        `height` 0 means the last committed height; any of the last `keep_versions` heights work.
        With `prove`, the proof is against the app hash of that height (in header height+1)."""
        if not self._last_height:
            return _qerr(QUERY_HEIGHT_UNAVAILABLE, "no block committed yet", 0)
        height = req.height or self._last_height
        if height > self._last_height or height < self.store.oldest_version:
            return _qerr(QUERY_HEIGHT_UNAVAILABLE,
                         f"height {height} is not available (kept: {self.store.oldest_version}-{self._last_height})",
                         self._last_height)
        try:
            reader: KVReader = (self.store.committed() if height == self._last_height
                                else self.store.reader_at(height))
            return self._query(req, reader, height)
        except InvalidInput as e:
            return _qerr(QUERY_BAD_REQUEST, str(e), height)
        except StoreError as e:
            return _qerr(QUERY_HEIGHT_UNAVAILABLE, str(e), height)

    def _query(self, req: b.QueryRequest, reader: KVReader, height: int) -> b.QueryResponse:
        parts = [p for p in req.path.split("/") if p]
        if parts == ["app", "info"]:
            data = {"chain_id": self._chain_id, "height": self._last_height, "app_hash": self._last_app_hash.hex()}
            return _qjson(data, height)
        if parts == ["app", "routes"]:
            routes = [{"path": f"/{r.name}", "module": module, "usage": r.usage}
                      for module, r in self.modules.query_routes()]
            return _qjson({"routes": routes}, height)
        if parts == ["params"]:
            return _qjson(self.modules.params_json(reader), height)
        if parts == ["store", "key"]:
            value = reader.get(req.data)
            return self._provable(req, req.data, value, None, height)
        route = self.modules.query_route(parts[0]) if parts else None
        if route is None or not route.takes(len(parts) - 1):
            return _qerr(QUERY_UNKNOWN_PATH, f"unknown query path {req.path!r}", height)
        rules = self._chain_rules() if height == self._last_height else self.modules.rules(reader, self._chain_id)
        answer = route.handler(reader, parts[1:], rules)
        if answer.key is None:
            return _qjson(answer.body, height)
        return self._provable(req, answer.key, reader.get(answer.key), answer.body, height)

    def _provable(self, req: b.QueryRequest, key: bytes, raw: bytes | None, body: Mapping[str, object] | None,
                  height: int) -> b.QueryResponse:
        """The decoded body (or the raw value) as `value`, the state key as `key`, and with `prove`
        a proof of `key` -> raw value (or its absence) against the app hash of `height`."""
        ops: tuple[b.ProofOp, ...] = ()
        if req.prove:
            proved, proof = self.store.prove(height, key)
            if proved != raw:
                raise ConsensusFailure(f"proof at {height} disagrees with the state for key {key.hex()}")
            ops = tuple(proof)
        value = json.dumps(body, sort_keys=True).encode() if body is not None else (raw or b"")
        info = "" if body is None else (raw or b"").hex()  # the raw stored value, to check a proof
        code = 0 if raw is not None or body is not None else QUERY_NOT_FOUND
        return b.QueryResponse(code=code, codespace=QUERY_CODESPACE if code else "", key=key, value=value,
                               height=height, proof_ops=ops, info=info,
                               log="" if code == 0 else "no value at this key")

    # -- state sync (sidechain/snapshots.py; the format and the flow: docs/STATESYNC.md) -------------

    _snapshots: SnapshotManager | None = None
    _restore: StateRestore | None = None

    def enable_snapshots(self, manager: SnapshotManager) -> None:
        """Serve `manager`'s snapshots and hand it the committed state at every due height."""
        self._snapshots = manager

    def snapshot_after_commit(self) -> bool:
        """Called right after Commit (on the app's thread, before the next block): if the height is due,
        give the snapshot manager a frozen view of the database as this commit left it. True if taken."""
        manager = self._snapshots
        if manager is None or self._staged is not None or not manager.due(self._last_height):
            return False
        view = self._backend.snapshot(self.store.flat_prefix, prefix_end(self.store.flat_prefix))
        return manager.take(self._last_height, self._last_app_hash, view)

    def list_snapshots(self) -> list[b.Snapshot]:
        return [] if self._snapshots is None else self._snapshots.list()

    def load_snapshot_chunk(self, height: int, format: int, chunk: int) -> bytes:
        return b"" if self._snapshots is None else self._snapshots.load_chunk(height, format, chunk)

    def offer_snapshot(self, snapshot: b.Snapshot, app_hash: bytes) -> int:
        """Accept only a format-1 snapshot whose metadata claims the app hash CometBFT's light client
        verified; the restore goes into a fresh database, whatever this node held before."""
        if self._staged is not None:
            log.warning("state sync: snapshot offered with block %d finalized and not committed", self._staged.height)
            return b.OFFER_ABORT
        result, meta, why = check_offer(snapshot, app_hash)
        if meta is None:
            log.warning("state sync: refusing the snapshot at height %d: %s", snapshot.height, why)
            return result
        self._abandon_restore()
        area = restore_area(Path(self._backend.path)) if isinstance(self._backend, LevelDBBackend) else None
        self._restore = StateRestore(meta, app_hash, area)
        log.info("state sync: restoring the snapshot at height %d (%d chunks, %d keys)", meta.height, meta.chunks,
                 meta.keys)
        return b.OFFER_ACCEPT

    def apply_snapshot_chunk(self, index: int, chunk: bytes, sender: str) -> b.ApplyChunkResult:
        restore = self._restore
        if restore is None:  # e.g. this process restarted mid-restore: CometBFT offers the snapshot again
            return b.ApplyChunkResult(result=b.APPLY_RETRY_SNAPSHOT)
        outcome = restore.apply(index, chunk, sender)
        if outcome.result.result in (b.APPLY_REJECT_SNAPSHOT, b.APPLY_RETRY_SNAPSHOT):
            self._abandon_restore()
        if not outcome.complete:
            return outcome.result
        try:
            self._install_restore(restore)
        except (SnapshotRootMismatch, SnapshotInvalid) as e:
            log.warning("state sync: snapshot at height %d refused: %s", restore.meta.height, e)
            self._abandon_restore()
            return b.ApplyChunkResult(result=b.APPLY_REJECT_SNAPSHOT)
        return outcome.result

    def _abandon_restore(self) -> None:
        if self._restore is not None:
            self._restore.discard()
            self._restore = None

    def _install_restore(self, restore: StateRestore) -> None:
        """Verify the restored state against the trusted app hash, then make it the live database and
        reload everything the app keeps about the committed state from it."""
        height = restore.meta.height
        chain_id = restore.read(KEY_CHAIN_ID)
        if not chain_id:
            raise SnapshotInvalid("the snapshot holds no chain id")
        root = restore.finish([
            (META_HEIGHT, height.to_bytes(8, "big")),
            (META_APP_HASH, restore.trusted_app_hash),
            (META_CHAIN_ID, chain_id),
        ], tree=self.store.tree_impl)
        if self._snapshots is not None:
            self._snapshots.wait()  # its view reads the database about to be replaced
        keep, tree = self.store.keep_versions, self.store.tree_impl
        if isinstance(self._backend, LevelDBBackend):
            live = Path(self._backend.path)
            restore.target.close()
            self._backend.close()
            install_restored(restore_area(live), live)
            self._backend = LevelDBBackend(str(live))
        else:
            self._backend = restore.target  # type: ignore[assignment]
        self._restore = None
        self.store = MerkleStore(self._backend, keep_versions=keep, tree=tree)  # checks the root again
        self._last_height = height
        self._last_app_hash = root
        self._chain_id = chain_id.decode()
        self._staged = None
        self._genesis_staged = False
        self._after_commit()
        log.info("state sync: restored height %d, app hash %s, chain %s", height, root.hex(), self._chain_id)

    def compact_storage(self) -> None:
        """Compact the LevelDB files now (after a bulk import; LevelDB otherwise compacts in the background)."""
        if isinstance(self._backend, LevelDBBackend):
            self._backend.compact()

    def close(self) -> None:
        self.verifier.close()
        self._backend.close()


def _qerr(code: int, message: str, height: int) -> b.QueryResponse:
    return b.QueryResponse(code=code, codespace=QUERY_CODESPACE, log=message, height=height)


def _qjson(data: object, height: int) -> b.QueryResponse:
    return b.QueryResponse(value=json.dumps(data, sort_keys=True).encode(), height=height)
