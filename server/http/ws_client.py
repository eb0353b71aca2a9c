"""/ws/client: the viewer socket (PWA, `tether attach`). Subscribe and resume, send commands.

Admission (before hello): an Origin other than the public origin is refused (FORBIDDEN); a
caller without credentials is refused (UNAUTHORIZED); a browser session must also send the
public origin as Origin, so a missing Origin is refused too. The console token needs none.
Every message is then checked against the caller's role on the session's workspace
(Sessions.authorize); a socket of a browser session closes when that session ends.

Messages are handled in arrival order; commands are sent to the relay in that order and their
answers awaited in the background, so a slow relay never stalls a viewer's keystrokes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from protocol import messages as m
from protocol.codes import ErrorCode
from server.domain.errors import TetherError
from server.domain.events import EventLog
from server.domain.fanout import Hub
from server.domain.identity.roles import Principal
from server.domain.identity.service import Identity
from server.domain.sessions import Sessions, Started
from server.domain.viewers import Viewer
from server.http.auth import maybe_principal, origin_matches
from server.http.error_handlers import (
    HELLO_TWICE,
    NO_CREDENTIALS,
    SESSION_EXPIRED,
    SIGNED_OUT,
    TOO_SLOW,
    Close,
    ProtocolViolationError,
    error_message,
    no_origin,
    socket_boundary,
    wrong_origin,
)
from server.http.ws_conn import Conn, MessageDecoder, server_hello
from server.settings import Settings

log = logging.getLogger(__name__)

MAX_PENDING_COMMANDS = 256  # commands of one socket awaiting their relay's answer
decode: MessageDecoder[m.ClientMessage] = MessageDecoder(m.ClientMessage)


@websocket("/ws/client")
async def client_socket(
    socket: WebSocket[Any, Any, Any],
    settings: NamedDependency[Settings],
    identity: NamedDependency[Identity],
    sessions: NamedDependency[Sessions],
    event_log: NamedDependency[EventLog],
    hub: NamedDependency[Hub],
) -> None:
    client = socket.client.host if socket.client else "?"
    conn = Conn(socket, f"viewer {client}", settings.send_timeout_s)
    await socket.accept()
    who = maybe_principal(socket)
    refusal = _refusal(socket, who, settings)
    if refusal is not None or who is None:
        refusal = refusal or NO_CREDENTIALS
        log.warning("viewer from %s refused: %s", client, refusal.reason)
        await conn.close(*refusal)
        return
    forget_socket = identity.sockets.add(
        who.user_id, who.session_id, lambda: conn.close_soon(SIGNED_OUT)
    )
    viewer = Viewer(
        event_log,
        hub,
        max_frames=settings.viewer_queue_frames,
        page_events=settings.replay_frame_events,
        on_overflow=lambda: conn.close_soon(TOO_SLOW),
    )
    pending: set[asyncio.Task[None]] = set()
    writer: asyncio.Task[None] | None = None
    try:
        async with socket_boundary(conn.name, conn.close):
            await conn.handshake(decode, settings.hello_timeout_s)
            viewer.feed.offer(server_hello(["resume"]))
            writer = conn.start_writer(viewer.frames())
            while True:
                message = decode(await conn.receive())
                if identity.clock() >= who.expires_at:
                    await conn.close(*SESSION_EXPIRED)
                    break
                await _handle(sessions, who, client, viewer, pending, message)
    finally:
        forget_socket()
        viewer.close()
        for task in (*pending, *([writer] if writer else [])):
            task.cancel()
        await conn.closed()


def _refusal(
    socket: WebSocket[Any, Any, Any], who: Principal | None, settings: Settings
) -> Close | None:
    """Why this handshake is refused, or None when it is admitted."""
    origin = socket.headers.get("origin")
    if origin is not None and not origin_matches(socket, settings):
        return wrong_origin(origin, settings.origin)
    if who is None:
        return NO_CREDENTIALS
    if who.via == "session" and origin is None:
        return no_origin(settings.origin)
    return None


async def _handle(
    sessions: Sessions,
    who: Principal,
    client: str,
    viewer: Viewer,
    pending: set[asyncio.Task[None]],
    message: m.ClientMessage,
) -> None:
    request_id = getattr(message, "request_id", "")
    session_id = getattr(message, "session_id", "")
    try:
        if not isinstance(message, m.Hello):
            await sessions.authorize(who, message)
        if isinstance(message, m.Subscribe):
            await viewer.subscribe(message)  # answered by `subscribed`
        elif isinstance(message, m.Unsubscribe):
            viewer.unsubscribe(message.session_id)
            _answer(viewer, request_id, session_id, None)
        elif isinstance(message, m.Hello):
            raise ProtocolViolationError(HELLO_TWICE)
        elif len(pending) >= MAX_PENDING_COMMANDS:
            # checked before sending anything, so a refused command leaves nothing behind
            raise TetherError("too many commands awaiting an answer", ErrorCode.TIMEOUT)
        elif isinstance(message, m.StartSession):
            started = _started_id(sessions.start(message, actor=who.actor))
            _in_background(viewer, pending, request_id, "", started)
        elif isinstance(message, m.ResolveApproval):
            decided = msgspec.structs.replace(message, by=who.name)
            work = _session_of(sessions.decide(decided, who.actor, ip=client), session_id)
            _in_background(viewer, pending, request_id, session_id, work)
        else:
            answer = await sessions.steer(message)
            _in_background(viewer, pending, request_id, session_id, _session_of(answer, session_id))
    except TetherError as exc:
        _answer(viewer, request_id, session_id, exc)


def _in_background(
    viewer: Viewer,
    pending: set[asyncio.Task[None]],
    request_id: str,
    session_id: str,
    work: Awaitable[str],
) -> None:
    """Await `work` (which gives the session id to answer with) without holding up the socket."""

    async def run() -> None:
        try:
            outcome = await work
        except TetherError as exc:
            _answer(viewer, request_id, session_id, exc)
            return
        _answer(viewer, request_id, outcome, None)

    task = asyncio.create_task(run())
    pending.add(task)
    task.add_done_callback(pending.discard)


async def _started_id(started: Awaitable[Started]) -> str:
    return (await started).session_id


async def _session_of(answer: Awaitable[object], session_id: str) -> str:
    await answer
    return session_id


def _answer(viewer: Viewer, request_id: str, session_id: str, error: TetherError | None) -> None:
    """A `result` when the client asked for one; failures without request_id become `error`."""
    if error is not None:
        log.info("viewer request %s failed: %s %s", request_id or "-", error.code, error.message)
        viewer.send(error_message(error, request_id, session_id))
    elif request_id:
        viewer.send(m.Result(request_id=request_id, ok=True, session_id=session_id))
