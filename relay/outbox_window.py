"""The outbox's retention window and the numbering handshake, as SQL on its connection.

Acked means kept: a row the server acked gets `acked_at` and stays until it is older than
`Retention.seconds` or the kept rows exceed `Retention.bytes` (oldest go first). A server that
lost its newest commits (restored from a backup, or its WAL's end lost in a power cut) says so
in its `committed` answer, and the rows above its mark are marked unacked again and resent.

Per session the kept rows are always the session's newest ones, contiguous up to its
last_relay_seq: acks and pruning both take a prefix of a session's rows (rows of one session
are in relay_seq order by id too). So `first_kept_seq` in a SessionMark says exactly what the
relay can still resend.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import msgspec

from protocol.messages import RelayEvent, SessionMark

log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(RelayEvent)
_encoder = msgspec.json.Encoder()


@dataclasses.dataclass(frozen=True)
class Retention:
    """How much acked history the outbox keeps: both limits apply."""

    bytes: int = 64 << 20
    seconds: float = 86400.0


def prune(conn: sqlite3.Connection, keep: Retention, kept_bytes: int, now: float) -> int:
    """Delete the oldest acked rows while they are past either limit (inside the caller's
    transaction); returns the bytes deleted.

    One walk of the acked rows by id, oldest first, stopping at the first row both limits keep:
    the cost is the rows deleted, however many are kept. Acks come in id order per session, so
    a row acked late can shield an older one for a while; the byte limit still holds exactly."""
    excess = kept_bytes - keep.bytes
    too_old = now - keep.seconds
    freed, cutoff = 0, 0
    cursor = conn.execute(
        "SELECT id, LENGTH(payload), acked_at FROM outbox WHERE acked_at IS NOT NULL ORDER BY id"
    )
    for row_id, size, acked_at in cursor:
        if freed >= excess and acked_at >= too_old:
            break
        freed += size
        cutoff = row_id
    cursor.close()
    if cutoff:
        conn.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND id <= ?", (cutoff,))
    return freed


def marks(conn: sqlite3.Connection, ended_since: float) -> list[SessionMark]:
    """Every session live, with rows kept, or ended at or after `ended_since`."""
    rows = conn.execute(
        "SELECT s.session_id, s.agent, s.workspace, s.last_relay_seq, s.state,"
        " (SELECT MIN(o.relay_seq) FROM outbox o WHERE o.session_id = s.session_id)"
        " FROM relay_sessions s WHERE s.state = 'live' OR s.ended_at >= ?"
        " OR EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = s.session_id)",
        (ended_since,),
    )
    return [
        SessionMark(
            session_id=sid,
            agent=agent,
            workspace=workspace,
            first_kept_seq=first if first is not None else last + 1,
            last_relay_seq=last,
            live=state == "live",
        )
        for sid, agent, workspace, last, state, first in rows
    ]


@dataclasses.dataclass(frozen=True)
class Rewound:
    last_relay_seq: int  # the session's numbering goes on from here
    reopened_bytes: int  # moved from kept to unacked (negative: from unacked to kept)
    grown_bytes: int  # unacked rows grew by this much when renumbered


def rewind(
    conn: sqlite3.Connection,
    session_id: str,
    committed: int,
    *,
    last_relay_seq: int,
    renumber_after: int | None,
    now: float,
) -> Rewound:
    """Apply the server's committed mark to one session (inside the caller's transaction): rows
    above it unacked (resent), rows at or below it acked, numbering above it. On the server's
    first answer since this process started, `renumber_after` is the highest row id written
    before: rows after it that repeat the server's numbers are moved above its mark."""
    grown = 0
    if renumber_after is not None:
        moved = move_above(conn, session_id, renumber_after, committed)
        if moved is not None:
            log.warning(
                "session %s: the server holds relay_seq up to %d, above this relay's own"
                " numbering (its outbox lost its end); new events are numbered from %d",
                session_id,
                committed,
                committed + 1,
            )
            last_relay_seq, grown = moved
    reopened = reopen_above(conn, session_id, committed)
    if reopened:
        log.warning(
            "session %s: the server lacks events after relay_seq %d; resending them",
            session_id,
            committed,
        )
    _, acked = mark_acked(conn, session_id, 0, committed, now)
    last_relay_seq = max(last_relay_seq, committed)
    conn.execute(
        "UPDATE relay_sessions SET last_relay_seq = ? WHERE session_id = ?",
        (last_relay_seq, session_id),
    )
    return Rewound(last_relay_seq, reopened - acked, grown)


def move_above(
    conn: sqlite3.Connection, session_id: str, after_id: int, committed: int
) -> tuple[int, int] | None:
    """Renumber the session's rows with id > after_id to committed + 1, committed + 2, ...

    These are rows this relay process numbered before the server told it its mark: when the
    relay's disk lost its tail, they reuse numbers the server already holds and would be
    dropped as resends. Returns (new last_relay_seq, change in bytes), or None when no such
    row collides with the server's numbers.
    """
    rows = conn.execute(
        "SELECT id, relay_seq, payload FROM outbox WHERE session_id = ? AND id > ? ORDER BY id",
        (session_id, after_id),
    ).fetchall()
    if not rows or rows[0][1] > committed:
        return None
    grown = 0
    # highest first: each row's new number is above its old one, so UNIQUE never trips
    for offset, (row_id, _, payload) in reversed(list(enumerate(rows, start=1))):
        record = _decoder.decode(payload)
        record.relay_seq = committed + offset
        renumbered = _encoder.encode(record)
        grown += len(renumbered) - len(payload)
        conn.execute(
            "UPDATE outbox SET relay_seq = ?, payload = ? WHERE id = ?",
            (record.relay_seq, renumbered, row_id),
        )
    return committed + len(rows), grown


def reopen_above(conn: sqlite3.Connection, session_id: str, committed: int) -> int:
    """Mark the session's acked rows above the server's mark unacked; returns their bytes."""
    (size,) = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        " WHERE session_id = ? AND relay_seq > ? AND acked_at IS NOT NULL",
        (session_id, committed),
    ).fetchone()
    if size:
        conn.execute(
            "UPDATE outbox SET acked_at = NULL"
            " WHERE session_id = ? AND relay_seq > ? AND acked_at IS NOT NULL",
            (session_id, committed),
        )
    return int(size)


def mark_acked(
    conn: sqlite3.Connection, session_id: str, after: int, through: int, now: float
) -> tuple[int, int]:
    """Mark the session's unacked rows with after < relay_seq <= through acked; (rows, bytes).
    `after` is a relay_seq at or below which every row is acked already: the walk stays short."""
    count, size = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        " WHERE session_id = ? AND relay_seq > ? AND relay_seq <= ? AND acked_at IS NULL",
        (session_id, after, through),
    ).fetchone()
    if count:
        conn.execute(
            "UPDATE outbox SET acked_at = ? WHERE session_id = ? AND relay_seq > ?"
            " AND relay_seq <= ? AND acked_at IS NULL",
            (now, session_id, after, through),
        )
    return int(count), int(size)
