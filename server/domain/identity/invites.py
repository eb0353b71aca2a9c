"""Setup and invite links: single-use tokens that let one new person register a passkey."""

from __future__ import annotations

from server.domain import actors
from server.domain.errors import BadRequestError, NotFoundError, UnauthorizedError
from server.domain.identity.context import Caller, IdentityContext
from server.domain.identity.records import InviteRecord
from server.domain.identity.roles import ALL_WORKSPACES, Grant, Principal, Role
from server.domain.identity.tokens import hash_secret, new_handle, new_secret
from server.domain.identity.users import check_grants, may_assign, plain

SETUP_TTL_S = 30 * 60.0  # the owner's setup link
MAX_INVITE_TTL_S = 30 * 86400.0


class Invites(IdentityContext):
    async def setup_link(self) -> str | None:
        """A new one-time link for the owner's first passkey while there are no users (older
        links stop working), else None."""
        if await self.store.count_users() > 0:
            return None
        token = await self._invite("setup", Role.OWNER, ALL_WORKSPACES, "", SETUP_TTL_S)
        await self.audit.record("auth.setup_link_created", actor=actors.SYSTEM, target="owner")
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
        may_assign(by, role)
        grants = check_grants(role, grants)
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
            details={"role": role.value, "grants": plain(grants), "expires_at": invite.expires_at},
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
        self.register_limiter.check_address(caller.ip, "registration attempts")
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
