"""Persistence of the event log, as chunks (see server/domain/chunks.py)."""

from __future__ import annotations

from collections.abc import Sequence

from server.domain.chunks import Chunk
from server.domain.records import SessionRecord
from server.store.db import Database
from server.store.sessions_store import SessionsStore

# session, first_seq, last_seq, first_relay_seq, last_relay_seq, last_ts, body
ChunkRow = tuple[str, int, int, int | None, int | None, float, bytes]
_INSERT = (
    "INSERT INTO event_chunks "
    "(session_id, first_seq, last_seq, first_relay_seq, last_relay_seq, last_ts, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# A session's chunks never overlap, so they are in the same order by first_seq as by last_seq:
# the scan starts at the chunk holding seq `after` (the last one starting at or before it) and
# runs along the primary key.
_CHUNKS_AFTER = (
    "SELECT first_seq, last_seq, body FROM event_chunks "
    "WHERE session_id = ?1 AND last_seq > ?2 AND first_seq >= COALESCE("
    "(SELECT MAX(first_seq) FROM event_chunks WHERE session_id = ?1 AND first_seq <= ?2), 0) "
    "ORDER BY first_seq LIMIT ?3"
)


class EventsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, rows: Sequence[ChunkRow], changed: Sequence[SessionRecord]) -> None:
        """Commit chunks (a trigger advances their sessions' last_seq, last_relay_seq and last
        activity) and the sessions whose other fields changed, all or nothing."""
        if len(rows) == 1 and not changed:
            await self._db.write_one(_INSERT, rows[0])  # the common case: one round trip
            return
        async with self._db.write() as conn:
            await conn.executemany(_INSERT, rows)
            if changed:
                await SessionsStore.update_many(conn, changed)

    async def chunks(self, session_id: str, after: int, limit: int) -> list[Chunk]:
        """Up to `limit` chunks holding events with seq > after, oldest first (the first may
        also hold older events: cut it with Chunk.after)."""
        async with self._db.reader.execute(_CHUNKS_AFTER, (session_id, after, limit)) as cursor:
            rows = await cursor.fetchall()
        return [Chunk(first, last, body) for first, last, body in rows]
