"""Errors to what the peer sees, in one place: HTTP responses, WebSocket messages and closes.

HTTP: domain and framework errors become one JSON shape,
{"error": {"code": "<ErrorCode>", "message": "<for humans>"}}.

WebSockets: a domain error from a viewer's message becomes a `result` (when the message had a
request_id) or an `error` message, and the socket stays open. What ends a socket ends it with a
close from this module:

    Exception
    ├── ConnectionClosedError    the peer went away, or this side closed: nothing to send
    ├── ProtocolViolationError   the peer broke the protocol: closed with the violation's Close
    └── anything else            a fault of the server: logged with its traceback, INTERNAL

Every Close the server sends is named here; protocol/codes.py says which codes mean reconnect.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from server.domain.errors import BusyError, TetherError

log = logging.getLogger(__name__)

STATUS_OF_CODE: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.SESSION_OF_OTHER_RELAY: 403,
    ErrorCode.WORKSPACE_NOT_ALLOWED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_SESSION: 404,
    ErrorCode.UNKNOWN_RELAY: 404,
    ErrorCode.SESSION_ENDED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.EXPIRED: 504,
    ErrorCode.UNKNOWN_AGENT: 422,
    ErrorCode.SPAWN_FAILED: 422,
    ErrorCode.UNKNOWN_APPROVAL: 409,
    ErrorCode.NOT_SUPPORTED: 422,
    ErrorCode.AGENT_CRASHED: 502,
    ErrorCode.RELAY_OFFLINE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.AUDIO_TOO_LONG: 413,
    ErrorCode.BAD_AUDIO: 400,
    ErrorCode.VOICE_BUSY: 503,
    ErrorCode.VOICE_DISABLED: 404,
    ErrorCode.STORAGE_FULL: 507,
    ErrorCode.STORAGE_BUSY: 503,
    ErrorCode.INTERNAL: 500,
}
_CODE_OF_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


class ErrorDetail(msgspec.Struct):
    code: str  # an ErrorCode
    message: str


class ErrorBody(msgspec.Struct):
    """The one error shape, as the OpenAPI schema documents it for every route."""

    error: ErrorDetail


ERROR_RESPONSES = {
    status: ResponseSpec(ErrorBody, description=description, generate_examples=False)
    for status, description in (
        (400, "Bad request: the input failed validation"),
        (401, "No valid credentials: sign in with a passkey, or use the console token"),
        (403, "Not allowed: role, workspace grant or origin"),
        (404, "No such object"),
        (429, "Too many attempts from this address"),
    )
}


def error_response(
    status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        {"error": {"code": code.value, "message": message}}, status_code=status, headers=headers
    )


def tether_error(_: Request[Any, Any, Any], exc: TetherError) -> Response[Any]:
    headers = {"retry-after": str(exc.retry_after_s)} if isinstance(exc, BusyError) else None
    return error_response(STATUS_OF_CODE.get(exc.code, 500), exc.code, exc.message, headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    message = exc.detail
    if isinstance(exc, ValidationException) and exc.extra:
        message = f"{exc.detail}: {exc.extra}"
    code = _CODE_OF_STATUS.get(exc.status_code, ErrorCode.BAD_REQUEST)
    if exc.status_code >= 500:
        code = ErrorCode.INTERNAL
    return error_response(exc.status_code, code, str(message))


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, ErrorCode.INTERNAL, "internal error")


HANDLERS: dict[Any, Any] = {
    TetherError: tether_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


class Close(NamedTuple):
    """A WebSocket close frame: its code and its reason (at most 120 characters are sent)."""

    code: CloseCode
    reason: str


# Admission
NO_CREDENTIALS = Close(CloseCode.UNAUTHORIZED, "sign in with a passkey, or use the console token")
UNKNOWN_RELAY_TOKEN = Close(CloseCode.UNAUTHORIZED, "unknown or revoked relay token")
BROWSER_ON_RELAY_SOCKET = Close(
    CloseCode.FORBIDDEN, "the relay socket does not accept browsers (Origin sent)"
)
# The credentials ended while the socket was open, or another socket took over
SIGNED_OUT = Close(CloseCode.UNAUTHORIZED, "signed out")
SESSION_EXPIRED = Close(CloseCode.UNAUTHORIZED, "the browser session expired")
RELAY_REVOKED = Close(CloseCode.UNAUTHORIZED, "this relay's token was revoked")
RELAY_SUPERSEDED = Close(CloseCode.SUPERSEDED, "a newer connection of this relay took over")
# Protocol violations
HELLO_TIMEOUT = Close(CloseCode.HELLO_TIMEOUT, "no hello in time")
HELLO_NOT_FIRST = Close(CloseCode.INVALID_MESSAGE, "the first message must be hello")
HELLO_TWICE = Close(CloseCode.INVALID_MESSAGE, "hello sent twice")
# Back-pressure and faults
TOO_SLOW = Close(CloseCode.TOO_SLOW, "too slow: resume from last seq")
SEND_FAILED = Close(CloseCode.INTERNAL_ERROR, "send failed")
LINK_BACKED_UP = Close(CloseCode.INTERNAL_ERROR, "relay link backed up")
INGEST_FAILED = Close(CloseCode.INTERNAL_ERROR, "ingest failed")
RELAY_SEQ_GAP = Close(
    CloseCode.INTERNAL_ERROR, "relay_seq gap: reconnect and resend unacked events"
)
INTERNAL = Close(CloseCode.INTERNAL_ERROR, "internal error")


def wrong_origin(origin: str, expected: str) -> Close:
    return Close(CloseCode.FORBIDDEN, f"origin {origin!r} is not {expected}")


def no_origin(expected: str) -> Close:
    return Close(CloseCode.FORBIDDEN, f"a browser socket must come from {expected} (no Origin)")


def invalid_message(problem: object) -> Close:
    return Close(CloseCode.INVALID_MESSAGE, f"invalid message: {problem}")


def frame_too_big(size: int, limit: int) -> Close:
    return Close(CloseCode.MESSAGE_TOO_BIG, f"frame of {size} bytes over {limit}")


def unsupported_protocol(version: int, supported: list[int]) -> Close:
    return Close(
        CloseCode.UNSUPPORTED_PROTOCOL,
        f"protocol version {version} is not supported (this server speaks {supported})",
    )


class ConnectionClosedError(Exception):
    """The peer went away, or this side closed the socket."""


class ProtocolViolationError(Exception):
    def __init__(self, close: Close) -> None:
        super().__init__(close.reason)
        self.close = close


def close_for(exc: Exception) -> Close:
    """How an error that ends a socket closes it."""
    return exc.close if isinstance(exc, ProtocolViolationError) else INTERNAL


@contextlib.asynccontextmanager
async def socket_boundary(
    name: str, close: Callable[[CloseCode, str], Awaitable[None]]
) -> AsyncIterator[None]:
    """A socket's connection boundary: whatever ends it is logged and closed as above."""
    try:
        yield
    except ConnectionClosedError as exc:
        log.info("%s disconnected: %s", name, exc)
    except ProtocolViolationError as exc:
        log.warning("%s: %s; closing %d", name, exc.close.reason, exc.close.code)
        await close(*close_for(exc))
    except Exception as exc:
        log.exception("%s: unexpected error", name)
        await close(*close_for(exc))


def error_message(error: TetherError, request_id: str, session_id: str) -> m.Result | m.ClientError:
    """A domain error answering a viewer's message: its `result`, or `error` without request_id."""
    if request_id:
        return m.Result(
            request_id=request_id,
            ok=False,
            session_id=session_id,
            code=str(error.code),
            message=error.message,
        )
    return m.ClientError(code=str(error.code), message=error.message, session_id=session_id)
