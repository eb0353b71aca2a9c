"""Security headers on every HTTP response, errors and unknown routes included.

A `before_send` hook rather than a middleware: Litestar runs it for every response the app
sends, also the 404 of a path no route matches, which never reaches route middleware.
API responses also get `Cache-Control: no-store`: they hold transcripts, users and tokens, which
no browser or proxy cache should keep (the app keeps its offline history itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

# No inline script or style anywhere: the PWA ships its code as files from this origin.
CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS_MAX_AGE_S = 2 * 365 * 86400  # browsers remember to use https for this long
# The microphone (voice prompts) for the app itself; every other powerful feature off, for the
# app and anything it could ever embed. Left at their defaults (this origin only): passkeys
# (publickey-credentials-*) and the clipboard, which the app uses.
PERMISSIONS_POLICY = ", ".join(
    ["microphone=(self)"]
    + [
        f"{feature}=()"
        for feature in (
            "accelerometer",
            "autoplay",
            "bluetooth",
            "camera",
            "display-capture",
            "encrypted-media",
            "geolocation",
            "gyroscope",
            "hid",
            "idle-detection",
            "magnetometer",
            "midi",
            "payment",
            "screen-wake-lock",
            "serial",
            "usb",
            "xr-spatial-tracking",
        )
    ]
)
API_PREFIX = "/api/"


def headers_for(origin: str) -> dict[str, str]:
    headers = {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": PERMISSIONS_POLICY,
    }
    if origin.startswith("https://"):
        headers["strict-transport-security"] = f"max-age={HSTS_MAX_AGE_S}; includeSubDomains"
    return headers


def security_headers(origin: str) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before_send hook adding `headers_for(origin)` to every HTTP response."""
    fixed = headers_for(origin)

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            for name, value in fixed.items():
                headers[name] = value
            if f"{scope['path']}/".startswith(API_PREFIX):
                headers["cache-control"] = "no-store"

    return add_headers
