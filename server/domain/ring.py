"""In-memory rings of each session's most recent events, in front of the full log.

A viewer resuming within the ring is served without touching the database. Each ring is bounded
by event count and bytes; only the least recently written sessions' rings are kept.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from server.domain.records import StoredEvent


class _Ring:
    def __init__(self) -> None:
        self.events: deque[StoredEvent] = deque()
        self.bytes = 0


class Rings:
    def __init__(self, max_events: int, max_bytes: int, max_sessions: int) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_sessions = max_sessions
        self._rings: OrderedDict[str, _Ring] = OrderedDict()

    def extend(self, session_id: str, events: list[StoredEvent]) -> None:
        ring = self._rings.get(session_id)
        if ring is None:
            ring = self._rings[session_id] = _Ring()
            while len(self._rings) > self._max_sessions:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(session_id)
        if ring.events and events and ring.events[-1].seq + 1 != events[0].seq:
            ring.events.clear()  # never hold a ring with a hole in it
            ring.bytes = 0
        for event in events:
            ring.events.append(event)
            ring.bytes += len(event.body)
        while ring.events and (len(ring.events) > self._max_events or ring.bytes > self._max_bytes):
            ring.bytes -= len(ring.events.popleft().body)

    def since(self, session_id: str, after: int) -> list[StoredEvent] | None:
        """Events with seq > after, or None when the ring does not reach back that far."""
        ring = self._rings.get(session_id)
        if ring is None or not ring.events or ring.events[0].seq > after + 1:
            return None
        first = ring.events[0].seq
        start = max(0, after + 1 - first)
        return [ring.events[i] for i in range(start, len(ring.events))]

    def forget(self, session_id: str) -> None:
        self._rings.pop(session_id, None)
