"""The server's domain, assembled: one object the transport layer is handed."""

from __future__ import annotations

import dataclasses

from server.domain.audit import Audit
from server.domain.events import EventLog
from server.domain.fanout import Hub
from server.domain.relays import Relays
from server.domain.ring import Rings
from server.domain.sessions import Sessions
from server.settings import Settings
from server.store.audit_store import AuditStore
from server.store.db import Database
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

    @classmethod
    async def open(cls, settings: Settings) -> Core:
        db = await Database.open(settings.database_path)
        hub = Hub()
        rings = Rings(settings.ring_events, settings.ring_bytes, settings.ring_sessions)
        log = EventLog(db, hub, rings)
        relays = Relays(RelaysStore(db), settings.command_timeout_s)
        audit = Audit(AuditStore(db, settings.audit_head_path))
        return cls(settings, db, hub, log, relays, Sessions(log, relays), audit)

    async def close(self) -> None:
        await self.db.close()
