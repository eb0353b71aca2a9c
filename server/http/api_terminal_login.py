"""REST: `tether login` — a terminal asks, its user approves with a passkey, it collects a token.

    POST /api/auth/terminal-logins                  public   a terminal asks; gets code + handle
    POST /api/auth/terminal-logins/poll             public   it polls with its handle
    POST /api/auth/terminal-logins/{code}/options   viewer   the app asks for a passkey prompt
    POST /api/auth/terminal-logins/{code}/approve   viewer   the prompt's answer approves

Approving needs a browser session and a fresh assertion of one of that user's passkeys
(server/domain/identity/terminal_logins.py); a terminal token never approves. The public routes
are rate limited per address and refuse cross-site browser requests; the handle travels in the
body, never in a URL.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import Body

from server.domain.identity.roles import Role
from server.domain.identity.service import Identity
from server.domain.identity.terminal_logins import POLL_INTERVAL_S
from server.http.api_auth import caller_of
from server.http.auth import (
    PUBLIC_MAX_BODY_BYTES,
    principal,
    refuse_cross_site,
    refuse_terminal,
    require_role,
)

MAX_HANDLE_CHARS = 128


class TerminalLoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str  # what the terminal calls itself, e.g. its host name


class TerminalLoginCreated(msgspec.Struct, kw_only=True):
    code: str  # ABCD-EFGH: the terminal shows it, its user approves it in the app
    handle: str  # secret; the terminal polls with it
    expires_at: float
    poll_interval_s: float


class TerminalLoginPoll(msgspec.Struct, forbid_unknown_fields=True):
    handle: str


class TerminalLoginState(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str  # pending, approved, expired, collected
    expires_at: float
    token: str = ""  # only with "approved", only once
    user_name: str = ""
    role: str = ""
    session_id: str = ""  # the id the app lists it under


class TerminalLoginApproval(msgspec.Struct, kw_only=True):
    credential: dict[str, Any]  # what startAuthentication() resolved to


class TerminalLoginApproved(msgspec.Struct, kw_only=True):
    name: str  # the terminal now signed in as you


class TerminalLoginController(Controller):
    path = "/api/auth/terminal-logins"
    guards = [refuse_cross_site]
    request_max_body_size = PUBLIC_MAX_BODY_BYTES  # public routes: what a passkey answer needs

    @post("/", status_code=201)
    async def request_terminal_login(
        self,
        identity: NamedDependency[Identity],
        request: Request[Any, Any, Any],
        data: Annotated[TerminalLoginRequest, Body()],
    ) -> TerminalLoginCreated:
        made = await identity.request_terminal_login(caller_of(request), data.name)
        return TerminalLoginCreated(
            code=made.code,
            handle=made.handle,
            expires_at=made.expires_at,
            poll_interval_s=POLL_INTERVAL_S,
        )

    @post("/poll", status_code=200)
    async def poll_terminal_login(
        self,
        identity: NamedDependency[Identity],
        request: Request[Any, Any, Any],
        data: Annotated[TerminalLoginPoll, Body()],
    ) -> TerminalLoginState:
        handle = data.handle[:MAX_HANDLE_CHARS]
        polled = await identity.poll_terminal_login(caller_of(request), handle)
        return TerminalLoginState(
            status=polled.status,
            expires_at=polled.expires_at,
            token=polled.token,
            user_name=polled.user_name,
            role=polled.role,
            session_id=polled.session_id,
        )

    @post(
        "/{code:str}/options",
        status_code=200,
        guards=[require_role(Role.VIEWER), refuse_terminal],
    )
    async def terminal_login_options(
        self, identity: NamedDependency[Identity], request: Request[Any, Any, Any], code: str
    ) -> dict[str, Any]:
        """optionsJSON for startAuthentication, plus the terminal's name and address."""
        return await identity.terminal_login_options(principal(request), caller_of(request), code)

    @post(
        "/{code:str}/approve",
        status_code=200,
        guards=[require_role(Role.VIEWER), refuse_terminal],
    )
    async def approve_terminal_login(
        self,
        identity: NamedDependency[Identity],
        request: Request[Any, Any, Any],
        code: str,
        data: Annotated[TerminalLoginApproval, Body()],
    ) -> TerminalLoginApproved:
        name = await identity.approve_terminal_login(
            principal(request), caller_of(request), code, data.credential
        )
        return TerminalLoginApproved(name=name)
