"""SQLite failures a real box produces, classified once for the whole server.

    SQLITE_FULL                   the disk is full        -> StorageFullError (HTTP 507)
    SQLITE_BUSY, SQLITE_LOCKED    another process holds   -> StorageBusyError (HTTP 503 with
                                  the write lock past       Retry-After)
                                  busy_timeout

Anything else stays a sqlite3 error: a bug, or a fault nobody can act on, logged with its
traceback at the boundary. `StorageHealth` remembers whether the disk is full, for the app's
"Server storage full" banner, and logs one line when that changes.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from server.domain.errors import StorageBusyError, StorageFullError, TetherError

log = logging.getLogger(__name__)

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_FULL = 13
BUSY_RETRY_AFTER_S = 2  # what a client is told to wait for a lock another process holds
FULL_MESSAGE = "server storage full"


def primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of `exc` (0 when the driver did not set one)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def classify(exc: sqlite3.Error) -> TetherError | None:
    """The domain error for a storage fault users can act on, or None."""
    code = primary_code(exc)
    if code == SQLITE_FULL:
        return StorageFullError(FULL_MESSAGE)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageBusyError(
            "the database is busy: another process holds its write lock", BUSY_RETRY_AFTER_S
        )
    return None


def disk_full(exc: BaseException) -> bool:
    """A full disk, whichever layer reported it: the store, sqlite3, or a plain file write."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageFullError):
            return True
        if isinstance(seen, sqlite3.Error) and primary_code(seen) == SQLITE_FULL:
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class StorageHealth:
    """Whether the last write found the disk full; one log line per change."""

    def __init__(self) -> None:
        self.full = False

    def wrote(self) -> None:
        if self.full:
            self.full = False
            log.warning("storage: writing again")

    def refused(self, error: TetherError) -> None:
        if isinstance(error, StorageFullError) and not self.full:
            self.full = True
            log.error("storage: %s: writes wait until space is freed", FULL_MESSAGE)
