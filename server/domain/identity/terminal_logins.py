"""`tether login URL`: a terminal is signed in as a user, who approves it with a passkey.

    terminal                        server                                 the user, in the app
    request(name) ────────────────> code ABCD-EFGH + poll handle
    prints the code, polls ───────> pending ...
                                                        <──── options(code): a passkey prompt
                                                        <──── approve(code, signed prompt)
    poll ─────────────────────────> token tt_..., a session of kind 'terminal', shown once

Decision (docs/security.md, "Terminal logins"): the token acts as the approving user, with that
user's role and grants, but it cannot manage users, invites, relays, passkeys or sessions
(tokens included), nor approve another terminal: those need the app (`Principal.via ==
"terminal"`, refused by the HTTP guards). It is listed with the user's browsers and revoked
there; revoking it closes its sockets. Only approval by a fresh passkey assertion of the
signed-in user counts: a browser session alone does not approve, and a terminal never does.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Mapping
from typing import Any

from server.domain import actors
from server.domain.enrolment import CODE_ALPHABET, CODE_CHARS, format_code, parse_code
from server.domain.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from server.domain.identity import ceremonies
from server.domain.identity.browser_sessions import TOUCH_INTERVAL_S, Timeouts
from server.domain.identity.context import CHALLENGE_TTL_S, Caller, IdentityContext
from server.domain.identity.records import BrowserSessionRecord, UserRecord
from server.domain.identity.roles import Principal
from server.domain.identity.tokens import hash_secret, new_handle, new_secret
from server.domain.ratelimit import RateLimiter
from server.store.terminal_login_store import TerminalLoginRecord, TerminalSession

TOKEN_PREFIX = "tt_"
HANDLE_PREFIX = "tl_"
LOGIN_TTL_S = 600.0  # the user has this long to approve the code
COLLECT_WINDOW_S = 300.0  # after approval, the terminal has this long to collect its token
POLL_INTERVAL_S = 2.0
MAX_PENDING = 50
FORGET_AFTER_S = 86400.0
REQUESTS_PER_IP = (10, 600.0)
POLLS_PER_IP = (300, 60.0)
DECISIONS_PER_USER = (30, 60.0)  # approval attempts: guessing a code is hopeless
# A terminal token is used by scripts too: it lives longer than a browser session, and is
# listed and revocable in the app all the while.
TERMINAL_TIMEOUTS = Timeouts(idle_s=30 * 86400.0, absolute_s=180 * 86400.0)
MAX_NAME_CHARS = 64


@dataclasses.dataclass(frozen=True)
class LoginRequested:
    code: str  # ABCD-EFGH
    handle: str
    expires_at: float


@dataclasses.dataclass(frozen=True)
class LoginPolled:
    status: str  # pending, approved (token set), expired, collected
    expires_at: float
    token: str = ""
    user_name: str = ""
    role: str = ""
    session_id: str = ""


def _hash(secret: str) -> str:
    return hash_secret(secret)


def _terminal_name(name: str) -> str:
    name = " ".join(name.split())[:MAX_NAME_CHARS]
    if not name or not name.isprintable():
        raise BadRequestError(f"a terminal's name is 1-{MAX_NAME_CHARS} printable characters")
    return name


class TerminalLogins(IdentityContext):
    @functools.cached_property
    def _login_requests(self) -> RateLimiter:
        return RateLimiter(*REQUESTS_PER_IP)

    @functools.cached_property
    def _login_polls(self) -> RateLimiter:
        return RateLimiter(*POLLS_PER_IP)

    @functools.cached_property
    def _login_approvals(self) -> RateLimiter:
        return RateLimiter(*DECISIONS_PER_USER)

    async def request_terminal_login(self, caller: Caller, name: str) -> LoginRequested:
        self._login_requests.check_address(caller.ip, "terminal login requests from this address")
        name = _terminal_name(name)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
        handle = HANDLE_PREFIX + new_secret()
        now = self.clock()
        login_id = new_handle()
        if not await self.logins.create(
            login_id=login_id,
            code_hash=_hash(code),
            handle_hash=_hash(handle),
            name=name,
            ip=caller.ip,
            now=now,
            expires_at=now + LOGIN_TTL_S,
            max_pending=MAX_PENDING,
            forget_before=now - FORGET_AFTER_S,
        ):
            raise RateLimitedError(f"{MAX_PENDING} terminal logins are waiting already")
        await self.audit.record(
            "auth.terminal_login_requested",
            actor=actors.ANONYMOUS,
            target=login_id,
            ip=caller.ip,
            device=caller.device,
            details={"name": name},
        )
        return LoginRequested(format_code(code), handle, now + LOGIN_TTL_S)

    async def _approvable(self, who: Principal, code_text: str) -> TerminalLoginRecord:
        if who.via != "session":
            raise ForbiddenError("approve a terminal login in the app, signed in with a passkey")
        self._login_approvals.check(who.user_id, "terminal login approvals")
        code = parse_code(code_text)
        record = await self.logins.by_code(_hash(code))
        shown = format_code(code)
        if record is None:
            raise NotFoundError(f"no terminal login has the code {shown}: check it on the terminal")
        if record.status != "pending":
            raise BadRequestError(f"the code {shown} was used already")
        if record.expires_at <= self.clock():
            raise BadRequestError(f"the code {shown} has expired: run `tether login` again")
        return record

    async def terminal_login_options(
        self, who: Principal, caller: Caller, code_text: str
    ) -> dict[str, Any]:
        """A passkey prompt whose answer approves the terminal login of `code_text`."""
        record = await self._approvable(who, code_text)
        challenge, options = ceremonies.login_options(rp_id=self.config.rp_id)
        await self.logins.set_challenge(
            record.id,
            challenge=challenge,
            user_id=who.user_id,
            expires_at=self.clock() + CHALLENGE_TTL_S,
        )
        return {**options, "terminal": record.name, "requested_from": record.ip}

    async def approve_terminal_login(
        self, who: Principal, caller: Caller, code_text: str, credential: Mapping[str, Any]
    ) -> str:
        """Approve with a passkey of `who` answering the prompt; returns the terminal's name."""
        record = await self._approvable(who, code_text)
        asked = await self.logins.take_challenge(record.id, ceremonies.challenge_of(credential))
        if asked is None or asked.challenge_user_id != who.user_id:
            await self._refused("auth.terminal_login_refused", who.actor, caller, "no prompt")
            raise UnauthorizedError("this passkey prompt is unknown or was answered; start again")
        if asked.challenge_expires_at <= self.clock():
            await self._refused("auth.terminal_login_refused", who.actor, caller, "expired")
            raise UnauthorizedError("this passkey prompt expired; start again")
        await self._check_passkey(who, caller, credential, asked.challenge)
        if not await self.logins.approve(
            record.id,
            user_id=who.user_id,
            now=self.clock(),
            collect_until=self.clock() + COLLECT_WINDOW_S,
        ):
            raise BadRequestError("this terminal login was decided or expired a moment ago")
        await self._log(
            "auth.terminal_login_approved",
            who,
            caller,
            record.id,
            {"name": record.name, "requested_from": record.ip},
        )
        return record.name

    async def _check_passkey(
        self, who: Principal, caller: Caller, credential: Mapping[str, Any], challenge: str
    ) -> None:
        """The assertion is by an unrevoked, unflagged passkey of `who`, and verifies."""
        passkey = await self.store.passkey_by_credential(ceremonies.credential_id_of(credential))
        if passkey is None or passkey.user_id != who.user_id or passkey.revoked_at is not None:
            await self._refused("auth.terminal_login_refused", who.actor, caller, "not your key")
            raise UnauthorizedError("approve with one of your own passkeys")
        if passkey.flagged_at is not None:
            await self._refused("auth.terminal_login_refused", who.actor, caller, "flagged key")
            raise UnauthorizedError("this passkey is flagged as possibly copied; use another")
        try:
            sign_count = ceremonies.verify_login(
                credential,
                challenge=challenge,
                rp_id=self.config.rp_id,
                origin=self.config.origin,
                public_key=passkey.public_key,
            )
        except ceremonies.PasskeyRefusedError as exc:
            await self._refused("auth.terminal_login_refused", who.actor, caller, exc)
            raise
        if (sign_count or passkey.sign_count) and sign_count <= passkey.sign_count:
            await self.store.flag_passkey(passkey.id, self.clock())
            await self._refused("auth.passkey_counter_regressed", who.actor, caller, passkey.id)
            raise UnauthorizedError("this passkey's signature counter went backwards: flagged")
        await self.store.record_use(passkey.id, sign_count, self.clock())

    async def poll_terminal_login(self, caller: Caller, handle: str) -> LoginPolled:
        """The request's state; on the first poll after approval, the terminal's token."""
        self._login_polls.check_address(caller.ip, "terminal login polls from this address")
        if not handle.startswith(HANDLE_PREFIX) or len(handle) > 128:
            raise BadRequestError("that is not a terminal login poll handle")
        record = await self.logins.by_handle(_hash(handle))
        if record is None:
            raise NotFoundError("unknown terminal login: run `tether login` again")
        now = self.clock()
        if record.status == "claimed":
            return LoginPolled("collected", record.expires_at)
        if record.expires_at <= now:
            return LoginPolled("expired", record.expires_at)
        if record.status == "pending":
            return LoginPolled("pending", record.expires_at)
        assert record.user_id is not None
        user = await self.store.user(record.user_id)
        if user is None or user.disabled_at is not None:
            return LoginPolled("expired", record.expires_at)
        return await self._collect(record, user, caller, now)

    async def _collect(
        self, record: TerminalLoginRecord, user: UserRecord, caller: Caller, now: float
    ) -> LoginPolled:
        token = new_secret(TOKEN_PREFIX)
        session = TerminalSession(
            id=new_handle(),
            token_hash=_hash(token),
            user_id=user.id,
            now=now,
            ip=caller.ip,
            device=f"tether login: {record.name}",
        )
        if not await self.logins.claim(record.id, session):
            return LoginPolled("collected", record.expires_at)
        await self.audit.record(
            "auth.terminal_token_created",
            actor=actors.user(user.id),
            target=session.id,
            ip=caller.ip,
            details={"name": record.name, "login": record.id},
        )
        return LoginPolled(
            "approved", record.expires_at, token, user.name, user.role.value, session.id
        )

    async def authenticate_terminal(self, token: str) -> Principal | None:
        """The principal a terminal token stands for, while it is alive."""
        session = await self.store.session_by_token_hash(_hash(token), kind="terminal")
        now = self.clock()
        if session is None or not TERMINAL_TIMEOUTS.alive(session, now):
            return None
        user = await self.store.user(session.user_id)
        if user is None or user.disabled_at is not None:
            return None
        if now - session.last_seen_at > TOUCH_INTERVAL_S:
            await self.store.touch_session(session.id, now)
        return self._terminal_principal(user, session)

    def _terminal_principal(self, user: UserRecord, session: BrowserSessionRecord) -> Principal:
        return Principal(
            user_id=user.id,
            name=user.name,
            role=user.role,
            grants=user.grants,
            session_id=session.id,
            via="terminal",
            expires_at=TERMINAL_TIMEOUTS.expires_at(session),
        )
