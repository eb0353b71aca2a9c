"""The Litestar application: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION
from server.domain.core import Core
from server.http.api_auth import AuthController
from server.http.api_enrolment import EnrolmentController, RelayAdminController
from server.http.api_relays import RelaysController
from server.http.api_sessions import SessionsController
from server.http.api_users import InvitesController, UsersController
from server.http.api_voice import VoiceController
from server.http.auth import AuthenticationMiddleware
from server.http.error_handlers import ERROR_RESPONSES, HANDLERS
from server.http.pwa import pwa_handlers
from server.http.security_headers import security_headers
from server.http.ws_client import client_socket
from server.http.ws_relay import relay_socket
from server.settings import Settings


class Health(msgspec.Struct):
    ok: bool
    protocol_version: int
    software_version: str


@get("/api/health")
async def health() -> Health:
    """Liveness, for load balancers and scripts. Needs no credentials and reveals nothing."""
    return Health(ok=True, protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        core = await Core.open(settings)
        app.state.core = core
        try:
            yield
        finally:
            await core.close()

    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            UsersController,
            InvitesController,
            SessionsController,
            RelaysController,
            EnrolmentController,
            RelayAdminController,
            VoiceController,
            relay_socket,
            client_socket,
            *pwa_handlers(settings),
        ],
        middleware=[AuthenticationMiddleware],
        before_send=[security_headers(settings.origin)],
        lifespan=[lifespan],
        exception_handlers=HANDLERS,
        state=State(),
        openapi_config=OpenAPIConfig(title="Tether", version=SOFTWARE_VERSION, path="/api/schema"),
        debug=False,
        logging_config=None,  # server/cli.py configures logging
    )
    for route in app.routes:  # the OpenAPI schema shows the error shape handlers really send
        for handler in getattr(route, "route_handlers", ()):
            handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
    return app
