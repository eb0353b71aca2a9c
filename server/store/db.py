"""The SQLite database: connection, pragmas, numbered migrations.

One writer connection (all writes go through it, serialised by `Database.write`) and one reader
connection, so long history reads never wait behind ingestion. WAL mode lets them run together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from server.store.checkpoints import Checkpointer, limit_pragmas
from server.store.faults import StorageHealth, classify

log = logging.getLogger(__name__)

PAGE_SIZE = 4096  # bytes, for new databases; see _configure
BUSY_TIMEOUT_MS = 5000  # another process (the admin CLI) may briefly hold the write lock
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """Base of the store's errors."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer Tether; refusing to touch it."""


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration, in order."""
    found = []
    for entry in resources.files("server.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations are not numbered 1..n: {numbers}")
    return found


def _configure(conn: sqlite3.Connection) -> None:
    # Every commit writes each page it changes whole to the WAL: a trickle of small commits
    # writes pages, not events, so pages are small. Bursts commit chunks of tens to hundreds of
    # KB as overflow chains, written once each whatever the page size. Takes effect only on a
    # new database, before WAL mode is switched on; an existing one keeps its page size.
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    for pragma in _pragmas(conn.execute("PRAGMA page_size").fetchone()[0]):
        conn.execute(pragma)


def _pragmas(page_size: int) -> list[str]:
    """Every connection's settings. synchronous=NORMAL: durable across process crashes, the
    WAL is fsynced at checkpoints only."""
    return [
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        *limit_pragmas(page_size),
    ]


def migrate(path: Path) -> int:
    """Bring the database at `path` to the newest schema; returns the schema version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    known = migrations()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _configure(conn)
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > len(known):
            raise SchemaTooNewError(
                f"{path} has schema version {current}, this Tether knows up to {len(known)}: "
                "upgrade Tether or use another data directory"
            )
        for number, name, sql in known[current:]:
            log.info("applying migration %s", name)
            try:  # one transaction: the migration and its version number land together
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return len(known)
    finally:
        conn.close()


class Database:
    """The open database: a writer, a reader, and a checkpointer connection.

    The writer never copies the WAL back into the database itself (that would stall ingestion
    for as long as the copy takes); the checkpointer does it off the write path, by WAL size
    (server/store/checkpoints.py). The writer's own automatic checkpoint stays as a backstop
    should the checkpointer fall behind.
    """

    def __init__(
        self,
        path: Path,
        page_size: int,
        conns: tuple[aiosqlite.Connection, aiosqlite.Connection, aiosqlite.Connection],
    ) -> None:
        self.writer, self.reader, checkpointer = conns
        self.page_size = page_size  # of this database, which may predate PAGE_SIZE
        self._write_lock = asyncio.Lock()
        self.storage = StorageHealth()
        self.checkpointer = Checkpointer(checkpointer, path, page_size, lambda: self._write_lock)
        self._checkpoints = asyncio.get_running_loop().create_task(self.checkpointer.run())

    @classmethod
    async def open(cls, path: Path) -> Database:
        migrate(path)
        conns = [await aiosqlite.connect(path, isolation_level=None) for _ in range(3)]
        async with conns[0].execute("PRAGMA page_size") as cursor:
            row = await cursor.fetchone()
        page_size = int(row[0]) if row else PAGE_SIZE
        for conn in conns:
            for pragma in _pragmas(page_size):
                await conn.execute(pragma)
        return cls(path, page_size, (conns[0], conns[1], conns[2]))

    async def write_one(self, sql: str, parameters: Sequence[Any]) -> None:
        """One statement, atomic on its own (triggers included): a single round trip."""
        await self.checkpointer.room()
        async with self._write_lock:
            with self._faults():
                await self.writer.execute(sql, parameters)
        self.checkpointer.wrote()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; commits on success, rolls back on error (a full disk or a
        lock held elsewhere: StorageFullError or StorageBusyError, see store/faults.py)."""
        await self.checkpointer.room()
        async with self._write_lock:
            with self._faults():
                await self.writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self.writer
                    await self.writer.execute("COMMIT")
                except BaseException:
                    if self.writer.in_transaction:  # SQLite may have rolled back already
                        await self.writer.execute("ROLLBACK")
                    raise
        self.checkpointer.wrote()

    @contextlib.contextmanager
    def _faults(self) -> Iterator[None]:
        """Storage faults become domain errors here, and the app learns of a full disk."""
        try:
            yield
        except sqlite3.Error as exc:
            error = classify(exc)
            if error is None:
                raise
            self.storage.refused(error)
            raise error from exc
        self.storage.wrote()

    async def close(self) -> None:
        self._checkpoints.cancel()
        self.checkpointer.release()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checkpoints
        for conn in (self.writer, self.reader, self.checkpointer.conn):
            await conn.close()
        self.checkpointer.wal.close()
