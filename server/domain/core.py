"""The server's domain, assembled (by server/app.py): one object the transport layer is handed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from server.domain.audit import Audit
from server.domain.enrolment import Enrolments
from server.domain.events import EventLog
from server.domain.fanout import Hub
from server.domain.identity.service import Identity
from server.domain.relays import Relays
from server.domain.sessions import Sessions
from server.domain.voice import Transcriber
from server.settings import Settings
from server.store.db import Database


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

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.voice is not None:
            self.voice.close()
        await self.db.close()
