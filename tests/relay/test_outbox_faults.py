"""The outbox when its disk refuses writes: producers pause, one line each way, nothing lost.

A full disk is made with SQLite's own `max_page_count`: past it every write fails with
SQLITE_FULL ("database or disk is full"), exactly as on a full file system.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import msgspec
import pytest

from protocol import messages as m
from protocol.codes import ErrorCode
from relay.errors import CommandError, OutboxCorruptError, OutboxError
from relay.outbox import Outbox
from tests.harness import wait_until_async

_decode = msgspec.json.Decoder(m.RelayEvent).decode
CANNOT_WRITE = "outbox: cannot write (disk full): agent output paused"


def _fill(outbox: Outbox) -> None:
    """Let the database grow no more: the next write that needs a page fails."""
    conn = outbox._conn  # the test's one way to make SQLite report a full disk
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count={pages}")


def _free(outbox: Outbox) -> None:
    outbox._conn.execute("PRAGMA max_page_count=1073741823")


def _texts(outbox: Outbox) -> list[bytes]:
    rows = outbox.read_batch(0, max_events=100_000, max_bytes=1 << 30)
    out = []
    for row in rows:
        event = _decode(row.payload).event
        assert isinstance(event, m.TerminalOutput)
        out.append(event.data)
    return out


def test_a_full_disk_pauses_producers_keeps_events_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    asyncio.run(_pause_and_resume(tmp_path, caplog))


async def _pause_and_resume(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox.open(tmp_path)
    outbox.open_session("s", agent="pty", workspace="w")
    _fill(outbox)
    sent = [f"line {n} ".encode() * 200 for n in range(400)]
    for data in sent[:200]:
        outbox.append("s", m.TerminalOutput(data=data))
    await wait_until_async(lambda: outbox.full, 5, "the outbox to say full")
    for data in sent[200:]:  # what a producer read before it saw `full`
        outbox.append("s", m.TerminalOutput(data=data))
    await asyncio.sleep(0.5)  # several retries fail meanwhile
    assert outbox.full
    assert caplog.text.count(CANNOT_WRITE) == 1

    _free(outbox)
    await wait_until_async(lambda: not outbox.full, 10, "the outbox to write again")
    assert caplog.text.count("outbox: writing again") == 1
    assert _texts(outbox) == sent
    outbox.close()


def test_acks_that_cannot_be_written_are_held_and_written_later(tmp_path: Path) -> None:
    asyncio.run(_held_acks(tmp_path))


async def _held_acks(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path)
    outbox.open_session("s", agent="pty", workspace="w")
    for n in range(10):
        outbox.append("s", m.TerminalOutput(data=f"{n}".encode()))
    outbox.flush()
    outbox._conn.execute("PRAGMA busy_timeout=50")  # give up on a lock at once
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    assert outbox.ack({"s": 4}) == 0  # not written: held in memory
    assert outbox.full  # and the producers pause
    assert len(_texts(outbox)) == 10  # the acked rows are still there, to be resent
    other.execute("ROLLBACK")
    other.close()
    await wait_until_async(lambda: not outbox.full, 10, "the held ack to be written")
    assert _texts(outbox) == [f"{n}".encode() for n in range(4, 10)]
    outbox.close()


def test_a_damaged_file_raises_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "outbox.sqlite3").write_bytes(b"this is not a database" * 1000)
    with pytest.raises(OutboxCorruptError) as caught:
        Outbox.open(tmp_path)
    message = str(caught.value)
    assert "outbox.sqlite3" in message and "move it aside" in message and "lost" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_session_the_outbox_cannot_record_is_refused(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path)
    outbox._conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(CommandError) as caught:
            outbox.open_session("s", agent="pty", workspace="w")
        outbox.set_resume("s", "conversation")  # bookkeeping: logged, not raised
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert caught.value.code == ErrorCode.STORAGE_BUSY
    assert "cannot write its outbox" in caught.value.message
    outbox.open_session("s", agent="pty", workspace="w")
    outbox.close()


def test_a_handshake_the_disk_refuses_changes_nothing_until_it_is_written(
    tmp_path: Path,
) -> None:
    """The server's marks are applied to memory only once the database took them: a refused
    write leaves the outbox as it was, and the next handshake applies them whole."""
    outbox = Outbox.open(tmp_path)
    outbox.open_session("s", agent="pty", workspace="w")
    for n in range(3):
        outbox.append("s", m.TerminalOutput(data=f"{n}".encode()))
    outbox.flush()
    outbox.ack({"s": 3})
    outbox.close()
    outbox = Outbox.open(tmp_path)  # a restarted relay: the server's first answer is awaited
    before = (outbox._pending_bytes, set(outbox._unconfirmed))
    assert before[1] == {"s"}
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    outbox._conn.execute("PRAGMA busy_timeout=50")
    with pytest.raises(OutboxError):
        outbox.reconcile({"s": 1})  # the server lost relay_seq 2 and 3
    assert (outbox._pending_bytes, set(outbox._unconfirmed)) == before
    other.execute("ROLLBACK")
    outbox.reconcile({"s": 1})
    assert [row.relay_seq for row in outbox.read_batch(0, max_events=10, max_bytes=1 << 20)] == [
        2,
        3,
    ]
    assert "s" not in outbox._unconfirmed
    outbox.close()
    other.close()
