"""Persistence of session starts: the start awaiting the relay's answer, and idempotency keys.

A session whose start the relay has not answered keeps the start_session command in
`sessions.pending_start` (migration 0005) until the answer comes, late or after a reconnect.
`start_keys` maps (user, Idempotency-Key) to the session that key created, for KEY_MAX_AGE_S.
"""

from __future__ import annotations

import time

import msgspec

from server.domain.records import SessionRecord
from server.store.db import Database
from server.store.sessions_store import INSERT, row

KEY_MAX_AGE_S = 86400.0  # a retry a day later is a new start


class KeyedStart(msgspec.Struct, frozen=True):
    """An idempotency key: who sent it, the key, and a digest of the body it came with."""

    actor: str
    key: str
    fingerprint: str


class KeyHit(msgspec.Struct, frozen=True):
    session_id: str
    fingerprint: str


class StartsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, record: SessionRecord, command: bytes, command_id: str, key: KeyedStart | None
    ) -> KeyHit | None:
        """Add the session with its pending start, and its key; or, when the key was used
        already (and is not older than KEY_MAX_AGE_S), add nothing and return what it names."""
        async with self._db.write() as conn:
            if key is not None:
                await conn.execute(
                    "DELETE FROM start_keys WHERE created_at < ?", (time.time() - KEY_MAX_AGE_S,)
                )
                async with conn.execute(
                    "SELECT session_id, fingerprint FROM start_keys WHERE actor = ? AND key = ?",
                    (key.actor, key.key),
                ) as cursor:
                    hit = await cursor.fetchone()
                if hit is not None:
                    return KeyHit(session_id=hit[0], fingerprint=hit[1])
                await conn.execute(
                    "INSERT INTO start_keys (actor, key, fingerprint, session_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key.actor, key.key, key.fingerprint, record.id, record.created_at),
                )
            await conn.execute(INSERT, row(record))
            await conn.execute(
                "UPDATE sessions SET pending_start = ?, start_command_id = ? WHERE id = ?",
                (command, command_id, record.id),
            )
        return None

    async def key(self, key: KeyedStart) -> KeyHit | None:
        """What a key (not older than KEY_MAX_AGE_S) names, if it was used."""
        async with self._db.reader.execute(
            "SELECT session_id, fingerprint FROM start_keys"
            " WHERE actor = ? AND key = ? AND created_at >= ?",
            (key.actor, key.key, time.time() - KEY_MAX_AGE_S),
        ) as cursor:
            hit = await cursor.fetchone()
        return KeyHit(session_id=hit[0], fingerprint=hit[1]) if hit else None

    async def by_command(self, command_id: str) -> str | None:
        """The session whose unanswered start has this command id."""
        async with self._db.reader.execute(
            "SELECT id FROM sessions WHERE start_command_id = ?", (command_id,)
        ) as cursor:
            found = await cursor.fetchone()
        return str(found[0]) if found else None

    async def pending(self, relay_id: str) -> list[bytes]:
        """The unanswered start commands of a relay's sessions, oldest first."""
        async with self._db.reader.execute(
            "SELECT pending_start FROM sessions WHERE relay_id = ? AND start_command_id != ''"
            " ORDER BY created_at",
            (relay_id,),
        ) as cursor:
            return [bytes(r[0]) for r in await cursor.fetchall()]

    async def note_unanswered(self, session_id: str, detail: str) -> bool:
        """Set the detail of a session whose start is still unanswered; False if answered."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE sessions SET detail = ? WHERE id = ? AND start_command_id != ''",
                (detail, session_id),
            )
            return cursor.rowcount > 0

    async def settle(self, session_id: str, status: str | None, detail: str) -> bool:
        """The relay answered the start: forget the command, set detail (and status, when
        given). False when it was settled already."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE sessions SET pending_start = '', start_command_id = '', detail = ?,"
                " status = COALESCE(?, status) WHERE id = ? AND start_command_id != ''",
                (detail, status, session_id),
            )
            return cursor.rowcount > 0
