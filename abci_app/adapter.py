"""Translate ABCI 2.0 protobuf requests into calls on the `Application`, and results back.

No business rule lives here: every decision is the application's. The adapter is shared by the
socket and gRPC servers; `handle` takes a `Request` and returns the matching `Response`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Container
from typing import Any

from google.protobuf.message import DecodeError

from abci_app import wire
from abci_app.framing import encode_frame
from abci_app.gen.tendermint.abci import types_pb2 as pb
from abci_app.gen.tendermint.crypto import keys_pb2, proof_pb2
from sidechain import blocks as b
from sidechain.app import ApplicationAPI
from sidechain.errors import SidechainError

log = logging.getLogger("abci")

NANOS = 1_000_000_000


def _time_ns(ts: Any) -> int:
    return int(ts.seconds) * NANOS + int(ts.nanos)


def _validator(v: pb.Validator) -> b.Validator:
    return b.Validator(address=bytes(v.address), power=int(v.power))


def _commit_info(c: pb.CommitInfo) -> b.CommitInfo:
    return b.CommitInfo(
        round=int(c.round),
        votes=tuple(b.VoteInfo(_validator(v.validator), int(v.block_id_flag)) for v in c.votes),
    )


def _extended_commit_info(c: pb.ExtendedCommitInfo) -> b.ExtendedCommitInfo:
    return b.ExtendedCommitInfo(
        round=int(c.round),
        votes=tuple(
            b.ExtendedVoteInfo(
                validator=_validator(v.validator),
                block_id_flag=int(v.block_id_flag),
                vote_extension=bytes(v.vote_extension),
                extension_signature=bytes(v.extension_signature),
            )
            for v in c.votes
        ),
    )


def _misbehavior(ms: Any) -> tuple[b.Misbehavior, ...]:
    return tuple(
        b.Misbehavior(
            kind=int(m.type),
            validator=_validator(m.validator),
            height=int(m.height),
            time_ns=_time_ns(m.time),
            total_voting_power=int(m.total_voting_power),
        )
        for m in ms
    )


def _validator_update_from_pb(v: pb.ValidatorUpdate) -> b.ValidatorUpdate:
    kind = v.pub_key.WhichOneof("sum") or ""
    return b.ValidatorUpdate(pub_key_type=kind, pub_key=bytes(getattr(v.pub_key, kind, b"")), power=int(v.power))


def _validator_update_to_pb(v: b.ValidatorUpdate) -> pb.ValidatorUpdate:
    if v.pub_key_type == "ed25519":
        key = keys_pb2.PublicKey(ed25519=v.pub_key)
    elif v.pub_key_type == "secp256k1":
        key = keys_pb2.PublicKey(secp256k1=v.pub_key)
    else:
        raise ValueError(f"unsupported validator key type {v.pub_key_type!r}")
    return pb.ValidatorUpdate(pub_key=key, power=v.power)


def _events_to_pb(events: tuple[b.Event, ...]) -> list[pb.Event]:
    return [
        pb.Event(
            type=e.type,
            attributes=[pb.EventAttribute(key=a.key, value=a.value, index=a.index) for a in e.attributes],
        )
        for e in events
    ]


def _tx_result_fields(r: b.TxResult) -> dict[str, Any]:
    return {
        "code": r.code,
        "data": r.data,
        "log": r.log,
        "codespace": r.codespace,
        "gas_wanted": r.gas_wanted,
        "gas_used": r.gas_used,
        "events": _events_to_pb(r.events),
    }


class AppFailure(SidechainError):
    """The application raised while handling a request: a bug, never input (the node stops)."""

    codespace = "abci"
    code = 10

    def __init__(self, kind: str, error: Exception) -> None:
        self.kind = kind
        self.trace = traceback.format_exc()
        super().__init__(f"{kind}: {type(error).__name__}: {error}")


_CHECK_TX_OK = encode_frame(pb.Response(check_tx=pb.ResponseCheckTx()).SerializeToString())
_FLUSH = encode_frame(pb.Response(flush=pb.ResponseFlush()).SerializeToString())
_RECHECK = pb.RECHECK
# A Request has one field set, so its bytes start with that field's tag: a CheckTx is known without a parse.
_CHECK_TX_TAG = wire.uvarint(pb.Request.DESCRIPTOR.fields_by_name["check_tx"].number << 3 | 2)
_RESPONSE_FIELDS = {f.name: f.number for f in pb.Response.DESCRIPTOR.fields}
_FINALIZE_BLOCK_FIELD = _RESPONSE_FIELDS["finalize_block"]


class Adapter:
    """One instance per application; `handle` is called with the app's lock held (if any)."""

    def __init__(
        self,
        app: ApplicationAPI,
        on_commit: Callable[[b.CommitResult], None] | None = None,
        observe: Callable[[str, float, Any], None] | None = None,
        index_events: Container[str] | None = None,
    ) -> None:
        self.app = app
        self.on_commit = on_commit
        self.observe = observe  # (method, seconds, response message): metrics
        # "type.key" of the event attributes CometBFT may index (app.toml [tx_index], a wire.IndexFilter);
        # None: all that the app marks indexed.
        self.index_events = index_events
        self._handlers: dict[str, Callable[[Any], Any]] = {
            "echo": self.echo,
            "flush": self.flush,
            "info": self.info,
            "init_chain": self.init_chain,
            "query": self.query,
            "check_tx": self.check_tx,
            "commit": self.commit,
            "list_snapshots": self.list_snapshots,
            "offer_snapshot": self.offer_snapshot,
            "load_snapshot_chunk": self.load_snapshot_chunk,
            "apply_snapshot_chunk": self.apply_snapshot_chunk,
            "prepare_proposal": self.prepare_proposal,
            "process_proposal": self.process_proposal,
            "extend_vote": self.extend_vote,
            "verify_vote_extension": self.verify_vote_extension,
            "finalize_block": self.finalize_block,
        }

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, req: pb.Request) -> pb.Response:
        """Dispatch one request. A Request with no method raises ValueError (the caller closes the
        connection); any exception from the application propagates (it is a bug: the node stops)."""
        kind = req.WhichOneof("value")
        if kind is None:
            raise ValueError("request carries no ABCI method")
        return pb.Response(**{kind: self.call(kind, getattr(req, kind))})

    def prefetch(self, frames: list[bytes]) -> None:
        """Before the frames of one turn (see SocketServer) are handled one by one: the new CheckTx among
        them go to the application's `preverify_check_txs` (signatures verified in parallel), when it
        has one. Frames that are not a Request are left to `handle_frame` to refuse. Raises AppFailure
        if the application raised (a bug)."""
        preverify = getattr(self.app, "preverify_check_txs", None)
        if preverify is None or len(frames) < 2:
            return
        txs = []
        req = pb.Request()
        for frame in frames:
            if not frame.startswith(_CHECK_TX_TAG):
                continue  # another method (e.g. a FinalizeBlock with every tx of a block): not parsed twice
            try:
                req.ParseFromString(frame)
            except DecodeError:
                break
            if req.WhichOneof("value") == "check_tx" and req.check_tx.type != _RECHECK:
                txs.append(req.check_tx.tx)
        if len(txs) < 2:
            return
        try:
            preverify(txs)
        except Exception as e:
            raise AppFailure("check_tx", e) from e

    def handle_frame(self, frame: bytes) -> bytes:
        """One Request frame's payload -> its Response, serialized and framed (the socket server's path).

        CheckTx and Flush, nearly all of the traffic, skip the generic dispatch: no Response message is
        built for an accepted tx (its bytes are a constant). Raises DecodeError / ValueError for bytes
        that are not a Request (the caller closes the connection) and AppFailure if the application
        raised (a bug: the node stops)."""
        req = pb.Request()
        req.ParseFromString(frame)
        kind = req.WhichOneof("value")
        if kind == "check_tx":
            ct = req.check_tx
            try:
                t0 = time.perf_counter()
                recheck = ct.type == _RECHECK
                res = self.app.check_tx(ct.tx, recheck)
                if self.observe is not None:
                    self.observe("recheck_tx" if recheck else kind, time.perf_counter() - t0, res)
            except Exception as e:
                raise AppFailure(kind, e) from e
            if res.code == 0 and not res.events and not res.data and not res.gas_wanted and not res.log:
                return _CHECK_TX_OK
            return encode_frame(pb.Response(check_tx=pb.ResponseCheckTx(**_tx_result_fields(res)))
                                .SerializeToString())
        if kind == "flush":
            return _FLUSH
        if kind == "finalize_block":
            try:
                t0 = time.perf_counter()
                payload, out = self._finalize_block_payload(req.finalize_block)
                if self.observe is not None:
                    self.observe(kind, time.perf_counter() - t0, out)
            except Exception as e:
                raise AppFailure(kind, e) from e
            return encode_frame(wire.response_field(_FINALIZE_BLOCK_FIELD, payload))
        if kind is None:
            raise ValueError("frame is not an ABCI Request (no method set)")
        try:
            if kind == "prepare_proposal":
                t0 = time.perf_counter()
                txs = self._prepare_proposal_txs(req.prepare_proposal)
                if self.observe is not None:
                    self.observe(kind, time.perf_counter() - t0, None)
                payload = b"".join([b"\x0a" + wire.uvarint(len(t)) + t for t in txs])  # ResponsePrepareProposal.txs
            else:
                payload = self.call(kind, getattr(req, kind)).SerializeToString()
        except Exception as e:
            raise AppFailure(kind, e) from e
        # The Response wrapper written around the payload: no copy of the message into a new Response.
        return encode_frame(wire.response_field(_RESPONSE_FIELDS[kind], payload))

    def call(self, kind: str, request: Any) -> Any:
        """Run one method on its typed request message and return its typed response message."""
        if self.observe is None:
            return self._handlers[kind](request)
        t0 = time.perf_counter()
        result = self._handlers[kind](request)
        self.observe(kind, time.perf_counter() - t0, result)
        return result

    # -- connection-level -----------------------------------------------------------------------

    def echo(self, r: pb.RequestEcho) -> pb.ResponseEcho:
        return pb.ResponseEcho(message=r.message)

    def flush(self, r: pb.RequestFlush) -> pb.ResponseFlush:
        return pb.ResponseFlush()

    # -- info / query connection ----------------------------------------------------------------

    def info(self, r: pb.RequestInfo) -> pb.ResponseInfo:
        log.info("Info from cometbft %s (abci %s)", r.version, r.abci_version)
        i = self.app.info()
        return pb.ResponseInfo(
            data=i.data,
            version=i.version,
            app_version=i.app_version,
            last_block_height=i.last_block_height,
            last_block_app_hash=i.last_block_app_hash,
        )

    def query(self, r: pb.RequestQuery) -> pb.ResponseQuery:
        res = self.app.query(b.QueryRequest(path=r.path, data=bytes(r.data), height=int(r.height), prove=r.prove))
        out = pb.ResponseQuery(
            code=res.code, log=res.log, info=res.info, codespace=res.codespace,
            key=res.key, value=res.value, height=res.height,
        )
        if res.proof_ops:
            out.proof_ops.CopyFrom(
                proof_pb2.ProofOps(ops=[proof_pb2.ProofOp(type=o.type, key=o.key, data=o.data) for o in res.proof_ops])
            )
        return out

    # -- consensus connection -------------------------------------------------------------------

    def init_chain(self, r: pb.RequestInitChain) -> pb.ResponseInitChain:
        cp = r.consensus_params
        params = b.ConsensusParams(
            block_max_bytes=int(cp.block.max_bytes),
            block_max_gas=int(cp.block.max_gas),
            vote_extensions_enable_height=int(cp.abci.vote_extensions_enable_height),
        )
        res = self.app.init_chain(
            b.InitChainRequest(
                chain_id=r.chain_id,
                time_ns=_time_ns(r.time),
                initial_height=int(r.initial_height),
                app_state_bytes=bytes(r.app_state_bytes),
                validators=tuple(_validator_update_from_pb(v) for v in r.validators),
                consensus_params=params,
            )
        )
        return pb.ResponseInitChain(
            app_hash=res.app_hash, validators=[_validator_update_to_pb(v) for v in res.validators]
        )

    def _env(self, r: Any, with_hash: bool = True) -> b.BlockEnv:
        return b.BlockEnv(
            chain_id=self.app.chain_id,
            height=int(r.height),
            time_ns=_time_ns(r.time),
            proposer_address=bytes(r.proposer_address),
            hash=bytes(r.hash) if with_hash else b"",
            next_validators_hash=bytes(r.next_validators_hash),
        )

    def prepare_proposal(self, r: pb.RequestPrepareProposal) -> pb.ResponsePrepareProposal:
        return pb.ResponsePrepareProposal(txs=self._prepare_proposal_txs(r))

    def _prepare_proposal_txs(self, r: pb.RequestPrepareProposal) -> list[bytes]:
        return self.app.prepare_proposal(
            b.PrepareProposalRequest(
                env=self._env(r, with_hash=False),
                max_tx_bytes=int(r.max_tx_bytes),
                txs=tuple(r.txs),
                local_last_commit=_extended_commit_info(r.local_last_commit),
                misbehavior=_misbehavior(r.misbehavior),
            )
        )

    def process_proposal(self, r: pb.RequestProcessProposal) -> pb.ResponseProcessProposal:
        ok = self.app.process_proposal(
            b.ProcessProposalRequest(
                env=self._env(r),
                txs=tuple(r.txs),
                proposed_last_commit=_commit_info(r.proposed_last_commit),
                misbehavior=_misbehavior(r.misbehavior),
            )
        )
        status = pb.ResponseProcessProposal.ACCEPT if ok else pb.ResponseProcessProposal.REJECT
        return pb.ResponseProcessProposal(status=status)

    def extend_vote(self, r: pb.RequestExtendVote) -> pb.ResponseExtendVote:
        ext = self.app.extend_vote(b.ExtendVoteRequest(env=self._env(r), txs=tuple(r.txs)))
        return pb.ResponseExtendVote(vote_extension=ext)

    def verify_vote_extension(self, r: pb.RequestVerifyVoteExtension) -> pb.ResponseVerifyVoteExtension:
        ok = self.app.verify_vote_extension(
            b.VerifyVoteExtensionRequest(
                hash=bytes(r.hash),
                validator_address=bytes(r.validator_address),
                height=int(r.height),
                vote_extension=bytes(r.vote_extension),
            )
        )
        status = pb.ResponseVerifyVoteExtension.ACCEPT if ok else pb.ResponseVerifyVoteExtension.REJECT
        return pb.ResponseVerifyVoteExtension(status=status)

    def finalize_block(self, r: pb.RequestFinalizeBlock) -> pb.ResponseFinalizeBlock:
        return pb.ResponseFinalizeBlock.FromString(self._finalize_block_payload(r)[0])

    def _finalize_block_payload(self, r: pb.RequestFinalizeBlock) -> tuple[bytes, b.BlockOutput]:
        out = self.app.finalize_block(
            b.FinalizeBlockRequest(
                env=self._env(r),
                txs=tuple(r.txs),
                decided_last_commit=_commit_info(r.decided_last_commit),
                misbehavior=_misbehavior(r.misbehavior),
            )
        )
        tail = pb.ResponseFinalizeBlock(
            validator_updates=[_validator_update_to_pb(v) for v in out.validator_updates],
            app_hash=out.app_hash,
        ).SerializeToString()
        return wire.finalize_block(out.events, out.tx_results, tail, self.index_events), out

    def commit(self, r: pb.RequestCommit) -> pb.ResponseCommit:
        res = self.app.commit()
        if self.on_commit is not None:
            self.on_commit(res)
        return pb.ResponseCommit(retain_height=res.retain_height)

    # -- mempool connection ---------------------------------------------------------------------

    def check_tx(self, r: pb.RequestCheckTx) -> pb.ResponseCheckTx:
        res = self.app.check_tx(bytes(r.tx), recheck=r.type == pb.RECHECK)
        return pb.ResponseCheckTx(**_tx_result_fields(res))

    # -- snapshot connection --------------------------------------------------------------------

    def list_snapshots(self, r: pb.RequestListSnapshots) -> pb.ResponseListSnapshots:
        return pb.ResponseListSnapshots(
            snapshots=[
                pb.Snapshot(height=s.height, format=s.format, chunks=s.chunks, hash=s.hash, metadata=s.metadata)
                for s in self.app.list_snapshots()
            ]
        )

    def offer_snapshot(self, r: pb.RequestOfferSnapshot) -> pb.ResponseOfferSnapshot:
        s = r.snapshot
        result = self.app.offer_snapshot(
            b.Snapshot(height=int(s.height), format=int(s.format), chunks=int(s.chunks), hash=bytes(s.hash),
                       metadata=bytes(s.metadata)),
            bytes(r.app_hash),
        )
        return pb.ResponseOfferSnapshot(result=result)  # type: ignore[arg-type]

    def load_snapshot_chunk(self, r: pb.RequestLoadSnapshotChunk) -> pb.ResponseLoadSnapshotChunk:
        chunk = self.app.load_snapshot_chunk(int(r.height), int(r.format), int(r.chunk))
        return pb.ResponseLoadSnapshotChunk(chunk=chunk)

    def apply_snapshot_chunk(self, r: pb.RequestApplySnapshotChunk) -> pb.ResponseApplySnapshotChunk:
        res = self.app.apply_snapshot_chunk(int(r.index), bytes(r.chunk), r.sender)
        return pb.ResponseApplySnapshotChunk(
            result=res.result,  # type: ignore[arg-type]
            refetch_chunks=list(res.refetch_chunks),
            reject_senders=list(res.reject_senders),
        )
