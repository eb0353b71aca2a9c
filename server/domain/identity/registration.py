"""Registering a passkey: a new user's first (with a setup or invite link), or another one of
the signed-in user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.domain import actors
from server.domain.errors import BadRequestError, ForbiddenError, UnauthorizedError
from server.domain.identity import ceremonies
from server.domain.identity.context import (
    CHALLENGE_TTL_S,
    RP_NAME,
    Caller,
    Login,
)
from server.domain.identity.invites import Invites
from server.domain.identity.records import ChallengeRecord, PasskeyRecord, UserRecord
from server.domain.identity.roles import Principal
from server.domain.identity.tokens import new_handle
from server.domain.names import clean_name


class Registration(Invites):
    async def registration_options(
        self, caller: Caller, *, token: str, user_name: str, by: Principal | None
    ) -> dict[str, Any]:
        """Options for a new user's first passkey (with a setup or invite link's token), or for
        another passkey of the signed-in user (`by`, no token)."""
        self.register_limiter.check_address(caller.ip, "registration attempts")
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
        self.register_limiter.check_address(caller.ip, "registration attempts")
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
            await self._refused("auth.register_failed", actors.user(challenge.user_id), caller, exc)
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
            actor=actors.user(user.id),
            target=user.id,
            ip=caller.ip,
            device=caller.device,
            details={"invite": invite.id, "role": user.role.value, "passkey": passkey.id},
        )
        login = await self._start_session(user, caller, passkey.id)
        await self._log("auth.login", login.principal, caller, user.id, {"passkey": passkey.id})
        return login
