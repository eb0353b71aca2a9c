"""The outbox's retention window: acked rows kept and pruned, marks, and the handshake's
rewind (resend above the server's mark) and renumbering (number above it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from protocol import messages as m
from relay.outbox import OUTBOX_FILE, Outbox, Retention

_decode = msgspec.json.Decoder(m.RelayEvent).decode


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _open(tmp_path: Path, keep: Retention | None = None, clock: Clock | None = None) -> Outbox:
    (tmp_path / "state").mkdir(exist_ok=True)
    return Outbox.open(tmp_path / "state", keep=keep or Retention(), clock=clock or Clock())


def _emit(outbox: Outbox, session_id: str, count: int, size: int = 100) -> None:
    if outbox.session_state(session_id) is None:
        outbox.open_session(session_id, agent="pty", workspace="work")
    for _ in range(count):
        outbox.append(session_id, m.TerminalOutput(data=b"x" * size))
    outbox.flush()


def _unacked(outbox: Outbox) -> list[tuple[str, int]]:
    rows = outbox.read_batch(0, max_events=10_000, max_bytes=1 << 30)
    for row in rows:  # the payload says the same number as the row
        assert _decode(row.payload).relay_seq == row.relay_seq
    return [(r.session_id, r.relay_seq) for r in rows]


def _mark(outbox: Outbox, session_id: str) -> m.SessionMark:
    (mark,) = [k for k in outbox.marks() if k.session_id == session_id]
    return mark


def test_acked_events_are_kept_but_not_sent_and_not_counted_as_full(tmp_path: Path) -> None:
    outbox = Outbox.open(_state(tmp_path), max_bytes=2000)
    _emit(outbox, "a", 10, size=200)
    assert outbox.full
    assert outbox.ack({"a": 10}) == 10
    assert not outbox.full  # backpressure counts unacked bytes only
    assert _unacked(outbox) == [] and outbox.pending_count() == 0
    mark = _mark(outbox, "a")
    assert (mark.first_kept_seq, mark.last_relay_seq, mark.live) == (1, 10, True)
    outbox.close()


def test_kept_rows_past_the_byte_limit_go_oldest_first(tmp_path: Path) -> None:
    outbox = _open(tmp_path, keep=Retention(bytes=1000))
    _emit(outbox, "a", 20)  # about 190 bytes each, encoded
    outbox.ack({"a": 20})
    mark = _mark(outbox, "a")
    assert 14 <= mark.first_kept_seq <= 17  # the newest ~1000 bytes
    assert mark.last_relay_seq == 20
    outbox.close()
    reopened = _open(tmp_path, keep=Retention(bytes=1000))
    assert _mark(reopened, "a").first_kept_seq == mark.first_kept_seq
    reopened.close()


def test_kept_rows_past_the_age_limit_go(tmp_path: Path) -> None:
    clock = Clock()
    outbox = _open(tmp_path, keep=Retention(seconds=100), clock=clock)
    _emit(outbox, "a", 5)
    outbox.ack({"a": 5})
    clock.now += 101
    _emit(outbox, "a", 1)
    outbox.ack({"a": 6})
    assert _mark(outbox, "a").first_kept_seq == 6
    outbox.close()


def test_zero_keeps_nothing_acked(tmp_path: Path) -> None:
    outbox = _open(tmp_path, keep=Retention(bytes=0))
    _emit(outbox, "a", 3)
    outbox.ack({"a": 2})
    mark = _mark(outbox, "a")
    assert (mark.first_kept_seq, mark.last_relay_seq) == (3, 3)
    outbox.ack({"a": 3})
    assert _mark(outbox, "a").first_kept_seq == 4  # none kept: last + 1
    outbox.close()


def test_a_server_behind_the_relay_gets_the_kept_events_again(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    _emit(outbox, "a", 6)
    _emit(outbox, "b", 2)
    outbox.ack({"a": 6, "b": 2})
    outbox.reconcile({"a": 3, "b": 2})
    assert _unacked(outbox) == [("a", 4), ("a", 5), ("a", 6)]
    outbox.ack({"a": 6})
    assert _unacked(outbox) == []
    outbox.close()


def test_the_committed_answer_also_acks_what_the_server_holds(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    _emit(outbox, "a", 5)
    outbox.reconcile({"a": 3})  # committed, but the ack was lost with the connection
    assert _unacked(outbox) == [("a", 4), ("a", 5)]
    outbox.close()


def test_a_relay_whose_outbox_lost_its_end_numbers_above_the_server(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    _emit(outbox, "a", 3)
    outbox.close()
    # restarted on a disk that lost relay_seq 4..10: the server committed up to 10
    outbox = _open(tmp_path)
    _emit(outbox, "a", 2)  # numbered 4, 5 before the server's answer: they repeat its numbers
    assert _mark(outbox, "a").last_relay_seq == 5
    outbox.reconcile({"a": 10})
    assert _unacked(outbox) == [("a", 11), ("a", 12)]
    assert outbox.append("a", m.TerminalOutput(data=b"y")) == 13
    outbox.flush()
    assert _mark(outbox, "a").last_relay_seq == 13
    # a later answer never renumbers again: these rows are this process's own
    outbox.reconcile({"a": 12})
    assert _unacked(outbox) == [("a", 13)]
    outbox.close()
    outbox = _open(tmp_path)
    assert _mark(outbox, "a").last_relay_seq == 13  # persisted
    assert outbox.append("a", m.TerminalOutput(data=b"z")) == 14
    outbox.close()


def test_a_server_ahead_with_nothing_new_only_moves_the_numbering(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    _emit(outbox, "a", 3)
    outbox.reconcile({"a": 8})
    assert _unacked(outbox) == []  # rows 1..3 are the server's already
    assert outbox.append("a", m.TerminalOutput(data=b"y")) == 9
    outbox.close()


def test_marks_cover_live_kept_and_recently_ended_sessions(tmp_path: Path) -> None:
    clock = Clock()
    keep = Retention(bytes=0, seconds=100)
    outbox = _open(tmp_path, keep=keep, clock=clock)
    _emit(outbox, "live", 1)
    _emit(outbox, "ended", 1)
    outbox.append("ended", m.SessionEnded(reason="exited"))
    _emit(outbox, "old", 1)
    outbox.append("old", m.SessionEnded(reason="exited"))
    outbox.flush()
    outbox.ack({"live": 1, "ended": 2, "old": 2})
    clock.now += 50
    outbox.close()
    outbox = _open(tmp_path, keep=keep, clock=clock)
    with sqlite3.connect(tmp_path / "state" / OUTBOX_FILE) as conn:
        conn.execute("UPDATE relay_sessions SET ended_at = ? WHERE session_id = 'old'", (0,))
    marks = {k.session_id: k for k in outbox.marks()}
    assert set(marks) == {"live", "ended"}
    assert (marks["ended"].live, marks["ended"].first_kept_seq, marks["ended"].last_relay_seq) == (
        False,
        3,
        2,
    )
    outbox.close()


def test_an_outbox_of_schema_2_keeps_its_rows_unacked(tmp_path: Path) -> None:
    state = _state(tmp_path)
    with sqlite3.connect(state / OUTBOX_FILE) as conn:
        conn.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,"
            " relay_seq INTEGER NOT NULL, payload BLOB NOT NULL, UNIQUE (session_id, relay_seq));"
            "CREATE TABLE relay_sessions (session_id TEXT PRIMARY KEY,"
            " last_relay_seq INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, agent TEXT NOT NULL"
            " DEFAULT '', workspace TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,"
            " ended_at REAL, start BLOB NOT NULL DEFAULT '', resume TEXT NOT NULL DEFAULT '');"
            "PRAGMA user_version=2;"
        )
        event = m.RelayEvent(session_id="a", relay_seq=1, ts=1.0, event=m.TerminalOutput(data=b""))
        conn.execute(
            "INSERT INTO outbox (session_id, relay_seq, payload) VALUES ('a', 1, ?)",
            (msgspec.json.encode(event),),
        )
        conn.execute(
            "INSERT INTO relay_sessions VALUES ('a', 1, 'live', 'pty', 'w', 1, NULL, '', '')"
        )
    outbox = Outbox.open(state)
    assert _unacked(outbox) == [("a", 1)]
    assert outbox.append("a", m.TerminalOutput(data=b"y")) == 2
    outbox.close()


def _state(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir(exist_ok=True)
    return tmp_path / "state"
