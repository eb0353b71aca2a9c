"""/ws/relay: the socket relays dial. Token auth, hello, then events in and commands out.

Each `events` frame is committed in one transaction before its `ack` is sent, so an acked event
is durable; a resend after a crash or a cut connection is skipped by the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import WebSocket, websocket

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from server.domain.core import Core
from server.http.auth import bearer_token
from server.http.ws_conn import (
    Conn,
    ConnectionClosedError,
    MessageDecoder,
    ProtocolViolationError,
    server_hello,
)

log = logging.getLogger(__name__)

OUTBOUND_FRAMES = 4096  # acks and commands queued for one relay before its link is reset
INGEST_QUEUE_FRAMES = 16  # events frames read ahead of the commit under way
INGEST_MAX_BYTES = 512 << 10  # relay frames committed in one transaction, in bytes at most
decode: MessageDecoder[m.RelayMessage] = MessageDecoder(m.RelayMessage)
_encoder = msgspec.json.Encoder()


class _Link:
    """Relays.RelayLink over a Conn: sends go through one bounded queue and one writer."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(OUTBOUND_FRAMES)

    def send(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(CloseCode.INTERNAL_ERROR, "relay link backed up")

    def close(self, code: CloseCode, reason: str) -> None:
        self.conn.close_soon(code, reason)

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.queue.get()


@websocket("/ws/relay")
async def relay_socket(socket: WebSocket[Any, Any, Any]) -> None:
    core: Core = socket.app.state.core
    token = bearer_token(socket)
    relay = await core.relays.authenticate(token) if token else None
    await socket.accept()
    client = socket.client.host if socket.client else "?"
    if "origin" in socket.headers:  # relays are never browsers; a page must not dial this
        await Conn(socket, f"relay from {client}", 1.0).close(
            CloseCode.FORBIDDEN, "the relay socket does not accept browsers (Origin sent)"
        )
        return
    if relay is None:
        log.warning(
            "relay connection from %s refused: %s", client, "bad token" if token else "no token"
        )
        await core.relays.record_refused(token, client)
        await Conn(socket, f"relay from {client}", 1.0).close(
            CloseCode.UNAUTHORIZED, "unknown or revoked relay token"
        )
        return
    conn = Conn(socket, f"relay {relay.name}", core.settings.send_timeout_s)
    link = _Link(conn)
    ingest = _Ingest(core, relay.id, link)
    writer: asyncio.Task[None] | None = None
    attached = False
    try:
        await conn.handshake(decode, core.settings.hello_timeout_s)
        link.send(server_hello(["events", "commands"]))
        writer = asyncio.create_task(conn.write_all(link.frames()))
        writer.add_done_callback(
            lambda t: (
                None if t.cancelled() else conn.close_soon(CloseCode.INTERNAL_ERROR, "send failed")
            )
        )
        ingest.start()
        core.relays.attach(relay.id, link)
        attached = True
        log.info("relay %s (%s) connected from %s", relay.name, relay.id, client)
        await core.relays.record_connected(relay, client)
        while True:
            data = await conn.receive()
            message = decode(data)
            if isinstance(message, m.Events):
                await ingest.frames.put((message, len(data)))  # waits while the queue is full
            elif isinstance(message, m.CommandResult):
                core.relays.resolve(relay.id, message)
            elif isinstance(message, m.RelayInfo):
                await core.relays.store.record_connection(
                    relay.id, message.hostname, _encoder.encode(message), time.time()
                )
            else:
                raise ProtocolViolationError(CloseCode.INVALID_MESSAGE, "hello sent twice")
    except ConnectionClosedError as exc:
        log.info("relay %s disconnected: %s", relay.name, exc)
    except ProtocolViolationError as exc:
        log.warning("relay %s: %s; closing %d", relay.name, exc.reason, exc.code)
        await conn.close(exc.code, exc.reason)
    except Exception:
        log.exception("relay %s: unexpected error", relay.name)
        await conn.close(CloseCode.INTERNAL_ERROR, "internal error")
    finally:
        if attached:
            core.relays.detach(relay.id, link)
        await ingest.stop()
        if writer is not None:
            writer.cancel()
        await conn.closed()
        with contextlib.suppress(Exception):  # the database may already be closed at shutdown
            await core.relays.store.touch(relay.id, time.time())


class _Ingest:
    """Commits a relay's `events` frames while the socket reads the next ones.

    Frames that arrive during a commit are committed together in the next transaction (group
    commit), then acked. The queue is bounded, so a relay can never get far ahead of the disk.
    The task is never cancelled in the middle of a transaction: `stop()` lets it finish the one
    under way; frames still queued are dropped unacked, and the relay sends them again.
    """

    def __init__(self, core: Core, relay_id: str, link: _Link) -> None:
        self._core = core
        self._relay_id = relay_id
        self._link = link
        self.frames: asyncio.Queue[tuple[m.Events, int] | None] = asyncio.Queue(INGEST_QUEUE_FRAMES)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        if self._task is None:
            return
        while not self.frames.empty():
            self.frames.get_nowait()
        self.frames.put_nowait(None)
        with contextlib.suppress(Exception):  # already logged by _ended
            await asyncio.shield(self._task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("ingest for relay %s failed", self._relay_id, exc_info=task.exception())
            self._link.close(CloseCode.INTERNAL_ERROR, "ingest failed")

    async def _run(self) -> None:
        while True:
            first = await self.frames.get()
            if first is None:
                return
            events, size = list(first[0].events), first[1]
            while not self.frames.empty() and size < INGEST_MAX_BYTES:
                more = self.frames.get_nowait()
                if more is None:
                    self.frames.put_nowait(None)
                    break
                events += more[0].events
                size += more[1]
            result = await self._core.log.ingest(self._relay_id, events)
            if result.acked:
                self._link.send(_encoder.encode(m.Ack(acked=result.acked)))
            if result.gaps:
                self._link.close(
                    CloseCode.INTERNAL_ERROR, "relay_seq gap: reconnect and resend unacked events"
                )
            for session_id in result.refused:
                self._link.send(
                    _encoder.encode(
                        m.RelayError(
                            code=ErrorCode.SESSION_OF_OTHER_RELAY,
                            session_id=session_id,
                            message="this session belongs to another relay",
                        )
                    )
                )
