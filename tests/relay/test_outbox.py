"""The outbox: gap-free numbering, acks, batching limits, and surviving restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from protocol import messages as m
from relay.outbox import MAX_EVENT_BYTES, Outbox
from tests.harness import wait_until_async

_decode = msgspec.json.Decoder(m.RelayEvent).decode


def _output(text: str) -> m.TerminalOutput:
    return m.TerminalOutput(data=text.encode())


def _open(tmp_path: Path, **kwargs: object) -> Outbox:
    (tmp_path / "state").mkdir(exist_ok=True)
    return Outbox.open(tmp_path / "state", **kwargs)  # type: ignore[arg-type]


def _all_rows(outbox: Outbox) -> list[m.RelayEvent]:
    rows = outbox.read_batch(0, max_events=10_000, max_bytes=1 << 30)
    return [_decode(r.payload) for r in rows]


def test_relay_seq_has_no_gaps_per_session_across_a_reopen(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    outbox.open_session("b", agent="pty", workspace="work")
    assert [outbox.append("a", _output("x")) for _ in range(3)] == [1, 2, 3]
    assert outbox.append("b", _output("y")) == 1
    outbox.close()

    outbox = _open(tmp_path)
    assert outbox.append("a", _output("z")) == 4
    assert outbox.append("b", _output("z")) == 2
    outbox.flush()
    events = _all_rows(outbox)
    assert [(e.session_id, e.relay_seq) for e in events] == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 1),
        ("a", 4),
        ("b", 2),
    ]
    assert all(e.ts > 0 for e in events)
    outbox.close()


def test_events_of_one_loop_turn_are_written_together_and_wake_listeners(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = _open(tmp_path)
        outbox.open_session("a", agent="pty", workspace="work")
        wakes: list[int] = []
        outbox.add_listener(lambda: wakes.append(outbox.pending_count()))
        for i in range(50):
            outbox.append("a", _output(str(i)))
        assert outbox.read_batch(0, max_events=100, max_bytes=1 << 20) == []  # not yet written
        await wait_until_async(lambda: bool(wakes), 5, "the write")
        assert wakes == [50]  # one transaction, one wake-up
        assert len(outbox.read_batch(0, max_events=100, max_bytes=1 << 20)) == 50
        outbox.close()

    asyncio.run(scenario())


def test_ack_deletes_events_up_to_the_acked_seq_only(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    for sid in ("a", "b"):
        outbox.open_session(sid, agent="pty", workspace="work")
        for _ in range(4):
            outbox.append(sid, _output(sid))
    assert outbox.ack({"a": 3, "b": 1, "unknown": 9}) == 4
    left = [(e.session_id, e.relay_seq) for e in _all_rows(outbox)]
    assert left == [("a", 4), ("b", 2), ("b", 3), ("b", 4)]
    assert outbox.ack({"a": 3}) == 0  # a repeated ack is harmless
    outbox.close()


def test_ids_keep_growing_after_an_ack_empties_the_outbox(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    outbox.append("a", _output("x"))
    outbox.append("a", _output("y"))
    last_sent = outbox.read_batch(0, max_events=10, max_bytes=1 << 20)[-1].id
    outbox.ack({"a": 2})
    outbox.append("a", _output("z"))
    (row,) = outbox.read_batch(last_sent, max_events=10, max_bytes=1 << 20)
    assert row.relay_seq == 3  # still after the link's cursor
    outbox.close()


def test_batches_respect_event_and_byte_limits_but_never_split_an_event(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    for _ in range(10):
        outbox.append("a", _output("x" * 1000))
    three = sum(len(r.payload) for r in outbox.read_batch(0, max_events=3, max_bytes=1 << 20))

    assert len(outbox.read_batch(0, max_events=4, max_bytes=1 << 20)) == 4
    assert len(outbox.read_batch(0, max_events=100, max_bytes=three)) == 3
    assert len(outbox.read_batch(0, max_events=100, max_bytes=three - 1)) == 2
    assert len(outbox.read_batch(0, max_events=100, max_bytes=1)) == 1  # one event, whatever size
    batch = outbox.read_batch(0, max_events=3, max_bytes=1 << 20)
    rest = outbox.read_batch(batch[-1].id, max_events=100, max_bytes=1 << 20)
    assert [r.relay_seq for r in batch + rest] == list(range(1, 11))
    outbox.close()


def test_unacked_events_survive_a_reopen_and_are_read_from_the_start(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    for i in range(5):
        outbox.append("a", _output(str(i)))
    outbox.ack({"a": 2})
    outbox.close()

    outbox = _open(tmp_path)
    assert [e.relay_seq for e in _all_rows(outbox)] == [3, 4, 5]
    assert outbox.pending_count() == 3
    outbox.close()


def test_restart_ends_sessions_left_live_with_relay_restarted(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("live", agent="pty", workspace="work")
    outbox.open_session("done", agent="pty", workspace="work")
    outbox.append("live", _output("hi"))
    outbox.append("done", m.SessionEnded(exit_code=0, reason="exited"))
    outbox.close()

    outbox = _open(tmp_path)
    assert outbox.live_sessions() == ["live"]
    outbox.end_sessions(["live"], reason="relay_restarted")
    last = _all_rows(outbox)[-1]
    assert (last.session_id, last.relay_seq) == ("live", 2)
    assert last.event == m.SessionEnded(reason="relay_restarted")
    assert outbox.session_state("live") == "ended"
    assert outbox.append("live", _output("late")) is None  # nothing after the end
    outbox.close()

    outbox = _open(tmp_path)
    assert outbox.live_sessions() == []  # the end was persisted
    outbox.close()


def test_raw_over_the_limit_is_replaced_by_a_marker(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    outbox.append("a", m.Message(text="small", raw={"k": "v"}))
    outbox.append("a", m.Message(text="big", raw={"k": "v" * m.MAX_RAW_BYTES}))
    small, big = (e.event for e in _all_rows(outbox))
    assert small.raw == {"k": "v"}
    assert big.raw["truncated"] is True
    assert big.raw["bytes"] > m.MAX_RAW_BYTES
    assert isinstance(big, m.Message) and big.text == "big"
    outbox.close()


def test_an_event_too_big_for_a_frame_becomes_an_error_event(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    outbox.open_session("a", agent="pty", workspace="work")
    outbox.append("a", m.Message(text="x" * MAX_EVENT_BYTES))
    (event,) = _all_rows(outbox)
    assert isinstance(event.event, m.Error)
    assert event.event.code == "event_too_large"
    assert event.relay_seq == 1
    outbox.close()


def test_drop_session_deletes_its_events_and_refuses_more(tmp_path: Path) -> None:
    outbox = _open(tmp_path)
    for sid in ("mine", "theirs"):
        outbox.open_session(sid, agent="pty", workspace="work")
        outbox.append(sid, _output(sid))
    outbox.drop_session("theirs")
    assert outbox.append("theirs", _output("more")) is None
    assert [e.session_id for e in _all_rows(outbox)] == ["mine"]
    outbox.close()
    outbox = _open(tmp_path)
    assert outbox.live_sessions() == ["mine"]
    outbox.close()


def test_full_outbox_signals_backpressure_until_acks_free_space(tmp_path: Path) -> None:
    outbox = _open(tmp_path, max_bytes=10_000)
    outbox.open_session("a", agent="pty", workspace="work")
    while not outbox.full:
        outbox.append("a", _output("x" * 500))
    outbox.close()
    outbox = _open(tmp_path, max_bytes=10_000)  # the count of pending bytes is restored
    assert outbox.full
    outbox.ack({"a": 10_000})
    assert not outbox.full
    outbox.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from relay.errors import OutboxError

    (tmp_path / "state").mkdir()
    conn = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(OutboxError, match="newer relay"):
        _open(tmp_path)
