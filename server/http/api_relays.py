"""REST: relays and whether they are connected."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State

from protocol.messages import Workspace
from server.domain.core import Core
from server.domain.identity.roles import Role
from server.http.auth import principal, require_role


class RelayView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    online: bool
    hostname: str
    workspaces: list[Workspace]
    agents: list[str]
    created_at: float
    last_seen_at: float | None


class RelayList(msgspec.Struct):
    relays: list[RelayView]


class RelaysController(Controller):
    path = "/api/relays"
    guards = [require_role(Role.VIEWER)]

    @get("/")
    async def list_relays(self, request: Request[Any, Any, Any], state: State) -> RelayList:
        """The relays you are granted a workspace of, with only those workspaces."""
        core: Core = state.core
        who = principal(request)
        return RelayList(
            [
                RelayView(
                    id=r.id,
                    name=r.name,
                    online=core.relays.is_online(r.id),
                    hostname=r.hostname,
                    workspaces=[w for w in r.workspaces if who.may(Role.VIEWER, r.id, w.name)],
                    agents=r.agents,
                    created_at=r.created_at,
                    last_seen_at=r.last_seen_at,
                )
                for r in await core.relays.store.list()
                if who.may_see_relay(r.id)
            ]
        )
