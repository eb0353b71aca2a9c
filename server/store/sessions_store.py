"""Persistence of sessions (the event rows themselves live in events_store)."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from server.domain.records import SessionRecord
from server.store.db import Database

_COLUMNS = (
    "id, relay_id, epoch, agent, workspace, title, status, created_at, last_activity_at, "
    "last_seq, last_relay_seq, detail"
)


INSERT = f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(', ')))})"


def row(s: SessionRecord) -> tuple[object, ...]:
    """The record's values in _COLUMNS order, for INSERT."""
    return tuple(getattr(s, name) for name in _COLUMNS.split(", "))


def _record(row: aiosqlite.Row | tuple[object, ...]) -> SessionRecord:
    return SessionRecord(**dict(zip(_COLUMNS.split(", "), tuple(row), strict=True)))


class SessionsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, session_id: str) -> SessionRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(row) if row else None

    async def list(self, limit: int = 500) -> list[SessionRecord]:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM sessions ORDER BY last_activity_at DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [_record(r) for r in rows]

    async def add(self, s: SessionRecord) -> None:
        await self._db.write_one(INSERT, row(s))

    @staticmethod
    async def update_many(conn: aiosqlite.Connection, records: Sequence[SessionRecord]) -> None:
        await conn.executemany(
            "UPDATE sessions SET agent = ?, workspace = ?, title = ?, status = ?, "
            "last_activity_at = ?, last_seq = ?, last_relay_seq = ? WHERE id = ?",
            [
                (
                    s.agent,
                    s.workspace,
                    s.title,
                    s.status,
                    s.last_activity_at,
                    s.last_seq,
                    s.last_relay_seq,
                    s.id,
                )
                for s in records
            ],
        )

    async def delete_if_empty(self, session_id: str) -> None:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "DELETE FROM sessions WHERE id = ? AND last_seq = 0", (session_id,)
            )
            if cursor.rowcount:
                await conn.execute("DELETE FROM start_keys WHERE session_id = ?", (session_id,))
