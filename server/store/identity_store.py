"""Persistence of users, passkeys, invites, browser sessions and WebAuthn challenges."""

from __future__ import annotations

from typing import Any

import msgspec

from server.domain.identity.records import (
    BrowserSessionRecord,
    ChallengeRecord,
    InviteRecord,
    PasskeyRecord,
    UserRecord,
)
from server.domain.identity.roles import Grant, Role
from server.store.db import Database

_USER = "id, name, role, grants, created_at, disabled_at"
_PASSKEY = (
    "id, user_id, credential_id, public_key, sign_count, name, created_at, last_used_at, "
    "revoked_at, flagged_at"
)
_INVITE = "id, kind, role, grants, created_by, created_at, expires_at, used_at, used_by, revoked_at"
_SESSION = "id, user_id, created_at, last_seen_at, ip, device, revoked_at, passkey_id, kind"
_grants_encoder = msgspec.json.Encoder()


def _grants(text: str) -> tuple[Grant, ...]:
    return msgspec.json.decode(text, type=tuple[Grant, ...])


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row[0],
        name=row[1],
        role=Role(row[2]),
        grants=_grants(row[3]),
        created_at=row[4],
        disabled_at=row[5],
    )


def _passkey(row: Any) -> PasskeyRecord:
    keys = _PASSKEY.split(", ")
    return msgspec.convert(dict(zip(keys, row, strict=True)), PasskeyRecord)


def _invite(row: Any) -> InviteRecord:
    keys = _INVITE.split(", ")
    fields = dict(zip(keys, row, strict=True))
    fields["grants"] = _grants(fields["grants"])
    return msgspec.convert(fields, InviteRecord)


def _session(row: Any) -> BrowserSessionRecord:
    return msgspec.convert(dict(zip(_SESSION.split(", "), row, strict=True)), BrowserSessionRecord)


class IdentityStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _one(self, sql: str, parameters: tuple[Any, ...]) -> Any:
        async with self._db.reader.execute(sql, parameters) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row else None

    async def _all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        async with self._db.reader.execute(sql, parameters) as cursor:
            rows = await cursor.fetchall()
        return [tuple(r) for r in rows]

    # ------------------------------------------------------------------ users

    async def count_users(self) -> int:
        row = await self._one("SELECT count(*) FROM users WHERE disabled_at IS NULL", ())
        return int(row[0])

    async def user(self, user_id: str) -> UserRecord | None:
        row = await self._one(f"SELECT {_USER} FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def users(self) -> list[UserRecord]:
        return [_user(r) for r in await self._all(f"SELECT {_USER} FROM users ORDER BY name")]

    async def name_taken(self, name: str) -> bool:
        return await self._one("SELECT 1 FROM users WHERE name = ?", (name,)) is not None

    async def create_user_with_passkey(
        self, user: UserRecord, passkey: PasskeyRecord, invite_id: str, now: float
    ) -> bool:
        """Use up the invite and create its user and first passkey, all or nothing. False when
        the invite was used, revoked or expired in the meantime."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE invites SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL "
                "AND revoked_at IS NULL AND expires_at > ?",
                (now, user.id, invite_id, now),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(
                f"INSERT INTO users ({_USER}) VALUES (?, ?, ?, ?, ?, NULL)",
                (
                    user.id,
                    user.name,
                    user.role.value,
                    _grants_encoder.encode(user.grants).decode(),
                    user.created_at,
                ),
            )
            await self._insert_passkey(conn, passkey)
        return True

    async def update_user(self, user_id: str, role: str, grants: tuple[Grant, ...]) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE users SET role = ?, grants = ? WHERE id = ?",
                (role, _grants_encoder.encode(grants).decode(), user_id),
            )

    async def disable_user(self, user_id: str, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (now, user_id))
            await conn.execute(
                "UPDATE browser_sessions SET revoked_at = ? WHERE user_id = ? "
                "AND revoked_at IS NULL",
                (now, user_id),
            )

    # ------------------------------------------------------------------ passkeys

    @staticmethod
    async def _insert_passkey(conn: Any, passkey: PasskeyRecord) -> None:
        await conn.execute(
            f"INSERT INTO passkeys ({_PASSKEY}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
            (
                passkey.id,
                passkey.user_id,
                passkey.credential_id,
                passkey.public_key,
                passkey.sign_count,
                passkey.name,
                passkey.created_at,
            ),
        )

    async def add_passkey(self, passkey: PasskeyRecord) -> None:
        async with self._db.write() as conn:
            await self._insert_passkey(conn, passkey)

    async def passkey_by_credential(self, credential_id: bytes) -> PasskeyRecord | None:
        row = await self._one(
            f"SELECT {_PASSKEY} FROM passkeys WHERE credential_id = ?", (credential_id,)
        )
        return _passkey(row) if row else None

    async def passkeys(self, user_id: str) -> list[PasskeyRecord]:
        rows = await self._all(
            f"SELECT {_PASSKEY} FROM passkeys WHERE user_id = ? AND revoked_at IS NULL "
            "ORDER BY created_at",
            (user_id,),
        )
        return [_passkey(r) for r in rows]

    async def rename_passkey(self, user_id: str, passkey_id: str, name: str) -> bool:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                (name, passkey_id, user_id),
            )
            return cursor.rowcount == 1

    async def revoke_passkey(self, user_id: str, passkey_id: str, now: float) -> bool:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE passkeys SET revoked_at = ? WHERE id = ? AND user_id = ? "
                "AND revoked_at IS NULL",
                (now, passkey_id, user_id),
            )
            return cursor.rowcount == 1

    async def record_use(self, passkey_id: str, sign_count: int, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ?",
                (sign_count, now, passkey_id),
            )

    async def passkey(self, passkey_id: str) -> PasskeyRecord | None:
        row = await self._one(f"SELECT {_PASSKEY} FROM passkeys WHERE id = ?", (passkey_id,))
        return _passkey(row) if row else None

    async def flag_passkey(self, passkey_id: str, now: float) -> list[str]:
        """Flag the passkey and sign out the browser sessions it signed in; returns their ids."""
        async with self._db.write() as conn:
            await conn.execute("UPDATE passkeys SET flagged_at = ? WHERE id = ?", (now, passkey_id))
            async with conn.execute(
                "UPDATE browser_sessions SET revoked_at = ? WHERE passkey_id = ? "
                "AND revoked_at IS NULL RETURNING id",
                (now, passkey_id),
            ) as cursor:
                return [str(r[0]) for r in await cursor.fetchall()]

    async def reapprove_passkey(self, passkey_id: str) -> bool:
        """Clear the flag; the stored counter starts again (the next sign-in sets it). False
        when the passkey is not flagged (or revoked)."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE passkeys SET flagged_at = NULL, sign_count = 0 WHERE id = ? "
                "AND flagged_at IS NOT NULL AND revoked_at IS NULL",
                (passkey_id,),
            )
            return cursor.rowcount == 1

    # ------------------------------------------------------------------ invites

    async def create_invite(self, invite: InviteRecord, token_hash: str) -> None:
        async with self._db.write() as conn:
            if invite.kind == "setup":  # only the newest setup link works
                await conn.execute(
                    "UPDATE invites SET revoked_at = ? WHERE kind = 'setup' "
                    "AND used_at IS NULL AND revoked_at IS NULL",
                    (invite.created_at,),
                )
            await conn.execute(
                "INSERT INTO invites (id, token_hash, kind, role, grants, created_by, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    invite.id,
                    token_hash,
                    invite.kind,
                    invite.role.value,
                    _grants_encoder.encode(invite.grants).decode(),
                    invite.created_by,
                    invite.created_at,
                    invite.expires_at,
                ),
            )

    async def invite_by_token_hash(self, token_hash: str) -> InviteRecord | None:
        row = await self._one(f"SELECT {_INVITE} FROM invites WHERE token_hash = ?", (token_hash,))
        return _invite(row) if row else None

    async def invite(self, invite_id: str) -> InviteRecord | None:
        row = await self._one(f"SELECT {_INVITE} FROM invites WHERE id = ?", (invite_id,))
        return _invite(row) if row else None

    async def open_invites(self, now: float) -> list[InviteRecord]:
        rows = await self._all(
            f"SELECT {_INVITE} FROM invites WHERE kind = 'invite' AND used_at IS NULL "
            "AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at",
            (now,),
        )
        return [_invite(r) for r in rows]

    async def revoke_invite(self, invite_id: str, now: float) -> bool:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE invites SET revoked_at = ? WHERE id = ? AND kind = 'invite' "
                "AND used_at IS NULL AND revoked_at IS NULL",
                (now, invite_id),
            )
            return cursor.rowcount == 1

    # ------------------------------------------------------------------ browser sessions

    async def create_session(self, session: BrowserSessionRecord, token_hash: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                f"INSERT INTO browser_sessions (token_hash, {_SESSION}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    token_hash,
                    session.id,
                    session.user_id,
                    session.created_at,
                    session.last_seen_at,
                    session.ip,
                    session.device,
                    session.passkey_id,
                    session.kind,
                ),
            )

    async def session_by_token_hash(
        self, token_hash: str, kind: str = "browser"
    ) -> BrowserSessionRecord | None:
        """The session whose secret hashes to `token_hash`, if it is of `kind`: a terminal's
        token is no cookie, a cookie no terminal's token."""
        row = await self._one(
            f"SELECT {_SESSION} FROM browser_sessions WHERE token_hash = ? AND kind = ?",
            (token_hash, kind),
        )
        return _session(row) if row else None

    async def sessions_of(self, user_id: str) -> list[BrowserSessionRecord]:
        rows = await self._all(
            f"SELECT {_SESSION} FROM browser_sessions WHERE user_id = ? AND revoked_at IS NULL "
            "ORDER BY created_at",
            (user_id,),
        )
        return [_session(r) for r in rows]

    async def touch_session(self, session_id: str, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE browser_sessions SET last_seen_at = ? WHERE id = ?", (now, session_id)
            )

    async def revoke_session(self, user_id: str, session_id: str, now: float) -> bool:
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "UPDATE browser_sessions SET revoked_at = ? WHERE id = ? AND user_id = ? "
                "AND revoked_at IS NULL",
                (now, session_id, user_id),
            )
            return cursor.rowcount == 1

    # ------------------------------------------------------------------ challenges

    async def put_challenge(self, challenge: ChallengeRecord) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO webauthn_challenges (challenge, purpose, user_id, user_name, "
                "invite_id, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    challenge.challenge,
                    challenge.purpose,
                    challenge.user_id,
                    challenge.user_name,
                    challenge.invite_id,
                    challenge.expires_at,
                ),
            )

    async def take_challenge(self, challenge: str) -> ChallengeRecord | None:
        """Remove and return a challenge: each can be answered once."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "DELETE FROM webauthn_challenges WHERE challenge = ? RETURNING challenge, "
                "purpose, user_id, user_name, invite_id, expires_at",
                (challenge,),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        keys = ("challenge", "purpose", "user_id", "user_name", "invite_id", "expires_at")
        return msgspec.convert(dict(zip(keys, tuple(row), strict=True)), ChallengeRecord)

    async def purge_challenges(self, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute("DELETE FROM webauthn_challenges WHERE expires_at < ?", (now,))
