"""The durable event log: ingestion from relays, per-session numbering, history for replay.

Ingestion is at-least-once from the relay and idempotent here: an event whose relay_seq is not
above the session's last committed relay_seq is a resend and is skipped (numbering works from
committed state only, one ingest at a time, under `lock`). An event that skips ahead is refused,
and the relay is told to reconnect; the next handshake compares marks (server/domain/reconcile.py),
so nothing is ever skipped over silently.
Each accepted event gets the session's next seq inside the same transaction, so seq has no
gaps. Only after the commit are events put in the ring and published, so a viewer never sees an
event that could still be lost.

A session's last activity is the server's clock at ingest (a relay's clock may be wrong);
each event keeps the relay's `ts`.

A session's workspace, which every viewer check reads, is fixed when the session is created: a
relay's `session_started` never moves it. A session the relay started on its own (no workspace
yet) takes its first `session_started`'s workspace, once, and only one that relay declared in
its `relay_info`. Session ids, agent and workspace names from a relay keep the name rule
(server/domain/names.py); events of a session whose id breaks it are refused.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from protocol import messages as m
from server.domain.chunks import Chunk, frame, trimmed
from server.domain.fanout import Batch, Hub
from server.domain.names import is_clean
from server.domain.records import SessionRecord
from server.domain.ring import Rings
from server.store.db import Database
from server.store.events_store import EventsStore
from server.store.sessions_store import SessionsStore
from server.store.starts_store import KeyedStart, KeyHit, StartsStore

log = logging.getLogger(__name__)

HISTORY_CHUNKS = 500  # chunks read from the database at a time when replaying
# A replay frame's events, in bytes; under MAX_FRAME_BYTES with room for one more chunk, since
# a relay frame (and so a chunk) is far smaller than a viewer frame.
FRAME_BODY_BYTES = 512 << 10
CHUNK_MAX_BYTES = 768 << 10  # one live frame holds one chunk: keep it under MAX_FRAME_BYTES
_STATUS_OF_KIND: dict[type[Any], m.SessionStatus] = {
    m.SessionStarted: "running",
    m.SessionEnded: "ended",
}
_SUMMARY_KINDS = frozenset({m.SessionStarted, m.SessionEnded, m.Status})


_encoder = msgspec.json.Encoder()


def new_epoch() -> str:
    return secrets.token_hex(8)


class IngestResult(msgspec.Struct):
    acked: dict[str, int]  # session id -> highest relay_seq now committed
    refused: list[str]  # sessions the relay does not own
    invalid: list[str]  # session ids that break the name rule
    gaps: list[str]  # sessions whose relay_seq skipped ahead: the relay must resend from the ack


class _Intake:
    """What one ingest transaction has accepted so far."""

    def __init__(
        self,
        relay_id: str,
        workspaces: frozenset[str] = frozenset(),
        *,
        gap: bool = False,
        ends: bool = False,
    ) -> None:
        self.relay_id = relay_id
        self.workspaces = workspaces  # what the relay declared: where its own sessions may be
        self.now = time.time()
        self.gap = gap  # an events_lost event may skip ahead (made by the server, never a relay)
        self.ends = ends  # ... and it ends the session (its end was among the lost events)
        self.touched: dict[str, SessionRecord] = {}  # working copies of the sessions involved
        self.fresh: dict[str, list[m.LoggedEvent]] = {}  # newly numbered events per session
        self.changed: set[str] = set()  # sessions whose status, agent or title changed
        self.refused: set[str] = set()
        self.invalid: set[str] = set()
        self.gaps: set[str] = set()


class EventLog:
    def __init__(self, db: Database, hub: Hub, rings: Rings) -> None:
        self._db = db
        self._hub = hub
        self._rings = rings
        self._events = EventsStore(db)
        self.sessions = SessionsStore(db)
        self.starts = StartsStore(db)
        self._cache: dict[str, SessionRecord] = {}  # sessions touched by this process, as committed
        # One ingest at a time: numbering works on the cache, which must not change under it
        # (two links of one relay overlap for a moment when the newer supersedes the older).
        self.lock = asyncio.Lock()

    @property
    def storage_full(self) -> bool:
        """The last write found the server's disk full."""
        return self._db.storage.full

    @property
    def page_size(self) -> int:
        """Of the database: what a commit writes per page it changes (for group commit)."""
        return self._db.page_size

    async def session(self, session_id: str) -> SessionRecord | None:
        cached = self._cache.get(session_id)
        if cached is not None:
            return cached
        return await self.sessions.get(session_id)

    async def create_session(
        self,
        session_id: str,
        relay_id: str,
        agent: str,
        workspace: str,
        *,
        start: m.StartSession | None = None,
        key: KeyedStart | None = None,
    ) -> KeyHit | None:
        """Add a session (with the start command awaiting its answer); or, when `key` was used
        already, add nothing and return the session it names."""
        now = time.time()
        record = SessionRecord(
            id=session_id,
            relay_id=relay_id,
            epoch=new_epoch(),
            agent=agent,
            workspace=workspace,
            created_at=now,
            last_activity_at=now,
        )
        command = _encoder.encode(start) if start is not None else b""
        command_id = start.command_id if start is not None else ""
        hit = await self.starts.create(record, command, command_id, key)
        if hit is None:
            self._cache[session_id] = record
        return hit

    async def settle_start(
        self, session_id: str, status: m.SessionStatus | None, detail: str
    ) -> bool:
        """The relay answered a session's start; False when it was answered before."""
        async with self.lock:  # not while an ingest holds a working copy of it
            settled = await self.starts.settle(session_id, status, detail)
            self._cache.pop(session_id, None)
        return settled

    async def end_unstarted(self, session_id: str, code: str, message: str) -> bool:
        """End a session whose start the relay refused after the caller stopped waiting: the
        server records `error` and `session_ended` (no relay_seq), so every viewer sees why."""
        async with self.lock:
            if not await self.starts.settle(session_id, "ended", message):
                return False
            self._cache.pop(session_id, None)
            record = await self.sessions.get(session_id)
            if record is None:
                return False
            now = time.time()
            ended: list[m.Event] = [
                m.Error(message=message, code=code),
                m.SessionEnded(reason=code),
            ]
            logged = [
                m.LoggedEvent(seq=record.last_seq + n, ts=now, event=event)
                for n, event in enumerate(ended, start=1)
            ]
            chunk = Chunk.of(logged)
            await self._events.append(
                [(session_id, chunk.first_seq, chunk.last_seq, None, None, now, chunk.body)], []
            )
        self._rings.append(session_id, chunk)
        self._hub.publish(
            Batch(session_id, record.epoch, chunk, frame(session_id, record.epoch, [chunk]))
        )
        return True

    async def note_unanswered(self, session_id: str, detail: str) -> None:
        """Say why a session is still starting, unless its start was answered meanwhile."""
        async with self.lock:
            await self.starts.note_unanswered(session_id, detail)
            self._cache.pop(session_id, None)

    async def discard_session(self, session_id: str) -> None:
        """Remove a session that never got an event (its start failed)."""
        self._cache.pop(session_id, None)
        await self.sessions.delete_if_empty(session_id)

    async def ingest(
        self,
        relay_id: str,
        events: list[m.RelayEvent],
        workspaces: frozenset[str] = frozenset(),
    ) -> IngestResult:
        """Commit a relay's events; `workspaces` are those it declared (its relay_info)."""
        async with self.lock:
            return await self._ingest(_Intake(relay_id, workspaces), events)

    async def log_gap(
        self, relay_id: str, session_id: str, lost: m.EventsLost, *, ends: bool
    ) -> int:
        """Log one `events_lost` event at relay_seq lost.last_relay_seq, so ingestion goes on
        from there; `ends` also ends the session. The caller holds `lock`. Returns the
        session's committed last_relay_seq."""
        item = m.RelayEvent(
            session_id=session_id, relay_seq=lost.last_relay_seq, ts=time.time(), event=lost
        )
        result = await self._ingest(_Intake(relay_id, gap=True, ends=ends), [item])
        return result.acked[session_id]

    async def _ingest(self, intake: _Intake, events: list[m.RelayEvent]) -> IngestResult:
        for sid in dict.fromkeys(item.session_id for item in events):
            await self._load(intake, sid, events)
        for item in events:
            _accept(intake, item)
        chunks = [(sid, c) for sid, logged in intake.fresh.items() for c in _chunks(logged)]
        if chunks:
            # within one ingest a session's seq and relay_seq advance together
            offset = {sid: r.last_relay_seq - r.last_seq for sid, r in intake.touched.items()}
            rows = [
                (
                    sid,
                    c.first_seq,
                    c.last_seq,
                    c.first_seq + offset[sid],
                    c.last_seq + offset[sid],
                    intake.touched[sid].last_activity_at,
                    c.body,
                )
                for sid, c in chunks
            ]
            changed = [intake.touched[sid] for sid in intake.changed]
            try:
                await self._events.append(rows, changed)
            except BaseException:
                # The commit may have happened (cancelled while awaiting it): forget what this
                # process thinks these sessions look like and read them back from the database.
                for sid in intake.touched:
                    self._cache.pop(sid, None)
                raise
        self._cache.update(intake.touched)
        for sid, chunk in chunks:
            self._rings.append(sid, chunk)
            epoch = intake.touched[sid].epoch
            self._hub.publish(Batch(sid, epoch, chunk, frame(sid, epoch, [chunk])))
        return IngestResult(
            acked={sid: r.last_relay_seq for sid, r in intake.touched.items()},
            refused=sorted(intake.refused),
            invalid=sorted(intake.invalid),
            gaps=sorted(intake.gaps),
        )

    async def _load(self, intake: _Intake, sid: str, events: list[m.RelayEvent]) -> None:
        """Take a working copy of a session this batch touches (the cache only ever holds
        committed state), registering sessions the relay started on its own; or refuse it."""
        if not is_clean(sid):
            log.warning("relay %s sent events for a session id breaking the rule", intake.relay_id)
            intake.invalid.add(sid)
            return
        record = self._cache.get(sid) or await self.sessions.get(sid)
        if record is None:
            record = SessionRecord(
                id=sid,
                relay_id=intake.relay_id,
                epoch=new_epoch(),
                created_at=intake.now,
                last_activity_at=intake.now,
            )
            await self.sessions.add(record)
            self._cache[sid] = record
        if record.relay_id != intake.relay_id:
            log.warning(
                "relay %s sent events for session %s of relay %s",
                intake.relay_id,
                sid,
                record.relay_id,
            )
            intake.refused.add(sid)
        else:
            intake.touched[sid] = msgspec.structs.replace(record)

    async def history(
        self, session_id: str, after: int, frame_events: int
    ) -> AsyncIterator[list[Chunk]]:
        """Every committed event with seq > after, oldest first, in groups of chunks that each
        make one frame of about `frame_events` events and at most FRAME_BODY_BYTES."""
        cached = self._rings.since(session_id, after)
        if cached is not None:
            for group in _frames(cached, frame_events):
                yield group
            return
        while True:
            chunks = trimmed(await self._events.chunks(session_id, after, HISTORY_CHUNKS), after)
            if not chunks:
                return
            for group in _frames(chunks, frame_events):
                yield group
            after = chunks[-1].last_seq

    async def page(self, session_id: str, after: int, limit: int) -> list[Chunk]:
        """Chunks of at most `limit` events with seq > after."""
        out: list[Chunk] = []
        count = 0
        while count < limit:
            chunks = trimmed(await self._events.chunks(session_id, after, HISTORY_CHUNKS), after)
            for chunk in chunks:
                part = chunk.head(limit - count)
                out.append(part)
                count += len(part)
                if count >= limit:
                    break
            if not chunks:
                break
            after = out[-1].last_seq
        return out


