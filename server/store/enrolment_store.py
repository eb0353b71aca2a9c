"""Persistence of relay enrolment requests (only hashes of their codes and poll handles)."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

import msgspec

from server.store.db import Database, StoreError

EnrolmentStatus = Literal["pending", "approved", "denied", "claimed"]
_COLUMNS = "id, name, ip, requested_at, expires_at, status, relay_id, decided_by, decided_at"


class NameTakenError(StoreError):
    """Another relay already has this name."""


class _NotPendingError(Exception):
    """Raised inside a transaction to roll it back."""


class EnrolmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    ip: str
    requested_at: float
    expires_at: float
    status: EnrolmentStatus
    relay_id: str | None
    decided_by: str
    decided_at: float | None


def _record(row: Any) -> EnrolmentRecord:
    return msgspec.convert(dict(zip(_COLUMNS.split(", "), row, strict=True)), EnrolmentRecord)


class EnrolmentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        enrolment_id: str,
        code_hash: str,
        handle_hash: str,
        name: str,
        ip: str,
        now: float,
        expires_at: float,
        max_pending: int,
        forget_before: float,
    ) -> bool:
        """Store a new request; False (and nothing stored) when `max_pending` are waiting.

        Requests that ended before `forget_before` are deleted in the same transaction.
        """
        async with self._db.write() as conn:
            await conn.execute(
                "DELETE FROM relay_enrolments WHERE expires_at < ?", (forget_before,)
            )
            async with conn.execute(
                "SELECT count(*) FROM relay_enrolments WHERE status = 'pending' AND expires_at > ?",
                (now,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None and row[0] >= max_pending:
                return False
            await conn.execute(
                "INSERT INTO relay_enrolments (id, code_hash, handle_hash, name, ip, requested_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (enrolment_id, code_hash, handle_hash, name, ip, now, expires_at),
            )
        return True

    async def _one(self, where: str, value: str) -> EnrolmentRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relay_enrolments WHERE {where} = ?", (value,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(tuple(row)) if row else None

    async def by_code(self, code_hash: str) -> EnrolmentRecord | None:
        return await self._one("code_hash", code_hash)

    async def by_handle(self, handle_hash: str) -> EnrolmentRecord | None:
        return await self._one("handle_hash", handle_hash)

    async def pending(self, now: float) -> list[EnrolmentRecord]:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM relay_enrolments WHERE status = 'pending' AND expires_at > ?"
            " ORDER BY requested_at",
            (now,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_record(tuple(r)) for r in rows]

    async def approve(
        self,
        enrolment_id: str,
        *,
        relay_id: str,
        name: str,
        unusable_token_hash: str,
        actor: str,
        now: float,
        collect_until: float,
    ) -> bool:
        """Pending and unexpired -> approved, and register its relay under a token hash nobody
        holds (the relay's real token is made when it collects). False if no longer pending."""
        try:
            async with self._db.write() as conn:
                try:  # the relay first: the enrolment refers to it
                    await conn.execute(
                        "INSERT INTO relays (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                        (relay_id, name, unusable_token_hash, now),
                    )
                except sqlite3.IntegrityError as exc:
                    raise NameTakenError(f"a relay named {name!r} exists") from exc
                cursor = await conn.execute(
                    "UPDATE relay_enrolments SET status = 'approved', relay_id = ?,"
                    " decided_by = ?, decided_at = ?, expires_at = ? WHERE id = ?"
                    " AND status = 'pending' AND expires_at > ?",
                    (relay_id, actor, now, collect_until, enrolment_id, now),
                )
                if cursor.rowcount != 1:
                    raise _NotPendingError  # rolls the relay back
        except _NotPendingError:
            return False
        return True

    async def deny(self, enrolment_id: str, *, actor: str, now: float) -> bool:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE relay_enrolments SET status = 'denied', decided_by = ?, decided_at = ?"
                " WHERE id = ? AND status = 'pending' AND expires_at > ?",
                (actor, now, enrolment_id, now),
            )
            return cursor.rowcount == 1

    async def claim(self, enrolment_id: str, *, token_hash: str, now: float) -> bool:
        """Approved, unexpired, relay not revoked -> claimed, and give its relay `token_hash`.
        False when any of that does not hold; succeeds at most once."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE relays SET token_hash = ? WHERE revoked_at IS NULL AND id = (SELECT"
                " relay_id FROM relay_enrolments WHERE id = ? AND status = 'approved'"
                " AND expires_at > ?)",
                (token_hash, enrolment_id, now),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(
                "UPDATE relay_enrolments SET status = 'claimed' WHERE id = ?", (enrolment_id,)
            )
        return True
