"""The state machine: composes the modules and answers consensus, one block at a time.

Block lifecycle (ARCHITECTURE.md):
* `init_chain` once: genesis is written into the store's working state (nothing on disk yet).
* `prepare_proposal` / `process_proposal`: each tx is checked (stateless, then stateful) on a
  throwaway branch of the *committed* state, in block order.
* `finalize_block`: the txs execute on a staging branch of the working state (each tx on its own
  branch inside `txflow.deliver`), the block's fees go to the fee pool, and the staging branch is
  written into the store's working state, whose root is the app hash.
* `commit`: the store writes the working state, the height and the app hash in one synced batch.
* `check_tx` runs on its own check-state, a branch of the committed state reset after each commit
  (CometBFT then rechecks the mempool against it, without verifying signatures again).
Nothing reaches the disk before `commit`, so a crash in between loses nothing: CometBFT replays the
block after `info` reports the last committed height.

App-level store keys (module prefixes: auth 0x01-0x0F, bank 0x10-0x1F, app 0xF0-0xFF):
    0xF0 | "last_block"  ->  height (8 bytes BE) || header time in ns (8 bytes BE)
    0xF1                 ->  chain id (UTF-8)
Metadata outside the authenticated state (same LevelDB, same write batch as the store's):
    "app/height", "app/app_hash", "app/chain_id"
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from sidechain import blocks as b
from sidechain import txflow
from sidechain.auth import state as auth_state
from sidechain.auth.keys import account_key
from sidechain.bank import state as bank_state
from sidechain.bank.keys import balance_key
from sidechain.errors import InvalidGenesis, SidechainError
from sidechain.store import CacheKV, LevelDBBackend, MemoryBackend, MerkleStore, StoreError
from sidechain.store.api import KVReader
from sidechain.tx import failed_result
from sidechain.types import Address, bech32_address, validate_denom
from validators.genesis import InvalidValidatorsGenesis, parse_validators

log = logging.getLogger("sidechain.app")

APP_VERSION = 1
SOFTWARE_VERSION = "0.1.0"
DEFAULT_KEEP_VERSIONS = 100

KEY_LAST_BLOCK = b"\xf0last_block"
KEY_CHAIN_ID = b"\xf1"

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


class ChainNotReady(SidechainError):
    """CheckTx before the first block is committed (there is no committed state to check against)."""

    codespace = "app"
    code = 2


class ConsensusFailure(Exception):
    """The node cannot safely continue (e.g. consensus asked for a height we cannot apply)."""


# Query codes (codespace "query").
QUERY_CODESPACE = "query"
QUERY_UNKNOWN_PATH = 2
QUERY_BAD_REQUEST = 3
QUERY_HEIGHT_UNAVAILABLE = 4
QUERY_NOT_FOUND = 5


def tx_proto_size(n: int) -> int:
    """Bytes a tx of n bytes takes in CometBFT's size accounting (field tag + uvarint length + data)."""
    size = 1 + n
    while True:
        size += 1
        n >>= 7
        if not n:
            return size


