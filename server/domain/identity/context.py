"""What every part of Identity shares: its store, audit trail, settings, clock and limits.

Also the types the HTTP layer hands in and gets back (Caller, Login), and the browser session a
passkey ceremony ends with.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from server.domain import actors
from server.domain.audit import Audit
from server.domain.errors import UnauthorizedError
from server.domain.identity import ceremonies
from server.domain.identity.browser_sessions import OpenSockets, Timeouts
from server.domain.identity.console_token import ConsoleToken
from server.domain.identity.records import BrowserSessionRecord, ChallengeRecord, UserRecord
from server.domain.identity.roles import Principal
from server.domain.identity.tokens import hash_secret, new_handle, new_secret
from server.domain.ratelimit import RateLimiter
from server.store.identity_store import IdentityStore
from server.store.terminal_login_store import TerminalLoginStore

RP_NAME = "Tether"
CHALLENGE_TTL_S = 300.0  # a passkey prompt answered later than this must start over


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


class IdentityContext:
    """The state and the audit helpers the operations of Identity (service.py) work with."""

    def __init__(
        self,
        store: IdentityStore,
        logins: TerminalLoginStore,
        audit: Audit,
        config: IdentityConfig,
        console_token: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.logins = logins  # `tether login` requests (terminal_logins.py)
        self.audit = audit
        self.config = config
        self.clock = clock
        self.sockets = OpenSockets()
        self._console = ConsoleToken(console_token)
        limit = config.attempts_per_minute
        self.login_limiter = RateLimiter(limit, 60.0)
        self.register_limiter = RateLimiter(limit, 60.0)

    def _principal(self, user: UserRecord, session: BrowserSessionRecord) -> Principal:
        return Principal(
            user_id=user.id,
            name=user.name,
            role=user.role,
            grants=user.grants,
            session_id=session.id,
            passkey_id=session.passkey_id,
            expires_at=self.config.timeouts.expires_at(session),
        )

    async def _start_session(self, user: UserRecord, caller: Caller, passkey_id: str) -> Login:
        cookie = new_secret()
        now = self.clock()
        session = BrowserSessionRecord(
            id=new_handle(),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            ip=caller.ip,
            device=caller.device,
            passkey_id=passkey_id,
        )
        await self.store.create_session(session, hash_secret(cookie))
        return Login(self._principal(user, session), cookie)

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

    async def _refused(self, action: str, actor: str, caller: Caller, why: object) -> None:
        """Audit a refusal; `actor` from server/domain/actors.py, "" for anonymous."""
        await self.audit.record(
            action,
            actor=actor or actors.ANONYMOUS,
            ip=caller.ip,
            device=caller.device,
            details={"reason": str(why)[:300]},
        )
