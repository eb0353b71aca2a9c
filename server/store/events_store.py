"""Persistence of the event log, as chunks (see server/domain/chunks.py)."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from server.domain.chunks import Chunk
from server.store.db import Database

# session, first_seq, last_seq, first_relay_seq, last_relay_seq, body
ChunkRow = tuple[str, int, int, int | None, int | None, bytes]


class EventsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def append(conn: aiosqlite.Connection, rows: Sequence[ChunkRow]) -> None:
        await conn.executemany(
            "INSERT INTO event_chunks "
            "(session_id, first_seq, last_seq, first_relay_seq, last_relay_seq, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    async def chunks(self, session_id: str, after: int, limit: int) -> list[Chunk]:
        """Up to `limit` chunks holding events with seq > after, oldest first (the first may
        also hold older events: cut it with Chunk.after)."""
        async with self._db.reader.execute(
            "SELECT first_seq, last_seq, body FROM event_chunks "
            "WHERE session_id = ? AND last_seq > ? ORDER BY last_seq LIMIT ?",
            (session_id, after, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [Chunk(first, last, body) for first, last, body in rows]
