"""Persistence of the event log: batched appends and paged reads by seq."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from server.domain.records import StoredEvent
from server.store.db import Database

EventRow = tuple[str, int, int | None, float, str, bytes]  # session, seq, relay_seq, ts, kind, body


class EventsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def append(conn: aiosqlite.Connection, rows: Sequence[EventRow]) -> None:
        await conn.executemany(
            "INSERT INTO events (session_id, seq, relay_seq, ts, kind, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    async def page(self, session_id: str, after: int, limit: int) -> list[StoredEvent]:
        """Events with seq > after, oldest first, at most `limit`."""
        async with self._db.reader.execute(
            "SELECT seq, ts, body FROM events WHERE session_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (session_id, after, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [StoredEvent(seq, ts, body) for seq, ts, body in rows]
