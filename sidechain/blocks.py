"""What the state machine receives from consensus and returns to it, as plain dataclasses.

These mirror the ABCI 2.0 messages but carry no protobuf: `abci_app` translates between the two,
and the state machine, its tests and the in-process benchmark never see the wire format.
Times are integer nanoseconds since the Unix epoch, taken from the block header (never a clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sidechain.store.proof import ProofOp  # (type, key, data): CometBFT's ProofOp, as a tuple

if TYPE_CHECKING:
    from sidechain.extcommit import ExtendedCommit

# CometBFT's BlockIDFlag values (tendermint.types.BlockIDFlag).
BLOCK_ID_FLAG_ABSENT = 1
BLOCK_ID_FLAG_COMMIT = 2
BLOCK_ID_FLAG_NIL = 3

MISBEHAVIOR_DUPLICATE_VOTE = 1
MISBEHAVIOR_LIGHT_CLIENT_ATTACK = 2


@dataclass(frozen=True, slots=True)
class Validator:
    address: bytes  # first 20 bytes of sha256(consensus pubkey)
    power: int


@dataclass(frozen=True, slots=True)
class VoteInfo:
    validator: Validator
    block_id_flag: int


@dataclass(frozen=True, slots=True)
class ExtendedVoteInfo:
    validator: Validator
    block_id_flag: int
    vote_extension: bytes
    extension_signature: bytes


@dataclass(frozen=True, slots=True)
class CommitInfo:
    round: int
    votes: tuple[VoteInfo, ...]


@dataclass(frozen=True, slots=True)
class ExtendedCommitInfo:
    round: int
    votes: tuple[ExtendedVoteInfo, ...]


@dataclass(frozen=True, slots=True)
class Misbehavior:
    kind: int
    validator: Validator
    height: int
    time_ns: int
    total_voting_power: int


NO_VOTES = CommitInfo(0, ())


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """The block being proposed, checked or finalized: its header fields, and (in FinalizeBlock)
    the votes of the last commit and the misbehaviour consensus reports."""

    chain_id: str
    height: int
    time_ns: int
    proposer_address: bytes
    hash: bytes = b""  # empty while preparing a proposal
    next_validators_hash: bytes = b""
    last_commit: CommitInfo = NO_VOTES
    misbehavior: tuple[Misbehavior, ...] = ()
    # The extended commit of the height before, from the block's first tx (sidechain/extcommit.py),
    # when the chain's vote extensions require one; checked by ProcessProposal.
    extended_commit: ExtendedCommit | None = None


@dataclass(frozen=True, slots=True)
class EventAttribute:
    key: str
    value: str
    index: bool = True


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    attributes: tuple[EventAttribute, ...] = ()


@dataclass(frozen=True, slots=True)
class TxResult:
    code: int = 0
    log: str = ""
    codespace: str = ""
    data: bytes = b""
    gas_wanted: int = 0
    gas_used: int = 0
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True, slots=True)
class ValidatorUpdate:
    pub_key_type: str  # "ed25519"
    pub_key: bytes
    power: int  # 0 removes the validator


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """The consensus parameters the application reads (others pass through untouched)."""

    block_max_bytes: int = 0
    block_max_gas: int = -1
    vote_extensions_enable_height: int = 0


@dataclass(frozen=True, slots=True)
class InitChainRequest:
    chain_id: str
    time_ns: int
    initial_height: int
    app_state_bytes: bytes
    validators: tuple[ValidatorUpdate, ...]
    consensus_params: ConsensusParams


@dataclass(frozen=True, slots=True)
class InitChainResponse:
    app_hash: bytes
    validators: tuple[ValidatorUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class AppInfo:
    version: str
    app_version: int
    last_block_height: int
    last_block_app_hash: bytes
    data: str = ""


@dataclass(frozen=True, slots=True)
class PrepareProposalRequest:
    env: BlockEnv
    max_tx_bytes: int
    txs: tuple[bytes, ...]
    local_last_commit: ExtendedCommitInfo
    misbehavior: tuple[Misbehavior, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessProposalRequest:
    env: BlockEnv
    txs: tuple[bytes, ...]
    proposed_last_commit: CommitInfo
    misbehavior: tuple[Misbehavior, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtendVoteRequest:
    env: BlockEnv
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class VerifyVoteExtensionRequest:
    hash: bytes
    validator_address: bytes
    height: int
    vote_extension: bytes


@dataclass(frozen=True, slots=True)
class FinalizeBlockRequest:
    env: BlockEnv
    txs: tuple[bytes, ...]
    decided_last_commit: CommitInfo
    misbehavior: tuple[Misbehavior, ...] = ()


@dataclass(frozen=True, slots=True)
class BlockOutput:
    tx_results: tuple[TxResult, ...]
    app_hash: bytes = b""  # set by the app once the block's writes are in the store
    events: tuple[Event, ...] = ()
    validator_updates: tuple[ValidatorUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryRequest:
    path: str
    data: bytes
    height: int  # 0: latest committed
    prove: bool


@dataclass(frozen=True, slots=True)
class QueryResponse:
    code: int = 0
    log: str = ""
    codespace: str = ""
    key: bytes = b""
    value: bytes = b""
    height: int = 0
    proof_ops: tuple[ProofOp, ...] = ()
    info: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    height: int
    format: int
    chunks: int
    hash: bytes
    metadata: bytes = b""


# Results of OfferSnapshot / ApplySnapshotChunk (same numbers as ABCI's enums).
OFFER_ACCEPT = 1
OFFER_ABORT = 2
OFFER_REJECT = 3
OFFER_REJECT_FORMAT = 4
APPLY_ACCEPT = 1
APPLY_ABORT = 2
APPLY_RETRY = 3
APPLY_RETRY_SNAPSHOT = 4
APPLY_REJECT_SNAPSHOT = 5


@dataclass(frozen=True, slots=True)
class ApplyChunkResult:
    result: int
    refetch_chunks: tuple[int, ...] = ()
    reject_senders: tuple[str, ...] = ()


@dataclass(slots=True)
class CommitResult:
    retain_height: int = 0
    # Not part of ABCI: what the node shows and measures per committed block.
    height: int = 0
    app_hash: bytes = b""
    num_txs: int = 0
    time_ns: int = 0
    failed_txs: int = 0
    extra: dict[str, int] = field(default_factory=dict)
