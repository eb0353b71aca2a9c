"""What both WebSocket endpoints share: frame limits, the hello exchange, one writer, closing.

Which close ends a socket, and why, is decided in server/http/error_handlers.py.

Time limits use `asyncio.timeout`, never `asyncio.wait_for`, which on Python 3.11 can swallow a
cancellation that arrives as the awaited operation completes (CPython gh-86296).

Every socket has exactly one writer task draining a bounded queue, so nothing else ever sends on
the socket concurrently; sends have a timeout. Closing from synchronous code (a queue overflow, a
superseded relay) is scheduled, never awaited in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import msgspec
from litestar import WebSocket

from protocol import messages as m
from protocol.codes import CloseCode
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION, SUPPORTED_PROTOCOL_VERSIONS
from server.http.error_handlers import (
    HELLO_NOT_FIRST,
    HELLO_TIMEOUT,
    SEND_FAILED,
    Close,
    ConnectionClosedError,
    ProtocolViolationError,
    frame_too_big,
    invalid_message,
    unsupported_protocol,
)

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 10.0  # how long a close frame may wait behind a peer that is not reading
_encoder = msgspec.json.Encoder()
T = TypeVar("T")


class MessageDecoder(Generic[T]):
    """Decodes one direction's tagged union; anything undecodable is a protocol violation."""

    def __init__(self, union: Any) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(union)

    def __call__(self, data: bytes) -> T:
        try:
            return self._decoder.decode(data)
        # msgspec raises RecursionError for nesting deeper than it decodes: bad input too
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise ProtocolViolationError(invalid_message(exc)) from exc


def server_hello(capabilities: list[str]) -> bytes:
    return _encoder.encode(
        m.Hello(
            protocol_version=PROTOCOL_VERSION,
            software_version=SOFTWARE_VERSION,
            capabilities=capabilities,
            time=time.time(),  # relays judge command deadlines by it
        )
    )


class Conn:
    """One accepted WebSocket."""

    def __init__(self, socket: WebSocket[Any, Any, Any], name: str, send_timeout_s: float) -> None:
        self.socket = socket
        self.name = name  # for logs: "relay <id>" / "viewer <addr>"
        self._send_timeout_s = send_timeout_s
        self._closing: asyncio.Task[None] | None = None
        self.close_code: int | None = None

    async def receive(self) -> bytes:
        """The next frame's payload; raises ConnectionClosedError or ProtocolViolationError."""
        event: dict[str, Any] = dict(await self.socket.receive())
        if event["type"] == "websocket.disconnect":
            raise ConnectionClosedError(f"peer closed ({event.get('code')})")
        data: bytes | None = event.get("bytes")
        if data is None:
            data = str(event.get("text") or "").encode()
        if len(data) > m.MAX_FRAME_BYTES:
            raise ProtocolViolationError(frame_too_big(len(data), m.MAX_FRAME_BYTES))
        return data

    async def handshake(self, decode: Callable[[bytes], Any], timeout_s: float) -> m.Hello:
        """Wait for the peer's hello (it must come first), check its version."""
        try:
            async with asyncio.timeout(timeout_s):
                data = await self.receive()
        except TimeoutError as exc:
            raise ProtocolViolationError(HELLO_TIMEOUT) from exc
        hello = decode(data)
        if not isinstance(hello, m.Hello):
            raise ProtocolViolationError(HELLO_NOT_FIRST)
        if hello.protocol_version not in SUPPORTED_PROTOCOL_VERSIONS:
            raise ProtocolViolationError(
                unsupported_protocol(hello.protocol_version, sorted(SUPPORTED_PROTOCOL_VERSIONS))
            )
        return hello

    async def send(self, frame: bytes) -> None:
        try:
            async with asyncio.timeout(self._send_timeout_s):
                # JSON in binary frames: ASGI text frames would cost a decode and an encode
                await self.socket.send_bytes(frame)
        except TimeoutError as exc:
            raise ConnectionClosedError("send timed out") from exc
        except Exception as exc:  # the ASGI server's own disconnect errors
            raise ConnectionClosedError(f"send failed: {exc!r}") from exc

    async def write_all(self, frames: AsyncIterator[bytes]) -> None:
        """The socket's writer: send every frame in order until the source ends or send fails."""
        async for frame in frames:
            await self.send(frame)

    def start_writer(self, frames: AsyncIterator[bytes]) -> asyncio.Task[None]:
        """Run `write_all` as the socket's one writer; the socket closes if it fails."""
        writer = asyncio.create_task(self.write_all(frames))
        writer.add_done_callback(lambda t: None if t.cancelled() else self.close_soon(SEND_FAILED))
        return writer

    def close_soon(self, close: Close) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.close(*close))

    async def close(self, code: CloseCode | int, reason: str) -> None:
        if self.close_code is not None:
            return
        self.close_code = int(code)
        log.info("closing %s: %d %s", self.name, code, reason)
        try:
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self.socket.close(int(code), reason[:120])
        except Exception:  # the connection's end: a peer already gone cannot be told why
            log.debug("closing %s failed", self.name, exc_info=True)

    async def closed(self) -> None:
        """Wait for a scheduled close to finish."""
        if self._closing is not None:
            await self._closing
