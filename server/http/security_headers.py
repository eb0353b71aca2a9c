"""Security headers on every HTTP response (and WebSocket handshake refusal)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: the PWA ships its code as files from this origin.
CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS_MAX_AGE_S = 2 * 365 * 86400  # browsers remember to use https for this long


def headers_for(origin: str) -> dict[str, str]:
    headers = {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
    }
    if origin.startswith("https://"):
        headers["strict-transport-security"] = f"max-age={HSTS_MAX_AGE_S}; includeSubDomains"
    return headers


def security_headers(origin: str) -> type:
    """An ASGI middleware class adding `headers_for(origin)` to every response."""
    fixed = headers_for(origin)

    class SecurityHeadersMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await self.app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableScopeHeaders.from_message(message)
                    for name, value in fixed.items():
                        headers[name] = value
                await send(message)

            await self.app(scope, receive, send_with_headers)

    return SecurityHeadersMiddleware
