"""Domain errors and framework errors to HTTP responses, in one place, with one JSON shape:

{"error": {"code": "<ErrorCode>", "message": "<for humans>"}}
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from protocol.codes import ErrorCode
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
