"""Persistence of relays and their tokens (stored as SHA-256, never in clear)."""

from __future__ import annotations

from typing import Any

import msgspec

from server.domain.records import RelayRecord
from server.store.db import Database

_COLUMNS = "id, name, created_at, revoked_at, last_seen_at, hostname, info"


class _Info(msgspec.Struct):
    """The parts of a stored relay_info message the server shows."""

    workspaces: list[dict[str, str]] = []
    agents: list[str] = []
    sandbox: str = ""
    sandbox_note: str = ""


def _record(row: Any) -> RelayRecord:
    info = msgspec.json.decode(row[6], type=_Info)
    return msgspec.convert(
        {
            "id": row[0],
            "name": row[1],
            "created_at": row[2],
            "revoked_at": row[3],
            "last_seen_at": row[4],
            "hostname": row[5],
            "workspaces": info.workspaces,
            "agents": info.agents,
            "sandbox": info.sandbox,
            "sandbox_note": info.sandbox_note,
        },
        RelayRecord,
    )


class RelaysStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, relay_id: str, name: str, token_hash: str, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO relays (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (relay_id, name, token_hash, now),
            )

    async def by_token_hash(self, token_hash: str) -> RelayRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relays WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash,),
        ) as cursor:
            row = await cursor.fetchone()
        return _record(tuple(row)) if row else None

    async def get(self, relay_id: str) -> RelayRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relays WHERE id = ?", (relay_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(tuple(row)) if row else None

    async def list(self) -> list[RelayRecord]:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relays WHERE revoked_at IS NULL ORDER BY name"
        ) as cursor:
            rows = await cursor.fetchall()
        return [_record(tuple(r)) for r in rows]

    async def record_connection(
        self, relay_id: str, hostname: str, info: bytes, now: float
    ) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE relays SET hostname = ?, info = ?, last_seen_at = ? WHERE id = ?",
                (hostname, info, now, relay_id),
            )

    async def touch(self, relay_id: str, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute("UPDATE relays SET last_seen_at = ? WHERE id = ?", (now, relay_id))

    async def names(self) -> set[str]:
        """Every relay name in use, revoked relays' included (names stay unique)."""
        async with self._db.reader.execute("SELECT name FROM relays") as cursor:
            rows = await cursor.fetchall()
        return {str(r[0]) for r in rows}

    async def by_name(self, name: str) -> RelayRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relays WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(tuple(row)) if row else None

    async def revoke(self, relay_id: str, now: float) -> bool:
        """Mark the relay revoked; False when it is unknown or was revoked already."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE relays SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, relay_id),
            )
            return cursor.rowcount == 1

    async def revoked_among(self, relay_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Which of these relays are revoked (another process, the admin CLI, may revoke)."""
        if not relay_ids:
            return ()
        marks = ", ".join("?" * len(relay_ids))
        async with self._db.reader.execute(
            f"SELECT id FROM relays WHERE revoked_at IS NOT NULL AND id IN ({marks})", relay_ids
        ) as cursor:
            rows = await cursor.fetchall()
        return tuple(str(r[0]) for r in rows)
