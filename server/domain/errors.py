"""The server's domain errors. Each carries a stable ErrorCode; the transport layer maps them to
HTTP statuses and WebSocket error messages in exactly one place (http/error_handlers.py).

    TetherError
    ├── BadRequestError        input that can never succeed as sent
    ├── UnauthorizedError      missing or wrong credentials (a refused passkey, a dead link)
    ├── NotFoundError          unknown session or relay
    ├── ForbiddenError         the caller may not touch this object
    ├── ConflictError          the object is in a state that refuses the request (ended session)
    ├── UnavailableError       the relay is offline or did not answer in time
    │   └── BusyError          a bounded queue is full; carries when to retry
    │       └── StorageBusyError   another process holds the database's write lock
    ├── StorageFullError       the server's disk is full: nothing was written
    ├── RateLimitedError       too many attempts from one address in a short time
    ├── TooLargeError          an upload over a configured size or length
    └── BadAudioError          a voice clip that is empty or does not decode as audio
"""

from __future__ import annotations

from protocol.codes import ErrorCode


class TetherError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequestError(TetherError):
    code = ErrorCode.BAD_REQUEST


class UnauthorizedError(TetherError):
    code = ErrorCode.UNAUTHORIZED


class NotFoundError(TetherError):
    code = ErrorCode.NOT_FOUND


class ForbiddenError(TetherError):
    code = ErrorCode.FORBIDDEN


class ConflictError(TetherError):
    code = ErrorCode.SESSION_ENDED


class UnavailableError(TetherError):
    code = ErrorCode.RELAY_OFFLINE


class RateLimitedError(TetherError):
    code = ErrorCode.RATE_LIMITED


class BusyError(UnavailableError):
    code = ErrorCode.VOICE_BUSY

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageBusyError(BusyError):
    code = ErrorCode.STORAGE_BUSY


STORAGE_FULL_MESSAGE = "server storage full"  # what users see, in the API and in the app


class StorageFullError(TetherError):
    code = ErrorCode.STORAGE_FULL

    def __init__(self, message: str = STORAGE_FULL_MESSAGE) -> None:
        super().__init__(message)


class TooLargeError(TetherError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class BadAudioError(TetherError):
    code = ErrorCode.BAD_AUDIO
