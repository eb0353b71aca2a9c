"""In-memory rings of each session's most recent events, in front of the full log.

A viewer resuming within the ring is served without touching the database. Each ring holds
whole chunks and is bounded by event count and bytes; only the least recently written sessions'
rings are kept.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from server.domain.chunks import Chunk, trimmed


class _Ring:
    def __init__(self) -> None:
        self.chunks: deque[Chunk] = deque()
        self.events = 0
        self.bytes = 0


class Rings:
    def __init__(self, max_events: int, max_bytes: int, max_sessions: int) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_sessions = max_sessions
        self._rings: OrderedDict[str, _Ring] = OrderedDict()

    def append(self, session_id: str, chunk: Chunk) -> None:
        ring = self._rings.get(session_id)
        if ring is None:
            ring = self._rings[session_id] = _Ring()
            while len(self._rings) > self._max_sessions:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(session_id)
        if ring.chunks and ring.chunks[-1].last_seq + 1 != chunk.first_seq:
            ring.chunks.clear()  # never hold a ring with a hole in it
            ring.events = ring.bytes = 0
        ring.chunks.append(chunk)
        ring.events += len(chunk)
        ring.bytes += len(chunk.body)
        while len(ring.chunks) > 1 and (
            ring.events > self._max_events or ring.bytes > self._max_bytes
        ):
            dropped = ring.chunks.popleft()
            ring.events -= len(dropped)
            ring.bytes -= len(dropped.body)

    def since(self, session_id: str, after: int) -> list[Chunk] | None:
        """Chunks of the events with seq > after, or None when the ring does not reach back."""
        ring = self._rings.get(session_id)
        if ring is None or not ring.chunks or ring.chunks[0].first_seq > after + 1:
            return None
        return trimmed([c for c in ring.chunks if c.last_seq > after], after)
