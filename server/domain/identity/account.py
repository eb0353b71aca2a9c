"""The signed-in user's own browser sessions and passkeys."""

from __future__ import annotations

from server.domain.errors import BadRequestError, ForbiddenError, NotFoundError
from server.domain.identity.context import Caller, IdentityContext
from server.domain.identity.records import BrowserSessionRecord, PasskeyRecord
from server.domain.identity.roles import Principal
from server.domain.identity.users import may_manage
from server.domain.names import clean_name


class Account(IdentityContext):
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

    async def passkeys(self, who: Principal) -> list[PasskeyRecord]:
        return await self.store.passkeys(who.user_id)

    async def rename_passkey(
        self, who: Principal, caller: Caller, passkey_id: str, name: str
    ) -> None:
        name = clean_name(name, "passkey name")
        if not await self.store.rename_passkey(who.user_id, passkey_id, name):
            raise NotFoundError(f"you have no passkey {passkey_id}")
        await self._log("passkey.renamed", who, caller, passkey_id, {"name": name})

    async def reapprove_passkey(self, who: Principal, caller: Caller, passkey_id: str) -> None:
        """Clear a passkey's counter-regression flag so it signs in again: its owner, signed in
        with another passkey, or an owner or admin who may manage its user."""
        passkey = await self.store.passkey(passkey_id)
        user = await self.store.user(passkey.user_id) if passkey is not None else None
        if passkey is None or passkey.revoked_at is not None or user is None:
            raise NotFoundError(f"no passkey {passkey_id}")
        if user.id != who.user_id:
            may_manage(who, user)
        elif who.passkey_id in ("", passkey_id):
            raise ForbiddenError("sign in with another of your passkeys to re-approve this one")
        if not await self.store.reapprove_passkey(passkey_id):
            raise BadRequestError("this passkey is not flagged")
        await self._log("passkey.reapproved", who, caller, passkey_id, {"user": user.id})

    async def revoke_passkey(self, who: Principal, caller: Caller, passkey_id: str) -> None:
        held = await self.store.passkeys(who.user_id)
        if not any(p.id == passkey_id for p in held):
            raise NotFoundError(f"you have no passkey {passkey_id}")
        if len(held) == 1:
            raise BadRequestError("this is your only passkey; add another before revoking it")
        await self.store.revoke_passkey(who.user_id, passkey_id, self.clock())
        await self._log("passkey.revoked", who, caller, passkey_id)
