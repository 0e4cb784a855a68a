"""The ABCI socket and gRPC servers, driven over real sockets with an in-memory application."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

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


@pytest.fixture
def socket_server() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    app = Application(None)
    srv = SocketServer(Adapter(app), "tcp://127.0.0.1:0", max_frame_bytes=MAX_FRAME, partial_frame_timeout=0.5)
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
    yield running
    asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)
    loop.close()


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
