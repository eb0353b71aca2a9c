"""/ws/client: the viewer socket (PWA, `tether attach`). Subscribe and resume, send commands.

Messages are handled in arrival order; commands are sent to the relay in that order and their
answers awaited in the background, so a slow relay never stalls a viewer's keystrokes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from litestar import WebSocket, websocket

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from server.domain.core import Core
from server.domain.errors import TetherError
from server.domain.viewers import Viewer
from server.http.auth import viewer_refusal
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


@websocket("/ws/client")
async def client_socket(socket: WebSocket[Any, Any, Any]) -> None:
    core: Core = socket.app.state.core
    client = socket.client.host if socket.client else "?"
    conn = Conn(socket, f"viewer {client}", core.settings.send_timeout_s)
    await socket.accept()
    refusal = viewer_refusal(socket, core.settings)
    if refusal is not None:
        log.warning("viewer from %s refused: %s", client, refusal)
        await conn.close(CloseCode.FORBIDDEN, refusal)
        return
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
            await _handle(core, viewer, pending, message)
    except ConnectionClosedError:
        pass
    except ProtocolViolationError as exc:
        log.warning("viewer %s: %s; closing %d", client, exc.reason, exc.code)
        await conn.close(exc.code, exc.reason)
    except Exception:
        log.exception("viewer %s: unexpected error", client)
        await conn.close(CloseCode.INTERNAL_ERROR, "internal error")
    finally:
        viewer.close()
        for task in (*pending, *([writer] if writer else [])):
            task.cancel()
        await conn.closed()


async def _handle(
    core: Core, viewer: Viewer, pending: set[asyncio.Task[None]], message: m.ClientMessage
) -> None:
    request_id = getattr(message, "request_id", "")
    session_id = getattr(message, "session_id", "")
    try:
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


async def _session_of(answer: Awaitable[m.CommandResult], session_id: str) -> str:
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
