"""The relay's on-disk outbox: every event waits here until the server acks it, and is kept
for a while after (relay/outbox_window.py), so a server that lost its newest commits gets them
again. The schema is in relay/outbox_schema.py.

`append()` numbers an event (relay_seq = last_relay_seq + 1 for its session) and buffers it; the
buffer is written in one transaction per event-loop turn, together with the new last_relay_seq,
so relay_seq has no gaps even across a kill -9. Only committed rows are ever sent. `ack()`
marks what the server committed; `reconcile()` applies the server's `committed` answer of each
handshake (resend what it lacks, number above what it holds). Everything runs on the event loop
thread: each statement is small and WAL commits do not fsync.

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

from protocol.messages import Event, SessionEnded, SessionMark
from relay import outbox_window as window
from relay.errors import OutboxCorruptError, OutboxError
from relay.outbox_events import MAX_EVENT_BYTES, OutboxRow, cap_raw, encode
from relay.outbox_faults import (
    GuardedConnection,
    WriteStall,
    best_effort,
    refused_as_command_error,
)
from relay.outbox_schema import OUTBOX_FILE, connect
from relay.outbox_window import Retention

__all__ = ["MAX_EVENT_BYTES", "OUTBOX_FILE", "Outbox", "OutboxRow", "Retention", "cap_raw"]

log = logging.getLogger(__name__)

BUFFER_MAX_EVENTS = 1000  # flush at once past this many buffered events; bounds one loop turn
ENDED_RETENTION_S = 7 * 86400  # keep ended sessions so late commands get session_ended
RESUME_FRACTION = 0.75  # after backpressure, resume producers below this share of max_bytes
DEFAULT_RETENTION = Retention()


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
    acked_through: int = 0  # every row of the session at or below this relay_seq is acked


class Outbox:
    """Durable, ordered, per-session-numbered queue of events for the server."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_bytes: int,
        keep: Retention,
        clock: Callable[[], float],
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
        self._keep = keep
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
        unacked, kept, last_id = conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN acked_at IS NULL THEN LENGTH(payload) END), 0),"
            " COALESCE(SUM(CASE WHEN acked_at IS NOT NULL THEN LENGTH(payload) END), 0),"
            " COALESCE(MAX(id), 0) FROM outbox"
        ).fetchone()
        self._pending_bytes: int = unacked  # unacked rows, buffered ones included
        self._kept_bytes: int = kept  # acked rows kept for the retention window
        # Rows above this id were numbered by this process; until the server's first `committed`
        # answer for their session, their numbers may repeat ones the server holds.
        self._earlier_life_id: int = last_id
        first_unacked = dict(
            conn.execute(
                "SELECT session_id, MIN(relay_seq) FROM outbox WHERE acked_at IS NULL"
                " GROUP BY session_id"
            ).fetchall()
        )
        for sid, session in self._sessions.items():
            session.acked_through = first_unacked.get(sid, session.last_relay_seq + 1) - 1
        self._unconfirmed: set[str] = set(self._sessions)
        self._update_full()

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        max_bytes: int = 512 << 20,
        keep: Retention = DEFAULT_RETENTION,
        clock: Callable[[], float] = time.time,
    ) -> Outbox:
        conn = connect(state_dir)
        try:
            with conn:
                conn.execute(
                    "DELETE FROM relay_sessions WHERE state = 'ended' AND ended_at < ?"
                    " AND session_id NOT IN (SELECT session_id FROM outbox)",
                    (clock() - max(ENDED_RETENTION_S, keep.seconds),),
                )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {state_dir / OUTBOX_FILE}: {exc}") from exc
        return cls(conn, max_bytes=max_bytes, keep=keep, clock=clock)

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
            unacked, kept = self._conn.execute(
                "SELECT COALESCE(SUM(CASE WHEN acked_at IS NULL THEN LENGTH(payload) END), 0),"
                " COALESCE(SUM(CASE WHEN acked_at IS NOT NULL THEN LENGTH(payload) END), 0)"
                " FROM outbox WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            self._conn.execute("DELETE FROM outbox WHERE session_id = ?", (session_id,))
            self._conn.execute(
                "UPDATE relay_sessions SET state = 'ended', ended_at = ? WHERE session_id = ?",
                (self._clock(), session_id),
            )
        self._pending_bytes -= unacked
        self._kept_bytes -= kept
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
        payload = encode(session_id, session.last_relay_seq, self._clock(), cap_raw(event))
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
        """Mark what the server committed (relay_seq <= acked[session]) as acked, and prune
        kept rows past the retention window; returns the rows newly acked. An ack the disk
        refuses is held in memory and written with the next flush (its rows are resent)."""
        now = self._clock()
        done: list[tuple[str, int, int, int]] = []  # session, acked through, rows, bytes
        try:
            with self._transaction():
                for session_id, seq in acked.items():
                    session = self._sessions.get(session_id)
                    after = session.acked_through if session is not None else 0
                    if seq > after:
                        count, size = window.mark_acked(self._conn, session_id, after, seq, now)
                        done.append((session_id, seq, count, size))
                newly = sum(size for *_, size in done)
                pruned = window.prune(self._conn, self._keep, self._kept_bytes + newly, now)
        except OutboxCorruptError:
            raise
        except OutboxError as exc:
            for session_id, seq in acked.items():
                self._held_acks[session_id] = max(seq, self._held_acks.get(session_id, 0))
            self._stalled(exc)
            return 0
        for session_id, seq, _, size in done:
            if session_id in self._sessions:
                self._sessions[session_id].acked_through = seq
            self._pending_bytes -= size
            self._kept_bytes += size
        self._kept_bytes -= pruned
        self._update_full()
        return sum(count for _, _, count, _ in done)

    def marks(self) -> list[SessionMark]:
        """What this relay holds of each session it knows, for the handshake's `relay_info`."""
        self.flush()
        return window.marks(self._conn, self._clock() - self._keep.seconds)

    def reconcile(self, committed: dict[str, int]) -> None:
        """Apply the server's `committed` answer: number above its marks, resend above them.

        Memory follows the database only once the transaction committed; a write the disk
        refuses (or events still buffered after a refused flush, which would keep their old
        numbers) raises OutboxError, and the handshake is tried again later."""
        self.flush()
        if self._buffer:
            raise OutboxError("outbox: cannot write the events waiting to be numbered")
        now = self._clock()
        done: list[tuple[str, int, window.Rewound]] = []
        with self._transaction():
            for session_id, seq in committed.items():
                session = self._sessions.get(session_id)
                if session is None:
                    continue
                first_answer = session_id in self._unconfirmed
                rewound = window.rewind(
                    self._conn,
                    session_id,
                    seq,
                    last_relay_seq=session.last_relay_seq,
                    renumber_after=self._earlier_life_id if first_answer else None,
                    now=now,
                )
                done.append((session_id, seq, rewound))
            kept = self._kept_bytes - sum(r.reopened_bytes for *_, r in done)
            pruned = window.prune(self._conn, self._keep, kept, now)
        for session_id, seq, rewound in done:
            session = self._sessions[session_id]
            self._unconfirmed.discard(session_id)
            self._pending_bytes += rewound.reopened_bytes + rewound.grown_bytes
            self._kept_bytes -= rewound.reopened_bytes
            session.acked_through = seq  # above it: reopened, renumbered or never sent
            session.last_relay_seq = rewound.last_relay_seq
        self._kept_bytes -= pruned
        self._update_full()

    def read_batch(self, after_id: int, *, max_events: int, max_bytes: int) -> list[OutboxRow]:
        """Unacked committed rows with id > after_id, oldest first, within both limits (at
        least one row)."""
        batch: list[OutboxRow] = []
        size = 0
        cur = self._conn.execute(
            "SELECT id, session_id, relay_seq, payload FROM outbox"
            " WHERE id > ? AND acked_at IS NULL ORDER BY id LIMIT ?",
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
            "SELECT COUNT(*) FROM outbox WHERE id <= ? AND acked_at IS NULL", (last_id,)
        ).fetchone()
        return int(count)

    def pending_count(self) -> int:
        """Events not yet acked, buffered ones included."""
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL"
        ).fetchone()
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
