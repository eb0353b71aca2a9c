"""Identity: sign-up by link, passkey login, sessions, passkeys, users and invites.

Every operation that changes who may do what is written to the audit log, refusals included.
The HTTP layer hands in a `Caller` (address, user agent) for the log and the rate limits.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec

from server.domain.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from server.domain.identity import ceremonies
from server.domain.identity.browser_sessions import TOUCH_INTERVAL_S, OpenSockets, Timeouts
from server.domain.identity.console_token import CONSOLE, ConsoleToken
from server.domain.identity.records import (
    BrowserSessionRecord,
    ChallengeRecord,
    InviteRecord,
    PasskeyRecord,
    UserRecord,
)
from server.domain.identity.roles import ALL_WORKSPACES, Grant, Principal, Role
from server.domain.identity.tokens import hash_secret, new_handle, new_secret
from server.domain.ratelimit import RateLimiter
from server.store.identity_store import IdentityStore

log = logging.getLogger(__name__)

RP_NAME = "Tether"
CHALLENGE_TTL_S = 300.0  # a passkey prompt answered later than this must start over
SETUP_TTL_S = 30 * 60.0  # the owner's setup link
MAX_INVITE_TTL_S = 30 * 86400.0
MAX_NAME_CHARS = 64  # user and passkey names
MAX_GRANTS = 100


class AuditTrail(Protocol):
    async def record(
        self,
        action: str,
        *,
        actor: str,
        target: str = "",
        ip: str = "",
        device: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> Any: ...


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Where a request comes from, for the audit log and the rate limits."""

    ip: str = ""
    device: str = ""  # the user agent


@dataclasses.dataclass(frozen=True)
class Login:
    """A new browser session: `cookie` is its secret, to be sent to the browser only."""

    principal: Principal
    cookie: str


@dataclasses.dataclass(frozen=True)
class IdentityConfig:
    origin: str  # the public origin; the WebAuthn RP id is its host
    timeouts: Timeouts
    attempts_per_minute: int  # sign-in and registration attempts per address

    @property
    def rp_id(self) -> str:
        return urlsplit(self.origin).hostname or ""


