"""ABCI socket framing: each message is a protobuf preceded by its length as an unsigned varint.

The decoder is incremental (bytes arrive in arbitrary pieces) and bounded: a frame whose declared
length exceeds the configured maximum is refused as soon as its length prefix is read, so a peer
can never make us buffer more than `max_frame_bytes` plus a 10-byte prefix.
"""

from __future__ import annotations

from sidechain.errors import SidechainError
from sidechain.varint import encode_uvarint

MAX_VARINT_BYTES = 10  # a uint64 needs at most 10 bytes of 7 bits


class FramingError(SidechainError):
    """The byte stream is not a sequence of well-formed, bounded frames; the connection must close."""

    codespace = "abci"
    code = 2
    # The frames completed before the bad bytes by the same `feed`: answered before the connection closes.
    complete: tuple[bytes, ...] = ()


class FrameTooLarge(FramingError):
    code = 3

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def encode_frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Feed bytes in; take complete frame payloads out, in order."""

    __slots__ = ("_buf", "_max", "_need")

    def __init__(self, max_frame_bytes: int) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self._need: int | None = None  # payload length of the frame being read, once its prefix is parsed

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Append `data` and return every frame now complete. Raises FramingError on a bad stream, with
        the frames this call completed before the bad bytes in its `complete`."""
        self._buf += data
        frames: list[bytes] = []
        buf = self._buf
        pos = 0
        while True:
            if self._need is None:
                try:
                    parsed = self._parse_prefix(buf, pos)
                except FramingError as e:
                    e.complete = tuple(frames)
                    raise
                if parsed is None:
                    break
                self._need, pos = parsed
            end = pos + self._need
            if end > len(buf):
                break
            frames.append(bytes(buf[pos:end]))
            pos = end
            self._need = None
        if pos:
            del buf[:pos]
        return frames

    def _parse_prefix(self, buf: bytearray, pos: int) -> tuple[int, int] | None:
        n = 0
        shift = 0
        i = pos
        while i < len(buf):
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                if n > self._max:
                    raise FrameTooLarge(n, self._max)
                return n, i
            shift += 7
            if i - pos >= MAX_VARINT_BYTES:
                raise FramingError("length prefix is not a valid varint (more than 10 bytes)")
        # Incomplete prefix: its partial value can already exceed the limit.
        if n > self._max:
            raise FrameTooLarge(n, self._max)
        return None
