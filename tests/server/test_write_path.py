"""The write path: when a relay's frames are committed, when the WAL is checkpointed, and that
the event log's reads find the same chunks along the primary key as they did by index."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from protocol import messages as m
from server.http import group_commit
from server.http.group_commit import GROUP_COMMIT_MAX_S, GroupCommit, Queued
from server.store import checkpoints
from server.store.checkpoints import (
    IDLE_CHECKPOINT_S,
    QUIET_S,
    WAL_CHECKPOINT_BYTES,
    WAL_FORCE_BYTES,
    checkpoint_due,
)
from server.store.db import PAGE_SIZE, Database
from server.store.events_store import EventsStore
from tests.harness import wait_until_async

PAGE = 4096


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _frame(session_ids: list[str], size: int) -> tuple[m.Events, int]:
    events = [
        m.RelayEvent(session_id=sid, relay_seq=1, ts=0.0, event=m.TerminalOutput(data=b"x"))
        for sid in session_ids
    ]
    return m.Events(events=events), size


# --------------------------------------------------------------------------- grouping rule


def _one_session_worth() -> int:
    """Bytes that justify a commit of one session at once."""
    pages = group_commit.PAGES_PER_SESSION + group_commit.OVERHEAD_PAGES
    return math.ceil(group_commit.FILL * pages * PAGE)


def _streaming(gap_s: float) -> tuple[FakeClock, GroupCommit]:
    """A rule that has just committed, fed frames `gap_s` apart."""
    clock = FakeClock()
    rule = GroupCommit(PAGE, clock)
    rule.arrived()
    rule.committed()
    clock.now += gap_s
    rule.arrived()
    return clock, rule


def test_a_burst_commits_at_once_even_amid_a_stream() -> None:
    _, rule = _streaming(0.005)
    assert rule.wait_s(_one_session_worth(), 1) == 0.0
    assert rule.wait_s(_one_session_worth() - 1, 1) > 0.0


def test_a_lone_line_after_a_quiet_spell_commits_at_once() -> None:
    clock = FakeClock()
    rule = GroupCommit(PAGE, clock)
    rule.arrived()
    assert rule.wait_s(100, 1) == 0.0  # nothing came before
    _, rule = _streaming(60.0)
    assert rule.wait_s(100, 1) == 0.0


def test_keystrokes_are_never_held() -> None:
    _, rule = _streaming(group_commit.PAUSE_S * 1.5)  # fast typing: 13 keys a second
    assert rule.wait_s(10, 1) == 0.0


def test_a_steady_trickle_waits_for_company_at_most_the_window() -> None:
    clock, rule = _streaming(0.005)
    for _ in range(200):  # it keeps coming: the window since the last commit bounds the wait
        clock.now += 0.005
        rule.arrived()
        wait = rule.wait_s(100, 1)
        assert wait <= GROUP_COMMIT_MAX_S
        if wait == 0.0:
            break
    assert clock.now - 1000.0 == pytest.approx(GROUP_COMMIT_MAX_S, abs=0.006)


def test_the_end_of_a_stream_waits_only_for_a_pause() -> None:
    for gap in (0.0, 0.004):  # frames read together, or a few milliseconds apart
        clock, rule = _streaming(gap)
        assert rule.wait_s(100, 1) == pytest.approx(group_commit.PAUSE_S)
        clock.now += group_commit.PAUSE_S + 1e-9
        assert rule.wait_s(100, 1) == 0.0


def test_more_sessions_need_more_bytes_for_a_commit_at_once() -> None:
    clock, rule = _streaming(0.005)
    assert rule.wait_s(_one_session_worth(), 1) == 0.0
    assert rule.wait_s(_one_session_worth(), 20) > 0.0
    big_pages = GroupCommit(8 * PAGE, clock)
    big_pages.arrived()
    big_pages.committed()
    clock.now += 0.005
    big_pages.arrived()
    assert big_pages.wait_s(_one_session_worth(), 1) > 0.0


def test_gather_takes_the_frames_that_arrive_while_it_waits() -> None:
    async def run() -> tuple[list[m.RelayEvent] | None, float]:
        queue: asyncio.Queue[Queued] = asyncio.Queue()
        rule = GroupCommit(PAGE)
        queue.put_nowait(_frame(["a"], 10))
        assert await rule.gather(queue) is not None  # the first commit goes at once
        queue.put_nowait(_frame(["a"], 10))  # right after it: a stream
        loop = asyncio.get_running_loop()
        gap = group_commit.PAUSE_S / 4
        for i in range(1, 4):
            loop.call_later(gap * i, queue.put_nowait, _frame(["b"], 10))
        start = time.monotonic()
        events = await rule.gather(queue)
        return events, time.monotonic() - start

    events, waited = asyncio.run(run())
    assert events is not None
    assert [e.session_id for e in events] == ["a", "b", "b", "b"]
    assert waited >= 3 * group_commit.PAUSE_S / 4


def test_gather_commits_a_burst_without_waiting() -> None:
    async def run() -> list[m.RelayEvent] | None:
        queue: asyncio.Queue[Queued] = asyncio.Queue()
        rule = GroupCommit(PAGE)
        queue.put_nowait(_frame(["a"], 10))
        await rule.gather(queue)
        queue.put_nowait(_frame(["a"], 200_000))  # right after it, but big
        async with asyncio.timeout(GROUP_COMMIT_MAX_S / 2):
            return await rule.gather(queue)

    assert asyncio.run(run()) is not None


def test_gather_leaves_what_it_holds_unacked_when_the_connection_ends() -> None:
    async def run() -> tuple[list[m.RelayEvent] | None, Queued]:
        queue: asyncio.Queue[Queued] = asyncio.Queue()
        rule = GroupCommit(PAGE)
        queue.put_nowait(_frame(["a"], 10))
        await rule.gather(queue)
        queue.put_nowait(_frame(["a"], 10))
        asyncio.get_running_loop().call_later(0.001, queue.put_nowait, None)
        return await rule.gather(queue), queue.get_nowait()

    assert asyncio.run(run()) == (None, None)


# --------------------------------------------------------------------------- checkpoint policy


def test_checkpoints_go_by_wal_size_and_wait_for_a_pause_in_writes() -> None:
    assert not checkpoint_due(WAL_CHECKPOINT_BYTES - 1, idle_s=QUIET_S)
    assert not checkpoint_due(WAL_CHECKPOINT_BYTES, idle_s=0.0)  # in the middle of a burst
    assert checkpoint_due(WAL_CHECKPOINT_BYTES, idle_s=QUIET_S)
    assert checkpoint_due(WAL_FORCE_BYTES, idle_s=0.0)  # a burst that goes on and on


def test_a_quiet_wal_is_checkpointed_whatever_its_size() -> None:
    assert not checkpoint_due(4096, idle_s=IDLE_CHECKPOINT_S / 2)
    assert checkpoint_due(4096, idle_s=IDLE_CHECKPOINT_S)
    assert not checkpoint_due(0, idle_s=IDLE_CHECKPOINT_S * 10)


def test_what_the_wal_holds_is_read_from_its_index(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x BLOB)")
    for _ in range(20):
        conn.execute("INSERT INTO t VALUES (randomblob(3000))")
    index = checkpoints.WalIndex(path, PAGE)
    wal_header = 32
    assert index.pending() == _wal(path) - wal_header > 20 * 3000
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    assert index.pending() == 0
    conn.execute("INSERT INTO t VALUES (randomblob(3000))")
    assert 0 < index.pending() <= 4 * (PAGE + 24)  # a few pages, not the WAL
    conn.close()
    index.close()


# SQLite's "DMS" byte in the -shm file (src/os_unix.c: UNIX_SHM_BASE + SQLITE_SHM_NLOCK): every
# process with the database open holds a shared lock on it; one that gets it exclusively thinks
# itself the first, truncates the -shm and rebuilds the index under the others.
_TRY_DMS_EXCLUSIVE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
except OSError:
    sys.exit(3)
"""