def clean_name(name: str, what: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        raise BadRequestError(f"{what} must be 1-{MAX_NAME_CHARS} printable characters")
    return name


class Identity:
    def __init__(
        self,
        store: IdentityStore,
        audit: AuditTrail,
        config: IdentityConfig,
        console_token: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.audit = audit
        self.config = config
        self.clock = clock
        self.sockets = OpenSockets()
        self._console = ConsoleToken(console_token)
        limit = config.attempts_per_minute
        self.login_limiter = RateLimiter(limit, 60.0)
        self.register_limiter = RateLimiter(limit, 60.0)

    # ------------------------------------------------------------------ who is calling

    async def authenticate(self, *, cookie: str, bearer: str, loopback: bool) -> Principal | None:
        if bearer:
            return CONSOLE if loopback and self._console.matches(bearer) else None
        if not cookie:
            return None
        session = await self.store.session_by_token_hash(hash_secret(cookie))
        now = self.clock()
        if session is None or not self.config.timeouts.alive(session, now):
            return None
        user = await self.store.user(session.user_id)
        if user is None or user.disabled_at is not None:
            return None
        if now - session.last_seen_at > TOUCH_INTERVAL_S:
            await self.store.touch_session(session.id, now)
        return self._principal(user, session)

    def _principal(self, user: UserRecord, session: BrowserSessionRecord) -> Principal:
        return Principal(
            user_id=user.id,
            name=user.name,
            role=user.role,
            grants=user.grants,
            session_id=session.id,
            expires_at=self.config.timeouts.expires_at(session),
        )

    async def _start_session(self, user: UserRecord, caller: Caller) -> Login:
        cookie = new_secret()
        now = self.clock()
        session = BrowserSessionRecord(
            id=new_handle(),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            ip=caller.ip,
            device=caller.device,
        )
        await self.store.create_session(session, hash_secret(cookie))
        return Login(self._principal(user, session), cookie)

    # ------------------------------------------------------------------ setup and invites

    async def setup_link(self) -> str | None:
        """A new one-time link for the owner's first passkey while there are no users (older
        links stop working), else None."""
        if await self.store.count_users() > 0:
            return None
        token = await self._invite("setup", Role.OWNER, ALL_WORKSPACES, "", SETUP_TTL_S)
        await self.audit.record("auth.setup_link_created", actor="server", target="owner")
        return f"{self.config.origin}/setup#{token}"

    async def _invite(
        self, kind: str, role: Role, grants: tuple[Grant, ...], by: str, ttl_s: float
    ) -> str:
        token = new_secret("ti_")
        now = self.clock()
        invite = InviteRecord(
            id=new_handle(),
            kind=kind,
            role=role,
            grants=grants,
            created_by=by,
            created_at=now,
            expires_at=now + ttl_s,
        )
        await self.store.create_invite(invite, hash_secret(token))
        return token

    async def create_invite(
        self,
        by: Principal,
        caller: Caller,
        role: Role,
        grants: tuple[Grant, ...],
        ttl_s: float,
    ) -> tuple[InviteRecord, str]:
        """(the invite, its link). Admins invite operators and viewers; owners anyone."""
        self._may_assign(by, role)
        grants = _check_grants(role, grants)
        if not 60 <= ttl_s <= MAX_INVITE_TTL_S:
            raise BadRequestError(f"expires_in_s must be 60-{int(MAX_INVITE_TTL_S)}")
        token = await self._invite("invite", role, grants, by.user_id, ttl_s)
        invite = await self.store.invite_by_token_hash(hash_secret(token))
        assert invite is not None
        await self.audit.record(
            "invite.created",
            actor=by.actor,
            target=invite.id,
            ip=caller.ip,
            device=caller.device,
            details={"role": role.value, "grants": _plain(grants), "expires_at": invite.expires_at},
        )
        return invite, f"{self.config.origin}/invite#{token}"

    async def invites(self) -> list[InviteRecord]:
        return await self.store.open_invites(self.clock())

    async def revoke_invite(self, by: Principal, caller: Caller, invite_id: str) -> None:
        if not await self.store.revoke_invite(invite_id, self.clock()):
            raise NotFoundError(f"no open invite {invite_id}")
        await self._log("invite.revoked", by, caller, invite_id)

    async def link(self, caller: Caller, token: str) -> InviteRecord:
        """What a setup or invite link grants, for the page its holder opens (rate limited like
        registration, since it tells whether a token is valid)."""
        self.register_limiter.check(caller.ip, "registration attempts")
        return await self._open_invite(token)

    async def _open_invite(self, token: str) -> InviteRecord:
        invite = await self.store.invite_by_token_hash(hash_secret(token))
        if (
            invite is None
            or invite.used_at is not None
            or invite.revoked_at is not None
            or invite.expires_at <= self.clock()
        ):
            raise UnauthorizedError("this link is unknown, used, revoked or expired")
        return invite

    # ------------------------------------------------------------------ registration

    async def registration_options(
        self, caller: Caller, *, token: str, user_name: str, by: Principal | None
    ) -> dict[str, Any]:
        """Options for a new user's first passkey (with a setup or invite link's token), or for
        another passkey of the signed-in user (`by`, no token)."""
        self.register_limiter.check(caller.ip, "registration attempts")
        if token:
            invite = await self._open_invite(token)
            name = clean_name(user_name or ("owner" if invite.kind == "setup" else ""), "name")
            if await self.store.name_taken(name):
                raise BadRequestError(f"the name {name!r} is taken; choose another")
            user_id, invite_id, exclude = new_handle(), invite.id, []
        elif by is not None and by.via == "session":
            name, user_id, invite_id = by.name, by.user_id, ""
            exclude = [p.credential_id for p in await self.store.passkeys(by.user_id)]
        elif by is not None:
            raise ForbiddenError("the console has no passkeys; sign in from a browser")
        else:
            raise UnauthorizedError("registering a passkey needs an invite link or a sign-in")
        challenge, options = ceremonies.registration_options(
            rp_id=self.config.rp_id,
            rp_name=RP_NAME,
            user_id=user_id,
            user_name=name,
            exclude=exclude,
        )
        await self.store.purge_challenges(self.clock())
        await self.store.put_challenge(
            ChallengeRecord(
                challenge=challenge,
                purpose="register",
                user_id=user_id,
                user_name=name,
                invite_id=invite_id,
                expires_at=self.clock() + CHALLENGE_TTL_S,
            )
        )
        return options

    async def register(
        self,
        caller: Caller,
        credential: Mapping[str, Any],
        passkey_name: str,
        by: Principal | None,
    ) -> Login | None:
        """Verify a registration response. A new user gets a browser session (the Login); a
        signed-in user adding a passkey keeps theirs (None)."""
        self.register_limiter.check(caller.ip, "registration attempts")
        challenge = await self._take_challenge(credential, "register", caller)
        if not challenge.invite_id and (by is None or by.user_id != challenge.user_id):
            raise UnauthorizedError("sign in as the user who asked to add this passkey")
        try:
            credential_id, public_key, sign_count = ceremonies.verify_registration(
                credential,
                challenge=challenge.challenge,
                rp_id=self.config.rp_id,
                origin=self.config.origin,
            )
        except ceremonies.PasskeyRefusedError as exc:
            await self._refused("auth.register_failed", challenge.user_name, caller, exc)
            raise
        if await self.store.passkey_by_credential(credential_id) is not None:
            raise BadRequestError("this passkey is already registered")
        now = self.clock()
        passkey = PasskeyRecord(
            id=new_handle(),
            user_id=challenge.user_id,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            name=clean_name(passkey_name or "passkey", "passkey name"),
            created_at=now,
        )
        if not challenge.invite_id:
            assert by is not None
            await self.store.add_passkey(passkey)
            await self._log("passkey.added", by, caller, passkey.id, {"name": passkey.name})
            return None
        invite = await self.store.invite(challenge.invite_id)
        assert invite is not None
        user = UserRecord(
            id=challenge.user_id,
            name=challenge.user_name,
            role=invite.role,
            grants=invite.grants,
            created_at=now,
        )
        if not await self.store.create_user_with_passkey(user, passkey, invite.id, now):
            raise UnauthorizedError("this link was used, revoked or expired meanwhile")
        action = "auth.setup_completed" if invite.kind == "setup" else "invite.accepted"
        await self.audit.record(
            action,
            actor=user.name,
            target=user.id,
            ip=caller.ip,
            device=caller.device,
            details={"invite": invite.id, "role": user.role.value, "passkey": passkey.id},
        )
        login = await self._start_session(user, caller)
        await self._log("auth.login", login.principal, caller, user.id, {"passkey": passkey.id})
        return login

    # ------------------------------------------------------------------ login

    async def login_options(self, caller: Caller) -> dict[str, Any]:
        self.login_limiter.check(caller.ip, "sign-in attempts")
        challenge, options = ceremonies.login_options(rp_id=self.config.rp_id)
        await self.store.purge_challenges(self.clock())
        await self.store.put_challenge(
            ChallengeRecord(
                challenge=challenge, purpose="login", expires_at=self.clock() + CHALLENGE_TTL_S
            )
        )
        return options

    async def login(self, caller: Caller, credential: Mapping[str, Any]) -> Login:
        self.login_limiter.check(caller.ip, "sign-in attempts")
        challenge = await self._take_challenge(credential, "login", caller)
        passkey = await self.store.passkey_by_credential(ceremonies.credential_id_of(credential))
        if passkey is None:
            await self._refused("auth.login_failed", "", caller, "unknown passkey")
            raise UnauthorizedError("this passkey is not registered with this Tether")
        user = await self.store.user(passkey.user_id)
        assert user is not None
        if passkey.revoked_at is not None:
            await self._refused("auth.login_failed", user.name, caller, "revoked passkey")
            raise UnauthorizedError("this passkey was revoked; sign in with another one")
        if user.disabled_at is not None:
            await self._refused("auth.login_failed", user.name, caller, "disabled user")
            raise UnauthorizedError("this account is disabled")
        try:
            sign_count = ceremonies.verify_login(
                credential,
                challenge=challenge.challenge,
                rp_id=self.config.rp_id,
                origin=self.config.origin,
                public_key=passkey.public_key,
            )
        except ceremonies.PasskeyRefusedError as exc:
            await self._refused("auth.login_failed", user.name, caller, exc)
            raise
        if (sign_count or passkey.sign_count) and sign_count <= passkey.sign_count:
            await self.store.flag_passkey(passkey.id, self.clock())
            await self.audit.record(
                "auth.passkey_counter_regressed",
                actor=user.name,
                target=passkey.id,
                ip=caller.ip,
                device=caller.device,
                details={"stored": passkey.sign_count, "presented": sign_count},
            )
            raise UnauthorizedError(
                "this passkey's signature counter went backwards, so it may have been copied; "
                "it is flagged: sign in with another passkey and revoke it"
            )
        await self.store.record_use(passkey.id, sign_count, self.clock())
        login = await self._start_session(user, caller)
        await self._log("auth.login", login.principal, caller, user.id, {"passkey": passkey.id})
        return login

    async def _take_challenge(
        self, credential: Mapping[str, Any], purpose: str, caller: Caller
    ) -> ChallengeRecord:
        challenge = await self.store.take_challenge(ceremonies.challenge_of(credential))
        if challenge is None or challenge.purpose != purpose:
            await self._refused(f"auth.{purpose}_failed", "", caller, "unknown or used challenge")
            raise UnauthorizedError(
                "this passkey prompt is unknown or was already answered; start again"
            )
        if challenge.expires_at <= self.clock():
            await self._refused(f"auth.{purpose}_failed", "", caller, "expired challenge")
            raise UnauthorizedError("this passkey prompt expired; start again")
        return challenge

    # ------------------------------------------------------------------ sessions

    async def logout(self, who: Principal, caller: Caller) -> None:
        if who.via != "session":
            raise BadRequestError("only browser sessions sign out")
        await self.revoke_session(who, caller, who.session_id, action="auth.logout")

    async def sessions(self, who: Principal) -> list[BrowserSessionRecord]:
        return await self.store.sessions_of(who.user_id)

    async def revoke_session(
        self, who: Principal, caller: Caller, session_id: str, action: str = "auth.session_revoked"
    ) -> None:
        if not await self.store.revoke_session(who.user_id, session_id, self.clock()):
            raise NotFoundError(f"no open session {session_id}")
        closed = self.sockets.close_session(session_id)
        await self._log(action, who, caller, session_id, {"sockets_closed": closed})

    # ------------------------------------------------------------------ passkeys

    async def passkeys(self, who: Principal) -> list[PasskeyRecord]:
        return await self.store.passkeys(who.user_id)

    async def rename_passkey(
        self, who: Principal, caller: Caller, passkey_id: str, name: str
    ) -> None:
        name = clean_name(name, "passkey name")
        if not await self.store.rename_passkey(who.user_id, passkey_id, name):
            raise NotFoundError(f"you have no passkey {passkey_id}")
        await self._log("passkey.renamed", who, caller, passkey_id, {"name": name})

    async def revoke_passkey(self, who: Principal, caller: Caller, passkey_id: str) -> None:
        held = await self.store.passkeys(who.user_id)
        if not any(p.id == passkey_id for p in held):
            raise NotFoundError(f"you have no passkey {passkey_id}")
        if len(held) == 1:
            raise BadRequestError("this is your only passkey; add another before revoking it")
        await self.store.revoke_passkey(who.user_id, passkey_id, self.clock())
        await self._log("passkey.revoked", who, caller, passkey_id)

    # ------------------------------------------------------------------ users

    async def users(self) -> list[UserRecord]:
        return await self.store.users()

    async def update_user(
        self,
        by: Principal,
        caller: Caller,
        user_id: str,
        role: Role,
        grants: tuple[Grant, ...],
    ) -> UserRecord:
        user = await self._user_to_manage(by, user_id)
        self._may_assign(by, role)
        grants = _check_grants(role, grants)
        await self.store.update_user(user.id, role.value, grants)
        self.sockets.close_user(user.id)  # its open sockets were authorized under the old role
        await self._log(
            "user.updated",
            by,
            caller,
            user.id,
            {"role": role.value, "grants": _plain(grants), "was": user.role.value},
        )
        return msgspec.structs.replace(user, role=role, grants=grants)

    async def disable_user(self, by: Principal, caller: Caller, user_id: str) -> None:
        user = await self._user_to_manage(by, user_id)
        await self.store.disable_user(user.id, self.clock())
        closed = self.sockets.close_user(user.id)
        await self._log("user.disabled", by, caller, user.id, {"sockets_closed": closed})

    async def _user_to_manage(self, by: Principal, user_id: str) -> UserRecord:
        user = await self.store.user(user_id)
        if user is None or user.disabled_at is not None:
            raise NotFoundError(f"no user {user_id}")
        if user.id == by.user_id:
            raise ForbiddenError("you cannot change your own role or account")
        if user.role.at_least(by.role) and by.role is not Role.OWNER:
            raise ForbiddenError(f"only an owner may change a user who is {user.role.value}")
        return user

    @staticmethod
    def _may_assign(by: Principal, role: Role) -> None:
        if by.role is not Role.OWNER and role.at_least(Role.ADMIN):
            raise ForbiddenError(f"only an owner may make someone {role.value}")

    # ------------------------------------------------------------------ audit

    async def _log(
        self,
        action: str,
        who: Principal,
        caller: Caller,
        target: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await self.audit.record(
            action,
            actor=who.actor,
            target=target,
            ip=caller.ip,
            device=caller.device,
            details=details,
        )

    async def _refused(self, action: str, who: str, caller: Caller, why: object) -> None:
        await self.audit.record(
            action,
            actor=who or "anonymous",
            ip=caller.ip,
            device=caller.device,
            details={"reason": str(why)[:300]},
        )


def _check_grants(role: Role, grants: tuple[Grant, ...]) -> tuple[Grant, ...]:
    if role.at_least(Role.ADMIN):
        return ALL_WORKSPACES  # owners and admins act everywhere
    if len(grants) > MAX_GRANTS:
        raise BadRequestError(f"at most {MAX_GRANTS} grants")
    for grant in grants:
        if not grant.relay_id or not grant.workspace:
            raise BadRequestError('a grant names a relay id and a workspace ("*" for all)')
    return tuple(dict.fromkeys(grants))


def _plain(grants: tuple[Grant, ...]) -> list[dict[str, str]]:
    return [{"relay_id": g.relay_id, "workspace": g.workspace} for g in grants]
