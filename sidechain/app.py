"""The state machine: composes the modules and answers consensus, one block at a time.

Block lifecycle (ARCHITECTURE.md): `init_chain` once, then per height `prepare_proposal` /
`process_proposal` on throwaway branches of the committed state, `finalize_block` on a staging
branch (returns results and the app hash), `commit` writes the staging branch, the height and the
app hash in one synced write batch. `check_tx` runs on its own check-state, reset after commit.
Nothing is written to disk before `commit`, so a crash in between loses nothing: CometBFT replays
the block after `info` reports the last committed height.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sidechain import blocks as b
from validators.genesis import InvalidValidatorsGenesis, parse_validators

log = logging.getLogger("sidechain.app")

APP_VERSION = 1
SOFTWARE_VERSION = "0.1.0"

# Application-level codes for results produced here (modules define their own).
CODE_OK = 0
CODE_UNKNOWN_TX = 2
CODESPACE = "app"


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


class ConsensusFailure(Exception):
    """The node cannot safely continue (e.g. consensus asked for a height we cannot apply)."""


# --- metadata keys (outside the authenticated state) ---------------------------------------------
META_LAST_HEIGHT = b"\x00meta/last_height"
META_LAST_APP_HASH = b"\x00meta/last_app_hash"
META_CHAIN_ID = b"\x00meta/chain_id"

# --- interim state table: replaced by the authenticated store -----------------------------------
STATE_PREFIX = b"\x01"
KEY_CHAIN = b"chain"          # chain id and initial height
KEY_LAST_BLOCK = b"last_block"  # height (8 bytes BE) + header time ns (8 bytes BE)


class _StateDB:
    """Committed key/value state on LevelDB (or memory), with one staging layer on top."""

    def __init__(self, path: Path | None) -> None:
        self._mem: dict[bytes, bytes] | None = None
        if path is None:
            self._mem = {}
            self._db = None
        else:
            import plyvel

            path.mkdir(parents=True, exist_ok=True)
            self._db = plyvel.DB(str(path), create_if_missing=True)

    def get(self, key: bytes) -> bytes | None:
        if self._mem is not None:
            return self._mem.get(key)
        assert self._db is not None
        return self._db.get(key)

    def iterate(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if self._mem is not None:
            for k in sorted(self._mem):
                if k >= start and (end is None or k < end):
                    yield k, self._mem[k]
            return
        assert self._db is not None
        yield from self._db.iterator(start=start, stop=end)

    def write(self, puts: dict[bytes, bytes], sync: bool = True) -> None:
        if self._mem is not None:
            self._mem.update(puts)
            return
        assert self._db is not None
        with self._db.write_batch(sync=sync) as wb:
            for k in sorted(puts):
                wb.put(k, puts[k])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class _Staging:
    """Writes buffered over the committed state; the root covers committed + staged entries."""

    def __init__(self, db: _StateDB) -> None:
        self.db = db
        self.writes: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.db.get(STATE_PREFIX + key)

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def root(self) -> bytes:
        entries = {k[len(STATE_PREFIX):]: v for k, v in self.db.iterate(STATE_PREFIX, b"\x02")}
        entries.update(self.writes)
        h = hashlib.sha256(b"sidechain/state/v0")
        for k in sorted(entries):
            v = entries[k]
            h.update(struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v)
        return h.digest()


class Application:
    """The sidechain state machine."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._db = _StateDB(data_dir / "state.db" if data_dir is not None else None)
        raw = self._db.get(META_LAST_HEIGHT)
        self._last_height = int.from_bytes(raw, "big") if raw else 0
        self._last_app_hash = self._db.get(META_LAST_APP_HASH) or b""
        self._chain_id = (self._db.get(META_CHAIN_ID) or b"").decode()
        self._staging: _Staging | None = None
        self._staged_height: int | None = None
        self._staged_hash = b""
        self._staged_summary = b.CommitResult()
        # Testing aid for crash-safety tests: stop dead right before writing this height.
        hold = os.environ.get("SIDECHAIN_TEST_CRASH_BEFORE_COMMIT_HEIGHT", "")
        self._crash_before_commit = int(hold) if hold.isdigit() else None

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
            raise ConsensusFailure(f"genesis app_state is not valid JSON: {e}") from e
        if not isinstance(app_state, dict):
            raise ConsensusFailure("genesis app_state must be a JSON object")
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
        self._chain_id = req.chain_id
        staging = _Staging(self._db)
        chain = req.chain_id.encode()
        staging.set(KEY_CHAIN, struct.pack(">H", len(chain)) + chain + struct.pack(">Q", req.initial_height))
        self._staging = staging
        self._staged_height = None
        root = staging.root()
        log.info("InitChain chain_id=%s initial_height=%d", req.chain_id, req.initial_height)
        return b.InitChainResponse(app_hash=root, validators=updates)

    # -- mempool --------------------------------------------------------------------------------

    def check_tx(self, tx: bytes, recheck: bool) -> b.TxResult:
        return b.TxResult(code=CODE_UNKNOWN_TX, codespace=CODESPACE, log="unknown transaction format")

    # -- proposals ------------------------------------------------------------------------------

    def prepare_proposal(self, req: b.PrepareProposalRequest) -> list[bytes]:
        return []  # no transaction kind is defined yet: nothing valid to include

    def process_proposal(self, req: b.ProcessProposalRequest) -> bool:
        return len(req.txs) == 0

    def extend_vote(self, req: b.ExtendVoteRequest) -> bytes:
        return b""

    def verify_vote_extension(self, req: b.VerifyVoteExtensionRequest) -> bool:
        return req.vote_extension == b""

    # -- execution ------------------------------------------------------------------------------

    def finalize_block(self, req: b.FinalizeBlockRequest) -> b.BlockOutput:
        env = req.env
        expected = self._last_height + 1 if self._last_height else None
        if expected is not None and env.height != expected:
            raise ConsensusFailure(f"FinalizeBlock for height {env.height}, expected {expected}")
        if self._staging is None or self._staged_height is not None:
            # A fresh staging branch, unless InitChain staged genesis for the first block.
            self._staging = _Staging(self._db)
        staging = self._staging
        results = tuple(
            b.TxResult(code=CODE_UNKNOWN_TX, codespace=CODESPACE, log="unknown transaction format")
            for _ in req.txs
        )
        staging.set(KEY_LAST_BLOCK, struct.pack(">QQ", env.height, env.time_ns))
        app_hash = staging.root()
        self._staged_height = env.height
        self._staged_hash = app_hash
        self._staged_summary = b.CommitResult(
            height=env.height, app_hash=app_hash, num_txs=len(req.txs), time_ns=env.time_ns,
            failed_txs=sum(1 for r in results if r.code != 0),
        )
        return b.BlockOutput(tx_results=results, app_hash=app_hash)

    def commit(self) -> b.CommitResult:
        if self._staging is None or self._staged_height is None:
            raise ConsensusFailure("Commit without a finalized block")
        height = self._staged_height
        if self._crash_before_commit is not None and height >= self._crash_before_commit:
            log.error("test hook: exiting before committing height %d", height)
            os._exit(137)
        puts = {STATE_PREFIX + k: v for k, v in self._staging.writes.items()}
        puts[META_LAST_HEIGHT] = height.to_bytes(8, "big")
        puts[META_LAST_APP_HASH] = self._staged_hash
        puts[META_CHAIN_ID] = self._chain_id.encode()
        self._db.write(puts, sync=True)
        self._last_height = height
        self._last_app_hash = self._staged_hash
        self._staging = None
        self._staged_height = None
        return self._staged_summary

    # -- queries --------------------------------------------------------------------------------

    def query(self, req: b.QueryRequest) -> b.QueryResponse:
        if req.path in ("/app/info", "app/info"):
            data = json.dumps(
                {"chain_id": self._chain_id, "height": self._last_height, "app_hash": self._last_app_hash.hex()}
            ).encode()
            return b.QueryResponse(value=data, height=self._last_height)
        return b.QueryResponse(code=1, codespace=CODESPACE, log=f"unknown query path {req.path!r}",
                               height=self._last_height)

    # -- state sync: this application does not serve or accept snapshots ------------------------

    def list_snapshots(self) -> list[b.Snapshot]:
        return []

    def offer_snapshot(self, snapshot: b.Snapshot, app_hash: bytes) -> int:
        return b.OFFER_REJECT_FORMAT

    def load_snapshot_chunk(self, height: int, format: int, chunk: int) -> bytes:
        return b""

    def apply_snapshot_chunk(self, index: int, chunk: bytes, sender: str) -> b.ApplyChunkResult:
        return b.ApplyChunkResult(result=b.APPLY_ABORT)

    def close(self) -> None:
        self._db.close()