class Application:
    """The sidechain state machine."""

    def __init__(self, data_dir: Path | None = None, keep_versions: int = DEFAULT_KEEP_VERSIONS) -> None:
        if data_dir is None:
            self._backend: MemoryBackend | LevelDBBackend = MemoryBackend()
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._backend = LevelDBBackend(str(data_dir / "state.db"))
        self.store = MerkleStore(self._backend, keep_versions=keep_versions)
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
        self._ctx: txflow.TxContext | None = None
        self._check_state: CacheKV | None = None
        self._check_env: txflow.TxEnv | None = None
        self._staged: b.CommitResult | None = None
        self._genesis_staged = False
        if self._last_height:
            self._after_commit()
        # Test hooks for crash-safety tests: die right before writing a block (at a height, or the
        # first block that carries transactions).
        hold = os.environ.get("SIDECHAIN_TEST_CRASH_BEFORE_COMMIT_HEIGHT", "")
        self._crash_before_commit = int(hold) if hold.isdigit() else None
        self._crash_before_commit_with_txs = os.environ.get("SIDECHAIN_TEST_CRASH_BEFORE_COMMIT_WITH_TXS") == "1"

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
        try:
            app_state = json.loads(req.app_state_bytes or b"{}")
        except ValueError as e:
            raise ConsensusFailure(f"genesis app_state is not valid JSON: {e}") from None
        if not isinstance(app_state, dict):
            raise ConsensusFailure("genesis app_state must be a JSON object")
        try:
            gen = txflow.parse_genesis(app_state)
        except InvalidGenesis as e:
            raise ConsensusFailure(f"invalid genesis: {e}") from None
        if "validators" in app_state:
            try:
                validators = parse_validators(app_state["validators"])
            except InvalidValidatorsGenesis as e:
                raise ConsensusFailure(f"invalid genesis: {e}") from None
            updates = tuple(b.ValidatorUpdate("ed25519", v.pub_key, v.power) for v in validators)
        elif req.validators:
            updates = req.validators
        else:
            raise ConsensusFailure("genesis has no validators: set app_state.validators")
        if self.store.has_changes():
            raise ConsensusFailure("InitChain with uncommitted state already staged")
        self._chain_id = req.chain_id
        self.sig_cache = txflow.SignatureCache(req.chain_id)
        staging = CacheKV(self.store)
        txflow.init_genesis(staging, gen)
        staging.set(KEY_CHAIN_ID, req.chain_id.encode())
        staging.write()
        self._genesis_staged = True
        self._ctx = txflow.load_context(self.store, req.chain_id)
        root = self.store.working_root()
        log.info("InitChain chain_id=%s initial_height=%d validators=%d", req.chain_id, req.initial_height,
                 len(updates))
        return b.InitChainResponse(app_hash=root, validators=updates)

    def _context(self) -> txflow.TxContext:
        if self._ctx is None:
            raise ConsensusFailure("no chain: InitChain has not run")
        return self._ctx

    def _after_commit(self) -> None:
        committed = self.store.committed()
        self._ctx = txflow.load_context(committed, self._chain_id)
        if self.sig_cache.chain_id != self._chain_id:
            self.sig_cache = txflow.SignatureCache(self._chain_id)
        self._check_state = CacheKV(committed)
        self._check_env = txflow.TxEnv(self._last_height + 1, self._ctx)

    # -- mempool --------------------------------------------------------------------------------

    def check_tx(self, tx: bytes, recheck: bool) -> b.TxResult:
        if self._check_state is None or self._check_env is None:
            return failed_result(ChainNotReady("the chain has not committed its first block yet; retry shortly"))
        env = self._check_env
        try:
            decoded = txflow.check_stateless(tx, env.ctx, self.sig_cache, recheck=recheck)
            txflow.check_stateful(self._check_state, decoded, env)
        except SidechainError as e:
            return failed_result(e)
        return b.TxResult()

    # -- proposals ------------------------------------------------------------------------------

    def _proposal_env(self, height: int) -> tuple[CacheKV, txflow.TxEnv]:
        if height != self._last_height + 1:
            raise ConsensusFailure(f"proposal for height {height} while at height {self._last_height}")
        base: KVReader = self.store if self._genesis_staged else self.store.committed()
        return CacheKV(base), txflow.TxEnv(height, self._context())

    def prepare_proposal(self, req: b.PrepareProposalRequest) -> list[bytes]:
        branch, env = self._proposal_env(req.env.height)
        out: list[bytes] = []
        used = 0
        for raw in req.txs:
            size = tx_proto_size(len(raw))
            if used + size > req.max_tx_bytes:
                continue  # a smaller tx further on may still fit
            try:
                decoded = txflow.check_stateless(raw, env.ctx, self.sig_cache)
                txflow.check_stateful(branch, decoded, env)
            except SidechainError:
                continue
            out.append(raw)
            used += size
        return out

    def process_proposal(self, req: b.ProcessProposalRequest) -> bool:
        branch, env = self._proposal_env(req.env.height)
        for i, raw in enumerate(req.txs):
            try:
                decoded = txflow.check_stateless(raw, env.ctx, self.sig_cache)
                txflow.check_stateful(branch, decoded, env)
            except SidechainError as e:
                log.warning("rejecting proposal at height %d: tx %d: %s", req.env.height, i, e)
                return False
        return True

    def extend_vote(self, req: b.ExtendVoteRequest) -> bytes:
        return b""  # the bridge's L1 attestations will travel here

    def verify_vote_extension(self, req: b.VerifyVoteExtensionRequest) -> bool:
        return req.vote_extension == b""

    # -- execution ------------------------------------------------------------------------------

    def finalize_block(self, req: b.FinalizeBlockRequest) -> b.BlockOutput:
        env = req.env
        if self._last_height and env.height != self._last_height + 1:
            raise ConsensusFailure(f"FinalizeBlock for height {env.height}, expected {self._last_height + 1}")
        if not self._last_height and not self._genesis_staged:
            raise ConsensusFailure("FinalizeBlock before InitChain")
        if self._staged is not None:
            # CometBFT commits every block it finalizes; a replay after a crash runs in a new process.
            raise ConsensusFailure(f"FinalizeBlock for height {env.height} before height "
                                   f"{self._staged.height} was committed")
        staging = CacheKV(self.store)
        tx_env = txflow.TxEnv(env.height, self._context())
        results = tuple(txflow.deliver_raw(staging, raw, tx_env, self.sig_cache) for raw in req.txs)
        txflow.end_block(staging, tx_env)
        staging.set(KEY_LAST_BLOCK, struct.pack(">QQ", env.height, env.time_ns))
        staging.write()
        app_hash = self.store.working_root()
        self._staged = b.CommitResult(
            height=env.height, app_hash=app_hash, num_txs=len(req.txs), time_ns=env.time_ns,
            failed_txs=sum(1 for r in results if r.code != 0),
        )
        return b.BlockOutput(tx_results=results, app_hash=app_hash)

    def commit(self) -> b.CommitResult:
        staged = self._staged
        if staged is None:
            raise ConsensusFailure("Commit without a finalized block")
        if (self._crash_before_commit is not None and staged.height >= self._crash_before_commit) or (
                self._crash_before_commit_with_txs and staged.num_txs):
            log.error("test hook: exiting before committing height %d", staged.height)
            os._exit(137)
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

    # -- queries --------------------------------------------------------------------------------

    def query(self, req: b.QueryRequest) -> b.QueryResponse:
        """Paths (data is unused unless stated):
        /account/<address>             sequence and public key (JSON); provable
        /balance/<address>/<denom>     one balance (JSON); provable
        /balances/<address>            all balances of an address (JSON)
        /supply                        supply per denom (JSON)
        /params                        auth and bank params (JSON)
        /store/key                     raw value at key `data`; provable
        /app/info                      chain id, height and app hash (JSON)
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
        except SidechainError as e:
            return _qerr(QUERY_BAD_REQUEST, str(e), height)
        except StoreError as e:
            return _qerr(QUERY_HEIGHT_UNAVAILABLE, str(e), height)

    def _query(self, req: b.QueryRequest, reader: KVReader, height: int) -> b.QueryResponse:
        parts = [p for p in req.path.split("/") if p]
        prefix = self._context().auth.address_prefix
        if parts == ["app", "info"]:
            data = {"chain_id": self._chain_id, "height": self._last_height, "app_hash": self._last_app_hash.hex()}
            return _qjson(data, height)
        if parts == ["params"]:
            data = {"auth": auth_state.get_params(reader).to_json(), "bank": bank_state.get_params(reader).to_json()}
            return _qjson(data, height)
        if parts == ["supply"]:
            return _qjson({"supply": [{"denom": c.denom, "amount": str(int(c.amount))}
                                      for c in bank_state.all_supply(reader)]}, height)
        if len(parts) == 2 and parts[0] == "balances":
            addr = _parse_address(parts[1], prefix)
            coins = bank_state.get_balances(reader, addr)
            return _qjson({"address": bech32_address(addr, prefix),
                           "balances": [{"denom": c.denom, "amount": str(int(c.amount))} for c in coins]}, height)
        if len(parts) >= 3 and parts[0] == "balance":  # denoms may contain "/" (l1/eth)
            addr = _parse_address(parts[1], prefix)
            denom = validate_denom("/".join(parts[2:]))
            key = balance_key(addr, denom)
            amount = bank_state.get_balance(reader, addr, denom)
            body = {"address": bech32_address(addr, prefix), "denom": denom, "amount": str(int(amount))}
            return self._provable(req, key, reader.get(key), body, height)
        if len(parts) == 2 and parts[0] == "account":
            addr = _parse_address(parts[1], prefix)
            acct = auth_state.get_account(reader, addr)
            key = account_key(addr)
            account = {"address": bech32_address(addr, prefix), "sequence": acct.sequence,
                       "public_key": acct.public_key.hex()}
            return self._provable(req, key, reader.get(key), account, height)
        if parts == ["store", "key"]:
            value = reader.get(req.data)
            return self._provable(req, req.data, value, None, height)
        return _qerr(QUERY_UNKNOWN_PATH, f"unknown query path {req.path!r}", height)

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

    # -- state sync: this application does not serve or accept snapshots yet ---------------------

    def list_snapshots(self) -> list[b.Snapshot]:
        return []

    def offer_snapshot(self, snapshot: b.Snapshot, app_hash: bytes) -> int:
        return b.OFFER_REJECT_FORMAT

    def load_snapshot_chunk(self, height: int, format: int, chunk: int) -> bytes:
        return b""

    def apply_snapshot_chunk(self, index: int, chunk: bytes, sender: str) -> b.ApplyChunkResult:
        return b.ApplyChunkResult(result=b.APPLY_ABORT)

    def compact_storage(self) -> None:
        """Compact the LevelDB files now (after a bulk import; LevelDB otherwise compacts in the background)."""
        if isinstance(self._backend, LevelDBBackend):
            self._backend.compact()

    def close(self) -> None:
        self._backend.close()


def _parse_address(text: str, prefix: str) -> bytes:
    return bytes(Address.from_bech32(text, prefix))


def _qerr(code: int, message: str, height: int) -> b.QueryResponse:
    return b.QueryResponse(code=code, codespace=QUERY_CODESPACE, log=message, height=height)


def _qjson(data: object, height: int) -> b.QueryResponse:
    return b.QueryResponse(value=json.dumps(data, sort_keys=True).encode(), height=height)
