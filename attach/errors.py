"""Errors of the terminal client. Each ends the command with a one-line message and exit 1.

    AttachError
    ├── UnreachableError   the server could not be reached, or answered something unreadable
    ├── ServerError        the server answered with its JSON error shape (code + message)
    ├── ChoiceError        a session / relay / workspace name is unknown or ambiguous
    └── LinkStoppedError   the viewer socket was closed with a "stop" code, or refused a request

Third-party exceptions (urllib, websockets, OSError) are wrapped where they enter.
"""

from __future__ import annotations


class AttachError(Exception):
    """Something the user must fix or know about; `str()` is the message to show."""


class UnreachableError(AttachError):
    pass


class ServerError(AttachError):
    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"{message} ({code})" if code else message)
        self.code = code
        self.status = status


class ChoiceError(AttachError):
    pass


class LinkStoppedError(AttachError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
