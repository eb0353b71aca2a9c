"""The server app in-process (Litestar's test client) with users signed in by software passkeys.

The public origin is https://tether.example, so cookies are Secure and `__Host-` prefixed as in
production.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from server.app import create_app
from server.domain.core import Core
from server.http.auth import HOST_PREFIX, SESSION_COOKIE
from server.settings import Settings
from tests.fakes.authenticator import SoftAuthenticator

ORIGIN = "https://tether.example"
COOKIE = HOST_PREFIX + SESSION_COOKIE  # the session cookie's name on an https origin


@contextlib.asynccontextmanager
async def running_app(
    tmp: Path, **settings: Any
) -> AsyncIterator[tuple[AsyncTestClient[Any], Core]]:
    app = create_app(Settings(data_dir=tmp, public_origin=ORIGIN, local_relay=False, **settings))
    async with AsyncTestClient(app, base_url=ORIGIN) as client:
        client.headers["origin"] = ORIGIN
        yield client, app.state.core


async def register(
    client: AsyncTestClient[Any], token: str, name: str
) -> tuple[SoftAuthenticator, str]:
    """A new user through a setup or invite link's token: (their passkey, their session cookie).
    The client's cookie jar is left empty."""
    options = await client.post(
        "/api/auth/register/options", json={"token": token, "user_name": name}
    )
    assert options.status_code == 200, options.text
    key = SoftAuthenticator(ORIGIN)
    done = await client.post(
        "/api/auth/register/verify",
        json={"credential": key.register(options.json()), "passkey_name": "phone"},
    )
    assert done.status_code == 200, done.text
    cookie = done.cookies[COOKIE]
    client.cookies.clear()
    return key, cookie


async def owner(client: AsyncTestClient[Any], core: Core) -> tuple[SoftAuthenticator, str]:
    link = await core.identity.setup_link()
    assert link is not None
    return await register(client, link.split("#", 1)[1], "olivia")


def as_user(cookie: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={cookie}"}
