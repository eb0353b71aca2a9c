"""Persistence of `tether login` requests (only hashes of their codes and poll handles).

A request is pending until its user approves it with a passkey, approved until the terminal
collects its token, then claimed: the token is a `browser_sessions` row of kind 'terminal',
created in the same transaction that marks the request claimed.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from server.store.db import Database

TerminalLoginStatus = Literal["pending", "approved", "claimed"]
_COLUMNS = (
    "id, name, ip, requested_at, expires_at, status, challenge, challenge_user_id, "
    "challenge_expires_at, user_id, decided_at, session_id"
)


class TerminalLoginRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    ip: str
    requested_at: float
    expires_at: float
    status: TerminalLoginStatus
    challenge: str
    challenge_user_id: str
    challenge_expires_at: float
    user_id: str | None
    decided_at: float | None
    session_id: str | None


class TerminalSession(msgspec.Struct, frozen=True, kw_only=True):
    """The session a collected login becomes."""

    id: str
    token_hash: str
    user_id: str
    now: float
    ip: str
    device: str


def _record(row: Any) -> TerminalLoginRecord:
    return msgspec.convert(dict(zip(_COLUMNS.split(", "), row, strict=True)), TerminalLoginRecord)


class TerminalLoginStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        login_id: str,
        code_hash: str,
        handle_hash: str,
        name: str,
        ip: str,
        now: float,
        expires_at: float,
        max_pending: int,
        forget_before: float,
    ) -> bool:
        """Store a new request; False (nothing stored) when `max_pending` are waiting. Requests
        that ended before `forget_before` are deleted in the same transaction."""
        async with self._db.write() as conn:
            await conn.execute("DELETE FROM terminal_logins WHERE expires_at < ?", (forget_before,))
            async with conn.execute(
                "SELECT count(*) FROM terminal_logins WHERE status = 'pending' AND expires_at > ?",
                (now,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None and row[0] >= max_pending:
                return False
            await conn.execute(
                "INSERT INTO terminal_logins (id, code_hash, handle_hash, name, ip, requested_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (login_id, code_hash, handle_hash, name, ip, now, expires_at),
            )
        return True

    async def _one(self, where: str, value: str) -> TerminalLoginRecord | None:
        async with self._db.reader.execute(
            f"SELECT {_COLUMNS} FROM terminal_logins WHERE {where} = ?", (value,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(tuple(row)) if row else None

    async def by_code(self, code_hash: str) -> TerminalLoginRecord | None:
        return await self._one("code_hash", code_hash)

    async def by_handle(self, handle_hash: str) -> TerminalLoginRecord | None:
        return await self._one("handle_hash", handle_hash)

    async def set_challenge(
        self, login_id: str, *, challenge: str, user_id: str, expires_at: float
    ) -> None:
        """The passkey prompt that may approve this request (a new one replaces the old)."""
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE terminal_logins SET challenge = ?, challenge_user_id = ?,"
                " challenge_expires_at = ? WHERE id = ? AND status = 'pending'",
                (challenge, user_id, expires_at, login_id),
            )

    async def take_challenge(self, login_id: str, challenge: str) -> TerminalLoginRecord | None:
        """The request as it was, if `challenge` is its prompt; the prompt is used up either way
        (a wrong answer must not be retried against the same challenge)."""
        async with self._db.write() as conn:
            async with conn.execute(
                f"SELECT {_COLUMNS} FROM terminal_logins WHERE id = ?", (login_id,)
            ) as cursor:
                row = await cursor.fetchone()
            await conn.execute(
                "UPDATE terminal_logins SET challenge = '', challenge_user_id = '',"
                " challenge_expires_at = 0 WHERE id = ?",
                (login_id,),
            )
        found = _record(tuple(row)) if row else None
        return found if found and challenge and found.challenge == challenge else None

    async def approve(
        self, login_id: str, *, user_id: str, now: float, collect_until: float
    ) -> bool:
        """Pending and unexpired -> approved for `user_id`. False if no longer pending."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE terminal_logins SET status = 'approved', user_id = ?, decided_at = ?,"
                " expires_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?",
                (user_id, now, collect_until, login_id, now),
            )
            return cursor.rowcount == 1

    async def claim(self, login_id: str, session: TerminalSession) -> bool:
        """Approved and unexpired -> claimed, creating its terminal session. At most once."""
        try:
            async with self._db.write() as conn:
                await conn.execute(  # the session first: the request refers to it
                    "INSERT INTO browser_sessions (id, token_hash, user_id, created_at,"
                    " last_seen_at, ip, device, kind) VALUES (?, ?, ?, ?, ?, ?, ?, 'terminal')",
                    (
                        session.id,
                        session.token_hash,
                        session.user_id,
                        session.now,
                        session.now,
                        session.ip,
                        session.device,
                    ),
                )
                cursor = await conn.execute(
                    "UPDATE terminal_logins SET status = 'claimed', session_id = ? WHERE id = ?"
                    " AND status = 'approved' AND expires_at > ? AND user_id = ?",
                    (session.id, login_id, session.now, session.user_id),
                )
                if cursor.rowcount != 1:
                    raise _NotApprovedError  # rolls the session back
        except _NotApprovedError:
            return False
        return True


class _NotApprovedError(Exception):
    """Raised inside a transaction to roll it back."""
