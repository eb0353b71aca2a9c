"""SQLite failures a real box produces, classified once for the whole server.

    SQLITE_FULL                   the disk is full        -> StorageFullError (HTTP 507)
    SQLITE_BUSY, SQLITE_LOCKED    another process holds   -> StorageBusyError (HTTP 503 with
                                  the write lock past       Retry-After)
                                  busy_timeout

Anything else stays a sqlite3 error: a bug, or a fault nobody can act on, logged with its
traceback at the boundary. `StorageHealth` remembers whether the disk is full, for the app's
"Server storage full" banner, and logs one line when that changes. `disk_full` recognises a full
disk in whatever form it reaches `tether serve` (which then says so in one line), and
`require_room_to_start` refuses to start with almost no space left.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from server.domain.errors import (
    STORAGE_FULL_MESSAGE,
    StorageBusyError,
    StorageFullError,
    TetherError,
)

log = logging.getLogger(__name__)

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_FULL = 13
BUSY_RETRY_AFTER_S = 2  # what a client is told to wait for a lock another process holds
START_MIN_FREE_BYTES = 1 << 20  # less than this free at start: refuse, rather than fail later
FULL_HOLD_S = 8.0  # a full disk counts as full until writes succeed this long after a refusal


def primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of `exc` (0 when the driver did not set one)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def classify(exc: sqlite3.Error) -> TetherError | None:
    """The domain error for a storage fault users can act on, or None."""
    code = primary_code(exc)
    if code == SQLITE_FULL:
        return StorageFullError()
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


def require_room_to_start(data_dir: Path) -> None:
    """Refuse to start on a disk that is (nearly) full: StorageFullError.

    A full disk can still take a small write or two (SQLite reuses WAL space a failed commit
    had claimed), so trying a write would pass or fail by chance; free space does not.
    """
    stat = os.statvfs(data_dir)
    if stat.f_bavail * stat.f_frsize < START_MIN_FREE_BYTES:
        raise StorageFullError()


class StorageHealth:
    """Whether the disk is full; one log line per change.

    A full disk still takes small writes now and then (SQLite reuses WAL space a failed commit
    had claimed), so one success does not end the state: only a write that succeeds when none
    was refused for FULL_HOLD_S (longer than ingestion's longest retry delay) does.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.full = False
        self._clock = clock
        self._refused_at = 0.0

    def wrote(self) -> None:
        if self.full and self._clock() - self._refused_at >= FULL_HOLD_S:
            self.full = False
            log.warning("storage: writing again")

    def refused(self, error: TetherError) -> None:
        if not isinstance(error, StorageFullError):
            return
        self._refused_at = self._clock()
        if not self.full:
            self.full = True
            log.error("storage: %s: writes wait until space is freed", STORAGE_FULL_MESSAGE)
