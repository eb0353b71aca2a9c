"""Who may use which socket and route. The seam the identity issue replaces with passkey sessions.

Until login exists, viewers are trusted only from loopback addresses, and browsers only from the
configured origin. Relays always authenticate with their bearer token.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.settings import Settings


def is_loopback(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    client = connection.client
    if client is None:
        return False
    try:
        return ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


def origin_allowed(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    """Browsers always send Origin on WebSocket handshakes; other clients (relays, `tether attach`)
    send none. A present Origin must be Tether's own."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    allowed = {
        settings.origin,
        f"http://localhost:{settings.port}",
        f"http://127.0.0.1:{settings.port}",
    }
    return origin.rstrip("/") in allowed


def viewer_refusal(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> str | None:
    """Why this connection may not use the viewer API, or None when it may."""
    if not is_loopback(connection):
        return "the viewer API only accepts loopback clients until login is set up"
    if not origin_allowed(connection, settings):
        return f"origin {connection.headers.get('origin')!r} is not {settings.origin}"
    return None


def require_viewer(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard for the viewer REST routes."""
    refusal = viewer_refusal(connection, connection.app.state.core.settings)
    if refusal is not None:
        raise PermissionDeniedException(refusal)


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The token of an `Authorization: Bearer ...` header; empty when there is none."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