def _accept(intake: _Intake, item: m.RelayEvent) -> None:
    """Number one event into `intake`, or skip it (resend, refused session, gap)."""
    sid = item.session_id
    record = intake.touched.get(sid)
    if record is None or sid in intake.gaps:
        return
    if item.relay_seq <= record.last_relay_seq:
        return  # a resend of something already committed
    if item.relay_seq != record.last_relay_seq + 1 and not intake.gap:
        # Accepting it would make the missing events look like resends later.
        log.warning(
            "session %s: relay_seq %d after %d; waiting for a resend",
            sid,
            item.relay_seq,
            record.last_relay_seq,
        )
        intake.gaps.add(sid)
        return
    record.last_seq += 1
    record.last_relay_seq = item.relay_seq
    if record.last_activity_at > intake.now:  # set by a relay clock that ran ahead: correct it
        intake.changed.add(sid)
    record.last_activity_at = intake.now
    if type(item.event) in _SUMMARY_KINDS:
        _apply(record, item.event, intake.workspaces)
        intake.changed.add(sid)
    if intake.ends:
        record.status = "ended"
        intake.changed.add(sid)
    logged = intake.fresh.get(sid)
    if logged is None:
        logged = intake.fresh[sid] = []
    logged.append(m.LoggedEvent(seq=record.last_seq, ts=item.ts, event=item.event))


