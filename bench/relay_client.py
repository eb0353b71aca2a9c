"""The relay side of bench/pipeline.py: events encoded as the relay's outbox sends them, and one
/ws/relay connection that keeps a bounded window of unacked events, as the real relay does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

PAYLOAD_BYTES = 100  # raw PTY bytes per terminal_output event (136 characters in base64)
WINDOW_EVENTS = 5_000  # sent but unacked events before sending pauses: inflight_max_events
MAX_FRAME_BYTES = 4 << 20  # what this client accepts; the server sends at most 1 MiB
CONNECT_TIMEOUT_S = 10.0

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(m.ServerToRelay)


class RelayLinkError(Exception):
    """The server refused the relay's events, or the connection ended under the bench."""


def terminal_bytes(relay_seq: int) -> bytes:
    """PAYLOAD_BYTES of plausible PTY output: a colored progress line, different per event."""
    line = f"\x1b[2K\r\x1b[32m[{relay_seq:08d}]\x1b[0m compiling crate {relay_seq % 97:02d}/97 "
    return line.encode().ljust(PAYLOAD_BYTES, b".")[:PAYLOAD_BYTES]


def started_frame(session_id: str) -> bytes:
    """The first event of a session (relay_seq 1), sent before any clock starts."""
    event = m.SessionStarted(agent="pty", workspace="bench", command=["bench"])
    relay_event = m.RelayEvent(session_id=session_id, relay_seq=1, ts=time.time(), event=event)
    return _encoder.encode(m.Events(events=[relay_event]))


def output_frame(session_id: str, first_seq: int, count: int, ts: float) -> bytes:
    return _encoder.encode(
        m.Events(
            events=[
                m.RelayEvent(
                    session_id=session_id,
                    relay_seq=seq,
                    ts=ts,
                    event=m.TerminalOutput(data=terminal_bytes(seq)),
                )
                for seq in range(first_seq, first_seq + count)
            ]
        )
    )


@dataclass(frozen=True)
class Frame:
    data: bytes
    last_seq: int
    count: int


def output_frames(session_id: str, first_seq: int, total: int, batch: int) -> list[Frame]:
    frames = []
    for start in range(first_seq, first_seq + total, batch):
        count = min(batch, first_seq + total - start)
        frames.append(
            Frame(output_frame(session_id, start, count, time.time()), start + count - 1, count)
        )
    return frames


class RelayClient:
    """A relay connection: sends `events` frames within a window of unacked events, reads acks."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent: dict[str, int] = {}  # session -> highest relay_seq sent
        self.acked: dict[str, int] = {}  # session -> highest relay_seq acked
        self._progress = asyncio.Event()
        self.on_ack: Callable[[], None] | None = None  # called as each ack arrives
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str | None, compression: str | None) -> RelayClient:
        """Tether's /ws/relay (token given: bearer auth and hello) or the bare server's."""
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"} if token else None,
            max_size=MAX_FRAME_BYTES,
            compression=compression,
            open_timeout=CONNECT_TIMEOUT_S,
        )
        if token:
            hello = m.Hello(
                protocol_version=PROTOCOL_VERSION,
                software_version=f"bench/{SOFTWARE_VERSION}",
                capabilities=["events"],
            )
            await ws.send(_encoder.encode(hello), text=True)
            data = await asyncio.wait_for(ws.recv(decode=False), CONNECT_TIMEOUT_S)
            if not isinstance(_decoder.decode(data), m.Hello):
                raise RelayLinkError(f"expected the server's hello, got {data[:200]!r}")
        return cls(ws)

    async def _read(self) -> None:
        try:
            while True:
                message = _decoder.decode(await self.ws.recv(decode=False))
                if isinstance(message, m.Ack):
                    for sid, seq in message.acked.items():
                        self.acked[sid] = max(self.acked.get(sid, 0), seq)
                    if self.on_ack is not None:
                        self.on_ack()
                    self._progress.set()
                elif isinstance(message, m.RelayError):
                    raise RelayLinkError(f"server refused events: {message.code} {message.message}")
        finally:
            self._progress.set()  # wake waiters so they see the reader has ended

    async def _wait_progress(self) -> None:
        if self._reader.done():
            raise RelayLinkError(f"relay connection ended: {self._reader.exception()!r}")
        self._progress.clear()
        await self._progress.wait()

    def inflight(self) -> int:
        return sum(seq - self.acked.get(sid, 0) for sid, seq in self.sent.items())

    async def send(self, session_id: str, frame: Frame) -> None:
        while self.inflight() + frame.count > WINDOW_EVENTS:
            await self._wait_progress()
        self.sent[session_id] = frame.last_seq
        await self.ws.send(frame.data, text=True)

    async def wait_acked(self, session_id: str, relay_seq: int) -> None:
        while self.acked.get(session_id, 0) < relay_seq:
            await self._wait_progress()

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()
