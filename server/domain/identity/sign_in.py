"""Signing in: who is calling (cookie or console token), and the passkey login ceremony."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from server.domain import actors
from server.domain.errors import UnauthorizedError
from server.domain.identity import ceremonies
from server.domain.identity.browser_sessions import TOUCH_INTERVAL_S
from server.domain.identity.console_token import CONSOLE
from server.domain.identity.context import CHALLENGE_TTL_S, Caller, Login
from server.domain.identity.records import ChallengeRecord, PasskeyRecord, UserRecord
from server.domain.identity.roles import Principal
from server.domain.identity.terminal_logins import TOKEN_PREFIX as TERMINAL_TOKEN_PREFIX
from server.domain.identity.terminal_logins import TerminalLogins
from server.domain.identity.tokens import hash_secret


class SignIn(TerminalLogins):
    async def authenticate(self, *, cookie: str, bearer: str, loopback: bool) -> Principal | None:
        if bearer.startswith(TERMINAL_TOKEN_PREFIX):
            return await self.authenticate_terminal(bearer)
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

    async def login_options(self, caller: Caller) -> dict[str, Any]:
        self.login_limiter.check_address(caller.ip, "sign-in attempts")
        challenge, options = ceremonies.login_options(rp_id=self.config.rp_id)
        await self.store.purge_challenges(self.clock())
        await self.store.put_challenge(
            ChallengeRecord(
                challenge=challenge, purpose="login", expires_at=self.clock() + CHALLENGE_TTL_S
            )
        )
        return options

    async def login(self, caller: Caller, credential: Mapping[str, Any]) -> Login:
        self.login_limiter.check_address(caller.ip, "sign-in attempts")
        challenge = await self._take_challenge(credential, "login", caller)
        passkey, user = await self._usable_passkey(credential, caller)
        try:
            sign_count = ceremonies.verify_login(
                credential,
                challenge=challenge.challenge,
                rp_id=self.config.rp_id,
                origin=self.config.origin,
                public_key=passkey.public_key,
            )
        except ceremonies.PasskeyRefusedError as exc:
            await self._refused("auth.login_failed", actors.user(user.id), caller, exc)
            raise
        if (sign_count or passkey.sign_count) and sign_count <= passkey.sign_count:
            await self._counter_regressed(passkey, sign_count, caller)
        await self.store.record_use(passkey.id, sign_count, self.clock())
        login = await self._start_session(user, caller, passkey.id)
        await self._log("auth.login", login.principal, caller, user.id, {"passkey": passkey.id})
        return login

    async def _usable_passkey(
        self, credential: Mapping[str, Any], caller: Caller
    ) -> tuple[PasskeyRecord, UserRecord]:
        """The passkey a login response names, with its user; refused (audited) when unknown,
        revoked, flagged or of a disabled user."""
        passkey = await self.store.passkey_by_credential(ceremonies.credential_id_of(credential))
        if passkey is None:
            await self._refused("auth.login_failed", "", caller, "unknown passkey")
            raise UnauthorizedError("this passkey is not registered with this Tether")
        user = await self.store.user(passkey.user_id)
        assert user is not None
        refusal = _refusal(passkey, user)
        if refusal:
            await self._refused("auth.login_failed", actors.user(user.id), caller, refusal)
            raise UnauthorizedError(_REFUSALS[refusal])
        return passkey, user

    async def _counter_regressed(
        self, passkey: PasskeyRecord, sign_count: int, caller: Caller
    ) -> NoReturn:
        """Flag the passkey, sign out the sessions it signed in, audit, refuse."""
        signed_out = await self.store.flag_passkey(passkey.id, self.clock())
        closed = sum(self.sockets.close_session(session_id) for session_id in signed_out)
        await self.audit.record(
            "auth.passkey_counter_regressed",
            actor=actors.user(passkey.user_id),
            target=passkey.id,
            ip=caller.ip,
            device=caller.device,
            details={
                "stored": passkey.sign_count,
                "presented": sign_count,
                "sessions_signed_out": signed_out,
                "sockets_closed": closed,
            },
        )
        raise UnauthorizedError(
            "this passkey's signature counter went backwards, so it may have been copied; "
            "it is flagged: sign in with another passkey, then re-approve or revoke it"
        )


def _refusal(passkey: PasskeyRecord, user: UserRecord) -> str:
    """Why this passkey may not sign in ("" when it may), as the audit log says it."""
    if passkey.revoked_at is not None:
        return "revoked passkey"
    if passkey.flagged_at is not None:
        return "flagged passkey"
    if user.disabled_at is not None:
        return "disabled user"
    return ""


_REFUSALS = {  # what the person signing in is told, by refusal
    "revoked passkey": "this passkey was revoked; sign in with another one",
    "flagged passkey": (
        "this passkey is flagged (its signature counter once went backwards, so it may have "
        "been copied): sign in with another passkey and re-approve or revoke it, or ask an admin"
    ),
    "disabled user": "this account is disabled",
}
