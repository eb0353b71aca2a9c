"""Chunks, rings and live-frame trimming: the pieces resume correctness rests on."""

from __future__ import annotations

import msgspec

from protocol import messages as m
from server.domain import events as event_log
from server.domain.chunks import Chunk, frame, trimmed
from server.domain.fanout import Batch, Feed
from server.domain.ring import Rings


def _events(first: int, count: int, size: int = 10) -> list[m.LoggedEvent]:
    return [
        m.LoggedEvent(seq=s, ts=float(s), event=m.TerminalOutput(data=b"x" * size))
        for s in range(first, first + count)
    ]


def _seqs(data: bytes) -> list[int]:
    message = msgspec.json.decode(data, type=m.ServerToClient)
    assert isinstance(message, m.SessionEvents)
    return [e.seq for e in message.events]


def test_a_frame_of_chunks_decodes_as_session_events_in_order() -> None:
    chunks = [Chunk.of(_events(1, 3)), Chunk.of(_events(4, 2))]
    assert _seqs(frame("s", "e", chunks)) == [1, 2, 3, 4, 5]


def test_cutting_a_chunk_keeps_only_later_events() -> None:
    chunk = Chunk.of(_events(10, 5))
    assert chunk.after(9) is chunk
    assert chunk.after(14) is None
    cut = chunk.after(11)
    assert cut is not None and (cut.first_seq, cut.last_seq) == (12, 14)
    assert _seqs(frame("s", "e", [cut])) == [12, 13, 14]
    assert _seqs(frame("s", "e", [chunk.head(2)])) == [10, 11]
    assert [c.first_seq for c in trimmed([Chunk.of(_events(1, 2)), chunk], 10)] == [11]


def test_big_transactions_are_split_into_chunks_that_fit_a_frame() -> None:
    events = _events(1, 4000, size=500)
    chunks = event_log._chunks(events)
    assert len(chunks) > 1
    assert all(len(c.body) <= event_log.CHUNK_MAX_BYTES for c in chunks)
    assert [s for c in chunks for s in range(c.first_seq, c.last_seq + 1)] == list(range(1, 4001))
    assert all(len(frame("s", "e", [c])) < m.MAX_FRAME_BYTES for c in chunks)


def test_ring_answers_only_when_it_reaches_back_far_enough() -> None:
    rings = Rings(max_events=10, max_bytes=1 << 20, max_sessions=2)
    for first in range(1, 30, 4):
        rings.append("s", Chunk.of(_events(first, 4)))
    assert rings.since("s", 5) is None  # evicted
    cached = rings.since("s", 26)
    assert cached is not None and [c.first_seq for c in cached] == [27, 29]
    rings.append("s", Chunk.of(_events(100, 1)))  # a hole: the ring starts over
    assert rings.since("s", 30) is None
    rings.append("t", Chunk.of(_events(1, 1)))
    rings.append("u", Chunk.of(_events(1, 1)))
    assert rings.since("s", 99) is None  # least recently written session dropped


def test_live_frames_skip_what_the_history_already_sent() -> None:
    overflows: list[bool] = []
    feed = Feed(4, lambda: overflows.append(True))
    chunk = Chunk.of(_events(5, 5))
    batch = Batch("s", "e", chunk, frame("s", "e", [chunk]))
    assert feed.live_frame(batch) is None  # not subscribed
    feed.sent["s"] = 3
    assert feed.live_frame(batch) is batch.frame
    feed.sent["s"] = 7
    trimmed_frame = feed.live_frame(batch)
    assert trimmed_frame is not None and _seqs(trimmed_frame) == [8, 9]
    assert feed.live_frame(batch) is None and feed.sent["s"] == 9
    for _ in range(5):
        feed.offer(b"x")
    assert overflows == [True] and feed.overflowed
