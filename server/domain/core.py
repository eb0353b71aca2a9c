"""The server's domain, assembled: one object the transport layer is handed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from server.domain.audit import Audit
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
from server.settings import Settings
from server.store.audit_store import AuditStore
from server.store.db import Database
from server.store.enrolment_store import EnrolmentStore
from server.store.identity_store import IdentityStore
from server.store.relays_store import RelaysStore


@dataclasses.dataclass
class Core:
    settings: Settings
    db: Database
    hub: Hub
    log: EventLog
    relays: Relays
    sessions: Sessions
    audit: Audit
    enrolments: Enrolments
    identity: Identity
    voice: Transcriber | None  # None when the voice setting is off
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings) -> Core:
        db = await Database.open(settings.database_path)
        hub = Hub()
        rings = Rings(settings.ring_events, settings.ring_bytes, settings.ring_sessions)
        log = EventLog(db, hub, rings)
        audit = Audit(AuditStore(db, settings.audit_head_path))
        relays = Relays(RelaysStore(db), audit, settings.command_timeout_s)
        enrolments = Enrolments(EnrolmentStore(db), relays, audit, settings.enrolment_ttl_s)
        identity = Identity(
            IdentityStore(db),
            audit,
            IdentityConfig(
                origin=settings.origin,
                timeouts=Timeouts(
                    idle_s=settings.session_idle_timeout_s,
                    absolute_s=settings.session_absolute_timeout_s,
                ),
                attempts_per_minute=settings.auth_attempts_per_minute,
            ),
            console_token.load_or_create(settings.data_dir),
        )
        sessions = Sessions(log, relays, audit)
        voice = Transcriber(voice_config(settings)) if settings.voice else None
        if voice is not None and settings.voice_preload:
            await voice.preload()
        core = cls(settings, db, hub, log, relays, sessions, audit, enrolments, identity, voice)
        core.tasks.append(asyncio.create_task(relays.watch_revocations()))
        return core

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.voice is not None:
            self.voice.close()
        await self.db.close()


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
