"""/ws/client: the viewer socket (PWA, `tether attach`). Subscribe and resume, send commands.

Admission (before hello): an Origin other than the public origin is refused (FORBIDDEN); a
caller without credentials is refused (UNAUTHORIZED); a browser session must also send the
public origin as Origin, so a missing Origin is refused too. The console token needs none.
Every message is then checked against the caller's role on the session's workspace
(MESSAGE_ROLES); a socket of a browser session closes when that session ends.

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

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from server.domain.core import Core
from server.domain.errors import TetherError
from server.domain.identity.roles import Principal, Role
from server.domain.viewers import Viewer
from server.http.auth import maybe_principal, origin_matches
from server.http.ws_conn import (
    Conn,
    ConnectionClosedError,
    MessageDecoder,
    ProtocolViolationError,
    server_hello,
)

log = logging.getLogger(__name__)

MAX_PENDING_COMMANDS = 256  # commands of one socket awaiting their relay's answer
decode: MessageDecoder[m.ClientMessage] = MessageDecoder(m.ClientMessage)

# The role each message needs on its session's workspace. A command not listed here needs
# operator (steering is the least a new command can be); hello is part of the handshake.
MESSAGE_ROLES: dict[type, Role] = {
    m.Subscribe: Role.VIEWER,
    m.Unsubscribe: Role.VIEWER,
    m.StartSession: Role.OPERATOR,
    m.SendInput: Role.OPERATOR,
    m.Resize: Role.OPERATOR,
    m.Interrupt: Role.OPERATOR,
    m.StopSession: Role.OPERATOR,
}


@websocket("/ws/client")
async def client_socket(socket: WebSocket[Any, Any, Any]) -> None:
    core: Core = socket.app.state.core
    client = socket.client.host if socket.client else "?"
    conn = Conn(socket, f"viewer {client}", core.settings.send_timeout_s)
    await socket.accept()
    who = maybe_principal(socket)
    refusal = _refusal(socket, who, core)
    if refusal is not None or who is None:
        code, reason = refusal or (CloseCode.UNAUTHORIZED, "")
        log.warning("viewer from %s refused: %s", client, reason)
        await conn.close(code, reason)
        return
    forget_socket = core.identity.sockets.add(
        who.user_id, who.session_id, lambda: conn.close_soon(CloseCode.UNAUTHORIZED, "signed out")
    )
    viewer = Viewer(
        core.log,
        core.hub,
        max_frames=core.settings.viewer_queue_frames,
        page_events=core.settings.replay_frame_events,
        on_overflow=lambda: conn.close_soon(CloseCode.TOO_SLOW, "too slow: resume from last seq"),
    )
    pending: set[asyncio.Task[None]] = set()
    writer: asyncio.Task[None] | None = None
    try:
        await conn.handshake(decode, core.settings.hello_timeout_s)
        viewer.feed.offer(server_hello(["resume"]))
        writer = asyncio.create_task(conn.write_all(viewer.frames()))
        writer.add_done_callback(
            lambda t: (
                None if t.cancelled() else conn.close_soon(CloseCode.INTERNAL_ERROR, "send failed")
            )
        )
        while True:
            message = decode(await conn.receive())
            if core.identity.clock() >= who.expires_at:
                await conn.close(CloseCode.UNAUTHORIZED, "the browser session expired")
                break
            await _handle(core, who, client, viewer, pending, message)
    except ConnectionClosedError:
        pass
    except ProtocolViolationError as exc:
        log.warning("viewer %s: %s; closing %d", client, exc.reason, exc.code)
        await conn.close(exc.code, exc.reason)
    except Exception:
        log.exception("viewer %s: unexpected error", client)
        await conn.close(CloseCode.INTERNAL_ERROR, "internal error")
    finally:
        forget_socket()
        viewer.close()
        for task in (*pending, *([writer] if writer else [])):
            task.cancel()
        await conn.closed()


def _refusal(
    socket: WebSocket[Any, Any, Any], who: Principal | None, core: Core
) -> tuple[CloseCode, str] | None:
    """Why this handshake is refused (close code, reason), or None when it is admitted."""
    origin = socket.headers.get("origin")
    expected = core.settings.origin
    if origin is not None and not origin_matches(socket, core.settings):
        return CloseCode.FORBIDDEN, f"origin {origin!r} is not {expected}"
    if who is None:
        return CloseCode.UNAUTHORIZED, "sign in with a passkey, or use the console token"
    if who.via == "session" and origin is None:
        return CloseCode.FORBIDDEN, f"a browser socket must come from {expected} (no Origin)"
    return None


async def _authorize(core: Core, who: Principal, message: m.ClientMessage) -> None:
    """Raise ForbiddenError unless `who` may send `message` (unknown sessions: NotFoundError)."""
    role = MESSAGE_ROLES.get(type(message), Role.OPERATOR)
    if isinstance(message, m.StartSession):
        who.require(role, message.relay_id, message.workspace)
    elif isinstance(message, m.Unsubscribe):
        who.require(role)  # drops only this socket's own subscription
    else:
        record = await core.sessions.get(getattr(message, "session_id", ""))
        who.require(role, record.relay_id, record.workspace)


async def _handle(
    core: Core,
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
            await _authorize(core, who, message)
        if isinstance(message, m.Subscribe):
            await viewer.subscribe(message)  # answered by `subscribed`
        elif isinstance(message, m.Unsubscribe):
            viewer.unsubscribe(message.session_id)
            _answer(viewer, request_id, session_id, None)
        elif isinstance(message, m.Hello):
            raise ProtocolViolationError(CloseCode.INVALID_MESSAGE, "hello sent twice")
        elif len(pending) >= MAX_PENDING_COMMANDS:
            # checked before sending anything, so a refused command leaves nothing behind
            raise TetherError("too many commands awaiting an answer", ErrorCode.TIMEOUT)
        elif isinstance(message, m.StartSession):
            _in_background(viewer, pending, request_id, "", core.sessions.start(message))
        elif isinstance(message, m.ResolveApproval):
            decided = msgspec.structs.replace(message, by=who.actor)
            work = _session_of(core.sessions.decide(decided, ip=client), session_id)
            _in_background(viewer, pending, request_id, session_id, work)
        else:
            answer = await core.sessions.steer(message)
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


async def _session_of(answer: Awaitable[object], session_id: str) -> str:
    await answer
    return session_id


def _answer(viewer: Viewer, request_id: str, session_id: str, error: TetherError | None) -> None:
    """A `result` when the client asked for one; failures without request_id become `error`."""
    if error is not None:
        log.info("viewer request %s failed: %s %s", request_id or "-", error.code, error.message)
    if request_id:
        viewer.send(
            m.Result(
                request_id=request_id,
                ok=error is None,
                session_id=session_id,
                code=str(error.code) if error else "",
                message=error.message if error else "",
            )
        )
    elif error is not None:
        viewer.send(
            m.ClientError(code=str(error.code), message=error.message, session_id=session_id)
        )
