"""REST: sessions, their events in pages, and starting a session."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, HeaderParameter, Parameter

from protocol import messages as m
from server.domain.chunks import frame
from server.domain.events import EventLog
from server.domain.identity.roles import Role
from server.domain.sessions import MAX_KEY_CHARS, Sessions, SessionView
from server.http.auth import principal, require_role


class SessionList(msgspec.Struct):
    sessions: list[SessionView]
    # "full" while the server's disk refuses writes (the app shows "Server storage full")
    storage: Literal["ok", "full"] = "ok"


class StartRequest(msgspec.Struct, kw_only=True):
    relay_id: str
    workspace: str
    agent: str = "pty"
    command: list[str] = []
    prompt: str = ""  # the first prompt, for agents that take one
    cols: int = 80
    rows: int = 24


class DecisionRequest(msgspec.Struct, kw_only=True):
    decision: m.Decision
    message: str = ""  # shown to the agent with a denial


class EventPage(msgspec.Struct, kw_only=True):
    """Events with seq > after. Fetch the next page with after = next_after while has_more."""

    session_id: str
    epoch: str
    events: list[m.LoggedEvent]
    next_after: int
    has_more: bool


class SessionsController(Controller):
    path = "/api/sessions"
    guards = [require_role(Role.VIEWER)]

    @get("/")
    async def list_sessions(
        self,
        request: Request[Any, Any, Any],
        sessions: NamedDependency[Sessions],
        event_log: NamedDependency[EventLog],
    ) -> SessionList:
        """The sessions of the workspaces you are granted, and whether the server's storage is
        full ("ok" or "full")."""
        visible = await sessions.visible_to(principal(request))
        return SessionList(visible, "full" if event_log.storage_full else "ok")

    @post("/", status_code=201, guards=[require_role(Role.OPERATOR)])
    async def start_session(
        self,
        request: Request[Any, Any, Any],
        sessions: NamedDependency[Sessions],
        data: Annotated[StartRequest, Body()],
        idempotency_key: Annotated[
            str,
            HeaderParameter(
                name="Idempotency-Key",
                max_length=MAX_KEY_CHARS,
                description="A retry with the same key gets the same session (for 24 h)",
            ),
        ] = "",
    ) -> Response[SessionView]:
        """Start a session. 201: the relay started it. 202: the relay has not answered (yet):
        the session is "starting" with detail "relay not answering" and resolves either way.
        200: a retry with an Idempotency-Key used before; the session as it is now."""
        who = principal(request)
        who.require(Role.OPERATOR, data.relay_id, data.workspace)
        command = m.StartSession(**msgspec.structs.asdict(data), idempotency_key=idempotency_key)
        started = await sessions.start(command, actor=who.actor)
        view = sessions.view(await sessions.get(started.session_id))
        status = 200 if started.replayed else 201 if started.answered else 202
        return Response(view, status_code=status)

    @get("/{session_id:str}")
    async def session_detail(
        self, request: Request[Any, Any, Any], sessions: NamedDependency[Sessions], session_id: str
    ) -> SessionView:
        record = await sessions.get_for(principal(request), Role.VIEWER, session_id)
        return sessions.view(record)

    @post(
        "/{session_id:str}/approvals/{approval_id:str}",
        status_code=200,
        guards=[require_role(Role.OPERATOR)],
    )
    async def resolve_approval(
        self,
        request: Request[Any, Any, Any],
        sessions: NamedDependency[Sessions],
        session_id: str,
        approval_id: str,
        data: Annotated[DecisionRequest, Body()],
    ) -> SessionView:
        """Answer a pending approval; returns once the agent has been given the decision."""
        who = principal(request)
        await sessions.get_for(who, Role.OPERATOR, session_id)
        command = m.ResolveApproval(
            session_id=session_id,
            approval_id=approval_id,
            decision=data.decision,
            message=data.message,
            by=who.name,  # shown to the session's viewers; the audit log gets the id
        )
        await sessions.decide(command, who.actor, ip=request.client.host if request.client else "")
        return sessions.view(await sessions.get(session_id))

    @get("/{session_id:str}/events")
    async def session_events(
        self,
        request: Request[Any, Any, Any],
        event_log: NamedDependency[EventLog],
        sessions: NamedDependency[Sessions],
        session_id: str,
        after: Annotated[int, Parameter(ge=0, description="Return events with seq > after")] = 0,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="Page size")] = 200,
    ) -> Any:
        record = await sessions.get_for(principal(request), Role.VIEWER, session_id)
        page = await event_log.page(session_id, after, limit)
        # Decoded once, typed, so the response has a schema.
        events = msgspec.json.decode(frame(session_id, record.epoch, page), type=m.SessionEvents)
        return EventPage(
            session_id=session_id,
            epoch=record.epoch,
            events=events.events,
            next_after=page[-1].last_seq if page else after,
            has_more=page[-1].last_seq < record.last_seq if page else False,
        )