def test_reading_the_wal_index_keeps_sqlites_locks(tmp_path: Path) -> None:
    """Another process opening the database (a backup, the sqlite3 shell) must see this one."""
    path = tmp_path / "tether.sqlite3"

    async def run() -> int:
        db = await Database.open(path)
        try:
            for n in range(3):
                await db.write_one(
                    "INSERT INTO relays (id, name, token_hash, created_at) VALUES (?1, ?1, ?1, 0)",
                    (f"r{n}",),
                )
                assert db.checkpointer.pending() > 0
            other = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _TRY_DMS_EXCLUSIVE, f"{path}-shm"
            )
            return await asyncio.wait_for(other.wait(), 30)
        finally:
            await db.close()

    assert asyncio.run(run()) == 3, "another process could take the -shm for its own"


async def _write_steadily(db: Database, stop: asyncio.Event) -> None:
    """Small commits back to back, as a trickle makes them: the writer never pauses."""
    n = 0
    while not stop.is_set():
        n += 1
        await db.write_one(
            "INSERT INTO relays (id, name, token_hash, created_at, info) VALUES (?, ?, ?, ?, ?)",
            (f"r{n}", f"relay {n}", f"hash {n}", 0.0, b"x" * 2000),
        )
        await asyncio.sleep(0.001)


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _watch_wal(path: Path, every_s: float) -> tuple[int, int, int]:
    """Write steadily until the checkpointer has emptied the WAL three times; returns the
    WAL's peak size seen (sampled every `every_s`), the checkpoints made and the page size."""

    async def run() -> tuple[int, int, int]:
        db = await Database.open(path)
        stop = asyncio.Event()
        writer = asyncio.create_task(_write_steadily(db, stop))
        peak = 0
        try:
            while db.checkpointer.checkpoints < 3:
                peak = max(peak, _wal(path))
                await asyncio.sleep(every_s)
                assert not writer.done()
            return peak, db.checkpointer.checkpoints, db.page_size
        finally:
            stop.set()
            await writer
            await db.close()

    return asyncio.run(asyncio.wait_for(run(), 30))


