"""REST: relays and whether they are connected."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from protocol.messages import Workspace
from server.domain.core import Core
from server.http.auth import require_viewer


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
    guards = [require_viewer]

    @get("/")
    async def list_relays(self, state: State) -> RelayList:
        core: Core = state.core
        return RelayList(
            [
                RelayView(
                    id=r.id,
                    name=r.name,
                    online=core.relays.is_online(r.id),
                    hostname=r.hostname,
                    workspaces=r.workspaces,
                    agents=r.agents,
                    created_at=r.created_at,
                    last_seen_at=r.last_seen_at,
                )
                for r in await core.relays.store.list()
            ]
        )
