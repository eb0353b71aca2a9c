"""Keeping the WAL bounded: when to copy it into the database, and how to start it over.

A PASSIVE checkpoint copies committed pages into the database but never resets the WAL while
writes go on: the writer keeps appending, so the file only grew (to the old 256 MB backstop
under a steady trickle). SQLite starts the WAL over only once a checkpoint has copied every
frame with no writer in between, so the last pass is a TRUNCATE made holding the app's write
lock. To
keep that pause short, PASSIVE passes first copy the bulk while ingestion goes on; the locked
pass has only the frames committed since, and the fsync of the database that must precede the
reset (bench/checkpoint.py measures the pause).

Checkpoints go by what the WAL holds, not by the clock: each checkpoint writes every page
changed since the previous one, so checkpointing a trickle every second rewrote the same pages
sixty times a minute. A quiet WAL is still checkpointed after IDLE_CHECKPOINT_S, so the
database file is up to date whenever the server is idle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

WAL_CHECKPOINT_BYTES = 16 << 20  # a checkpoint starts once the WAL holds this much
WAL_LIMIT_BYTES = 64 << 20  # the bound: journal_size_limit, and the writer's own backstop
CHECK_INTERVAL_S = 0.1  # how often the WAL's size is looked at while writes go on
IDLE_CHECKPOINT_S = 1.0  # a WAL untouched this long is checkpointed whatever its size
# A WAL past WAL_CHECKPOINT_BYTES waits for a pause in writes this long: a checkpoint in the middle
# of a burst competes with it for the disk and the CPU, and its last pass holds the write lock.
QUIET_S = 0.05
CATCH_UP_FRAMES = 128  # PASSIVE passes go on until at most this many frames are left ...
PASSIVE_PASSES = 8  # ... or this many passes were made
# Past this size the locked pass is made even when the PASSIVE ones could not catch up (a reader,
# or a long burst outpacing them): the bound matters more than a pause. Bursts of the size a
# relay sends (its window: 5,000 events, about 1.2 MB) end long before.
WAL_FORCE_BYTES = 32 << 20
# Past this, writes wait until the checkpointer has emptied the WAL: the hard bound, reached only
# when writes outpace the copy for long (a relay sending a big backlog at full speed).
WAL_FULL_BYTES = 48 << 20
RESET_BUSY_TIMEOUT_MS = 25  # the locked pass waits this long at most for a reader to finish
SLOW_RESET_S = 0.1  # a locked pass longer than this is logged: ingestion waited for it
_SHM_HEADER_BYTES = 100  # two copies of the WAL-index header, then the checkpoint info
_WAL_FRAME_HEADER_BYTES = 24


def checkpoint_due(wal_bytes: int, idle_s: float) -> bool:
    """Whether the WAL should be checkpointed now, `idle_s` after the last write: it is big and
    writes paused for QUIET_S, it is past WAL_FORCE_BYTES whatever the writes do, or it holds
    anything and no write happened for IDLE_CHECKPOINT_S."""
    if wal_bytes >= WAL_FORCE_BYTES:
        return True
    if wal_bytes >= WAL_CHECKPOINT_BYTES:
        return idle_s >= QUIET_S
    return wal_bytes > 0 and idle_s >= IDLE_CHECKPOINT_S


class WalIndex:
    """Bytes in the WAL not yet copied into the database: frames in the WAL (mxFrame) less those
    copied (nBackfill), read from the WAL-index header in the -shm file
    (https://sqlite.org/walformat.html: native byte order, at offsets 16 and 96). The WAL file's
    own size says nothing of what was copied already.

    The -shm file is opened once and closed only after every connection to the database is:
    closing any descriptor of a file drops all of this process's POSIX locks on it (fcntl(2)),
    SQLite's among them. Another process opening the database (a backup, the sqlite3 shell)
    would then think itself the first, truncate the -shm under this process's mapping (SIGBUS)
    and rebuild the index.
    """

    def __init__(self, database: Path, page_size: int) -> None:
        self._path = database.with_name(database.name + "-shm")
        self._page_size = page_size
        self._fd: int | None = None

    def pending(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0  # no connection has read the database in WAL mode yet
        head = os.pread(self._fd, _SHM_HEADER_BYTES, 0)
        if len(head) < _SHM_HEADER_BYTES:
            return 0
        frames = int.from_bytes(head[16:20], sys.byteorder)
        copied = int.from_bytes(head[96:100], sys.byteorder)
        return max(0, frames - copied) * (self._page_size + _WAL_FRAME_HEADER_BYTES)

    def close(self) -> None:
        """Only once every connection to the database is closed (see above)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Checkpointer:
    """Checkpoints the WAL of one database from a connection of its own.

    `wrote()` is called after every write; it wakes the checkpointer, which otherwise sleeps.
    The counters and `max_reset_s`, the longest ingestion waited for a locked pass, are for
    tests and bench/checkpoint.py.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        database: Path,
        page_size: int,
        write_lock: Callable[[], AbstractAsyncContextManager[object]],
    ) -> None:
        self.conn = conn
        self.wal = WalIndex(database, page_size)
        self._write_lock = write_lock
        self._dirty = asyncio.Event()
        self._room = asyncio.Event()  # cleared while writes wait for the WAL to be emptied
        self._room.set()
        self._last_write = time.monotonic()
        self.checkpoints = 0
        self.busy_resets = 0  # locked passes a reader kept from emptying the WAL
        self.max_reset_s = 0.0

    async def room(self) -> None:
        """Called before each write: waits while the WAL holds WAL_FULL_BYTES or more."""
        if self._room.is_set() and self.pending() < WAL_FULL_BYTES:
            return
        self._room.clear()
        self._dirty.set()
        await self._room.wait()

    def release(self) -> None:
        """Let waiting writers go (the database is closing)."""
        self._room.set()

    def wrote(self) -> None:
        self._last_write = time.monotonic()
        self._dirty.set()

    async def run(self) -> None:
        await self.conn.execute(f"PRAGMA busy_timeout={RESET_BUSY_TIMEOUT_MS}")
        while True:
            await self._dirty.wait()
            await asyncio.sleep(CHECK_INTERVAL_S)
            written_at = self._last_write
            if not checkpoint_due(self.pending(), time.monotonic() - written_at):
                continue
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:
                log.warning("checkpoint failed: %s", exc)
                continue
            except Exception:  # this loop must outlive any one failure: writers may wait on it
                log.exception("checkpoint failed")
                continue
            finally:
                self._room.set()  # writers look again; they wait for the next pass if need be
            if self._last_write == written_at and self.pending() == 0:
                self._dirty.clear()  # nothing written since: sleep until the next write

    def pending(self) -> int:
        """Bytes in the WAL not yet copied into the database."""
        return self.wal.pending()

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database and empty it; False if a reader kept it from being
        emptied (the next check, CHECK_INTERVAL_S later, tries again)."""
        left = 0
        for _ in range(PASSIVE_PASSES):
            if not self._room.is_set():
                break  # writers are waiting: straight to the locked pass
            _, frames, copied = await self._pragma("PRAGMA wal_checkpoint(PASSIVE)")
            left = frames - copied
            if left <= CATCH_UP_FRAMES or self.pending() >= WAL_FORCE_BYTES:
                break
        else:
            # A reader's snapshot keeps frames from being copied, or writes outpace the copy:
            # taking the write lock now would hold ingestion for long.
            return False
        async with self._write_lock():
            start = time.monotonic()
            busy, _, _ = await self._pragma("PRAGMA wal_checkpoint(TRUNCATE)")
            held = time.monotonic() - start
        self.checkpoints += 1
        self.busy_resets += busy
        self.max_reset_s = max(self.max_reset_s, held)
        if held > SLOW_RESET_S:
            log.warning("WAL reset held writes for %.0f ms (%d frames left)", held * 1000, left)
        return not busy

    async def _pragma(self, sql: str) -> tuple[int, int, int]:
        async with self.conn.execute(sql) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


def limit_pragmas(page_size: int) -> list[str]:
    """Pragmas every connection gets: the WAL is cut back to WAL_LIMIT_BYTES after a reset, and
    should the checkpointer fall behind, the writer checkpoints itself past that size."""
    return [
        f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}",
        f"PRAGMA wal_autocheckpoint={WAL_LIMIT_BYTES // page_size}",
    ]
