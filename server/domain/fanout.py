"""Fan-out of committed events to viewers.

Each viewer socket has one `Feed`: a bounded queue of everything it will be sent, consumed by the
socket's single writer. Overflow policy: a feed whose queue is full is dropped from the hub and
its socket closed with CloseCode.TOO_SLOW; the viewer resumes from its last seq. One slow phone
never slows ingestion or the other viewers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from server.domain.chunks import Chunk, frame

log = logging.getLogger(__name__)


class Batch(msgspec.Struct, frozen=True):
    """Events of one session committed together, with their frame encoded once for all viewers."""

    session_id: str
    epoch: str
    chunk: Chunk
    frame: bytes


class Replay(msgspec.Struct, frozen=True):
    """Marker queued when a viewer subscribes: send `subscribed` and the history here."""

    session_id: str
    since_epoch: str | None
    since_seq: int
    request_id: str


FeedItem = Batch | Replay | bytes  # bytes: an already encoded control message


class Feed:
    def __init__(self, max_frames: int, on_overflow: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[FeedItem] = asyncio.Queue(max_frames)
        self.sent: dict[str, int] = {}  # session id -> highest seq sent on this socket
        self.overflowed = False
        self._on_overflow = on_overflow

    def offer(self, item: FeedItem) -> bool:
        if self.overflowed:
            return False
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self._on_overflow()
            return False
        return True

    def live_frame(self, batch: Batch) -> bytes | None:
        """The frame to send for a live batch, without anything this socket already has."""
        sent = self.sent.get(batch.session_id)
        fresh = batch.chunk.after(sent) if sent is not None else None
        if fresh is None:
            return None  # not subscribed (anymore), or all of it went out with the history
        self.sent[batch.session_id] = fresh.last_seq
        if fresh is batch.chunk:
            return batch.frame
        return frame(batch.session_id, batch.epoch, [fresh])


class Hub:
    """Which feeds follow which session."""

    def __init__(self) -> None:
        self._followers: dict[str, set[Feed]] = {}

    def follow(self, session_id: str, feed: Feed) -> None:
        self._followers.setdefault(session_id, set()).add(feed)

    def unfollow(self, session_id: str, feed: Feed) -> None:
        followers = self._followers.get(session_id)
        if followers is not None:
            followers.discard(feed)
            if not followers:
                del self._followers[session_id]

    def drop(self, feed: Feed) -> None:
        for session_id in list(self._followers):
            self.unfollow(session_id, feed)

    def publish(self, batch: Batch) -> None:
        for feed in list(self._followers.get(batch.session_id, ())):
            if not feed.offer(batch):
                self.drop(feed)
