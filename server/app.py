"""The wiring, written once: stores, domain and the Litestar application built from settings.

`open_core` assembles the domain over one database; `relays_of` the part of it the admin CLI
uses beside a running server; `create_app` the application, whose handlers receive the domain
objects they need by dependency injection (DEPENDENCIES), never from the application state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION
from server.domain.audit import Audit
from server.domain.core import Core
from server.domain.enrolment import Enrolments
from server.domain.events import EventLog
from server.domain.fanout import Hub
from server.domain.identity import console_token
from server.domain.identity.browser_sessions import Timeouts
from server.domain.identity.service import Identity, IdentityConfig
from server.domain.relays import Relays
from server.domain.ring import Rings
from server.domain.sessions import Sessions
from server.domain.voice import Transcriber, VoiceConfig
from server.http.api_auth import AuthController
from server.http.api_enrolment import EnrolmentController, RelayAdminController
from server.http.api_relays import RelaysController
from server.http.api_sessions import SessionsController
from server.http.api_terminal_login import TerminalLoginController
from server.http.api_users import InvitesController, UsersController
from server.http.api_voice import voice_controller
from server.http.auth import AuthenticationMiddleware, refuse_large_body
from server.http.client_address import TrustedProxies
from server.http.error_handlers import ERROR_RESPONSES, HANDLERS
from server.http.pwa import pwa_handlers
from server.http.request import TetherRequest
from server.http.security_headers import security_headers
from server.http.ws_client import client_socket
from server.http.ws_relay import relay_socket
from server.settings import Settings
from server.store.audit_store import AuditStore
from server.store.db import Database
from server.store.enrolment_store import EnrolmentStore
from server.store.identity_store import IdentityStore
from server.store.relays_store import RelaysStore
from server.store.terminal_login_store import TerminalLoginStore


class Health(msgspec.Struct):
    ok: bool
    protocol_version: int
    software_version: str


@get("/api/health")
async def health() -> Health:
    """Liveness, for load balancers and scripts. Needs no credentials and reveals nothing."""
    return Health(ok=True, protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)


def audit_of(settings: Settings, db: Database) -> Audit:
    return Audit(AuditStore(db, settings.audit_head_path, settings.audit_key_path))


def relays_of(settings: Settings, db: Database, audit: Audit | None = None) -> Relays:
    """The relays domain over `db` (for the server, or a command that runs beside it)."""
    return Relays(RelaysStore(db), audit or audit_of(settings, db), settings.command_timeout_s)


def identity_of(settings: Settings, db: Database, audit: Audit) -> Identity:
    config = IdentityConfig(
        origin=settings.origin,
        timeouts=Timeouts(
            idle_s=settings.session_idle_timeout_s,
            absolute_s=settings.session_absolute_timeout_s,
        ),
        attempts_per_minute=settings.auth_attempts_per_minute,
    )
    return Identity(
        IdentityStore(db),
        TerminalLoginStore(db),
        audit,
        config,
        console_token.load_or_create(settings.data_dir),
    )


def voice_config(settings: Settings) -> VoiceConfig:
    return VoiceConfig(
        model=settings.voice_model,
        compute_type=settings.voice_compute_type,
        threads=settings.voice_threads,
        beam_size=settings.voice_beam_size,
        max_clip_s=settings.voice_max_clip_s,
        max_clip_bytes=settings.voice_max_clip_bytes,
        queue=settings.voice_queue,
        concurrency=settings.voice_concurrency,
    )


async def open_core(settings: Settings) -> Core:
    """The whole domain over the database of `settings`; close it with `Core.close`."""
    db = await Database.open(settings.database_path)
    hub = Hub()
    log = EventLog(
        db, hub, Rings(settings.ring_events, settings.ring_bytes, settings.ring_sessions)
    )
    audit = audit_of(settings, db)
    await audit.open()  # the chain key is made at first start, before anything is recorded
    relays = relays_of(settings, db, audit)
    enrolments = Enrolments(EnrolmentStore(db), relays, audit, settings.enrolment_ttl_s)
    identity = identity_of(settings, db, audit)
    sessions = Sessions(log, relays, audit)
    relays.resolver = sessions  # late answers to starts, and re-sends on reconnect
    voice = Transcriber(voice_config(settings)) if settings.voice else None
    if voice is not None and settings.voice_preload:
        await voice.preload()
    core = Core(settings, db, hub, log, relays, sessions, audit, enrolments, identity, voice)
    core.tasks.append(asyncio.create_task(relays.watch_revocations()))
    return core


def _provide(attribute: str) -> Provide:
    def provide(state: State) -> Any:
        return getattr(state.core, attribute)

    return Provide(provide, sync_to_thread=False)


# What handlers may ask for by parameter name (typed `NamedDependency[<type>]`): the parts of
# the domain the lifespan opened, by their attribute of Core.
DEPENDENCIES = {
    name: _provide(attribute)
    for name, attribute in {
        "settings": "settings",
        "hub": "hub",
        "event_log": "log",
        "relays": "relays",
        "sessions": "sessions",
        "enrolments": "enrolments",
        "identity": "identity",
        "voice": "voice",
    }.items()
}


def create_app(settings: Settings, core: Core | None = None) -> Litestar:
    """The application over `core`, or over a domain it opens at startup and closes at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.core = core or await open_core(settings)
        try:
            yield
        finally:
            if core is None:
                await app.state.core.close()

    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            TerminalLoginController,
            UsersController,
            InvitesController,
            SessionsController,
            RelaysController,
            EnrolmentController,
            RelayAdminController,
            voice_controller(settings.voice_max_clip_bytes),
            relay_socket,
            client_socket,
            *pwa_handlers(settings),
        ],
        dependencies=DEPENDENCIES,
        middleware=[AuthenticationMiddleware],
        guards=[refuse_large_body],
        request_class=TetherRequest,
        before_send=[security_headers(settings.origin)],
        lifespan=[lifespan],
        exception_handlers=HANDLERS,
        state=State(
            {"settings": settings, "trusted_proxies": TrustedProxies(settings.trusted_proxies)}
        ),
        openapi_config=OpenAPIConfig(title="Tether", version=SOFTWARE_VERSION, path="/api/schema"),
        debug=False,
        logging_config=None,  # server/cli.py configures logging
    )
    for route in app.routes:  # the OpenAPI schema shows the error shape handlers really send
        for handler in getattr(route, "route_handlers", ()):
            handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
    return app
