"""The relay's exceptions, one tree:

    RelayError                   base of everything the relay raises on purpose
    ├── ConfigError              bad settings: a one-line message, `tether relay` exits 2
    ├── StateDirBusyError        another relay process holds the state directory
    ├── OutboxError              the on-disk outbox could not be read or written
    │   └── OutboxCorruptError   the outbox file is damaged: `tether relay` exits 1 with what to do
    ├── LinkError                the server broke the protocol on one connection; reconnect
    ├── LinkStoppedError         the server closed with a "stop" code; the relay exits 2
    └── CommandError             a session command was refused; carries a protocol ErrorCode
        └── SpawnError           the agent process could not be started (SPAWN_FAILED)

Third-party exceptions (sqlite3, websockets, OSError from ptyprocess) are wrapped once, where
they enter: `raise OutboxError(...) from exc`.
"""

from __future__ import annotations

from protocol.codes import ErrorCode


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""


class ConfigError(RelayError):
    """A setting is missing or invalid. The message is one line, meant for the user."""


class StateDirBusyError(RelayError):
    """Another relay process is already using this state directory."""


class OutboxError(RelayError):
    """The SQLite outbox failed."""


class OutboxCorruptError(OutboxError):
    """The outbox file is damaged (not a database, or a malformed page): the relay stops."""


class LinkError(RelayError):
    """The server did something unexpected on this connection; the link drops it and redials."""


class LinkStoppedError(RelayError):
    """The server closed the link with a code that says "do not reconnect"."""

    def __init__(self, code: int, explanation: str) -> None:
        super().__init__(f"the server stopped this relay (code {code}): {explanation}")
        self.code = code
        self.explanation = explanation


class CommandError(RelayError):
    """A command from the server was refused; `code` goes into CommandResult.code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SpawnError(CommandError):
    """The agent process could not be started."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SPAWN_FAILED, message)
