"""A small /ws/relay endpoint written for the relay's tests: it speaks protocol.messages.

It records everything the relay sends (duplicates included), acks events when told to, answers
`relay_info` with `committed` (what it acked so far, or `committed_override`), and lets a test
send commands, cut the connection, or close it with a chosen code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION
from tests.harness import wait_until_async

_decoder = msgspec.json.Decoder(m.RelayMessage)
_encoder = msgspec.json.Encoder()


class FakeServer:
    def __init__(self, *, auto_ack: bool = True, reject_code: int | None = None) -> None:
        self.auto_ack = auto_ack
        self.reject_code = reject_code  # close every connection with this code right away
        self.send_hello = True
        self.clock_offset_s = 0.0  # how far this server's clock is from the relay's
        self.connections = 0
        self.connect_times: list[float] = []
        self.authorization: list[str | None] = []
        self.hellos: list[m.Hello] = []
        self.infos: list[m.RelayInfo] = []
        self.batches: list[list[m.RelayEvent]] = []
        self.results: list[m.CommandResult] = []
        self.close_codes: list[int | None] = []  # what the relay closed each connection with
        self.acked: dict[str, int] = {}  # highest relay_seq acked per session: its "commits"
        self.committed_override: dict[str, int] | None = None  # answer this to relay_info
        self.refuse_after_handshake: int | None = None  # after committed and an ack, close so
        self.early_command: Any = None  # sent between relay_info and committed
        self.ws: ServerConnection | None = None
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> list[m.RelayEvent]:
        return [e for batch in self.batches for e in batch]

    def unique_events(self) -> dict[tuple[str, int], m.RelayEvent]:
        return {(e.session_id, e.relay_seq): e for e in self.events}

    async def start(self, port: int = 0) -> FakeServer:
        self._server = await serve(self._handle, "127.0.0.1", port, max_size=m.MAX_FRAME_BYTES)
        self.port = port or self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def send(self, message: Any) -> None:
        assert self.ws is not None, "no relay connected"
        if isinstance(message, m.Ack):
            self.acked.update(message.acked)
        await self.ws.send(_encoder.encode(message), text=True)

    async def send_raw(self, data: str) -> None:
        assert self.ws is not None, "no relay connected"
        await self.ws.send(data)

    def cut(self) -> None:
        """Drop the TCP connection without a close handshake."""
        if self.ws is not None:
            self.ws.transport.abort()

    async def close_with(self, code: int, reason: str = "") -> None:
        assert self.ws is not None, "no relay connected"
        await self.ws.close(code, reason)

    async def command(self, command: Any, timeout_s: float = 10.0) -> m.CommandResult:
        """Send a command and wait for its result."""
        seen = len(self.results)
        await self.send(command)
        await wait_until_async(lambda: len(self.results) > seen, timeout_s, "a command_result")
        return self.results[seen]

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.connect_times.append(asyncio.get_running_loop().time())
        self.authorization.append(ws.request.headers.get("Authorization") if ws.request else None)
        if self.reject_code is not None:
            await ws.close(self.reject_code, "rejected by the test")
            return
        with contextlib.suppress(ConnectionClosed):
            hello = _decoder.decode(await ws.recv())
            assert isinstance(hello, m.Hello)
            self.hellos.append(hello)
            if not self.send_hello:
                await ws.wait_closed()
                return
            await ws.send(
                _encoder.encode(
                    m.Hello(
                        protocol_version=PROTOCOL_VERSION,
                        software_version="fake",
                        time=time.time() + self.clock_offset_s,
                    )
                )
            )
            self.ws = ws
            async for data in ws:
                message = _decoder.decode(data)
                if isinstance(message, m.RelayInfo):
                    self.infos.append(message)
                    if self.early_command is not None:
                        await ws.send(_encoder.encode(self.early_command))
                    await ws.send(_encoder.encode(self._committed(message)))
                    if self.refuse_after_handshake is not None:
                        await ws.send(_encoder.encode(m.Ack(acked={})))
                        await ws.close(self.refuse_after_handshake, "refused by the test")
                elif isinstance(message, m.Events):
                    self.batches.append(message.events)
                    if self.auto_ack:
                        acked = _highest(message.events)
                        self.acked.update(acked)
                        await ws.send(_encoder.encode(m.Ack(acked=acked)))
                elif isinstance(message, m.CommandResult):
                    self.results.append(message)
        rcvd = ws.protocol.close_rcvd
        self.close_codes.append(rcvd.code if rcvd else None)

    def _committed(self, info: m.RelayInfo) -> m.Committed:
        if self.committed_override is not None:
            return m.Committed(sessions=self.committed_override)
        return m.Committed(
            sessions={mark.session_id: self.acked.get(mark.session_id, 0) for mark in info.sessions}
        )


def _highest(events: list[m.RelayEvent]) -> dict[str, int]:
    acked: dict[str, int] = {}
    for e in events:
        acked[e.session_id] = max(acked.get(e.session_id, 0), e.relay_seq)
    return acked
