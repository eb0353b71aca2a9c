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
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

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
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "PRAGMA synchronous=NORMAL"
    )  # durable across process crashes; WAL fsyncs at checkpoint
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return len(known)
    finally:
        conn.close()


class Database:
    """The open database: a writer and a reader connection."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        migrate(path)
        writer = await aiosqlite.connect(path, isolation_level=None)
        reader = await aiosqlite.connect(path, isolation_level=None)
        for conn in (writer, reader):
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return cls(writer, reader)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; commits on success, rolls back on error."""
        async with self._write_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()
