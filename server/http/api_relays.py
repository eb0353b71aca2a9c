"""REST: relays and whether they are connected."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency

from protocol.messages import Workspace
from server.domain.identity.roles import Role
from server.domain.relays import Relays
from server.http.auth import principal, require_role


class RelayView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    online: bool
    hostname: str
    workspaces: list[Workspace]
    agents: list[str]
    sandbox: str  # "bwrap", "none" (agents not confined, see sandbox_note), "" not reported
    sandbox_note: str
    created_at: float
    last_seen_at: float | None


class RelayList(msgspec.Struct):
    relays: list[RelayView]


class RelaysController(Controller):
    path = "/api/relays"
    guards = [require_role(Role.VIEWER)]

    @get("/")
    async def list_relays(
        self, request: Request[Any, Any, Any], relays: NamedDependency[Relays]
    ) -> RelayList:
        """The relays you are granted a workspace of, with only those workspaces."""
        return RelayList(
            [
                RelayView(
                    id=r.id,
                    name=r.name,
                    online=relays.is_online(r.id),
                    hostname=r.hostname,
                    workspaces=r.workspaces,
                    agents=r.agents,
                    sandbox=r.sandbox,
                    sandbox_note=r.sandbox_note,
                    created_at=r.created_at,
                    last_seen_at=r.last_seen_at,
                )
                for r in await relays.visible_to(principal(request))
            ]
        )