def test_the_wal_is_emptied_under_continuous_writes_and_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    force = 512 << 10
    monkeypatch.setattr(checkpoints, "WAL_CHECKPOINT_BYTES", force // 2)
    monkeypatch.setattr(checkpoints, "WAL_FORCE_BYTES", force)
    peak, done, page_size = _watch_wal(tmp_path / "tether.sqlite3", 0.005)
    assert page_size == PAGE_SIZE
    assert done >= 3  # the writer never paused, and the WAL was still emptied
    # the size is looked at every CHECK_INTERVAL_S: it may grow by that much of writing past it
    assert peak < force + (4 << 20)


def test_writes_wait_for_the_checkpointer_at_the_hard_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = 512 << 10
    monkeypatch.setattr(checkpoints, "WAL_CHECKPOINT_BYTES", 1 << 40)  # never by size alone
    monkeypatch.setattr(checkpoints, "WAL_FULL_BYTES", full)
    peak, done, _ = _watch_wal(tmp_path / "tether.sqlite3", 0.002)
    assert done >= 3
    assert peak <= full + 4 * (PAGE + 24)  # the write that crossed it, and no more


def test_a_reader_holds_the_wal_back_only_while_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "WAL_CHECKPOINT_BYTES", 64 << 10)
    path = tmp_path / "tether.sqlite3"

    async def run() -> None:
        db = await Database.open(path)
        reader = sqlite3.connect(path, isolation_level=None)
        stop = asyncio.Event()
        writer = asyncio.create_task(_write_steadily(db, stop))
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM relays").fetchone()  # a snapshot, held
            await wait_until_async(lambda: _wal(path) > 512 << 10, 20, "the WAL to grow")
            assert not writer.done()
            assert db.checkpointer.busy_resets == 0  # writes were never held for that reader
            reader.execute("COMMIT")
            stop.set()
            await writer
            await wait_until_async(
                lambda: db.checkpointer.pending() == 0, 20, "the WAL to be copied and started over"
            )
        finally:
            stop.set()
            reader.close()
            await db.close()

    asyncio.run(run())


# --------------------------------------------------------------------------- reads


def test_chunks_after_any_seq_along_the_primary_key(tmp_path: Path) -> None:
    async def run() -> dict[int, list[tuple[int, int]]]:
        db = await Database.open(tmp_path / "tether.sqlite3")
        try:
            await db.write_one(
                "INSERT INTO relays (id, name, token_hash, created_at) VALUES ('r', 'r', 'h', 0)",
                (),
            )
            for sid in ("s", "t"):
                await db.write_one(
                    "INSERT INTO sessions (id, relay_id, epoch, created_at, last_activity_at) "
                    "VALUES (?, 'r', 'e', 0, 0)",
                    (sid,),
                )
            store = EventsStore(db)
            spans = [(1, 1), (2, 5), (6, 6), (7, 10)]
            for sid in ("s", "t"):
                rows = [(sid, a, b, a, b, 0.0, b"{}") for a, b in spans]
                await store.append(rows, [])
            return {
                after: [(c.first_seq, c.last_seq) for c in await store.chunks("s", after, 10)]
                for after in (0, 1, 3, 5, 6, 9, 10, 11)
            }
        finally:
            await db.close()

    found = asyncio.run(run())
    assert found == {
        0: [(1, 1), (2, 5), (6, 6), (7, 10)],
        1: [(2, 5), (6, 6), (7, 10)],
        3: [(2, 5), (6, 6), (7, 10)],
        5: [(6, 6), (7, 10)],
        6: [(7, 10)],
        9: [(7, 10)],
        10: [],
        11: [],
    }
