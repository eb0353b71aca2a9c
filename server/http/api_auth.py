"""REST: passkey registration and sign-in (shaped for @simplewebauthn/browser), the signed-in
user's passkeys and browser sessions, sign-out.

    POST /api/auth/link              {token}               -> what a setup or invite link grants
    POST /api/auth/register/options  {token?, user_name?}  -> optionsJSON for startRegistration
    POST /api/auth/register/verify   {credential, passkey_name?} -> Me (+ session cookie if new)
    POST /api/auth/login/options     {}                    -> optionsJSON for startAuthentication
    POST /api/auth/login/verify      {credential}          -> Me + session cookie
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import Body

from server.domain.identity.records import BrowserSessionRecord, PasskeyRecord
from server.domain.identity.roles import Grant, Principal, Role
from server.domain.identity.service import Caller, Identity, Login
from server.domain.relays import Relays
from server.http.auth import (
    PUBLIC_MAX_BODY_BYTES,
    client_ip,
    device,
    maybe_principal,
    principal,
    refuse_cross_site,
    refuse_terminal,
    require_role,
    session_cookie,
)
from server.settings import Settings


class Me(msgspec.Struct, kw_only=True):
    user_id: str
    name: str
    role: Role
    grants: list[Grant]
    via: str  # "session", "console" or "terminal"
    session_id: str


class RegisterOptionsRequest(msgspec.Struct, kw_only=True):
    token: str = ""  # from a setup or invite link (the part after #); empty to add a passkey
    user_name: str = ""  # a new user's name


class LinkRequest(msgspec.Struct, kw_only=True):
    token: str  # the part of a setup or invite link after #


class LinkView(msgspec.Struct, kw_only=True):
    kind: str  # "setup" (the owner's first passkey) or "invite"
    role: Role
    grants: list[Grant]
    relay_names: dict[str, str]  # id -> name of the relays its grants name
    expires_at: float


class RegisterRequest(msgspec.Struct, kw_only=True):
    credential: dict[str, Any]  # what startRegistration() resolved to
    passkey_name: str = ""  # e.g. "phone"


class LoginRequest(msgspec.Struct, kw_only=True):
    credential: dict[str, Any]  # what startAuthentication() resolved to


class PasskeyView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: float
    last_used_at: float | None
    flagged: bool  # its signature counter once went backwards: it may have been copied


class PasskeyList(msgspec.Struct):
    passkeys: list[PasskeyView]


class RenamePasskey(msgspec.Struct, kw_only=True):
    name: str


class BrowserSessionView(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    last_seen_at: float
    ip: str
    device: str
    current: bool
    kind: str  # "browser", or "terminal": a `tether login` token


class BrowserSessionList(msgspec.Struct):
    sessions: list[BrowserSessionView]


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    return Caller(ip=client_ip(connection), device=device(connection))


def me(who: Principal) -> Me:
    return Me(
        user_id=who.user_id,
        name=who.name,
        role=who.role,
        grants=list(who.grants),
        via=who.via,
        session_id=who.session_id,
    )


def _passkey_view(p: PasskeyRecord) -> PasskeyView:
    return PasskeyView(
        id=p.id,
        name=p.name,
        created_at=p.created_at,
        last_used_at=p.last_used_at,
        flagged=p.flagged_at is not None,
    )


def _cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    """The session cookie: HttpOnly, SameSite=Strict, Path=/, no Domain; on https Secure and
    named with the `__Host-` prefix (plain http://localhost goes without: browsers drop Secure
    cookies there)."""
    return Cookie(
        key=session_cookie(settings),
        value=value,
        path="/",
        httponly=True,
        secure=settings.origin.startswith("https://"),
        samesite="strict",
        max_age=max_age,
    )


def _signed_in(settings: Settings, login: Login) -> Response[Me]:
    max_age = int(settings.session_absolute_timeout_s)
    return Response(me(login.principal), cookies=[_cookie(settings, login.cookie, max_age)])


_VIEWER = require_role(Role.VIEWER)


class AuthController(Controller):
    path = "/api/auth"
    guards = [refuse_cross_site]
    request_max_body_size = PUBLIC_MAX_BODY_BYTES

    @post("/link", status_code=200)
    async def link(
        self,
        request: Request[Any, Any, Any],
        relays: NamedDependency[Relays],
        identity: NamedDependency[Identity],
        data: Annotated[LinkRequest, Body()],
    ) -> LinkView:
        """What a setup or invite link grants, before its holder creates a passkey; 401 when it
        is unknown, used, revoked or expired."""
        invite = await identity.link(caller_of(request), data.token)
        named = {g.relay_id for g in invite.grants}
        return LinkView(
            kind=invite.kind,
            role=invite.role,
            grants=list(invite.grants),
            relay_names={i: n for i, n in (await relays.names()).items() if i in named},
            expires_at=invite.expires_at,
        )

    @post("/register/options", status_code=200)
    async def registration_options(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: Annotated[RegisterOptionsRequest, Body()],
    ) -> dict[str, Any]:
        """Start registering a passkey: a new user with a link's token, or another passkey for
        the signed-in user."""
        return await identity.registration_options(
            caller_of(request),
            token=data.token,
            user_name=data.user_name,
            by=maybe_principal(request),
        )

    @post("/register/verify", status_code=200)
    async def register(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        identity: NamedDependency[Identity],
        data: Annotated[RegisterRequest, Body()],
    ) -> Response[Me]:
        """Finish registering: a new user is signed in; an existing one keeps their session."""
        by = maybe_principal(request)
        login = await identity.register(caller_of(request), data.credential, data.passkey_name, by)
        if login is None:
            assert by is not None
            return Response(me(by))
        return _signed_in(settings, login)

    @post("/login/options", status_code=200)
    async def login_options(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]
    ) -> dict[str, Any]:
        """Start a passkey sign-in (any passkey of this site the authenticator holds)."""
        return await identity.login_options(caller_of(request))

    @post("/login/verify", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        identity: NamedDependency[Identity],
        data: Annotated[LoginRequest, Body()],
    ) -> Response[Me]:
        return _signed_in(settings, await identity.login(caller_of(request), data.credential))

    @post("/logout", status_code=204, guards=[require_role(Role.VIEWER)])
    async def logout(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        identity: NamedDependency[Identity],
    ) -> Response[None]:
        """End this browser session; its open WebSockets close at once."""
        await identity.logout(principal(request), caller_of(request))
        # set expired with the same attributes: a `__Host-` cookie is replaced only by a Secure one
        return Response(None, status_code=204, cookies=[_cookie(settings, "", 0)])

    @get("/me", guards=[require_role(Role.VIEWER)])
    async def whoami(self, request: Request[Any, Any, Any]) -> Me:
        return me(principal(request))

    @get("/passkeys", guards=[require_role(Role.VIEWER)])
    async def passkeys(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]
    ) -> PasskeyList:
        held = await identity.passkeys(principal(request))
        return PasskeyList([_passkey_view(p) for p in held])

    @patch("/passkeys/{passkey_id:str}", guards=[_VIEWER, refuse_terminal])
    async def rename_passkey(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        passkey_id: str,
        data: Annotated[RenamePasskey, Body()],
    ) -> PasskeyList:
        who = principal(request)
        await identity.rename_passkey(who, caller_of(request), passkey_id, data.name)
        return PasskeyList([_passkey_view(p) for p in await identity.passkeys(who)])

    @post(
        "/passkeys/{passkey_id:str}/reapprove",
        status_code=204,
        guards=[_VIEWER, refuse_terminal],
    )
    async def reapprove_passkey(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], passkey_id: str
    ) -> None:
        """Let a passkey flagged for a signature counter that went backwards sign in again:
        its owner, signed in with another passkey, or an owner or admin who may manage its
        user. The stored counter starts again from the next sign-in."""
        await identity.reapprove_passkey(principal(request), caller_of(request), passkey_id)

    @delete("/passkeys/{passkey_id:str}", status_code=204, guards=[_VIEWER, refuse_terminal])
    async def revoke_passkey(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], passkey_id: str
    ) -> None:
        """Revoke one of your passkeys (not your only one)."""
        await identity.revoke_passkey(principal(request), caller_of(request), passkey_id)

    @get("/sessions", guards=[require_role(Role.VIEWER)])
    async def sessions(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]
    ) -> BrowserSessionList:
        """Your signed-in browsers and terminals (`tether login`)."""
        who = principal(request)
        return BrowserSessionList([_session_view(s, who) for s in await identity.sessions(who)])

    @delete("/sessions/{session_id:str}", status_code=204, guards=[_VIEWER, refuse_terminal])
    async def revoke_session(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], session_id: str
    ) -> None:
        """Sign out one of your browsers or terminals; its open WebSockets close at once."""
        await identity.revoke_session(principal(request), caller_of(request), session_id)


def _session_view(s: BrowserSessionRecord, who: Principal) -> BrowserSessionView:
    return BrowserSessionView(
        id=s.id,
        created_at=s.created_at,
        last_seen_at=s.last_seen_at,
        ip=s.ip,
        device=s.device,
        current=s.id == who.session_id,
        kind=s.kind,
    )
