"""REST: relay enrolment (public request and poll; admin approve, deny, list) and revocation.

    POST   /api/relays/enrolments                    public   a relay asks; gets code + handle
    POST   /api/relays/enrolments/poll               public   the relay polls with its handle
    GET    /api/relays/enrolments                    admin    pending requests (codes not shown)
    POST   /api/relays/enrolments/{code}/approve     admin    approve the code the relay shows
    POST   /api/relays/enrolments/{code}/deny        admin
    DELETE /api/relays/{relay_id}                    admin    revoke; closes its link at once

The public routes are rate limited per address (server/domain/enrolment.py) and refuse
cross-site browser requests. The poll handle travels in the body, never in a URL, so it stays
out of access logs.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Body

from server.domain.enrolment import POLL_INTERVAL_S, Enrolments
from server.domain.identity.roles import Role
from server.domain.relays import Relays
from server.http.auth import (
    PUBLIC_MAX_BODY_BYTES,
    client_ip,
    device,
    principal,
    refuse_cross_site,
    require_role,
)

MAX_HANDLE_CHARS = 128


class EnrolmentRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str = msgspec.field(default="")


class EnrolmentCreated(msgspec.Struct, kw_only=True):
    code: str  # ABCD-EFGH: the relay shows it, an admin approves it
    handle: str  # secret; the relay polls with it
    expires_at: float
    poll_interval_s: float


class PollRequest(msgspec.Struct, forbid_unknown_fields=True):
    handle: str


class PollResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str  # pending, approved, denied, expired, collected, revoked
    expires_at: float
    relay_id: str = ""
    name: str = ""
    token: str = ""  # only with "approved", only once


class ApproveRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""  # the relay's name; empty keeps the one it asked for


class PendingEnrolment(msgspec.Struct, kw_only=True):
    id: str
    name: str
    ip: str
    requested_at: float
    expires_at: float


class PendingList(msgspec.Struct):
    enrolments: list[PendingEnrolment]


class Approved(msgspec.Struct, kw_only=True):
    relay_id: str
    name: str


def _actor(request: Request[Any, Any, Any]) -> str:
    return principal(request).actor


_ADMIN = require_role(Role.ADMIN)


class EnrolmentController(Controller):
    """Requests and polls (public: a relay has no credentials yet) and the admin's decisions."""

    path = "/api/relays/enrolments"
    guards = [refuse_cross_site]
    request_max_body_size = PUBLIC_MAX_BODY_BYTES

    @post("/", status_code=201)
    async def request_enrolment(
        self,
        enrolments: NamedDependency[Enrolments],
        request: Request[Any, Any, Any],
        data: Annotated[EnrolmentRequest, Body()],
    ) -> EnrolmentCreated:
        made = await enrolments.request(data.name, ip=client_ip(request), device=device(request))
        return EnrolmentCreated(
            code=made.code,
            handle=made.handle,
            expires_at=made.expires_at,
            poll_interval_s=POLL_INTERVAL_S,
        )

    @post("/poll", status_code=200)
    async def poll_enrolment(
        self,
        enrolments: NamedDependency[Enrolments],
        request: Request[Any, Any, Any],
        data: Annotated[PollRequest, Body()],
    ) -> PollResult:
        polled = await enrolments.poll(data.handle[:MAX_HANDLE_CHARS], ip=client_ip(request))
        return PollResult(
            status=polled.status,
            expires_at=polled.expires_at,
            relay_id=polled.relay_id,
            name=polled.name,
            token=polled.token,
        )

    @get("/", guards=[_ADMIN])
    async def list_enrolments(self, enrolments: NamedDependency[Enrolments]) -> PendingList:
        return PendingList(
            [
                PendingEnrolment(
                    id=e.id,
                    name=e.name,
                    ip=e.ip,
                    requested_at=e.requested_at,
                    expires_at=e.expires_at,
                )
                for e in await enrolments.pending()
            ]
        )

    @post("/{code:str}/approve", status_code=200, guards=[_ADMIN])
    async def approve_enrolment(
        self,
        enrolments: NamedDependency[Enrolments],
        request: Request[Any, Any, Any],
        code: str,
        data: Annotated[ApproveRequest | None, Body()] = None,
    ) -> Approved:
        relay_id, name = await enrolments.approve(
            code,
            actor=_actor(request),
            ip=client_ip(request),
            device=device(request),
            name=data.name if data else "",
        )
        return Approved(relay_id=relay_id, name=name)

    @post("/{code:str}/deny", status_code=204, guards=[_ADMIN])
    async def deny_enrolment(
        self, enrolments: NamedDependency[Enrolments], request: Request[Any, Any, Any], code: str
    ) -> None:
        await enrolments.deny(
            code, actor=_actor(request), ip=client_ip(request), device=device(request)
        )


class RelayAdminController(Controller):
    """What only admins may do to a registered relay."""

    path = "/api/relays"
    guards = [_ADMIN]

    @delete("/{relay_id:str}", status_code=204)
    async def revoke_relay(
        self, relays: NamedDependency[Relays], request: Request[Any, Any, Any], relay_id: str
    ) -> None:
        await relays.revoke(
            relay_id, actor=_actor(request), ip=client_ip(request), device=device(request)
        )