def _chunks(events: list[m.LoggedEvent]) -> list[Chunk]:
    """Consecutive events as chunks of at most CHUNK_MAX_BYTES (a single event may be more)."""
    chunk = Chunk.of(events)
    if len(chunk.body) <= CHUNK_MAX_BYTES or len(events) == 1:
        return [chunk]
    half = len(events) // 2
    return _chunks(events[:half]) + _chunks(events[half:])


def _frames(chunks: list[Chunk], frame_events: int) -> list[list[Chunk]]:
    """Group chunks into frames: about frame_events events, at most FRAME_BODY_BYTES each."""
    groups: list[list[Chunk]] = []
    current: list[Chunk] = []
    events = size = 0
    for chunk in chunks:
        if current and (
            events + len(chunk) > frame_events or size + len(chunk.body) > FRAME_BODY_BYTES
        ):
            groups.append(current)
            current, events, size = [], 0, 0
        current.append(chunk)
        events += len(chunk)
        size += len(chunk.body)
    if current:
        groups.append(current)
    return groups


def _apply(record: SessionRecord, event: m.Event, workspaces: frozenset[str]) -> None:
    """What an event changes in the session's summary (never a workspace it has)."""
    status = _STATUS_OF_KIND.get(type(event))
    if isinstance(event, m.Status) and record.status != "ended":
        status = event.state
    if status is not None:
        record.status = status
    if isinstance(event, m.SessionStarted):
        if is_clean(event.agent):
            record.agent = event.agent
        if not record.workspace and event.workspace in workspaces:
            record.workspace = event.workspace
        elif event.workspace != record.workspace:
            log.warning(
                "session %s keeps workspace %r: a relay cannot move it", record.id, record.workspace
            )
        record.title = event.title or " ".join(event.command) or record.agent
