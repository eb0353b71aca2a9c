"""Storage that goes back in time, against real processes: a server restored from a backup taken
mid-stream, a relay whose outbox lost its end. Nothing within the relay's retention window is
lost, what is beyond it shows as one `events_lost` event with the exact range, numbering never
goes backwards, and neither leaves a reconnect loop."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from protocol import messages as m
from tests.e2e.server_log import assert_log_is_exactly, committed, wait_ended
from tests.harness import Stack, running, ticker, wait_until

LINES = 4000
INTERVAL_S = 0.003  # 12 s of output: the backup, the kill and the restart all fall inside it
QUIET_S = 3.0  # after recovery, the relay is watched this long for another connection


def _backup(source: Path, target: Path) -> None:
    """sqlite3's online backup of a live database, as an operator's backup tool takes it."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _put_back(copy: Path, live: Path) -> None:
    """Replace a database (and its WAL) by an earlier copy."""
    for suffix in ("-wal", "-shm"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, live)


def _last_relay_seq(database: Path, session_id: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (seq,) = conn.execute(
            "SELECT last_relay_seq FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    return int(seq)


def _outbox_last_relay_seq(outbox: Path, session_id: str) -> int:
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as conn:
        (seq,) = conn.execute(
            "SELECT last_relay_seq FROM relay_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
    return int(seq)


def _server_seq(stack: Stack, session_id: str) -> int:
    return int(stack.server.get(f"/api/sessions/{session_id}")["last_seq"])


def _connections(stack: Stack) -> int:
    return stack.relay.log().count("INFO relay.link: connected to ")


def _assert_one_connection_after_recovery(stack: Stack, before: int) -> None:
    wait_until(lambda: _connections(stack) > before, 30, "the relay to reconnect")
    settled = _connections(stack)
    time.sleep(QUIET_S)  # watching for a loop: nothing to wait for, the count must not move
    assert _connections(stack) == settled == before + 1, "the relay reconnects in a loop"


def _restore_server_mid_stream(stack: Stack, tmp_path: Path) -> tuple[str, int]:
    """Stream, back the server up, stream on (acked), kill -9 it, restore, restart.
    Returns the session and the relay_seq the backup holds."""
    session_id = stack.start_session(ticker(LINES, INTERVAL_S))
    database = stack.server.data_dir / "tether.sqlite3"
    wait_until(lambda: _server_seq(stack, session_id) > 300, 30, "events before the backup")
    backup = tmp_path / "backup.sqlite3"
    _backup(database, backup)
    in_backup = _last_relay_seq(backup, session_id)
    wait_until(
        lambda: _server_seq(stack, session_id) > in_backup + 500, 30, "events after the backup"
    )
    stack.server.kill9()
    connections = _connections(stack)
    _put_back(backup, database)
    stack.server.start()
    _assert_one_connection_after_recovery(stack, connections)
    return session_id, in_backup


def test_a_server_restored_from_a_backup_gets_every_event_again(
    stack: Stack, tmp_path: Path
) -> None:
    session_id, _ = _restore_server_mid_stream(stack, tmp_path)
    wait_ended(stack, session_id, 60)
    assert_log_is_exactly(stack, session_id, LINES)  # each line once, in order


def test_beyond_the_relays_window_the_loss_is_one_gap_event_with_the_exact_range(
    tmp_path: Path,
) -> None:
    tiny = {"TETHER_RELAY_KEEP_ACKED_BYTES": "1"}  # the relay keeps nothing once acked
    with running(Stack(tmp_path, relay_env=tiny)) as stack:
        session_id, in_backup = _restore_server_mid_stream(stack, tmp_path)
        wait_ended(stack, session_id, 60)
        rows = committed(stack, session_id)
    gaps = [(seq, relay_seq, e) for seq, relay_seq, e in rows if isinstance(e, m.EventsLost)]
    assert len(gaps) == 1, gaps
    gap_seq, gap_relay_seq, gap = gaps[0]
    assert gap.first_relay_seq == in_backup + 1
    assert gap.last_relay_seq == gap_relay_seq > gap.first_relay_seq
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "seq has a gap or a repeat"
    # before the gap everything the backup held; after it everything the relay still had
    assert [r[1] for r in rows] == [
        *range(1, in_backup + 1),
        *range(gap_relay_seq, rows[-1][1] + 1),
    ]
    assert gap_seq == in_backup + 1
    last = rows[-1][2]
    assert isinstance(last, m.SessionEnded) and last.reason != "relay_restarted"
    with sqlite3.connect(tmp_path / "server" / "tether.sqlite3") as conn:
        audited = conn.execute("SELECT details FROM audit_log WHERE action = 'events_lost'")
        assert len(audited.fetchall()) == 1


def test_a_relay_whose_outbox_lost_its_end_numbers_above_the_server(
    stack: Stack, tmp_path: Path
) -> None:
    session_id = stack.start_session(ticker(LINES, INTERVAL_S))
    outbox = stack.relay.state_dir / "outbox.sqlite3"
    wait_until(lambda: _server_seq(stack, session_id) > 300, 30, "events before the copy")
    copy = tmp_path / "outbox-copy.sqlite3"
    _backup(outbox, copy)
    wait_until(lambda: _server_seq(stack, session_id) > 1000, 30, "events after the copy")
    stack.relay.kill9()
    held = _last_relay_seq(stack.server.data_dir / "tether.sqlite3", session_id)
    connections = _connections(stack)
    _put_back(copy, outbox)
    stack.relay.start()
    _assert_one_connection_after_recovery(stack, connections)
    wait_ended(stack, session_id, 30)
    rows = committed(stack, session_id)
    # frames in flight when the relay died may have been committed after `held` was read
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
    end_seq, last = rows[-1][1], rows[-1][2]
    assert isinstance(last, m.SessionEnded) and last.reason == "relay_restarted"
    copied = _outbox_last_relay_seq(copy, session_id)
    assert end_seq > held > copied  # numbered above the server's mark, not after the copy's


pytestmark = pytest.mark.timeout(300)
