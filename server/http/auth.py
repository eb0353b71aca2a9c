"""Who is calling, and the guards every route uses.

Three credentials reach the viewer API:

- a browser session: the `tether_session` cookie, set after a passkey login;
- the console token: `Authorization: Bearer <data_dir/console.token>`, accepted only from a
  loopback address, acting as the owner (`tether attach` on the server's machine);
- a terminal token: `Authorization: Bearer tt_...` from `tether login`, acting as the user who
  approved it, but never on the routes that manage users, invites, relays, passkeys or
  sessions (`require_role` at admin or above, `refuse_terminal`).

`AuthenticationMiddleware` resolves the caller once per request or socket and keeps the
Principal in the connection's scope; `principal()` reads it and the guards check it:

    guards=[require_role(Role.ADMIN)]      # 401 without credentials, 403 below admin

Cookie-authenticated requests that change state must come from Tether's own origin (Origin, or
Fetch Metadata when a browser omits Origin); bearer requests carry no ambient authority and are
exempt. Relays authenticate on their own socket with their relay token (ws_relay.py).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from server.domain.identity.roles import Principal, Role
from server.settings import Settings

SESSION_COOKIE = "tether_session"
_PRINCIPAL = "tether.principal"  # key in the ASGI scope
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Guard = Any  # a Litestar guard: (connection, route handler) -> None
TERMINAL_REFUSED = (
    "a terminal login cannot manage users, invites, relays, passkeys or sessions: use the app"
)


def is_loopback(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    client = connection.client
    if client is None:
        return False
    try:
        return ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The token of an `Authorization: Bearer ...` header; empty when there is none."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else ""


def device(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.headers.get("user-agent", "")[:200]


def origin_matches(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    """Whether the request carries an Origin header equal to the configured public origin."""
    origin = connection.headers.get("origin")
    return origin is not None and origin.rstrip("/") == settings.origin


def cross_site(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    """A browser says this request comes from another site: a wrong Origin, or Fetch Metadata
    other than same-origin / user-initiated. Requests without either header are not browsers'."""
    origin = connection.headers.get("origin")
    if origin is not None and origin.rstrip("/") != settings.origin:
        return True
    fetch_site = connection.headers.get("sec-fetch-site")
    return fetch_site is not None and fetch_site not in ("same-origin", "none")


def same_origin_state_change(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> bool:
    """A cookie-authenticated state change must prove it comes from Tether's own pages."""
    if origin_matches(connection, settings):
        return True
    return "origin" not in connection.headers and (
        connection.headers.get("sec-fetch-site") == "same-origin"
    )


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller; raises 401 when there is none."""
    found = maybe_principal(connection)
    if found is None:
        raise NotAuthorizedException("sign in with a passkey first")
    return found


def maybe_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    found = connection.scope.get(_PRINCIPAL)
    return found if isinstance(found, Principal) else None


def require_role(role: Role | str) -> Guard:
    """A guard: the caller is authenticated (else 401) and holds at least `role` (else 403).

    Workspace grants are checked by the handler, which knows the session or relay concerned.
    """
    needed = Role(role)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = principal(connection)
        settings: Settings = connection.app.state.settings
        if (
            caller.via == "session"
            and getattr(connection, "method", "GET") not in _SAFE_METHODS
            and not same_origin_state_change(connection, settings)
        ):
            raise PermissionDeniedException(f"cross-origin request refused; use {settings.origin}")
        if caller.via == "terminal" and needed.at_least(Role.ADMIN):
            raise PermissionDeniedException(TERMINAL_REFUSED)
        if not caller.role.at_least(needed):
            raise PermissionDeniedException(f"{caller.name} is not {needed.value}")

    guard.__name__ = f"require_{needed.value}"
    return guard


async def refuse_terminal(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard for the routes that manage credentials (passkeys, sessions, terminal logins)."""
    found = maybe_principal(connection)
    if found is not None and found.via == "terminal":
        raise PermissionDeniedException(TERMINAL_REFUSED)


async def refuse_cross_site(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard for the public sign-in routes: no other site may drive a login or registration."""
    settings: Settings = connection.app.state.settings
    if cross_site(connection, settings):
        raise PermissionDeniedException(f"cross-origin request refused; use {settings.origin}")


class AuthenticationMiddleware:
    """Resolves the caller of every HTTP request and WebSocket handshake (see module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            core = scope["app"].state.core
            found = await core.identity.authenticate(
                cookie=connection.cookies.get(SESSION_COOKIE, ""),
                bearer=bearer_token(connection),
                loopback=is_loopback(connection),
            )
            scope[_PRINCIPAL] = found  # type: ignore[literal-required]
        await self.app(scope, receive, send)
