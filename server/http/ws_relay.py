"""/ws/relay: the socket relays dial. Token auth, hello, then events in and commands out.

The relay's `relay_info` carries its marks; the server answers `committed` after comparing them
with its own (server/domain/reconcile.py), and the relay streams nothing before that answer.

Each `events` frame is committed in one transaction before its `ack` is sent, so an acked event
is durable; a resend after a crash or a cut connection is skipped by the event log. A disk that
is full (or a write lock another process holds) does not end the link: the frames stay unacked,
so the relay keeps them and stops sending, and the commit is retried until it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from protocol import messages as m
from protocol.codes import ErrorCode
from server.domain.errors import StorageBusyError, StorageFullError
from server.domain.events import EventLog, IngestResult
from server.domain.names import MAX_NAME_CHARS
from server.domain.reconcile import reconcile
from server.domain.relays import Relays, clean_info
from server.http.auth import bearer_token
from server.http.error_handlers import (
    BROWSER_ON_RELAY_SOCKET,
    HELLO_TWICE,
    INGEST_FAILED,
    LINK_BACKED_UP,
    RELAY_REVOKED,
    RELAY_SEQ_GAP,
    RELAY_SUPERSEDED,
    UNKNOWN_RELAY_TOKEN,
    ProtocolViolationError,
    socket_boundary,
)
from server.http.group_commit import GroupCommit, Queued
from server.http.ws_conn import Conn, MessageDecoder, server_hello
from server.settings import Settings

log = logging.getLogger(__name__)

OUTBOUND_FRAMES = 4096  # acks and commands queued for one relay before its link is reset
INGEST_QUEUE_FRAMES = 16  # events frames read ahead of the commit under way
STORAGE_RETRY_FIRST_S = 0.2  # a commit the disk refused is tried again after this, doubling
STORAGE_RETRY_MAX_S = 5.0  # to at most this: how late ingestion notices freed space
decode: MessageDecoder[m.RelayMessage] = MessageDecoder(m.RelayMessage)
OTHER_RELAY = "this session belongs to another relay"
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
            self.conn.close_soon(LINK_BACKED_UP)

    def revoked(self) -> None:
        self.conn.close_soon(RELAY_REVOKED)

    def superseded(self) -> None:
        self.conn.close_soon(RELAY_SUPERSEDED)

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.queue.get()


@websocket("/ws/relay")
async def relay_socket(
    socket: WebSocket[Any, Any, Any],
    settings: NamedDependency[Settings],
    relays: NamedDependency[Relays],
    event_log: NamedDependency[EventLog],
) -> None:
    token = bearer_token(socket)
    relay = await relays.authenticate(token) if token else None
    await socket.accept()
    client = socket.client.host if socket.client else "?"
    if "origin" in socket.headers:  # relays are never browsers; a page must not dial this
        await Conn(socket, f"relay from {client}", 1.0).close(*BROWSER_ON_RELAY_SOCKET)
        return
    if relay is None:
        log.warning(
            "relay connection from %s refused: %s", client, "bad token" if token else "no token"
        )
        await relays.record_refused(token, client)
        await Conn(socket, f"relay from {client}", 1.0).close(*UNKNOWN_RELAY_TOKEN)
        return
    conn = Conn(socket, f"relay {relay.name}", settings.send_timeout_s)
    link = _Link(conn)
    ingest = _Ingest(event_log, relay.id, link)
    writer: asyncio.Task[None] | None = None
    attached = False
    try:
        async with socket_boundary(conn.name, conn.close):
            await conn.handshake(decode, settings.hello_timeout_s)
            link.send(server_hello(["events", "commands"]))
            writer = conn.start_writer(link.frames())
            ingest.start()
            relays.attach(relay.id, link)
            attached = True
            log.info("relay %s (%s) connected from %s", relay.name, relay.id, client)
            with contextlib.suppress(StorageFullError, StorageBusyError):  # the link comes first
                await relays.record_connected(relay, client)
            await _receive(conn, relays, relay.id, ingest, event_log)
    finally:
        if attached:
            relays.detach(relay.id, link)
        await ingest.stop()
        if writer is not None:
            writer.cancel()
        await conn.closed()
        try:
            await relays.touch(relay.id)
        except Exception:  # the connection's end: the database may already be closed at shutdown
            log.debug("relay %s: last-seen time not written", relay.name, exc_info=True)


async def _receive(
    conn: Conn, relays: Relays, relay_id: str, ingest: _Ingest, event_log: EventLog
) -> None:
    """A relay's frames, in order, until the socket ends."""
    while True:
        data = await conn.receive()
        message = decode(data)
        if isinstance(message, m.Events):
            await ingest.frames.put((message, len(data)))  # waits while the queue is full
        elif isinstance(message, m.CommandResult):
            # a late answer the disk cannot record stays pending: the start is sent again
            with contextlib.suppress(StorageFullError, StorageBusyError):
                await relays.resolve(relay_id, message)
        elif isinstance(message, m.RelayInfo):
            info = clean_info(relay_id, message)
            ingest.workspaces = frozenset(w.name for w in info.workspaces)
            with contextlib.suppress(StorageFullError, StorageBusyError):  # kept next time
                await relays.record_info(relay_id, info)
            marks = await reconcile(
                event_log, relays.audit, relay_id, info.sessions, ingest.workspaces
            )
            ingest.send(m.Committed(sessions=marks))
        else:
            raise ProtocolViolationError(HELLO_TWICE)


