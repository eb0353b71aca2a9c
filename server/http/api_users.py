"""REST: users, their roles and workspace grants, and invite links (admins and owners)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import Body

from server.domain.identity.records import InviteRecord, UserRecord
from server.domain.identity.roles import Grant, Role
from server.domain.identity.service import Identity
from server.http.api_auth import caller_of
from server.http.auth import principal, require_role

DEFAULT_INVITE_TTL_S = 7 * 86400


class UserView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: Role
    grants: list[Grant]
    created_at: float
    disabled: bool


class UserList(msgspec.Struct):
    users: list[UserView]


class UserUpdate(msgspec.Struct, kw_only=True):
    role: Role
    grants: list[Grant] = []  # ignored for owners and admins, who act on every workspace


class InviteRequest(msgspec.Struct, kw_only=True):
    role: Role
    grants: list[Grant] = []
    expires_in_s: Annotated[int, msgspec.Meta(ge=60, le=30 * 86400)] = DEFAULT_INVITE_TTL_S


class InviteView(msgspec.Struct, kw_only=True):
    id: str
    role: Role
    grants: list[Grant]
    created_by: str
    created_at: float
    expires_at: float


class CreatedInvite(msgspec.Struct, kw_only=True):
    invite: InviteView
    link: str  # shown once: the token after # is not stored


class InviteList(msgspec.Struct):
    invites: list[InviteView]


def _user_view(u: UserRecord) -> UserView:
    return UserView(
        id=u.id,
        name=u.name,
        role=u.role,
        grants=list(u.grants),
        created_at=u.created_at,
        disabled=u.disabled_at is not None,
    )


def _invite_view(i: InviteRecord) -> InviteView:
    return InviteView(
        id=i.id,
        role=i.role,
        grants=list(i.grants),
        created_by=i.created_by,
        created_at=i.created_at,
        expires_at=i.expires_at,
    )


class UsersController(Controller):
    path = "/api/users"
    guards = [require_role(Role.ADMIN)]

    @get("/")
    async def list_users(self, identity: NamedDependency[Identity]) -> UserList:
        return UserList([_user_view(u) for u in await identity.users()])

    @patch("/{user_id:str}")
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        user_id: str,
        data: Annotated[UserUpdate, Body()],
    ) -> UserView:
        """Change a user's role and grants; their open WebSockets close (they reconnect under
        the new rules)."""
        user = await identity.update_user(
            principal(request), caller_of(request), user_id, data.role, tuple(data.grants)
        )
        return _user_view(user)

    @delete("/{user_id:str}", status_code=204)
    async def disable_user(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], user_id: str
    ) -> None:
        """Disable a user: their sessions end and their sockets close at once."""
        await identity.disable_user(principal(request), caller_of(request), user_id)


class InvitesController(Controller):
    path = "/api/invites"
    guards = [require_role(Role.ADMIN)]

    @post("/", status_code=201)
    async def create_invite(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: Annotated[InviteRequest, Body()],
    ) -> CreatedInvite:
        """A single-use link that lets one new person register a passkey with this role."""
        invite, link = await identity.create_invite(
            principal(request),
            caller_of(request),
            data.role,
            tuple(data.grants),
            float(data.expires_in_s),
        )
        return CreatedInvite(invite=_invite_view(invite), link=link)

    @get("/")
    async def list_invites(self, identity: NamedDependency[Identity]) -> InviteList:
        """Invites not yet used, revoked or expired."""
        return InviteList([_invite_view(i) for i in await identity.invites()])

    @delete("/{invite_id:str}", status_code=204)
    async def revoke_invite(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], invite_id: str
    ) -> None:
        await identity.revoke_invite(principal(request), caller_of(request), invite_id)
