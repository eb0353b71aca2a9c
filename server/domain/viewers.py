"""One viewer connection's subscriptions, and the ordered stream of frames it is sent.

Resume follows DESIGN §2: on `subscribe` the feed is attached to live fan-out *first* (after a
Replay marker in its queue), then, when the writer reaches the marker, the history after `since`
is read and sent. Live batches that overlap what the history already sent are trimmed by seq, so
the client sees every event once, in order. A different epoch, or a `since` beyond the log, is
answered `recovered: false` followed by the whole log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import msgspec

from protocol import messages as m
from protocol.codes import ErrorCode
from server.domain.chunks import frame
from server.domain.errors import BadRequestError, NotFoundError
from server.domain.events import EventLog
from server.domain.fanout import Batch, Feed, Hub, Replay

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 64  # sessions one socket may follow at once
_encoder = msgspec.json.Encoder()


class Viewer:
    def __init__(
        self,
        log: EventLog,
        hub: Hub,
        *,
        max_frames: int,
        page_events: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self._log = log
        self._hub = hub
        self._page_events = page_events
        self.feed = Feed(max_frames, on_overflow)
        self._following: set[str] = set()

    async def subscribe(self, message: m.Subscribe) -> None:
        sid = message.session_id
        if await self._log.session(sid) is None:
            raise NotFoundError(f"no session {sid}", ErrorCode.UNKNOWN_SESSION)
        if sid not in self._following and len(self._following) >= MAX_SUBSCRIPTIONS:
            raise BadRequestError(f"a socket follows at most {MAX_SUBSCRIPTIONS} sessions")
        since = message.since
        if since is not None and since.seq < 0:
            raise BadRequestError("since.seq must not be negative")
        # Order matters: marker, then live subscription, with no await in between.
        self.feed.sent.pop(sid, None)
        self.feed.offer(
            Replay(
                sid, since.epoch if since else None, since.seq if since else 0, message.request_id
            )
        )
        self._following.add(sid)
        self._hub.follow(sid, self.feed)

    def unsubscribe(self, session_id: str) -> None:
        self._following.discard(session_id)
        self.feed.sent.pop(session_id, None)
        self._hub.unfollow(session_id, self.feed)

    def send(self, message: m.ServerToClient) -> None:
        self.feed.offer(_encoder.encode(message))

    def close(self) -> None:
        self._hub.drop(self.feed)
        self._following.clear()

    async def frames(self) -> AsyncIterator[bytes]:
        """Everything to send on this socket, in order; runs until cancelled."""
        while True:
            item = await self.feed.queue.get()
            if isinstance(item, bytes):
                yield item
            elif isinstance(item, Batch):
                sent = self.feed.sent.get(item.session_id)
                if sent is not None and item.chunk.first_seq > sent + 1:
                    # committed events that were never published (their commit was cut short
                    # at shutdown): take them from the log rather than leave a hole
                    async for frame in self._catch_up(item.session_id, item.epoch, sent):
                        yield frame
                live = self.feed.live_frame(item)
                if live is not None:
                    yield live
            elif item.session_id in self._following:
                async for frame in self._replay(item):
                    yield frame

    async def _replay(self, replay: Replay) -> AsyncIterator[bytes]:
        sid = replay.session_id
        record = await self._log.session(sid)
        if record is None:
            return
        recovered = replay.since_epoch == record.epoch and replay.since_seq <= record.last_seq
        after = replay.since_seq if recovered else 0
        yield _encoder.encode(
            m.Subscribed(
                session_id=sid,
                epoch=record.epoch,
                recovered=recovered,
                last_seq=record.last_seq,
                request_id=replay.request_id,
            )
        )
        async for history in self._catch_up(sid, record.epoch, after):
            yield history

    async def _catch_up(self, sid: str, epoch: str, after: int) -> AsyncIterator[bytes]:
        """Frames of the logged events after `after`, marking them sent."""
        self.feed.sent[sid] = after
        async for group in self._log.history(sid, after, self._page_events):
            if sid not in self._following:
                return
            self.feed.sent[sid] = group[-1].last_seq
            yield frame(sid, epoch, group)
