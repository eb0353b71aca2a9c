"""Group commit: how many of a relay's `events` frames go into one transaction.

A commit writes every page it changes, whole, to the WAL: the session's newest leaf of the event
log, its row in `sessions`, now and then an interior page. A relay reading a PTY sends a frame per
line, so committing each frame as it comes writes a few pages to store a hundred bytes.

The rule: commit at once when the waiting frames fill at least FILL of the pages the commit
will write (PAGES_PER_SESSION per session touched, plus OVERHEAD_PAGES), or when frames come
sparsely (the last two were over PAUSE_S apart: a person typing, a slow log, the first line after
a quiet spell), so an echo is never held. Otherwise the relay is streaming lines: wait for more,
until the stream pauses (nothing for PAUSE_S) or GROUP_COMMIT_MAX_S has passed since the previous
commit. A burst commits at once (its frames are tens of KB); the end of a quick run of lines
waits PAUSE_S; a steady trickle is committed at least every GROUP_COMMIT_MAX_S, the longest a
trickling line waits to be acked.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from protocol import messages as m

GROUP_COMMIT_MAX_S = 0.5  # a steady trickle commits at least this often; see docs/performance.md
FILL = 0.1  # waiting bytes / bytes of pages written that justify a commit at once
# Pages a commit writes, measured on 4 KiB pages: per session touched its leaf of event_chunks,
# and as the leaf fills its siblings and parent (2.7 on average); plus `sessions` and the rest.
PAGES_PER_SESSION = 3
OVERHEAD_PAGES = 2
# Frames further apart than this are not a stream worth waiting for, and a stream that sent
# nothing for this long has paused. One constant for both: a gap that long ends a batch.
PAUSE_S = 0.05
MAX_BYTES = 512 << 10  # relay frames committed in one transaction, in bytes at most

Queued = tuple[m.Events, int] | None  # a frame and its size; None: the connection is ending


class GroupCommit:
    """Decides when a relay's waiting frames are committed; `clock` is for tests."""

    def __init__(self, page_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._page_size = page_size
        self._clock = clock
        self._last_commit = -math.inf
        self._last_arrival = -math.inf
        self._gap = math.inf  # between the last two frames taken

    def arrived(self) -> None:
        """A frame was taken from the queue."""
        now = self._clock()
        self._gap = now - self._last_arrival
        self._last_arrival = now

    def committed(self) -> None:
        """A transaction's events were taken: the window for the next one starts now."""
        self._last_commit = self._clock()

    def wait_s(self, size: int, sessions: int) -> float:
        """How much longer to wait for frames: 0 means commit now."""
        pages = PAGES_PER_SESSION * sessions + OVERHEAD_PAGES
        if size >= MAX_BYTES or size >= FILL * pages * self._page_size or self._gap > PAUSE_S:
            return 0.0
        until = min(self._last_commit + GROUP_COMMIT_MAX_S, self._last_arrival + PAUSE_S)
        return max(0.0, until - self._clock())

    async def gather(self, queue: asyncio.Queue[Queued]) -> list[m.RelayEvent] | None:
        """The events of the next transaction, taken from `queue`; None once it ends."""
        first = await queue.get()
        if first is None:
            return None
        self.arrived()
        events, size = list(first[0].events), first[1]
        sessions = {item.session_id for item in events}
        while size < MAX_BYTES:
            if queue.empty():
                wait = self.wait_s(size, len(sessions))
                if wait <= 0:
                    break
                try:
                    async with asyncio.timeout(wait):
                        more = await queue.get()
                except TimeoutError:
                    break
            else:
                more = queue.get_nowait()
            if more is None:  # the connection is ending: what was gathered is left unacked
                queue.put_nowait(None)
                return None
            self.arrived()
            events += more[0].events
            size += more[1]
            sessions.update(item.session_id for item in more[0].events)
        self.committed()
        return events
