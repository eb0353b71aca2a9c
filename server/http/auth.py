"""Who is calling, and the guards every route uses.

Three credentials reach the viewer API:

- a browser session: the session cookie (`session_cookie`), set after a passkey login;
- the console token: `Authorization: Bearer <data_dir/console.token>`, accepted only from a
  loopback address, acting as the owner (`tether attach` on the server's machine);
- a terminal token: `Authorization: Bearer tt_...` from `tether login`, acting as the user who
  approved it, but never on the routes that manage users, invites, relays, passkeys or
  sessions (`require_role` at admin or above, `refuse_terminal`).

`AuthenticationMiddleware` resolves the caller once per request or socket and keeps the
Principal in the connection's scope; `principal()` reads it and the guards check it:

    guards=[require_role(Role.ADMIN)]      # 401 without credentials, 403 below admin

Cookie-authenticated requests that change state must come from Tether's own origin (Origin, or
Fetch Metadata when a browser omits Origin); bearer requests carry no ambient authority and send
no Origin, and one that does must send the public origin. Relays authenticate on their own
socket with their relay token (ws_relay.py).

The caller's address is decided once, by the middleware, from the `trusted_proxies` setting
(client_address.py); `client_ip` and `is_loopback` read what it decided.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from server.domain.identity.roles import Principal, Role
from server.http.client_address import TrustedProxies, forwarding_headers
from server.settings import Settings

SESSION_COOKIE = "tether_session"
# On https the `__Host-` prefix makes browsers take the cookie only when it is Secure, Path=/
# and has no Domain: no sibling subdomain, and no plain-http page, can set or shadow it.
HOST_PREFIX = "__Host-"
_PRINCIPAL = "tether.principal"  # key in the ASGI scope
_PROXIED = "tether.proxied"  # scope key: forwarding headers came from an untrusted peer
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Bodies the public routes (sign-in, registration, enrolment) accept: what a WebAuthn response
# needs (a registration with a packed attestation and its certificate chain stays under 8 KiB).
# A larger declared length gets 413 before the body is read; a chunked one, once it passes this.
PUBLIC_MAX_BODY_BYTES = 16 << 10
Guard = Any  # a Litestar guard: (connection, route handler) -> None
TERMINAL_REFUSED = (
    "a terminal login cannot manage users, invites, relays, passkeys or sessions: use the app"
)


def session_cookie(settings: Settings) -> str:
    """The session cookie's name for this public origin."""
    secure = settings.origin.startswith("https://")
    return HOST_PREFIX + SESSION_COOKIE if secure else SESSION_COOKIE


def is_loopback(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """The caller is on this machine: a loopback address that no untrusted proxy forwarded."""
    client = connection.client
    if client is None or connection.scope.get(_PROXIED, True):
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
        if caller.via != "session" and not _bearer_origin_allowed(connection, settings):
            raise PermissionDeniedException(f"cross-origin request refused; use {settings.origin}")
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


def _bearer_origin_allowed(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> bool:
    """A bearer client sends no Origin; one that does must send the public origin."""
    return "origin" not in connection.headers or origin_matches(connection, settings)


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


async def refuse_large_body(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """App-wide guard: a declared body over the route's limit gets 413 before anything else,
    also on routes whose handler never reads the body (Litestar checks only when it reads)."""
    resolve = getattr(handler, "resolve_request_max_body_size", None)
    declared = connection.headers.get("content-length", "")
    limit = resolve() if resolve is not None else None
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"the body is larger than this route accepts ({limit} bytes)")


class AuthenticationMiddleware:
    """Resolves the caller of every HTTP request and WebSocket handshake (see module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            _resolve_client(scope, scope["app"].state.trusted_proxies)
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            state = scope["app"].state
            found = await state.core.identity.authenticate(
                cookie=connection.cookies.get(session_cookie(state.settings), ""),
                bearer=bearer_token(connection),
                loopback=is_loopback(connection),
            )
            scope[_PRINCIPAL] = found  # type: ignore[literal-required]
        await self.app(scope, receive, send)


def _resolve_client(scope: Scope, trusted: TrustedProxies) -> None:
    """Replace the scope's client address by the one `trusted_proxies` yields (see module doc)."""
    peer, port = scope.get("client") or ("", 0)
    found = trusted.resolve(peer, forwarding_headers(scope.get("headers", ())))
    scope["client"] = (found.host, port)
    scope[_PROXIED] = found.proxied  # type: ignore[literal-required]
