"""The relay's on-disk outbox: every event waits here until the server acks it.

`outbox.sqlite3` in the state directory (WAL, synchronous=NORMAL) holds two tables:

    outbox          id (send order), session_id, relay_seq, payload = JSON of a RelayEvent
    relay_sessions  session_id, last_relay_seq, state ('live' | 'ended'), agent, workspace,
                    start (the start_session command), resume (the agent's conversation id), ...

`append()` numbers an event (relay_seq = last_relay_seq + 1 for its session) and buffers it; the
buffer is written in one transaction per event-loop turn, together with the new last_relay_seq,
so relay_seq has no gaps even across a kill -9. Only committed rows are ever sent. `ack()`
deletes what the server committed. Everything runs on the event loop thread: each statement is
small and WAL commits do not fsync.

When a write fails (disk full, a lock held too long) nothing is dropped: the events stay
buffered, acks that could not be written are held in memory (their rows are resent and the
server skips them), `full` turns true so every producer stops reading its agent, and the write
is retried with a growing delay (relay/outbox_faults.py). A damaged file raises
OutboxCorruptError and sets `corrupted`; run_relay then stops the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from protocol.messages import MAX_FRAME_BYTES, MAX_RAW_BYTES, Error, Event, RelayEvent, SessionEnded
from relay.errors import OutboxCorruptError, OutboxError
from relay.outbox_faults import (
    GuardedConnection,
    WriteStall,
    best_effort,
    refused_as_command_error,
)

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 5000  # another process (an operator's sqlite3 shell) holding a lock
BUFFER_MAX_EVENTS = 1000  # flush at once past this many buffered events; bounds one loop turn
MAX_EVENT_BYTES = MAX_FRAME_BYTES - 4096  # one encoded event must fit a frame with its envelope
ENDED_RETENTION_S = 7 * 86400  # keep ended sessions so late commands get session_ended
RESUME_FRACTION = 0.75  # after backpressure, resume producers below this share of max_bytes

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the link sends by id order
    session_id TEXT NOT NULL,
    relay_seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (session_id, relay_seq)
);
CREATE TABLE IF NOT EXISTS relay_sessions (
    session_id TEXT PRIMARY KEY,
    last_relay_seq INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('live', 'ended')),
    agent TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    ended_at REAL,
    start BLOB NOT NULL DEFAULT '',  -- JSON of the start_session command, to resume with
    resume TEXT NOT NULL DEFAULT ''  -- the agent's own conversation id
);
CREATE TABLE IF NOT EXISTS pending_approvals (  -- asked and not yet answered
    session_id TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    PRIMARY KEY (session_id, approval_id)
);
"""
MIGRATIONS = {  # from user_version N to N + 1
    1: "ALTER TABLE relay_sessions ADD COLUMN start BLOB NOT NULL DEFAULT '';"
    " ALTER TABLE relay_sessions ADD COLUMN resume TEXT NOT NULL DEFAULT '';",
}


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    id: int
    session_id: str
    relay_seq: int
    payload: bytes  # msgspec JSON of a protocol RelayEvent


@dataclasses.dataclass
class _Pending:
    session_id: str
    relay_seq: int
    payload: bytes
    ends_session: bool


@dataclasses.dataclass
class _Session:
    last_relay_seq: int
    live: bool


_encoder = msgspec.json.Encoder()


def cap_raw(event: Event) -> Event:
    """Replace an event's `raw` with a small marker when it encodes to over MAX_RAW_BYTES."""
    if event.raw is None:
        return event
    try:
        size = len(_encoder.encode(event.raw))
    except (TypeError, msgspec.EncodeError):
        return msgspec.structs.replace(event, raw={"unencodable": type(event.raw).__name__})
    if size <= MAX_RAW_BYTES:
        return event
    return msgspec.structs.replace(event, raw={"truncated": True, "bytes": size})


