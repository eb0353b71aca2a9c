"""What the outbox does when SQLite fails: which failures are which, and the write stall.

    disk full, I/O error, lock held too long   the write is retried later (WriteStall); the
                                               events stay in memory and producers pause
    "database disk image is malformed",        the outbox cannot be trusted: the relay stops
    "file is not a database"                   with one line that says what to do

SQLite reports each as a `sqlite3.Error` whose `sqlite_errorcode` carries the primary result
code in its low byte; that is what is classified here, once, for the whole relay.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from protocol.codes import ErrorCode
from relay.errors import CommandError, OutboxCorruptError, OutboxError

log = logging.getLogger(__name__)

SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26
RETRY_FIRST_S = 0.1  # the first retry after a failed write: a lock or a hiccup clears fast
RETRY_MAX_S = 5.0  # the longest wait between retries: how late the relay notices free space


def primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of `exc` (0 when the driver did not set one)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_corrupt(exc: sqlite3.Error) -> bool:
    return primary_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def corrupt_error(path: Path, exc: sqlite3.Error) -> OutboxCorruptError:
    """The one line a user needs when the outbox file is damaged."""
    return OutboxCorruptError(
        f"the outbox {path} is damaged ({exc}); stop here, move it aside with its -wal and -shm "
        f"files (mv {path} {path}.damaged) and start the relay again: it creates a new one. "
        "Events in the old file that the server had not acknowledged are lost."
    )


def reason(exc: BaseException) -> str:
    """A short cause for the log line: "disk full", or SQLite's own words."""
    cause = exc.__cause__ if isinstance(exc, OutboxError) and exc.__cause__ else exc
    if isinstance(cause, sqlite3.Error) and primary_code(cause) == SQLITE_FULL:
        return "disk full"
    return str(cause)


@contextlib.contextmanager
def refused_as_command_error() -> Iterator[None]:
    """A write the disk refuses, as the refusal of the command that needed it."""
    try:
        yield
    except OutboxCorruptError:
        raise
    except OutboxError as exc:
        cause = reason(exc)
        code = ErrorCode.STORAGE_FULL if cause == "disk full" else ErrorCode.STORAGE_BUSY
        raise CommandError(code, f"the relay cannot write its outbox ({cause})") from exc


@contextlib.contextmanager
def best_effort(what: str) -> Iterator[None]:
    """Bookkeeping a session can go on without: a refused write is logged, not raised."""
    try:
        yield
    except OutboxCorruptError:
        raise
    except OutboxError as exc:
        log.warning("outbox: %s not written (%s)", what, reason(exc))


class WriteStall:
    """Whether the outbox can write, with one log line per change and a growing retry delay.

    The delay doubles from RETRY_FIRST_S to RETRY_MAX_S, so waiting for space costs a handful
    of small transactions a minute and no CPU in between.
    """

    def __init__(self) -> None:
        self.stalled = False
        self._delay_s = RETRY_FIRST_S

    def failed(self, exc: OutboxError) -> float:
        """Note a failed write; returns how long to wait before the next try."""
        if not self.stalled:
            self.stalled = True
            log.warning("outbox: cannot write (%s): agent output paused", reason(exc))
            self._delay_s = RETRY_FIRST_S
        delay = self._delay_s
        self._delay_s = min(RETRY_MAX_S, self._delay_s * 2)
        return delay

    def succeeded(self) -> None:
        if self.stalled:
            self.stalled = False
            log.warning("outbox: writing again")


class GuardedConnection(sqlite3.Connection):
    """A connection on which a damaged file raises OutboxCorruptError, from any statement."""

    path = Path("outbox.sqlite3")
    on_corrupt: Callable[[OutboxCorruptError], None] = staticmethod(lambda _: None)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        with self._guard():
            return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        with self._guard():
            return super().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        with self._guard():
            return super().executescript(sql_script)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            error = corrupt_error(self.path, exc)
            self.on_corrupt(error)
            raise error from exc
