"""Users, passkeys, invites, browser sessions and challenges as stored."""

from __future__ import annotations

import msgspec

from server.domain.identity.roles import Grant, Role


class UserRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: Role
    grants: tuple[Grant, ...] = ()
    created_at: float
    disabled_at: float | None = None


class PasskeyRecord(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    credential_id: bytes
    public_key: bytes
    sign_count: int = 0
    name: str
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None
    flagged_at: float | None = None


class InviteRecord(msgspec.Struct, kw_only=True):
    id: str
    kind: str  # "setup" (the owner's first passkey) or "invite"
    role: Role
    grants: tuple[Grant, ...] = ()
    created_by: str = ""
    created_at: float
    expires_at: float
    used_at: float | None = None
    used_by: str | None = None
    revoked_at: float | None = None


class BrowserSessionRecord(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    created_at: float
    last_seen_at: float
    ip: str = ""
    device: str = ""
    revoked_at: float | None = None
    passkey_id: str = ""  # the passkey that signed it in; "" when unknown (older sessions)
    kind: str = "browser"  # or "terminal": a `tether login` token, sent as a bearer header


class ChallengeRecord(msgspec.Struct, kw_only=True):
    challenge: str  # base64url
    purpose: str  # "register" or "login"
    user_id: str = ""
    user_name: str = ""
    invite_id: str = ""
    expires_at: float