class Outbox:
    """Durable, ordered, per-session-numbered queue of events for the server."""

    def __init__(
        self, conn: sqlite3.Connection, *, max_bytes: int, clock: Callable[[], float]
    ) -> None:
        self._conn = conn
        self._stall = WriteStall()
        self._held_acks: dict[str, int] = {}  # acks the disk refused, written on the next try
        self.corruption: OutboxCorruptError | None = None
        self.corrupted = asyncio.Event()  # set when any statement finds the file damaged
        if isinstance(conn, GuardedConnection):
            conn.on_corrupt = self._note_corrupt
        self._clock = clock
        self._max_bytes = max_bytes
        self._buffer: list[_Pending] = []
        self._flush_scheduled = False
        self._listeners: list[Callable[[], None]] = []
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._sessions: dict[str, _Session] = {
            sid: _Session(seq, state == "live")
            for sid, seq, state in conn.execute(
                "SELECT session_id, last_relay_seq, state FROM relay_sessions"
            )
        }
        (stored,) = conn.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._pending_bytes: int = stored
        self._update_full()

    @classmethod
    def open(
        cls, state_dir: Path, *, max_bytes: int = 512 << 20, clock: Callable[[], float] = time.time
    ) -> Outbox:
        path = state_dir / OUTBOX_FILE
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, factory=GuardedConnection)
            conn.path = path
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise OutboxError(f"{path} was written by a newer relay (schema {version})")
            with conn:
                for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                    conn.executescript(MIGRATIONS[step])
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute(
                    "DELETE FROM relay_sessions WHERE state = 'ended' AND ended_at < ?"
                    " AND session_id NOT IN (SELECT session_id FROM outbox)",
                    (clock() - ENDED_RETENTION_S,),
                )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        return cls(conn, max_bytes=max_bytes, clock=clock)

    def close(self) -> None:
        if self.corruption is None:
            self.flush()
        if self._buffer:
            log.warning("outbox: %d event(s) could not be written before exit", len(self._buffer))
        self._conn.close()

    # ------------------------------------------------------------------ sessions

    def open_session(
        self, session_id: str, *, agent: str, workspace: str, start: bytes = b""
    ) -> None:
        """Record a new live session; its first event gets relay_seq 1. A disk that refuses
        the write refuses the session (CommandError storage_full or storage_busy)."""
        with refused_as_command_error(), self._transaction():
            self._conn.execute(
                "INSERT INTO relay_sessions (session_id, state, agent, workspace, created_at,"
                " start) VALUES (?, 'live', ?, ?, ?, ?)",
                (session_id, agent, workspace, self._clock(), start),
            )
        self._sessions[session_id] = _Session(0, live=True)

    def set_resume(self, session_id: str, token: str) -> None:
        """Remember the agent's conversation id, to resume the session after a restart."""
        with best_effort("the conversation id"), self._transaction():
            self._conn.execute(
                "UPDATE relay_sessions SET resume = ? WHERE session_id = ?", (token, session_id)
            )

    def resume_token(self, session_id: str) -> str:
        row = self._conn.execute(
            "SELECT resume FROM relay_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return str(row[0]) if row else ""

    def note_approval(self, session_id: str, approval_id: str, *, pending: bool) -> None:
        """Track approvals asked and not answered, so a restart can cancel them."""
        sql = (
            "INSERT OR IGNORE INTO pending_approvals (session_id, approval_id) VALUES (?, ?)"
            if pending
            else "DELETE FROM pending_approvals WHERE session_id = ? AND approval_id = ?"
        )
        with best_effort("an approval's state"), self._transaction():
            self._conn.execute(sql, (session_id, approval_id))

    def pending_approvals(self, session_id: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT approval_id FROM pending_approvals WHERE session_id = ?", (session_id,)
        )
        return [approval_id for (approval_id,) in rows]

    def resumable_sessions(self) -> list[tuple[str, bytes, str]]:
        """Live sessions as (session_id, start command JSON, conversation id)."""
        rows = self._conn.execute(
            "SELECT session_id, start, resume FROM relay_sessions WHERE state = 'live'"
        )
        return [(sid, bytes(start), resume) for sid, start, resume in rows]

    def session_state(self, session_id: str) -> str | None:
        """'live', 'ended', or None for a session this relay does not know."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        return "live" if session.live else "ended"

    def live_sessions(self) -> list[str]:
        return [sid for sid, s in self._sessions.items() if s.live]

    def end_sessions(self, session_ids: list[str], reason: str) -> None:
        """At startup: sessions still 'live' whose process died with the previous relay."""
        for session_id in session_ids:
            self.append(session_id, SessionEnded(reason=reason))
        self.flush()

    def drop_session(self, session_id: str) -> None:
        """Forget a session the server refuses: delete its unsent events, accept no more."""
        self.flush()
        with self._transaction():
            (size,) = self._conn.execute(
                "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            self._conn.execute("DELETE FROM outbox WHERE session_id = ?", (session_id,))
            self._conn.execute(
                "UPDATE relay_sessions SET state = 'ended', ended_at = ? WHERE session_id = ?",
                (self._clock(), session_id),
            )
        self._pending_bytes -= size
        if session_id in self._sessions:
            self._sessions[session_id].live = False
        self._update_full()

    # ------------------------------------------------------------------ events

    def append(self, session_id: str, event: Event) -> int | None:
        """Number and buffer one event; returns its relay_seq, None if the session is not live."""
        session = self._sessions.get(session_id)
        if session is None or not session.live:
            log.debug(
                "event %s for session %s that is not live: dropped",
                type(event).__name__,
                session_id,
            )
            return None
        session.last_relay_seq += 1
        ends = isinstance(event, SessionEnded)
        if ends:
            session.live = False
        payload = self._encode(session_id, session.last_relay_seq, cap_raw(event))
        self._buffer.append(_Pending(session_id, session.last_relay_seq, payload, ends))
        self._pending_bytes += len(payload)
        self._update_full()
        self._schedule_flush()
        return session.last_relay_seq

    def flush(self) -> None:
        """Write every buffered event in one transaction and wake the listeners."""
        self._flush_scheduled = False
        if not self._write_held_acks():
            return
        if not self._buffer:
            self._resumed()
            return
        rows, self._buffer = self._buffer, []
        last: dict[str, tuple[int, bool]] = {}
        for row in rows:
            ended = row.ends_session or last.get(row.session_id, (0, False))[1]
            last[row.session_id] = (row.relay_seq, ended)
        now = self._clock()
        try:
            with self._transaction():
                self._conn.executemany(
                    "INSERT INTO outbox (session_id, relay_seq, payload) VALUES (?, ?, ?)",
                    [(r.session_id, r.relay_seq, r.payload) for r in rows],
                )
                self._conn.executemany(
                    "UPDATE relay_sessions SET last_relay_seq = ?,"
                    " state = CASE WHEN ? THEN 'ended' ELSE state END,"
                    " ended_at = CASE WHEN ? THEN ? ELSE ended_at END WHERE session_id = ?",
                    [(seq, ended, ended, now, sid) for sid, (seq, ended) in last.items()],
                )
        except OutboxCorruptError:
            self._buffer[:0] = rows  # run_relay stops the relay
            return
        except OutboxError as exc:
            self._buffer[:0] = rows
            self._stalled(exc)
            return
        self._resumed()
        for listener in self._listeners:
            listener()

    def ack(self, acked: dict[str, int]) -> int:
        """Delete what the server committed (relay_seq <= acked[session]); returns rows deleted."""
        deleted = freed = 0
        try:
            with self._transaction():
                for session_id, seq in acked.items():
                    cur = self._conn.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
                        " WHERE session_id = ? AND relay_seq <= ?",
                        (session_id, seq),
                    )
                    count, size = cur.fetchone()
                    if count:
                        self._conn.execute(
                            "DELETE FROM outbox WHERE session_id = ? AND relay_seq <= ?",
                            (session_id, seq),
                        )
                        deleted += count
                        freed += size
        except OutboxCorruptError:
            raise
        except OutboxError as exc:  # kept in memory; until written, the rows are resent
            for session_id, seq in acked.items():
                self._held_acks[session_id] = max(seq, self._held_acks.get(session_id, 0))
            self._stalled(exc)
            return 0
        self._pending_bytes -= freed
        self._update_full()
        return deleted

    def read_batch(self, after_id: int, *, max_events: int, max_bytes: int) -> list[OutboxRow]:
        """Committed rows with id > after_id, oldest first, within both limits (always >= 1 row)."""
        batch: list[OutboxRow] = []
        size = 0
        cur = self._conn.execute(
            "SELECT id, session_id, relay_seq, payload FROM outbox"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, max_events),
        )
        for row in cur:
            if batch and size + len(row[3]) > max_bytes:
                break
            batch.append(OutboxRow(*row))
            size += len(row[3])
        cur.close()
        return batch

    def count_through(self, last_id: int) -> int:
        """Rows with id <= last_id still waiting for an ack: the events in flight."""
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE id <= ?", (last_id,)
        ).fetchone()
        return int(count)

    def pending_count(self) -> int:
        """Events not yet acked, buffered ones included."""
        (count,) = self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count) + len(self._buffer)

    # ------------------------------------------------------------------ backpressure, wake-ups

    def add_listener(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after new events are committed (the link wakes its sender)."""
        self._listeners.append(callback)

    @property
    def full(self) -> bool:
        """Unacked events use max_bytes or more, or the disk refuses writes: producers pause."""
        return not self._not_full.is_set()

    async def wait_not_full(self) -> None:
        await self._not_full.wait()

    def _update_full(self) -> None:
        if self._stall.stalled or self._pending_bytes >= self._max_bytes:
            self._not_full.clear()
        elif self._pending_bytes < self._max_bytes * RESUME_FRACTION:
            self._not_full.set()

    # ------------------------------------------------------------------ internals

    def _encode(self, session_id: str, relay_seq: int, event: Event) -> bytes:
        record = RelayEvent(
            session_id=session_id, relay_seq=relay_seq, ts=self._clock(), event=event
        )
        payload = _encoder.encode(record)
        if len(payload) <= MAX_EVENT_BYTES:
            return payload
        kind = type(event).__name__
        log.warning(
            "session %s: %s event of %d bytes is over the frame limit",
            session_id,
            kind,
            len(payload),
        )
        message = f"{kind} event of {len(payload)} bytes dropped: over the frame limit"
        record.event = Error(message=message, code="event_too_large")
        return _encoder.encode(record)

    def _schedule_flush(self) -> None:
        if self._stall.stalled:  # the retry timer writes the buffer
            return
        if len(self._buffer) >= BUFFER_MAX_EVENTS:
            self.flush()
            return
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without an event loop (tools, tests): write at once
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def _write_held_acks(self) -> bool:
        """Write the acks the disk refused before; False while it still refuses."""
        if not self._held_acks:
            return True
        held, self._held_acks = self._held_acks, {}
        self.ack(held)
        return not self._held_acks

    def _stalled(self, exc: OutboxError) -> None:
        """A write failed: pause the producers and try again later (one log line per stall)."""
        delay = self._stall.failed(exc)
        self._update_full()
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next append or flush() tries again
            return
        self._flush_scheduled = True
        loop.call_later(delay, self.flush)

    def _resumed(self) -> None:
        if not self._stall.stalled:
            return
        self._stall.succeeded()
        if self._pending_bytes < self._max_bytes:
            self._not_full.set()

    def _note_corrupt(self, error: OutboxCorruptError) -> None:
        self.corruption = error
        self.corrupted.set()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            with self._conn:
                yield
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox: {exc}") from exc
