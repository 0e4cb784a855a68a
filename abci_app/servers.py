"""ABCI servers: the socket protocol (asyncio) and gRPC (grpcio), both over one `Adapter`.

Socket protocol: CometBFT opens four connections (consensus, mempool, query, snapshot) and sends
uvarint-length-prefixed `Request` frames; we answer each with a `Response` in request order and
flush our writes when a `Flush` arrives. Requests from all connections run one at a time (the
event loop is single-threaded and handlers never await), so the application needs no locks.
A connection's frames are handled in turns of at most `turn_frames`, the responses of a turn in one
write; between turns the other connections are served, so a consensus request never waits behind
a long backlog of CheckTx on the mempool connection.

A malformed stream (a frame over the limit, a bad length prefix, bytes that are not a `Request`)
is logged and its connection closed. An exception raised by the application is a bug: it is
reported to CometBFT as a `ResponseException`, and `on_fatal` stops the node.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from abci_app.adapter import Adapter, AppFailure
from abci_app.framing import FrameDecoder, FramingError, encode_frame
from abci_app.gen.tendermint.abci import types_pb2 as pb
from abci_app.gen.tendermint.abci import types_pb2_grpc as pb_grpc

log = logging.getLogger("abci.server")

DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024
READ_CHUNK = 256 * 1024
# CometBFT writes each frame whole; a frame left incomplete this long is garbage, not a slow peer.
DEFAULT_PARTIAL_FRAME_TIMEOUT = 30.0
# Frames one connection handles before the event loop serves the others (about 10 ms of CheckTx).
DEFAULT_TURN_FRAMES = 64


@dataclass(frozen=True)
class ListenAddress:
    unix_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 0


def parse_address(address: str) -> ListenAddress:
    """'tcp://host:port', 'host:port' or 'unix:///path'."""
    if address.startswith("unix://"):
        return ListenAddress(unix_path=address[len("unix://"):])
    addr = address[len("tcp://"):] if address.startswith("tcp://") else address
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"ABCI address {address!r} is not host:port, tcp://host:port or unix:///path")
    return ListenAddress(host=host or "127.0.0.1", port=int(port))


class SocketServer:
    def __init__(
        self,
        adapter: Adapter,
        address: str,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        on_fatal: Callable[[str], None] | None = None,
        partial_frame_timeout: float = DEFAULT_PARTIAL_FRAME_TIMEOUT,
        turn_frames: int = DEFAULT_TURN_FRAMES,
    ) -> None:
        if turn_frames < 1:
            raise ValueError("turn_frames must be at least 1")
        self.adapter = adapter
        self.turn_frames = turn_frames
        self.address = address
        self.max_frame_bytes = max_frame_bytes
        self.on_fatal = on_fatal
        self.partial_frame_timeout = partial_frame_timeout
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._next_conn = 0

    async def start(self) -> None:
        where = parse_address(self.address)
        if where.unix_path is not None:
            self._server = await asyncio.start_unix_server(self._serve, path=where.unix_path)
        else:
            self._server = await asyncio.start_server(self._serve, host=where.host, port=where.port)
        log.info("ABCI socket server listening on %s", self.address)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_conn += 1
        conn = self._next_conn
        peer = writer.get_extra_info("peername")
        log.debug("ABCI connection %d from %s", conn, peer)
        self._conns.add(writer)
        decoder = FrameDecoder(self.max_frame_bytes)
        handle = self.adapter.handle_frame
        try:
            while True:
                if decoder.buffered:
                    try:
                        data = await asyncio.wait_for(reader.read(READ_CHUNK), self.partial_frame_timeout)
                    except TimeoutError:
                        raise FramingError(
                            f"incomplete frame ({decoder.buffered} bytes) stalled for "
                            f"{self.partial_frame_timeout:g}s"
                        ) from None
                else:
                    data = await reader.read(READ_CHUNK)
                if not data:
                    if decoder.buffered:
                        log.error("ABCI connection %d from %s closed mid-frame", conn, peer)
                    break
                frames: list[bytes] = []
                bad: FramingError | None = None
                try:
                    frames.extend(decoder.feed(data))
                except FramingError as e:
                    frames.extend(e.complete)  # answer the well-formed frames before it first
                    bad = e
                # The responses to one turn's frames go out in one write (one send, not one per frame:
                # CometBFT pipelines many CheckTx on the mempool connection). A turn is at most
                # `turn_frames` frames; then the other connections get theirs, so a consensus request
                # (ProcessProposal, ExtendVote, FinalizeBlock) never waits behind a whole read of CheckTx.
                for start in range(0, max(len(frames), 1), self.turn_frames):
                    if start:
                        await asyncio.sleep(0)
                    turn = frames[start:start + self.turn_frames]
                    last = start + self.turn_frames >= len(frames)
                    out: list[bytes] = []
                    try:
                        self.adapter.prefetch(turn)  # the new CheckTx's signatures, verified in parallel
                        for frame in turn:
                            out.append(handle(frame))
                        if bad is not None and last:
                            raise bad
                    except AppFailure as e:
                        log.error("ABCI %s failed:\n%s", e.kind, e.trace)
                        out.append(encode_frame(pb.Response(exception=pb.ResponseException(error=e.message))
                                                .SerializeToString()))
                        writer.write(b"".join(out))
                        await writer.drain()
                        if self.on_fatal is not None:
                            self.on_fatal(f"application error in {e.message}")
                        return
                    except (FramingError, DecodeError, ValueError):
                        if out:  # answer what was well-formed before closing
                            writer.write(b"".join(out))
                        raise
                    if out:
                        writer.write(out[0] if len(out) == 1 else b"".join(out))
                        await writer.drain()
        except FramingError as e:
            log.error("ABCI connection %d from %s: %s; closing it", conn, peer, e)
        except (DecodeError, ValueError) as e:
            log.error("ABCI connection %d from %s sent bytes that are not a Request (%s); closing it", conn, peer, e)
        except (ConnectionResetError, BrokenPipeError):
            log.debug("ABCI connection %d reset", conn)
        finally:
            self._conns.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionResetError, BrokenPipeError):
                pass
            log.debug("ABCI connection %d closed", conn)


# gRPC method name -> Request oneof field name.
GRPC_METHODS = {
    "Echo": "echo", "Flush": "flush", "Info": "info", "CheckTx": "check_tx", "Query": "query",
    "Commit": "commit", "InitChain": "init_chain", "ListSnapshots": "list_snapshots",
    "OfferSnapshot": "offer_snapshot", "LoadSnapshotChunk": "load_snapshot_chunk",
    "ApplySnapshotChunk": "apply_snapshot_chunk", "PrepareProposal": "prepare_proposal",
    "ProcessProposal": "process_proposal", "ExtendVote": "extend_vote",
    "VerifyVoteExtension": "verify_vote_extension", "FinalizeBlock": "finalize_block",
}


class GrpcServer:
    """CometBFT's `ABCI` gRPC service. grpcio runs handlers on a thread pool, so one lock
    serialises calls into the application (the socket server gets that from its event loop)."""

    def __init__(
        self,
        adapter: Adapter,
        address: str,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        import grpc

        self.adapter = adapter
        self.address = address
        self.on_fatal = on_fatal
        self._lock = threading.Lock()
        opts = [
            ("grpc.max_receive_message_length", max_frame_bytes),
            ("grpc.max_send_message_length", max_frame_bytes),
        ]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=opts)
        servicer = type("ABCIServicer", (pb_grpc.ABCIServicer,), {
            name: self._method(kind) for name, kind in GRPC_METHODS.items()
        })()
        pb_grpc.add_ABCIServicer_to_server(servicer, self._server)
        where = parse_address(address)
        target = f"unix:{where.unix_path}" if where.unix_path is not None else f"{where.host}:{where.port}"
        self.port = self._server.add_insecure_port(target)
        if self.port == 0:
            raise OSError(f"cannot listen on {address} for gRPC")

    def _method(self, kind: str) -> Callable[[Any, Any, Any], Any]:
        import grpc

        def call(_self: Any, request: Any, context: Any) -> Any:
            with self._lock:
                try:
                    return self.adapter.call(kind, request)
                except Exception as e:
                    log.exception("ABCI %s failed", kind)
                    if self.on_fatal is not None:
                        self.on_fatal(f"application error in {kind}: {type(e).__name__}: {e}")
                    context.abort(grpc.StatusCode.INTERNAL, f"{kind}: {type(e).__name__}: {e}")

        return call

    def start(self) -> None:
        self._server.start()
        log.info("ABCI gRPC server listening on %s", self.address)

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait()
