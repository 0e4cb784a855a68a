"""The ABCI socket and gRPC servers, driven over real sockets with an in-memory application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from abci_app.adapter import Adapter
from abci_app.framing import FrameDecoder, encode_frame, encode_uvarint
from abci_app.gen.tendermint.abci import types_pb2 as pb
from abci_app.servers import GrpcServer, SocketServer
from sidechain.app import Application

MAX_FRAME = 4096


class Running:
    def __init__(self, server: SocketServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.fatal: list[str] = []


class RecordingAdapter(Adapter):
    """Records the echo message of every frame it handles, in the order the server handles them."""

    def __init__(self, app: Application) -> None:
        super().__init__(app)
        self.handled: list[str] = []

    def handle_frame(self, frame: bytes) -> bytes:
        r = pb.Request()
        r.ParseFromString(frame)
        if r.WhichOneof("value") == "echo":
            self.handled.append(r.echo.message)
        return super().handle_frame(frame)


@contextlib.contextmanager
def serving(**kw: Any) -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    srv = SocketServer(RecordingAdapter(Application(None)), "tcp://127.0.0.1:0", max_frame_bytes=MAX_FRAME,
                       partial_frame_timeout=0.5, **kw)
    running = Running(srv, loop)
    srv.on_fatal = running.fatal.append
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(5)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()


@pytest.fixture
def socket_server() -> Iterator[Running]:
    with serving() as running:
        yield running


def connect(r: Running) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", r.server.port), timeout=5)
    return s


def read_responses(s: socket.socket, n: int) -> list[pb.Response]:
    dec = FrameDecoder(1 << 20)
    frames: list[bytes] = []
    while len(frames) < n:
        data = s.recv(65536)
        assert data, "connection closed before all responses arrived"
        frames += dec.feed(data)
    out = []
    for f in frames:
        resp = pb.Response()
        resp.ParseFromString(f)
        out.append(resp)
    return out


def assert_closed(s: socket.socket) -> None:
    """The server closes the connection promptly (recv returns EOF, not a timeout)."""
    s.settimeout(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return
        if data == b"":
            return
    pytest.fail("server did not close the connection")


def req(**kw: object) -> bytes:
    return encode_frame(pb.Request(**kw).SerializeToString())  # type: ignore[arg-type]


def test_requests_answered_in_order(socket_server: Running) -> None:
    s = connect(socket_server)
    wire = b"".join([
        req(echo=pb.RequestEcho(message="one")),
        req(info=pb.RequestInfo(version="0.38.26")),
        req(echo=pb.RequestEcho(message="two")),
        req(flush=pb.RequestFlush()),
    ])
    s.sendall(wire)
    r = read_responses(s, 4)
    assert [x.WhichOneof("value") for x in r] == ["echo", "info", "echo", "flush"]
    assert r[0].echo.message == "one" and r[2].echo.message == "two"
    assert r[1].info.last_block_height == 0
    s.close()


def test_request_split_byte_by_byte(socket_server: Running) -> None:
    s = connect(socket_server)
    wire = req(echo=pb.RequestEcho(message="x" * 500)) + req(flush=pb.RequestFlush())
    for i in range(len(wire)):
        s.send(wire[i:i + 1])
    r = read_responses(s, 2)
    assert r[0].echo.message == "x" * 500
    s.close()


def test_oversize_frame_closes_connection(socket_server: Running, caplog: pytest.LogCaptureFixture) -> None:
    s = connect(socket_server)
    with caplog.at_level(logging.ERROR, logger="abci.server"):
        s.sendall(encode_uvarint(MAX_FRAME + 1))  # then never send the body
        assert_closed(s)
    assert any("exceeds the limit" in m for m in caplog.messages)
    # The server still serves other connections.
    s2 = connect(socket_server)
    s2.sendall(req(echo=pb.RequestEcho(message="alive")) + req(flush=pb.RequestFlush()))
    assert read_responses(s2, 2)[0].echo.message == "alive"


@pytest.mark.parametrize("garbage", [
    b"\x05hello",                     # a frame whose bytes are not a protobuf Request
    b"\x03\xff\xff\xff",              # truncated varint field inside the frame
    b"\xff" * 12,                     # not a length prefix at all
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # a stray HTTP client: 'G' declares 71 bytes, 26 follow
])
def test_garbage_closes_connection(socket_server: Running, garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    s = connect(socket_server)
    with caplog.at_level(logging.ERROR, logger="abci.server"):
        s.sendall(garbage)
        assert_closed(s)
    assert caplog.messages, "the error was not logged"
    assert socket_server.fatal == []  # bad input is not an application bug


def test_zero_length_frame_is_not_a_request(socket_server: Running, caplog: pytest.LogCaptureFixture) -> None:
    s = connect(socket_server)
    with caplog.at_level(logging.ERROR, logger="abci.server"):
        s.sendall(b"\x00")
        assert_closed(s)
    assert any("not an ABCI Request" in m for m in caplog.messages)


def test_application_bug_is_reported_and_fatal(socket_server: Running) -> None:
    s = connect(socket_server)
    # Commit without FinalizeBlock is a consensus bug on our side: answered with an exception.
    s.sendall(req(commit=pb.RequestCommit()) + req(flush=pb.RequestFlush()))
    r = read_responses(s, 1)
    assert r[0].WhichOneof("value") == "exception"
    assert "Commit without a finalized block" in r[0].exception.error
    assert_closed(s)
    assert socket_server.fatal and "commit" in socket_server.fatal[0]


def echoes(prefix: str, n: int) -> bytes:
    return b"".join(req(echo=pb.RequestEcho(message=f"{prefix}{i}")) for i in range(n))


def test_turns_answer_every_frame_in_order() -> None:
    with serving(turn_frames=2) as running:
        s = connect(running)
        s.sendall(echoes("e", 9) + req(flush=pb.RequestFlush()))
        r = read_responses(s, 10)
        assert [x.echo.message for x in r[:9]] == [f"e{i}" for i in range(9)]
        assert r[9].WhichOneof("value") == "flush"
        s.close()


def test_turns_answer_well_formed_frames_before_garbage(caplog: pytest.LogCaptureFixture) -> None:
    with serving(turn_frames=2) as running, caplog.at_level(logging.ERROR, logger="abci.server"):
        s = connect(running)
        s.sendall(echoes("e", 5) + b"\xff" * 12)  # five frames (three turns), then a bad length prefix
        r = read_responses(s, 5)
        assert [x.echo.message for x in r] == [f"e{i}" for i in range(5)]
        assert_closed(s)
        assert running.fatal == []


@pytest.mark.parametrize(("turn_frames", "served_within"), [(4, 8), (1 << 20, None)])
def test_other_connection_served_between_turns(turn_frames: int, served_within: int | None) -> None:
    """A request on one connection is handled after at most a turn or two of another connection's
    backlog; with one turn per read (a huge turn_frames) it waits behind the whole backlog."""
    backlog = 200
    with serving(turn_frames=turn_frames) as running:
        a, b = connect(running), connect(running)
        a.sendall(req(echo=pb.RequestEcho(message="warm")) + req(flush=pb.RequestFlush()))
        b.sendall(req(echo=pb.RequestEcho(message="warm")) + req(flush=pb.RequestFlush()))
        read_responses(a, 2), read_responses(b, 2)
        # Hold the event loop while both connections' bytes arrive, so one loop iteration sees both.
        held = threading.Event()
        running.loop.call_soon_threadsafe(lambda: (held.set(), time.sleep(0.3)))
        assert held.wait(5)
        a.sendall(echoes("a", backlog) + req(flush=pb.RequestFlush()))
        time.sleep(0.05)
        b.sendall(req(echo=pb.RequestEcho(message="b")) + req(flush=pb.RequestFlush()))
        assert len(read_responses(a, backlog + 1)) == backlog + 1
        assert read_responses(b, 2)[0].echo.message == "b"
        adapter = running.server.adapter
        assert isinstance(adapter, RecordingAdapter)
        handled = [m for m in adapter.handled if m != "warm"]
        assert len(handled) == backlog + 1
        before_b = handled.index("b")
        if served_within is None:
            assert before_b == backlog
        else:
            assert before_b <= served_within, handled[:20]
        a.close(), b.close()


def test_turn_frames_must_be_positive() -> None:
    with pytest.raises(ValueError, match="turn_frames"):
        SocketServer(Adapter(Application(None)), "tcp://127.0.0.1:0", turn_frames=0)


def test_grpc_server_serves_abci() -> None:
    import grpc

    from abci_app.gen.tendermint.abci import types_pb2_grpc as pb_grpc

    fatal: list[str] = []
    srv = GrpcServer(Adapter(Application(None)), "tcp://127.0.0.1:0", on_fatal=fatal.append)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = pb_grpc.ABCIStub(ch)
            assert stub.Echo(pb.RequestEcho(message="hi"), timeout=5).message == "hi"
            info = stub.Info(pb.RequestInfo(), timeout=5)
            assert info.last_block_height == 0 and info.version
            with pytest.raises(grpc.RpcError) as ei:
                stub.Commit(pb.RequestCommit(), timeout=5)
            assert ei.value.code() == grpc.StatusCode.INTERNAL
            assert fatal
    finally:
        srv.stop()
