"""The handshake's comparison of marks (server/domain/reconcile.py) on a real database, and
the audit of relay connections, rate-limited so a reconnect loop cannot fill the log."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from protocol import messages as m
from server.domain.audit import Audit
from server.domain.events import EventLog
from server.domain.fanout import Hub
from server.domain.reconcile import reconcile
from server.domain.records import RelayRecord
from server.domain.relays import AUDITED_CONNECTS_PER_RELAY, Relays
from server.domain.ring import Rings
from server.store.audit_store import AuditStore
from server.store.db import Database
from server.store.relays_store import RelaysStore

_decode = msgspec.json.Decoder(list[m.LoggedEvent]).decode
Scenario = Callable[[EventLog, Audit, Database], Awaitable[None]]


def _run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        db = await Database.open(tmp_path / "tether.sqlite3")
        try:
            await RelaysStore(db).create("r1", "box", "hash1", time.time())
            await RelaysStore(db).create("r2", "other", "hash2", time.time())
            log = EventLog(db, Hub(), Rings(1000, 1 << 20, 10))
            await scenario(log, Audit(AuditStore(db, tmp_path / "audit.head")), db)
        finally:
            await db.close()

    asyncio.run(main())


def _events(n: int, first: int = 1, sid: str = "s1") -> list[m.RelayEvent]:
    return [
        m.RelayEvent(session_id=sid, relay_seq=seq, ts=1.0, event=m.TerminalOutput(data=b"x"))
        for seq in range(first, first + n)
    ]


def _mark(first_kept: int, last: int, *, live: bool = True, sid: str = "s1") -> m.SessionMark:
    return m.SessionMark(
        session_id=sid,
        agent="pty",
        workspace="work",
        first_kept_seq=first_kept,
        last_relay_seq=last,
        live=live,
    )


def _audited(tmp_path: Path, action: str) -> list[dict[str, object]]:
    with sqlite3.connect(tmp_path / "tether.sqlite3") as conn:
        rows = conn.execute("SELECT details FROM audit_log WHERE action = ?", (action,))
        return [json.loads(details) for (details,) in rows]


async def _logged(log: EventLog, sid: str = "s1") -> list[m.LoggedEvent]:
    chunks = await log.page(sid, 0, 1000)
    return [e for c in chunks for e in _decode(b"[" + c.body + b"]")]


async def _kinds(log: EventLog, sid: str = "s1") -> list[m.Event]:
    return [e.event for e in await _logged(log, sid)]


def test_a_server_behind_within_the_window_just_says_its_mark(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        await log.ingest("r1", _events(5))
        assert await reconcile(log, audit, "r1", [_mark(1, 9)]) == {"s1": 5}
        assert (await log.ingest("r1", _events(4, first=6))).acked == {"s1": 9}
        assert len(await _kinds(log)) == 9

    _run(tmp_path, scenario)
    assert _audited(tmp_path, "events_lost") == []


def test_what_the_relay_no_longer_keeps_becomes_one_audited_gap(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        await log.ingest("r1", _events(5))
        assert await reconcile(log, audit, "r1", [_mark(9, 12)]) == {"s1": 8}
        assert await reconcile(log, audit, "r1", [_mark(9, 12)]) == {"s1": 8}  # logged once
        assert (await log.ingest("r1", _events(4, first=9))).acked == {"s1": 12}
        events = await _kinds(log)
        assert len(events) == 5 + 1 + 4
        gap = events[5]
        assert isinstance(gap, m.EventsLost)
        assert (gap.first_relay_seq, gap.last_relay_seq) == (6, 8)
        record = await log.session("s1")
        assert record is not None and record.status != "ended" and record.last_seq == 10

    _run(tmp_path, scenario)
    (details,) = _audited(tmp_path, "events_lost")
    assert (details["first_relay_seq"], details["last_relay_seq"]) == (6, 8)


def test_a_session_whose_end_was_lost_is_ended_by_the_gap(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        await log.ingest("r1", _events(3))
        assert await reconcile(log, audit, "r1", [_mark(8, 7, live=False)]) == {"s1": 7}
        record = await log.session("s1")
        assert record is not None and record.status == "ended"
        (*_, gap) = await _kinds(log)
        assert isinstance(gap, m.EventsLost) and "ended" in gap.reason

    _run(tmp_path, scenario)


def test_a_session_the_server_lacks_is_created_from_the_mark(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        declared = frozenset({"work"})
        assert await reconcile(log, audit, "r1", [_mark(1, 4)], declared) == {"s1": 0}
        record = await log.session("s1")
        assert record is not None
        assert (record.relay_id, record.agent, record.workspace) == ("r1", "pty", "work")
        assert (await log.ingest("r1", _events(4))).acked == {"s1": 4}

    _run(tmp_path, scenario)


def test_another_relays_session_gets_no_mark(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        await log.ingest("r2", _events(2))
        assert await reconcile(log, audit, "r1", [_mark(5, 9)]) == {}
        assert len(await _kinds(log)) == 2

    _run(tmp_path, scenario)


def test_an_impossible_mark_changes_nothing(tmp_path: Path) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        await log.ingest("r1", _events(2))
        assert await reconcile(log, audit, "r1", [_mark(9, 4), _mark(0, 4)]) == {}
        assert len(await _kinds(log)) == 2

    _run(tmp_path, scenario)


def test_last_activity_is_the_servers_clock_and_a_future_one_is_corrected(
    tmp_path: Path,
) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        ahead = time.time() + 30 * 86400  # a relay clock a month ahead
        future = [
            m.RelayEvent(session_id="s1", relay_seq=1, ts=ahead, event=m.TerminalOutput(data=b""))
        ]
        before = time.time()
        await log.ingest("r1", future)
        record = await log.session("s1")
        assert record is not None and before <= record.last_activity_at <= time.time()
        assert record.created_at <= time.time()
        (event,) = await _logged(log)
        assert event.ts == ahead  # the event keeps the relay's own time

    _run(tmp_path, scenario)


def test_relay_connections_are_audited_at_most_ten_per_relay_in_ten_minutes(
    tmp_path: Path,
) -> None:
    async def scenario(log: EventLog, audit: Audit, db: Database) -> None:
        relays = Relays(RelaysStore(db), audit, 5.0)
        box = RelayRecord(id="r1", name="box", created_at=0.0)
        other = RelayRecord(id="r2", name="other", created_at=0.0)
        for _ in range(25):
            await relays.record_connected(box, "127.0.0.1")
        await relays.record_connected(other, "127.0.0.1")

    _run(tmp_path, scenario)
    assert len(_audited(tmp_path, "relay_connected")) == AUDITED_CONNECTS_PER_RELAY[0] + 1