class _Ingest:
    """Commits a relay's `events` frames while the socket reads the next ones.

    Frames that arrive during a commit, or while a trickle waits for company, are committed
    together in the next transaction (server/http/group_commit.py), then acked. The queue is
    bounded, so a relay can never get far ahead of the disk. The task is never cancelled in the
    middle of a transaction: `stop()` lets it finish the one under way; frames still queued or
    gathered are dropped unacked, and the relay sends them again.
    """

    def __init__(self, event_log: EventLog, relay_id: str, link: _Link) -> None:
        self._event_log = event_log
        self._relay_id = relay_id
        self._link = link
        self.workspaces: frozenset[str] = frozenset()  # declared in the relay's relay_info
        self.frames: asyncio.Queue[Queued] = asyncio.Queue(INGEST_QUEUE_FRAMES)
        self._group = GroupCommit(event_log.page_size)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def send(self, message: m.ServerToRelay) -> None:
        self._link.send(_encoder.encode(message))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        while not self.frames.empty():
            self.frames.get_nowait()
        self.frames.put_nowait(None)
        with contextlib.suppress(Exception):  # already logged by _ended
            await asyncio.shield(self._task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("ingest for relay %s failed", self._relay_id, exc_info=task.exception())
            self._link.conn.close_soon(INGEST_FAILED)

    async def _run(self) -> None:
        while (events := await self._group.gather(self.frames)) is not None:
            result = await self._commit(events)
            if result is None:
                return
            if result.acked:
                self._link.send(_encoder.encode(m.Ack(acked=result.acked)))
            if result.gaps:
                self._link.conn.close_soon(RELAY_SEQ_GAP)
            for session_id in result.refused:
                self._refuse(session_id, ErrorCode.SESSION_OF_OTHER_RELAY, OTHER_RELAY)
            for session_id in result.invalid:
                self._refuse(
                    session_id,
                    ErrorCode.BAD_REQUEST,
                    f"a session id is 1-{MAX_NAME_CHARS} printable characters",
                )

    def _refuse(self, session_id: str, code: ErrorCode, message: str) -> None:
        error = m.RelayError(code=code, session_id=session_id, message=message)
        self._link.send(_encoder.encode(error))

    async def _commit(self, events: list[m.RelayEvent]) -> IngestResult | None:
        """Ingest, waiting out a full disk or a lock held elsewhere; None when the link ends
        first (the frames were never acked: the relay sends them again)."""
        delay = STORAGE_RETRY_FIRST_S
        while True:
            try:
                return await self._event_log.ingest(self._relay_id, events, self.workspaces)
            except (StorageFullError, StorageBusyError):
                pass  # the database logs the state change once
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return None
            delay = min(STORAGE_RETRY_MAX_S, delay * 2)
