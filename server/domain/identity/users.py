"""Managing users: their role and workspace grants (and who may hand out which), disabling them."""

from __future__ import annotations

import msgspec

from server.domain.errors import BadRequestError, ForbiddenError, NotFoundError
from server.domain.identity.context import Caller, IdentityContext
from server.domain.identity.records import UserRecord
from server.domain.identity.roles import ALL_WORKSPACES, Grant, Principal, Role

MAX_GRANTS = 100


def may_assign(by: Principal, role: Role) -> None:
    """Raise ForbiddenError unless `by` may make someone `role` (only owners make admins)."""
    if by.role is not Role.OWNER and role.at_least(Role.ADMIN):
        raise ForbiddenError(f"only an owner may make someone {role.value}")


def may_manage(by: Principal, user: UserRecord) -> None:
    """Raise ForbiddenError unless `by` may act on `user`'s account (admins: not on owners and
    admins; owners: on anyone)."""
    if not by.role.at_least(Role.ADMIN):
        raise ForbiddenError("only an owner or an admin may manage other users")
    if user.role.at_least(by.role) and by.role is not Role.OWNER:
        raise ForbiddenError(f"only an owner may change a user who is {user.role.value}")


def check_grants(role: Role, grants: tuple[Grant, ...]) -> tuple[Grant, ...]:
    if role.at_least(Role.ADMIN):
        return ALL_WORKSPACES  # owners and admins act everywhere
    if len(grants) > MAX_GRANTS:
        raise BadRequestError(f"at most {MAX_GRANTS} grants")
    for grant in grants:
        if not grant.relay_id or not grant.workspace:
            raise BadRequestError('a grant names a relay id and a workspace ("*" for all)')
    return tuple(dict.fromkeys(grants))


def plain(grants: tuple[Grant, ...]) -> list[dict[str, str]]:
    return [{"relay_id": g.relay_id, "workspace": g.workspace} for g in grants]


class Users(IdentityContext):
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
        may_assign(by, role)
        grants = check_grants(role, grants)
        await self.store.update_user(user.id, role.value, grants)
        self.sockets.close_user(user.id)  # its open sockets were authorized under the old role
        await self._log(
            "user.updated",
            by,
            caller,
            user.id,
            {"role": role.value, "grants": plain(grants), "was": user.role.value},
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
        may_manage(by, user)
        return user
