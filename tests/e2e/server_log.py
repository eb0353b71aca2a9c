"""What a server process committed, read from its database: for tests that check the log."""

from __future__ import annotations

import sqlite3

import msgspec

from protocol import messages as m
from tests.fakes.ticker import expected
from tests.harness import Stack, wait_until


def committed(stack: Stack, session_id: str) -> list[tuple[int, int, m.Event]]:
    """(seq, relay_seq, event) of every logged event, read from the server's database."""
    conn = sqlite3.connect(f"file:{stack.server.data_dir / 'tether.sqlite3'}?mode=ro", uri=True)
    try:
        chunks = conn.execute(
            "SELECT first_seq, last_seq, first_relay_seq, last_relay_seq, body "
            "FROM event_chunks WHERE session_id = ? ORDER BY first_seq",
            (session_id,),
        ).fetchall()
    finally:
        conn.close()
    out = []
    for first, last, first_relay, last_relay, body in chunks:
        events = msgspec.json.decode(b"[" + body + b"]", type=list[m.LoggedEvent])
        assert [e.seq for e in events] == list(range(first, last + 1)), "chunk bounds are wrong"
        # a chunk holds consecutive relay_seqs: the relay's numbering maps onto it one to one
        assert last_relay - first_relay == last - first, "relay_seq and seq disagree in a chunk"
        out += [(e.seq, first_relay + e.seq - first, e.event) for e in events]
    return out


def assert_log_is_exactly(stack: Stack, session_id: str, lines: int) -> int:
    rows = committed(stack, session_id)
    seqs = [r[0] for r in rows]
    relay_seqs = [r[1] for r in rows]
    assert seqs == list(range(1, len(rows) + 1)), "seq has a gap or a repeat"
    # relay_seq is assigned by the relay as it produces events: 1..n means none lost or repeated
    assert relay_seqs == list(range(1, len(rows) + 1)), "relay_seq has a gap or a repeat"
    outputs = [event for _, _, event in rows if isinstance(event, m.TerminalOutput)]
    assert b"".join(o.data for o in outputs).decode() == expected(lines)
    return len(rows)


def wait_ended(stack: Stack, session_id: str, timeout_s: float) -> None:
    wait_until(
        lambda: stack.server.get(f"/api/sessions/{session_id}")["status"] == "ended",
        timeout_s,
        "the session to end in the server's log",
    )
